#!/usr/bin/env bash
# One `metastack proxy` holding a listener in each of $LISTENERS (10,000) network namespaces:
#
#   bash bench/listeners_bench.sh [path-to-metastack]
#
# 1. The kernel: how long `ip -batch` takes to create the namespaces (and, at the end, to
#    delete them).
# 2. The proxy, started with a --listeners file naming one listener (the guest's router), then
#    reloaded the way operators do it: the file rewritten to name that one plus one per
#    namespace, and SIGHUP. Timed: from the SIGHUP until the control socket lists them all (add
#    all), and from the SIGHUP back to the one-listener file until it lists one (remove all).
# 3. Memory: VmRSS and open descriptors with 1 listener and with 1 + $LISTENERS (both after a
#    wrk run, so both hold its pooled upstream connections); per listener.
# 4. A guest's requests through the one listener that serves it (wrk in a guest namespace,
#    through the router namespace's REDIRECT, as proxy_bench.sh) with the other listeners idle,
#    against the same with no other listener: p99 and requests/s, $ROUNDS rounds alternating
#    1 and 1 + $LISTENERS (each round adds and removes them all again).
# The upstream is a static nginx on a UNIX socket serving the rendered document (as
# proxy_bench.sh's hop), so only the proxy's side differs between the two.
#
# Environment: LISTENERS (10000), ROUNDS (2), DURATION (10 s per wrk run), CONNS (32), THREADS
# (wrk threads, 1). Needs root. Every namespace is deleted at the end, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
BIN=$(realpath "${1:-$ROOT/build/release/apps/metastack/metastack}")
LISTENERS=${LISTENERS:-10000}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
PATH_MD=/openstack/latest/meta_data.json
EXAMPLE=$ROOT/examples/instance.json
URL=http://169.254.169.254$PATH_MD

for tool in wrk nginx "$PY" ip curl; do
  command -v "$tool" >/dev/null || { echo "listeners_bench: $tool is missing (bash scripts/setup.sh)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "listeners_bench: no metastack binary at $BIN" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "listeners_bench: needs root (namespaces, iptables)" >&2; exit 1; }
[ "$(ulimit -n)" -gt $((LISTENERS + 100)) ] || ulimit -n $((LISTENERS + 1024))

work=$(mktemp -d /tmp/listeners-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody
tag=lb$$
guest_ns=$tag-guest
router_ns=$tag-router
pids=()
idle_namespaces=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  "$BIN" net router-teardown --netns "$router_ns" >/dev/null 2>&1 || true
  ip netns del "$guest_ns" 2>/dev/null || true
  ip netns del "$router_ns" 2>/dev/null || true
  if [ ${#idle_namespaces[@]} -gt 0 ]; then
    printf 'netns del %s\n' "${idle_namespaces[@]}" | ip -force -batch - 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

# --- the stub upstream: nginx on a UNIX socket serving the rendered document ------------------
seed_store "$BIN" "sqlite:$work/metastack.db" "$EXAMPLE"  # sets router (and uuid, tenant, network)
stub_upstream "$BIN" "$work" "$EXAMPLE" "$PATH_MD"

echo "== one metastack proxy, 1 vs 1 + $LISTENERS namespace listeners"
echo "   machine: $(machine_line); kernel $(uname -r)"
echo "   metastack: $BIN ($("$BIN" --version 2>/dev/null | head -1))"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. the namespaces --------------------------------------------------------------------------
guest_and_router "$BIN" "$tag" "$guest_ns" "$router_ns"
for i in $(seq 1 "$LISTENERS"); do idle_namespaces+=("$tag-m$i"); done
started=$(now)
printf 'netns add %s\n' "${idle_namespaces[@]}" | ip -batch -
netns_add_s=$(since "$started")
echo "-- 1. kernel: $LISTENERS namespaces created by one ip -batch in $netns_add_s s"

# --- 2. the proxy and its reloads ---------------------------------------------------------------
listeners_file() {  # count of idle listeners besides the guest's router
  "$PY" - "$1" "$tag" "$router" "$router_ns" >"$work/listeners.json.tmp" <<'EOF'
import json, sys
n, tag, router, router_ns = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
listeners = [{'name': f'qrouter-{router}', 'netns': router_ns, 'kind': 'router', 'id': router}]
listeners += [{'name': f'qrouter-idle-{i}', 'netns': f'{tag}-m{i}', 'kind': 'router',
               'id': f'{i:08x}-0000-4000-8000-000000000000'} for i in range(1, n + 1)]
print(json.dumps({'listeners': listeners}))
EOF
  mv "$work/listeners.json.tmp" "$work/listeners.json"
}
listening() {
  "$BIN" proxy-ctl --control "$work/proxy.ctl" list 2>/dev/null |
    "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["listeners"]))' 2>/dev/null
}
wait_listening() {  # count; up to 10 minutes
  for _ in $(seq 6000); do [ "$(listening)" = "$1" ] && return 0; sleep 0.1; done
  echo "listeners_bench: the proxy never listed $1 listeners (it lists $(listening))" >&2
  tail -5 "$work/proxy.log" >&2
  exit 1
}
serves() { [ "$(ip netns exec "$guest_ns" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL")" = 200 ]; }
run_wrk() {  # -> the RESULT line (from inside the guest)
  ip netns exec "$guest_ns" wrk -t"$THREADS" -c"$CONNS" -d"$1"s -s "$ROOT/bench/proxy_bench.lua" "$URL" |
    grep '^RESULT'
}

listeners_file 0
"$BIN" proxy --agent "unix:$work/stub.sock" --control "$work/proxy.ctl" \
  --listeners "$work/listeners.json" --log-level warning --max-connections-per-address 100000 \
  >"$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
wait_listening 1
wait_until serves || { cat "$work/proxy.log" >&2; echo "listeners_bench: the proxy does not serve" >&2; exit 1; }

declare -a p99_one p99_many rps_one rps_many add_s remove_s
for round in $(seq "$ROUNDS"); do
  run_wrk 2 >/dev/null  # warm-up
  echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  line=$(run_wrk "$DURATION")
  printf '  round %d, 1 listener:       %s\n' "$round" "${line#RESULT }"
  p99_one+=("$(field "$line" p99_ms)") rps_one+=("$(field "$line" rps)")

  listeners_file "$LISTENERS"
  if [ "$round" = 1 ]; then  # after a run, so that both counts hold its pooled connections
    sleep 0.5
    rss_one=$(rss_kb "$proxy_pid") fds_one=$(fds "$proxy_pid")
  fi
  started=$(now)
  kill -HUP "$proxy_pid"
  wait_listening $((LISTENERS + 1))
  add_s+=("$(since "$started")")
  if [ "$round" = 1 ]; then
    sleep 0.5
    rss_many=$(rss_kb "$proxy_pid") fds_many=$(fds "$proxy_pid")
  fi
  wait_until serves
  run_wrk 2 >/dev/null
  echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  line=$(run_wrk "$DURATION")
  printf '  round %d, 1 + %d listeners: %s\n' "$round" "$LISTENERS" "${line#RESULT }"
  p99_many+=("$(field "$line" p99_ms)") rps_many+=("$(field "$line" rps)")

  listeners_file 0
  started=$(now)
  kill -HUP "$proxy_pid"
  wait_listening 1
  remove_s+=("$(since "$started")")
  printf '  round %d: added %d listeners (one SIGHUP) in %s s, removed them in %s s\n' \
    "$round" "$LISTENERS" "${add_s[-1]}" "${remove_s[-1]}"
done
kill "$proxy_pid" && wait "$proxy_pid" 2>/dev/null || true

started=$(now)
printf 'netns del %s\n' "${idle_namespaces[@]}" | ip -force -batch - 2>/dev/null || true
idle_namespaces=()
netns_del_s=$(since "$started")

echo
echo "== results ($ROUNDS rounds; wrk -t$THREADS -c$CONNS -d${DURATION}s from a guest namespace)"
awk -v one="$rss_one" -v many="$rss_many" -v n="$LISTENERS" -v f1="$fds_one" -v fn="$fds_many" 'BEGIN {
  printf "memory: 1 listener %.1f MiB VmRSS, %d fds; 1 + %d listeners %.1f MiB, %d fds; per listener %.1f KiB, %.2f fds\n",
    one / 1024, f1, n, many / 1024, fn, (many - one) / n, (fn - f1) / n
}'
echo "add all $LISTENERS (SIGHUP): ${add_s[*]} s; remove all (SIGHUP): ${remove_s[*]} s"
echo "kernel: create $LISTENERS namespaces $netns_add_s s, delete them $netns_del_s s (ip -batch)"
best() { printf '%s\n' "$@" | sort -g | head -1; }
most() { printf '%s\n' "$@" | sort -g | tail -1; }
echo "p99 with $LISTENERS idle listeners / with none: best rounds $(best "${p99_many[@]}") / $(best "${p99_one[@]}") ms =" \
  "$(ratio "$(best "${p99_many[@]}")" "$(best "${p99_one[@]}")")x;" \
  "requests/s $(ratio "$(most "${rps_many[@]}")" "$(most "${rps_one[@]}")")x"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
