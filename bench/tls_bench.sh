#!/usr/bin/env bash
# What TLS costs: the agent -> API hop over TLS against plain HTTP, and TLS handshakes per
# second of our API's listener against nginx with the same certificate and key.
#
#   bash bench/tls_bench.sh [BUILD_DIR]        (default build/release)
#
# BUILD_DIR must hold apps/metastack/metastack and bench/unix_load (targets metastack,
# unix_load). Certificates: tests/integration/tls_certs.py (a CA, a server certificate naming
# 127.0.0.1, a client certificate; P-256 ECDSA).
#
# 1. The hop. Two `metastack api` on one SQLite store (examples/instance.json), one plain, one
#    with --api-tls-cert-file/--api-tls-key-file and --api-tls-client-ca-file (mutual TLS); in
#    front of each a `metastack agent` on its own UNIX socket: --api-url http://... and
#    --api-url https://... --api-ca-file --api-cert-file --api-key-file. Load goes to the
#    agent's socket as the ns-proxy sends it (GET meta_data.json with X-Forwarded-For and
#    X-Neutron-Router-ID; keep-alive), by bench/unix_load (wrk speaks TCP only), CONNS
#    connections, THREADS threads, DURATION s, ROUNDS rounds alternating plain/tls after a
#    warm-up (the agent's pooled upstream connections are set up then, so the rounds measure
#    the hop kept alive, not handshakes). Prints each round with the load average before it,
#    CPU per request of agent + API, and tls/plain for requests/s and p99 of the best round.
# 2. Handshakes. `openssl s_time -new` (a full handshake per connection, no resumption, then
#    closed; mutual TLS: it presents the client certificate) against the TLS API's signed
#    listener and against nginx (Debian's nginx-light, worker_processes auto, the same
#    certificate, key and client CA: ssl_verify_client on), CLIENTS s_time processes at once
#    for HS_SECONDS, ROUNDS rounds alternating. Handshakes/s = connections / wall time, summed
#    over the clients; server CPU per handshake alongside. Prints ours/nginx.
#
# Environment: DURATION (10), CONNS (64), THREADS (2), ROUNDS (3), HS_SECONDS (5), CLIENTS (2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
BUILD=$(realpath "${1:-$ROOT/build/release}")
BIN=$BUILD/apps/metastack/metastack
LOAD=$BUILD/bench/unix_load
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
HS_SECONDS=${HS_SECONDS:-5}
CLIENTS=${CLIENTS:-2}
PATH_MD=/openstack/latest/meta_data.json
EXAMPLE=$ROOT/examples/instance.json

for tool in nginx openssl curl "$PY"; do
  command -v "$tool" >/dev/null || { echo "tls_bench: $tool is missing (bash scripts/setup.sh)" >&2; exit 1; }
done
for f in "$BIN" "$LOAD"; do
  [ -x "$f" ] || { echo "tls_bench: no $f (build the metastack and unix_load targets)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/tls-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# CPU time (user + system, clock ticks) of processes and their children (nginx's workers).
cpu_ticks() {
  local total=0 pid
  for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- certificates, store, the two APIs and their agents --------------------------------------
"$PY" - "$ROOT/tests/integration" "$work/pki" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from tls_certs import Pki
pki = Pki(sys.argv[2])
ca = pki.ca('ca')
pki.leaf('server', ca)
pki.leaf('client', ca, client=True)
EOF
chmod -R a+rX "$work/pki"  # nginx reads the key as root, the CA in its workers
pki=$work/pki
store=sqlite:$work/metastack.db
seed_store "$BIN" "$store" "$EXAMPLE"
secret=bench-shared-secret
printf '%s\n' "$secret" >"$work/secret"

start_api() {  # name extra-args... ; sets port_<name>
  "$BIN" api --store "$store" --signed-listen 127.0.0.1:0 --admin-listen '' \
    --secret-file "$work/secret" --ready-file "$work/api-$1.json" --log-level warning \
    --rate-limit 0 "${@:2}" >"$work/api-$1.log" 2>&1 &
  pids+=($!)
  eval "api_pid_$1=$!"
  wait_until test -s "$work/api-$1.json" || { cat "$work/api-$1.log" >&2; exit 1; }
  eval "port_$1=$(json_field "$work/api-$1.json" 'd["signed"][0]')"
}
start_agent() {  # name url extra-args...
  "$BIN" agent --store "$store" --api-url "$2" --agent-socket "$work/agent-$1.sock" \
    --secret-file "$work/secret" --log-level warning "${@:3}" >"$work/agent-$1.log" 2>&1 &
  pids+=($!)
  eval "agent_pid_$1=$!"
  wait_until test -S "$work/agent-$1.sock" || { cat "$work/agent-$1.log" >&2; exit 1; }
}
start_api plain
start_api tls --api-tls-cert-file "$pki/server.cert" --api-tls-key-file "$pki/server.key" \
  --api-tls-client-ca-file "$pki/ca.cert"
start_agent plain "http://127.0.0.1:$port_plain"
start_agent tls "https://127.0.0.1:$port_tls" --api-ca-file "$pki/ca.cert" \
  --api-cert-file "$pki/client.cert" --api-key-file "$pki/client.key"

guest=(-H "X-Forwarded-For: 10.0.0.5" -H "X-Neutron-Router-ID: $router")
for who in plain tls; do
  got=$(curl -s --unix-socket "$work/agent-$who.sock" -o "$work/body-$who" -w '%{http_code}' \
    "${guest[@]}" "http://localhost$PATH_MD")
  [ "$got" = 200 ] || { cat "$work/agent-$who.log" "$work/api-$who.log" >&2; echo "tls_bench: the $who agent answers $got" >&2; exit 1; }
done
[ "$(wc -c <"$work/body-plain")" = "$(wc -c <"$work/body-tls")" ] ||
  { echo "tls_bench: the two chains answer different bodies" >&2; exit 1; }

run_load() {  # who seconds -> the RESULT line with cpu_us (agent + API per request)
  local before line agent_pid api_pid
  agent_pid=agent_pid_$1 api_pid=api_pid_$1
  before=$(cpu_ticks "${!agent_pid}" "${!api_pid}")
  line=$("$LOAD" "$work/agent-$1.sock" "$PATH_MD" -c "$CONNS" -t "$THREADS" -d "$2" "${guest[@]}")
  local ticks=$(( $(cpu_ticks "${!agent_pid}" "${!api_pid}") - before ))
  echo "$line cpu_us=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$(field "$line" requests)" \
    'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}')"
}

echo "== TLS on the agent -> API hop: unix_load -t$THREADS -c$CONNS -d${DURATION}s on the agent's socket, $ROUNDS rounds alternating"
echo "   machine: $(machine_line)"
echo "   metastack: $BIN ($("$BIN" --version 2>/dev/null | head -1)); $(openssl version)"
echo "   body $(wc -c <"$work/body-plain") bytes; TLS: mutual, P-256 ECDSA certificates (tests/integration/tls_certs.py)"
declare -A best
for who in plain tls; do run_load "$who" 2 >/dev/null; done  # warm-up: pools filled
for round in $(seq "$ROUNDS"); do
  for who in plain tls; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    line=$(run_load "$who" "$DURATION")
    printf '   round %d %-5s (load %s) %s\n' "$round" "$who" "$load" "${line#RESULT }"
    keep_best "$who" "$line"
  done
done
echo "   best round of each (errors = non-2xx + connect/read/write errors; CPU = agent + API per request):"
printf '   %-6s %10s %9s %9s %9s %8s %11s\n' "" "req/s" "p50 ms" "p99 ms" "max ms" "errors" "CPU us/req"
for who in plain tls; do
  l=${best[$who]}
  printf '   %-6s %10s %9s %9s %9s %8s %11s\n' "$who" "$(field "$l" rps)" "$(field "$l" p50_ms)" \
    "$(field "$l" p99_ms)" "$(field "$l" max_ms)" \
    "$(($(field "$l" non2xx) + $(field "$l" connect) + $(field "$l" read) + $(field "$l" write)))" \
    "$(field "$l" cpu_us)"
done
hop_line="1. agent -> API over TLS / plain HTTP, kept alive: requests/s $(ratio "$(field "${best[tls]}" rps)" "$(field "${best[plain]}" rps)")x ($(field "${best[tls]}" rps) / $(field "${best[plain]}" rps)); p99 $(field "${best[tls]}" p99_ms) vs $(field "${best[plain]}" p99_ms) ms ($(ratio "$(field "${best[tls]}" p99_ms)" "$(field "${best[plain]}" p99_ms)")x); CPU per request $(field "${best[tls]}" cpu_us) vs $(field "${best[plain]}" cpu_us) us"
echo "$hop_line"

# --- handshakes: our TLS listener against nginx ---------------------------------------------
for p in "${pids[@]}"; do
  [ "$p" = "$api_pid_tls" ] || { kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; }
done
pids=("$api_pid_tls")
nginx_port=$(free_port)
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  $(nginx_temp_paths "$work")
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $pki/server.cert;
    ssl_certificate_key $pki/server.key;
    ssl_client_certificate $pki/ca.cert;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "ok\n"; }
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' 2>>"$work/nginx-error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
tls_curl() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.cert" --cert "$pki/client.cert" \
    --key "$pki/client.key" "$@"
}
nginx_serves() { [ "$(tls_curl "https://127.0.0.1:$nginx_port/")" = 200 ]; }
wait_until nginx_serves ||
  { cat "$work/nginx-error.log" >&2; echo "tls_bench: nginx does not answer over TLS" >&2; exit 1; }
got=$(tls_curl -H "X-Instance-ID: $uuid" -H "X-Tenant-ID: $tenant" \
  -H "X-Instance-ID-Signature: $(printf '%s' "$uuid" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)" \
  "https://127.0.0.1:$port_tls$PATH_MD")
[ "$got" = 200 ] || { echo "tls_bench: our TLS API answers $got" >&2; exit 1; }
protocol() {
  openssl s_client -connect "127.0.0.1:$1" -CAfile "$pki/ca.cert" -cert "$pki/client.cert" \
    -key "$pki/client.key" </dev/null 2>/dev/null | awk '/^New, / {sub(",", "", $2); print $2; exit}'
}

handshakes() {  # port server-pid -> "rate cpu_us_per_handshake"
  local before start end total=0 i clients=()
  before=$(cpu_ticks "$2")
  start=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    openssl s_time -connect "127.0.0.1:$1" -new -time "$HS_SECONDS" -CAfile "$pki/ca.cert" \
      -cert "$pki/client.cert" -key "$pki/client.key" >"$work/s_time.$i" 2>&1 &
    clients+=($!)
  done
  for i in "${clients[@]}"; do wait "$i" || true; done
  end=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    n=$(awk '/connections in .* real seconds/ {print $1; exit}' "$work/s_time.$i")
    [ -n "$n" ] || { cat "$work/s_time.$i" >&2; echo "tls_bench: s_time failed" >&2; exit 1; }
    total=$((total + n))
  done
  awk -v n="$total" -v s="$start" -v e="$end" -v t="$(( $(cpu_ticks "$2") - before ))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f %.1f %d\n", n / (e - s), (n > 0 ? t / hz * 1e6 / n : 0), n}'
}

echo
echo "== TLS handshakes per second, a new connection each (openssl s_time -new, mutual TLS):" \
  "$CLIENTS clients, ${HS_SECONDS}s, $ROUNDS rounds alternating"
echo "   ours: the TLS API's signed listener ($(protocol "$port_tls")); nginx $(nginx -v 2>&1 | sed 's/.*: //')," \
  "worker_processes auto ($(protocol "$nginx_port")), the same certificate, key and client CA"
declare -A hs_best hs_cpu
for round in $(seq "$ROUNDS"); do
  for who in ours nginx; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    if [ "$who" = ours ]; then r=$(handshakes "$port_tls" "$api_pid_tls"); else r=$(handshakes "$nginx_port" "$nginx_pid"); fi
    read -r rate cpu n <<<"$r"
    [ -n "${n:-}" ] || exit 1
    printf '   round %d %-5s (load %s) handshakes/s=%s server_cpu_us=%s connections=%s\n' "$round" "$who" "$load" "$rate" "$cpu" "$n"
    if [ -z "${hs_best[$who]:-}" ] || [ "$rate" -gt "${hs_best[$who]}" ]; then
      hs_best[$who]=$rate hs_cpu[$who]=$cpu
    fi
  done
done
echo
echo "== results (best round each)"
echo "$hop_line"
echo "2. TLS handshakes/s, ours / nginx: $(ratio "${hs_best[ours]}" "${hs_best[nginx]}")x" \
  "(${hs_best[ours]} / ${hs_best[nginx]}); server CPU per handshake ${hs_cpu[ours]} vs ${hs_cpu[nginx]} us" \
  "($(ratio "${hs_cpu[ours]}" "${hs_cpu[nginx]}")x)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
