#!/usr/bin/env bash
# The namespace path under load: our ns-proxy against haproxy configured as Neutron configures
# it, driven by wrk from inside a guest namespace through the router's iptables REDIRECT.
#
#   bash bench/proxy_bench.sh [path-to-metastack]
#
# Topology (real namespaces, veth, `metastack net router-setup`):
#   guest ns (10.0.0.5, wrk) --veth--> router ns: REDIRECT 169.254.169.254:80 -> :9697
#       --> ns-proxy listener [::]:9697 (ours, or haproxy)  --> UNIX socket
#
# 1. The proxy hop alone: the UNIX socket is a static stub (nginx serving the instance's
#    rendered meta_data.json), so the figures are the proxy's plus the REDIRECT's. Ours vs
#    haproxy as a ratio of requests/s and of p99.
# 2. The whole chain: proxy --> `metastack agent` --> `metastack api` (signed), ours vs haproxy.
#    Also the API alone (wrk on 127.0.0.1 with the agent's signed headers), to show where the
#    chain's time goes.
# 3. Memory per namespace listener: one `metastack proxy` with 1 and then $LISTENERS listeners
#    (one namespace each), VmRSS; against one haproxy process per namespace, as Neutron runs it.
#
# haproxy's configuration follows Neutron's driver (neutron/agent/metadata/driver.py, see
# /work/shared/reference/neutron.md): bind :::9697 in the router namespace, http mode,
# http-server-close, forwardfor, retries 3, Neutron's timeouts, del-header X-Neutron-Network-ID,
# set-header X-Neutron-Router-ID, one server on the agent's UNIX socket, maxconn 1024.
# Neutron also logs each request to /dev/log; the log lines are kept, and cost nothing when
# there is no syslog socket (as on this machine: the script says which).
#
# Environment: DURATION (10 s per wrk run), CONNS (256), THREADS (wrk threads, 2), ROUNDS (2,
# alternating ours/haproxy, best round each), LISTENERS (500), PROXY_THREADS (default: the
# proxy's own, one per core), PERF=1 to print a perf profile of our proxy during one hop run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
BIN=$(realpath "${1:-$ROOT/build/release/apps/metastack/metastack}")
DURATION=${DURATION:-10}
CONNS=${CONNS:-256}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
LISTENERS=${LISTENERS:-500}
PATH_MD=/openstack/latest/meta_data.json
EXAMPLE=$ROOT/examples/instance.json
URL=http://169.254.169.254$PATH_MD

for tool in wrk haproxy nginx "$PY" openssl ip; do
  command -v "$tool" >/dev/null || { echo "proxy_bench: $tool is missing (bash scripts/setup.sh)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "proxy_bench: no metastack binary at $BIN" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "proxy_bench: needs root (namespaces, iptables)" >&2; exit 1; }

work=$(mktemp -d /tmp/proxy-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody
tag=pb$$
guest_ns=$tag-guest
router_ns=$tag-router
pids=()
mem_namespaces=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  "$BIN" net router-teardown --netns "$router_ns" >/dev/null 2>&1 || true
  ip netns del "$guest_ns" 2>/dev/null || true
  ip netns del "$router_ns" 2>/dev/null || true
  if [ ${#mem_namespaces[@]} -gt 0 ]; then
    printf 'netns del %s\n' "${mem_namespaces[@]}" | ip -force -batch - 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
stop_pid() {
  kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true
  local kept=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# --- the store, the API and the agent --------------------------------------------------------
store=sqlite:$work/metastack.db
seed_store "$BIN" "$store" "$EXAMPLE"
secret=bench-shared-secret
printf '%s\n' "$secret" >"$work/secret"

"$BIN" api --store "$store" --signed-listen 127.0.0.1:0 --admin-listen '' \
  --secret-file "$work/secret" --ready-file "$work/api.json" --log-level warning --rate-limit 0 \
  >"$work/api.log" 2>&1 &
pids+=($!)
wait_until test -s "$work/api.json" || { cat "$work/api.log" >&2; exit 1; }
api_port=$(json_field "$work/api.json" 'd["signed"][0]')
"$BIN" agent --store "$store" --api-url "http://127.0.0.1:$api_port" \
  --agent-socket "$work/agent.sock" --secret-file "$work/secret" --log-level warning \
  >"$work/agent.log" 2>&1 &
pids+=($!)
wait_until test -S "$work/agent.sock" || { cat "$work/agent.log" >&2; exit 1; }

# --- the stub upstream: nginx on a UNIX socket serving the rendered document ------------------
stub_upstream "$BIN" "$work" "$EXAMPLE" "$PATH_MD"

# --- guest and router namespaces ---------------------------------------------------------------
guest_and_router "$BIN" "$tag" "$guest_ns" "$router_ns"

# --- the two proxies ---------------------------------------------------------------------------
proxy_pid=""
# wrk's one guest address stands for many guests: the per-address limit (256) is lifted.
start_ours() {  # upstream socket
  local args=(proxy --agent "unix:$1" --control "$work/proxy.ctl"
              --listen "qrouter-$router,$router_ns,router,$router" --log-level warning
              --max-connections-per-address 100000)
  [ -n "${PROXY_THREADS:-}" ] && args+=(--threads "$PROXY_THREADS")
  "$BIN" "${args[@]}" >>"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
}
start_haproxy() {  # upstream socket
  neutron_haproxy_cfg "$router" "$1" "$work/haproxy.pid" >"$work/haproxy.cfg"
  ip netns exec "$router_ns" haproxy -db -f "$work/haproxy.cfg" >>"$work/haproxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
}
serves() { [ "$(ip netns exec "$guest_ns" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL")" = 200 ]; }
use_proxy() {  # ours|haproxy upstream-socket
  [ -n "$proxy_pid" ] && stop_pid "$proxy_pid"
  proxy_pid=""
  "start_$1" "$2"
  wait_until serves || { tail "$work/proxy.log" "$work/haproxy.log" >&2 2>/dev/null; echo "proxy_bench: $1 does not serve" >&2; exit 1; }
}
run_wrk() {  # connections seconds -> the RESULT line (from inside the guest)
  ip netns exec "$guest_ns" wrk -t"$THREADS" -c"$1" -d"$2"s -s "$ROOT/bench/proxy_bench.lua" "$URL" |
    grep '^RESULT'
}

# best-of-$ROUNDS for ours and haproxy against one upstream; sets best_ours / best_haproxy
compare() {  # upstream-socket
  best_ours="" best_haproxy=""
  for round in $(seq "$ROUNDS"); do
    for who in ours haproxy; do
      use_proxy "$who" "$1"
      run_wrk "$CONNS" 2 >/dev/null  # warm-up
      local line
      line=$(run_wrk "$CONNS" "$DURATION")
      printf '  round %d %-8s %s\n' "$round" "$who" "${line#RESULT }"
      local best_var=best_$who
      if [ -z "${!best_var}" ] || [ "$(field "$line" rps)" -gt "$(field "${!best_var}" rps)" ]; then
        printf -v "$best_var" '%s' "$line"
      fi
    done
  done
}

echo "== ns-proxy: ours vs haproxy (Neutron's configuration), wrk -t$THREADS -c$CONNS -d${DURATION}s from a guest namespace"
echo "   machine: $(machine_line)"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   metastack: $BIN ($("$BIN" --version 2>/dev/null | head -1))"
echo "   haproxy $(haproxy -v | head -1 | cut -d' ' -f3); nginx $(nginx -v 2>&1 | sed 's/.*\///'); wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "   /dev/log: $([ -S /dev/log ] && echo present || echo absent) (haproxy's per-request log line)"
echo "   body: $(wc -c <"$work/www$PATH_MD") bytes ($PATH_MD)"

echo
echo "-- 1. the proxy hop alone (upstream: static nginx on a UNIX socket)"
compare "$work/stub.sock"
hop_ours=$best_ours hop_haproxy=$best_haproxy
if [ "${PERF:-0}" = 1 ]; then
  echo "   perf profile of our proxy during one ${DURATION}s hop run (self time, top 30):"
  use_proxy ours "$work/stub.sock"
  perf record -F 999 -g -o "$work/perf.data" -p "$proxy_pid" -- sleep "$DURATION" >/dev/null 2>&1 &
  perf_pid=$!
  run_wrk "$CONNS" "$DURATION" >/dev/null
  wait "$perf_pid" || true
  perf report -i "$work/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | cut -c1-150 | sed -E 's/ +$//' | sed -n 1,30p
fi
echo "   one connection (-t1 -c1 -d5s), the hop's service time without queueing:"
use_proxy ours "$work/stub.sock"
one_ours=$(THREADS=1 run_wrk 1 5)
use_proxy haproxy "$work/stub.sock"
one_haproxy=$(THREADS=1 run_wrk 1 5)

echo
echo "-- 2. the whole chain: proxy -> metastack agent -> metastack api (signed)"
compare "$work/agent.sock"
chain_ours=$best_ours chain_haproxy=$best_haproxy
stop_pid "$proxy_pid"
proxy_pid=""
signature=$(printf '%s' "$uuid" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
api_alone=$(BENCH_INSTANCE_ID=$uuid BENCH_TENANT_ID=$tenant BENCH_SIGNATURE=$signature \
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION"s -s "$ROOT/bench/api_bench.lua" \
  "http://127.0.0.1:$api_port$PATH_MD" | grep '^RESULT')

echo
echo "== results (best of $ROUNDS rounds; errors = non-2xx + connect/read/timeout errors)"
result_header
result_row "hop: ours" "$hop_ours"
result_row "hop: haproxy" "$hop_haproxy"
result_row "hop, 1 conn: ours" "$one_ours"
result_row "hop, 1 conn: haproxy" "$one_haproxy"
result_row "chain: ours" "$chain_ours"
result_row "chain: haproxy" "$chain_haproxy"
result_row "API alone (127.0.0.1)" "$api_alone"
echo "proxy hop ours/haproxy: requests/s $(ratio "$(field "$hop_ours" rps)" "$(field "$hop_haproxy" rps)")x," \
  "p99 $(ratio "$(field "$hop_ours" p99_ms)" "$(field "$hop_haproxy" p99_ms)")x" \
  "(goal: requests/s >= 1, p99 <= 1)"
echo "whole chain ours/haproxy: requests/s $(ratio "$(field "$chain_ours" rps)" "$(field "$chain_haproxy" rps)")x;" \
  "our chain p99 at $CONNS connections: $(field "$chain_ours" p99_ms) ms (goal < 5 ms)"

# --- 3. memory per namespace listener ---------------------------------------------------------
echo
echo "-- 3. memory per namespace listener ($LISTENERS namespaces)"
for i in $(seq 0 "$LISTENERS"); do mem_namespaces+=("$tag-m$i"); done
printf 'netns add %s\n' "${mem_namespaces[@]}" | ip -batch -
listeners_file() {  # count
  "$PY" - "$1" "$tag" >"$work/listeners.json" <<'EOF'
import json, sys
n, tag = int(sys.argv[1]), sys.argv[2]
print(json.dumps({'listeners': [
    {'name': f'qrouter-{i}', 'netns': f'{tag}-m{i}', 'kind': 'router',
     'id': f'{i:08x}-0000-4000-8000-000000000000'} for i in range(n)]}))
EOF
}
listening() { [ "$("$BIN" proxy-ctl --control "$work/mem.ctl" list | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["listeners"]))')" = "$1" ]; }
listeners_file 1
"$BIN" proxy --agent "unix:$work/agent.sock" --control "$work/mem.ctl" \
  --listeners "$work/listeners.json" --log-level warning >"$work/mem.log" 2>&1 &
mem_pid=$!
pids+=("$mem_pid")
wait_until listening 1
sleep 0.5
rss_one=$(rss_kb "$mem_pid") fds_one=$(ls "/proc/$mem_pid/fd" | wc -l)
listeners_file "$LISTENERS"
started=$(date +%s.%N)
kill -HUP "$mem_pid"
wait_until listening "$LISTENERS"
added_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
sleep 0.5
rss_many=$(rss_kb "$mem_pid") fds_many=$(ls "/proc/$mem_pid/fd" | wc -l)
# One haproxy per namespace, as Neutron runs it: the RSS of one, started in the last namespace.
sed -e "s|$work/haproxy.pid|$work/haproxy-mem.pid|" "$work/haproxy.cfg" >"$work/haproxy-mem.cfg"
ip netns exec "$tag-m$LISTENERS" haproxy -db -f "$work/haproxy-mem.cfg" >>"$work/haproxy.log" 2>&1 &
hap_pid=$!
pids+=("$hap_pid")
sleep 1
rss_hap=$(rss_kb "$hap_pid")
hap_threads=$(awk '/^Threads:/ {print $2}' "/proc/$hap_pid/status")
awk -v one="$rss_one" -v many="$rss_many" -v n="$LISTENERS" -v hap="$rss_hap" -v s="$added_s" \
    -v f1="$fds_one" -v fn="$fds_many" -v ht="$hap_threads" 'BEGIN {
  printf "  metastack proxy, 1 listener:     %7.1f MiB VmRSS, %d fds\n", one / 1024, f1
  printf "  metastack proxy, %d listeners: %7.1f MiB VmRSS, %d fds (%d added by one SIGHUP in %s s)\n", n, many / 1024, fn, n - 1, s
  printf "  per listener: %.1f KiB\n", (many - one) / (n - 1)
  printf "  haproxy, one process (%d threads) per namespace as Neutron runs it: %.1f MiB VmRSS each, %.0f MiB for %d namespaces\n", ht, hap / 1024, hap * n / 1024, n
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
