#!/usr/bin/env bash
# The whole metadata chain under load, three ways, driven by wrk from inside a guest namespace
# through the router's iptables REDIRECT, against the API alone.
#
#   bash bench/chain_bench.sh [path-to-metastack]
#
# Topology (real namespaces, veth, `metastack net router-setup`), one chain up at a time:
#   guest ns (10.0.0.5, wrk) --veth--> router ns: REDIRECT 169.254.169.254:80 -> :9697 -->
#   serve:    `metastack serve`: listener in the router ns -> agent -> API, in-process calls
#   separate: `metastack proxy` --UNIX--> `metastack agent` --TCP--> `metastack api` (signed)
#   neutron:  haproxy as Neutron's driver configures it --UNIX--> Neutron's metadata agent
#             (bench/neutron_agent.py) --TCP, new connection per request--> `metastack api`
#   haproxy:  the same haproxy --UNIX--> `metastack agent` --TCP--> `metastack api` (our agent
#             and API behind Neutron's proxy: proxy_bench.sh's "whole chain")
#   api:      no chain: wrk on 127.0.0.1 straight to `metastack api`'s signed listener, with
#             the agent's three headers (bench/api_bench.lua)
# The guest chains are asked the same GET (bench/proxy_bench.lua) of the same instance
# (examples/instance.json) from the same guest; the API is one process, one SQLite store.
#
# Printed ratios (requests/s of the best round each; p99 alongside):
#   1. serve / API alone: what the namespace hop, the REDIRECT, the proxy and the agent cost
#      when they share the API's process (goal >= 0.8).
#   2. separate / serve: the same three services as three processes and two sockets.
#   3. serve / Neutron's chain.
#   4. separate / API alone (goal >= 0.5) and separate / Neutron's chain (goal >= 50).
#   5. issue 16's row: separate vs Neutron's chain at FAST_CONNS (32) connections, both in front
#      of the same fast upstream (our API), alternating, ROUNDS rounds.
#   6. p99 of the separate chain vs the haproxy chain at P99_CONNS (256) connections (goal: no
#      worse), alternating, ROUNDS rounds.
#
# Neutron's chain is Debian's python3-neutron (zed), run as `neutron-metadata-agent` runs it:
# Neutron's UNIX-socket WSGI server (eventlet, metadata_workers = cores / 2 processes) and its
# real MetadataProxyHandler, whose upstream is our API (nova_metadata_host/port,
# metadata_proxy_shared_secret = our secret). The one seam: the handler asks neutron-server
# for ports over RPC through neutron.agent.metadata.agent.MetadataPluginAPI.get_ports(context,
# filters); there is no neutron-server here, so bench/neutron_agent.py replaces that class with
# one answering the same filters from the instance's port and its router's interface port, in
# process. Header handling, the two port look-ups per request, the [cache] options (defaults:
# off), signing, the `requests` call to the API and the answer are Neutron's code. The stub is
# cheaper than the RPC round trip to neutron-server it replaces, so it flatters Neutron.
# State reporting is off by configuration ([AGENT] report_interval = 0); the agent logs each
# request at INFO to its --log-file, as Debian's service does.
#
# Environment: DURATION (10 s per wrk run), CONNS (64), THREADS (wrk threads, 2), ROUNDS (2,
# alternating api/serve/separate/neutron, best round each), SERVE_THREADS (default: serve's
# own, one per core), PERF=1 to print a perf profile of `metastack serve` during one chain run,
# FAST_CONNS (32) and P99_CONNS (256) for ratios 5 and 6 (0 skips one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
BIN=$(realpath "${1:-$ROOT/build/release/apps/metastack/metastack}")
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
FAST_CONNS=${FAST_CONNS:-32}
P99_CONNS=${P99_CONNS:-256}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
PATH_MD=/openstack/latest/meta_data.json
EXAMPLE=$ROOT/examples/instance.json
URL=http://169.254.169.254$PATH_MD

for tool in wrk haproxy "$PY" openssl ip curl; do
  command -v "$tool" >/dev/null || { echo "chain_bench: $tool is missing (bash scripts/setup.sh)" >&2; exit 1; }
done
"$PY" -c 'import neutron.agent.metadata.agent' 2>/dev/null ||
  { echo "chain_bench: python3-neutron is missing (bash scripts/setup.sh)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "chain_bench: no metastack binary at $BIN" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "chain_bench: needs root (namespaces, iptables)" >&2; exit 1; }

work=$(mktemp -d /tmp/chain-bench.XXXXXX)
tag=cb$$
guest_ns=$tag-guest
router_ns=$tag-router
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  "$BIN" net router-teardown --netns "$router_ns" >/dev/null 2>&1 || true
  ip netns del "$guest_ns" 2>/dev/null || true
  ip netns del "$router_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

stop_pid() {
  kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true
  local kept=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}
# CPU time of processes and their children (Neutron's workers): "user system", clock ticks.
cpu_ticks() {
  local user=0 sys=0 pid u s
  for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
    read -r u s < <(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo 0 0)
    user=$((user + u)) sys=$((sys + s))
  done
  echo "$user $sys"
}

# --- the store, the API, our agent and Neutron's ------------------------------------------------
store=sqlite:$work/metastack.db
seed_store "$BIN" "$store" "$EXAMPLE"
secret=bench-shared-secret
printf '%s\n' "$secret" >"$work/secret"
# wrk asks as one instance at thousands of requests a second: the per-instance rate limit is off.
"$BIN" api --store "$store" --signed-listen 127.0.0.1:0 --admin-listen '' \
  --secret-file "$work/secret" --ready-file "$work/api.json" --log-level warning --rate-limit 0 \
  >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_until test -s "$work/api.json" || { cat "$work/api.log" >&2; exit 1; }
api_port=$(json_field "$work/api.json" 'd["signed"][0]')

"$BIN" agent --store "$store" --api-url "http://127.0.0.1:$api_port" \
  --agent-socket "$work/agent.sock" --secret-file "$work/secret" --log-level warning \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
wait_until test -S "$work/agent.sock" || { cat "$work/agent.log" >&2; exit 1; }

cat >"$work/metadata_agent.ini" <<EOF
[DEFAULT]
nova_metadata_host = 127.0.0.1
nova_metadata_port = $api_port
metadata_proxy_shared_secret = $secret
metadata_proxy_socket = $work/neutron.sock
state_path = $work
[AGENT]
report_interval = 0
EOF
"$PY" "$ROOT/bench/neutron_agent.py" --instance "$EXAMPLE" --config-file "$work/metadata_agent.ini" \
  --log-file "$work/neutron-agent.log" >"$work/neutron-agent.out" 2>&1 &
neutron_pid=$!
pids+=("$neutron_pid")
wait_until test -S "$work/neutron.sock" ||
  { cat "$work/neutron-agent.out" "$work/neutron-agent.log" >&2; exit 1; }

# --- the guest and its router ----------------------------------------------------------------------
guest_and_router "$BIN" "$tag" "$guest_ns" "$router_ns"

# --- the chains: one listens on the router's :9697 at a time --------------------------------------
chain_pid=""
chain_cpu_pids=()  # whose CPU time a run of the current chain counts
start_serve() {
  # wrk's one guest address stands for many guests: the per-address limit is lifted.
  local args=(serve --store "$store" --signed-listen '' --admin-listen ''
              --agent-socket "$work/serve-agent.sock" --control "$work/serve.ctl"
              --listen "qrouter-$router,$router_ns,router,$router" --log-level warning
              --max-connections-per-address 100000 --rate-limit 0)
  [ -n "${SERVE_THREADS:-}" ] && args+=(--threads "$SERVE_THREADS")
  "$BIN" "${args[@]}" >>"$work/serve.log" 2>&1 &
  chain_pid=$!
  chain_cpu_pids=("$chain_pid")
}
start_separate() {
  "$BIN" proxy --agent "unix:$work/agent.sock" --control "$work/proxy.ctl" \
    --listen "qrouter-$router,$router_ns,router,$router" --log-level warning \
    --max-connections-per-address 100000 >>"$work/proxy.log" 2>&1 &
  chain_pid=$!
  chain_cpu_pids=("$chain_pid" "$agent_pid" "$api_pid")
}
start_neutron() {
  neutron_haproxy_cfg "$router" "$work/neutron.sock" "$work/haproxy.pid" >"$work/haproxy.cfg"
  ip netns exec "$router_ns" haproxy -db -f "$work/haproxy.cfg" >>"$work/haproxy.log" 2>&1 &
  chain_pid=$!
  chain_cpu_pids=("$chain_pid" "$neutron_pid" "$api_pid")
}
start_haproxy() {
  neutron_haproxy_cfg "$router" "$work/agent.sock" "$work/haproxy-ours.pid" >"$work/haproxy-ours.cfg"
  ip netns exec "$router_ns" haproxy -db -f "$work/haproxy-ours.cfg" >>"$work/haproxy.log" 2>&1 &
  chain_pid=$!
  chain_cpu_pids=("$chain_pid" "$agent_pid" "$api_pid")
}
serves() { [ "$(ip netns exec "$guest_ns" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL")" = 200 ]; }
use_chain() {  # serve|separate|neutron|haproxy|api (api: no chain, only the API)
  [ -n "$chain_pid" ] && stop_pid "$chain_pid"
  chain_pid=""
  if [ "$1" = api ]; then
    chain_cpu_pids=("$api_pid")
    return
  fi
  "start_$1"
  pids+=("$chain_pid")
  wait_until serves || {
    tail "$work"/{serve,proxy,haproxy,neutron-agent}.log >&2 2>/dev/null
    echo "chain_bench: the $1 chain does not serve" >&2
    exit 1
  }
}
signature=$(printf '%s' "$uuid" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
run_wrk() {  # chain seconds [conns] -> the RESULT line, with the chain's CPU per request (user, system, both)
  local before after line conns=${3:-$CONNS}
  before=$(cpu_ticks "${chain_cpu_pids[@]}")
  if [ "$1" = api ]; then
    line=$(BENCH_INSTANCE_ID=$uuid BENCH_TENANT_ID=$tenant BENCH_SIGNATURE=$signature \
      wrk -t"$THREADS" -c"$conns" -d"$2"s -s "$ROOT/bench/api_bench.lua" \
      "http://127.0.0.1:$api_port$PATH_MD" | grep '^RESULT')
  else
    line=$(ip netns exec "$guest_ns" wrk -t"$THREADS" -c"$conns" -d"$2"s \
      -s "$ROOT/bench/proxy_bench.lua" "$URL" | grep '^RESULT')
  fi
  after=$(cpu_ticks "${chain_cpu_pids[@]}")
  echo "$line $(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" -v n="$(field "$line" requests)" '
    BEGIN {
      split(a, A, " "); split(b, B, " "); k = (n > 0 ? 1e6 / hz / n : 0)
      u = (B[1] - A[1]) * k; s = (B[2] - A[2]) * k
      printf "user_us=%.1f sys_us=%.1f cpu_us=%.1f", u, s, u + s
    }')"
}

echo "== the metadata chain: serve, separate processes, Neutron's; wrk -t$THREADS -c$CONNS -d${DURATION}s"
echo "   machine: $(machine_line)"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   metastack: $BIN ($("$BIN" --version 2>/dev/null | head -1))"
echo "   neutron $(dpkg-query -W -f='${Version}' python3-neutron); haproxy $(haproxy -v | head -1 | cut -d' ' -f3);" \
  "wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "   Neutron's agent: $(pgrep -c -P "$neutron_pid" || true) worker process(es); port look-up stubbed at MetadataPluginAPI.get_ports"
echo "   /dev/log: $([ -S /dev/log ] && echo present || echo absent) (haproxy's per-request log line)"

chains=(api serve separate neutron)
declare -A best
for round in $(seq "$ROUNDS"); do
  for who in "${chains[@]}"; do
    use_chain "$who"
    run_wrk "$who" 2 >/dev/null  # warm-up
    line=$(run_wrk "$who" "$DURATION")
    printf '  round %d %-8s %s\n' "$round" "$who" "${line#RESULT }"
    keep_best "$who" "$line"
  done
done

if [ "${PERF:-0}" = 1 ]; then
  echo "   perf profile of metastack serve during one ${DURATION}s chain run (self time, top 30):"
  use_chain serve
  perf record -F 999 -g -o "$work/perf.data" -p "$chain_pid" -- sleep "$DURATION" >/dev/null 2>&1 &
  perf_pid=$!
  run_wrk serve "$DURATION" >/dev/null
  wait "$perf_pid" || true
  echo "   by object:"
  perf report -i "$work/perf.data" --no-children --sort dso -g none --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | sed -E 's/ +$//' | sed -n 1,6p
  echo "   by symbol:"
  perf report -i "$work/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | cut -c1-150 | sed -E 's/ +$//' | sed -n 1,30p
fi
# Ratios 5 and 6: pairs at other connection counts, alternating, best round each.
declare -A pair
pair_rounds() {  # conns chain chain
  local conns=$1 round who line
  shift
  echo "== $* at $conns connections; wrk -t$THREADS -c$conns -d${DURATION}s, $ROUNDS rounds alternating"
  for round in $(seq "$ROUNDS"); do
    for who in "$@"; do
      echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
      use_chain "$who"
      run_wrk "$who" 2 "$conns" >/dev/null  # warm-up
      line=$(run_wrk "$who" "$DURATION" "$conns")
      printf '  round %d %-8s %s\n' "$round" "$who" "${line#RESULT }"
      if [ -z "${pair[$conns$who]:-}" ] || [ "$(field "$line" rps)" -gt "$(field "${pair[$conns$who]}" rps)" ]; then
        pair[$conns$who]=$line
      fi
    done
  done
}
[ "$FAST_CONNS" -gt 0 ] && pair_rounds "$FAST_CONNS" separate neutron
[ "$P99_CONNS" -gt 0 ] && pair_rounds "$P99_CONNS" separate haproxy
use_chain api

echo
echo "== results (best of $ROUNDS rounds; errors = non-2xx + connect/read/timeout errors;"
echo "   CPU us/req = user + system time of the chain's processes, wrk excluded, per request)"
printf '  %-26s %10s %9s %9s %9s %9s %7s %11s %13s\n' "" "req/s" "p50 ms" "p99 ms" "max ms" "errors" "requests" \
  "CPU us/req" "(user / sys)"
label_api="API alone (127.0.0.1)"
label_serve="serve chain"
label_separate="separate processes chain"
label_neutron="Neutron's chain"
for who in "${chains[@]}"; do
  label=label_$who
  printf '%s %11s %13s\n' "$(result_row "${!label}" "${best[$who]}")" "$(field "${best[$who]}" cpu_us)" \
    "($(field "${best[$who]}" user_us) / $(field "${best[$who]}" sys_us))"
done
rps() { field "${best[$1]}" rps; }
p99() { field "${best[$1]}" p99_ms; }
echo "1. serve chain / API alone: requests/s $(ratio "$(rps serve)" "$(rps api)")x" \
  "($(rps serve) / $(rps api)); p99 $(p99 serve) vs $(p99 api) ms (goal: >= 0.8x)"
echo "2. separate processes / serve: requests/s $(ratio "$(rps separate)" "$(rps serve)")x" \
  "($(rps separate) / $(rps serve)); p99 $(p99 separate) vs $(p99 serve) ms"
echo "3. serve / Neutron's chain: requests/s $(ratio "$(rps serve)" "$(rps neutron)")x" \
  "($(rps serve) / $(rps neutron)); p99 $(p99 serve) vs $(p99 neutron) ms"
echo "4. separate processes / API alone: requests/s $(ratio "$(rps separate)" "$(rps api)")x" \
  "($(rps separate) / $(rps api)); p99 $(p99 separate) vs $(p99 api) ms (goal: >= 0.5x)"
echo "   separate processes / Neutron's chain: requests/s $(ratio "$(rps separate)" "$(rps neutron)")x" \
  "($(rps separate) / $(rps neutron)); p99 $(p99 separate) vs $(p99 neutron) ms (goal: >= 50x)"
prps() { field "${pair[$1$2]}" rps; }
pp99() { field "${pair[$1$2]}" p99_ms; }
if [ "$FAST_CONNS" -gt 0 ]; then
  echo "5. proxy + agent chain, fast upstream, $FAST_CONNS conns from a guest namespace vs haproxy +" \
    "Neutron's metadata agent: requests/s $(ratio "$(prps "$FAST_CONNS" separate)" "$(prps "$FAST_CONNS" neutron)")x" \
    "($(prps "$FAST_CONNS" separate) / $(prps "$FAST_CONNS" neutron));" \
    "p99 $(pp99 "$FAST_CONNS" separate) vs $(pp99 "$FAST_CONNS" neutron) ms"
fi
if [ "$P99_CONNS" -gt 0 ]; then
  echo "6. p99 at $P99_CONNS connections, separate chain vs haproxy -> our agent -> our API:" \
    "$(pp99 "$P99_CONNS" separate) vs $(pp99 "$P99_CONNS" haproxy) ms" \
    "($(ratio "$(pp99 "$P99_CONNS" separate)" "$(pp99 "$P99_CONNS" haproxy)")x; goal <= 1);" \
    "requests/s $(prps "$P99_CONNS" separate) vs $(prps "$P99_CONNS" haproxy)"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
