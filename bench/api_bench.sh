#!/usr/bin/env bash
# Metadata API vs nginx, on this machine.
#
#   bash bench/api_bench.sh [path-to-metastack]
#
# Starts `metastack api` (signed mode, one instance: examples/instance.json), nginx (Debian's
# nginx-light, a private config in a temporary directory) serving the SAME rendered
# meta_data.json from disk, and Nova's own metadata API (nova-api-metadata's WSGI app under
# eventlet.wsgi, tests/integration/nova_reference.py --serve) for the same instance, then runs wrk
# against them: GET /openstack/latest/meta_data.json with the three signed-mode headers
# (bench/api_bench.lua), $THREADS wrk threads, $DURATION s, at each of $CONNS connections after a
# short warm-up; $ROUNDS rounds, alternating (Nova only at $NOVA_CONNS connections). Prints every
# round with the load average before it, then requests/s, p50/p99 and CPU per request of the best
# round each, and the ratios: ours/nginx at each connection count (requests/s, p99 side by side)
# and ours/Nova.
# Then the API's resident memory (VmRSS, and RssAnon: without mapped files): empty, after creating $INSTANCES instances through
# the admin API (nothing cached), and after one signed GET of meta_data.json each (all cached).
#
# Environment: STORE (sqlite | memory:, default sqlite: a file in the temporary directory), DURATION (10),
# CONNS ("32 64": the connection counts, in order), NOVA_CONNS (32; must be one of CONNS), NOVA (1; 0
# skips Nova), THREADS (2), ROUNDS (2), INSTANCES (10000), API_THREADS (default: the API's own, one per core),
# NGINX_WORKERS (auto), LIGHT_CONNS (8; 0 skips the light-load run), TASKS (1: the API's threads'
# wake-ups and CPU, idle and under load; 0 skips), SCHED=1 (with TASKS: `perf sched` during the
# loaded run, and which tasks held the cores while the connection threads waited: bench/sched_blame.py),
# PERF=1 to record a perf
# profile of the API during one extra run (at the last of CONNS), RATE_LIMIT (the API's --rate-limit; default 0, off:
# wrk asks as one instance, far over any real guest's rate; RATE_LIMIT=1e9 keeps the limiter on
# with every request taking a token, to measure what it costs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
BIN=$(realpath "${1:-$ROOT/build/release/apps/metastack/metastack}")
DURATION=${DURATION:-10}
CONNS=${CONNS:-32 64}
NOVA_CONNS=${NOVA_CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
INSTANCES=${INSTANCES:-10000}
STORE=${STORE:-sqlite}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
PATH_MD=/openstack/latest/meta_data.json
EXAMPLE=$ROOT/examples/instance.json

for tool in wrk nginx "$PY" openssl; do
  command -v "$tool" >/dev/null || { echo "api_bench: $tool is missing (bash scripts/setup.sh)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "api_bench: no metastack binary at $BIN" >&2; exit 1; }

work=$(mktemp -d /tmp/api-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody
api_pid=""
nginx_pid=""
nova_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  [ -n "$nova_pid" ] && kill "$nova_pid" 2>/dev/null && wait "$nova_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mem_kb() { awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {print r "," a}' "/proc/$1/status"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the API --------------------------------------------------------------------------------
[ "$STORE" = sqlite ] && STORE="sqlite:$work/metastack.db"
secret=bench-shared-secret
token=bench-admin-token-0123456789
printf '%s\n' "$secret" >"$work/secret"
printf '%s\n' "$token" >"$work/token"
api_args=(api --store "$STORE" --signed-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
          --admin-token-file "$work/token" --secret-file "$work/secret"
          --ready-file "$work/ready.json" --log-level warning)
[ -n "${API_THREADS:-}" ] && api_args+=(--threads "$API_THREADS")
api_args+=(--rate-limit "${RATE_LIMIT:-0}")
"$BIN" "${api_args[@]}" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 200); do [ -s "$work/ready.json" ] && break; sleep 0.05; done
[ -s "$work/ready.json" ] || { cat "$work/api.log" >&2; echo "api_bench: API did not start" >&2; exit 1; }
api_port=$(json_field "$work/ready.json" 'd["signed"][0]')
admin_port=$(json_field "$work/ready.json" 'd["admin"]')
admin_url=http://127.0.0.1:$admin_port
mem_empty=$(mem_kb "$api_pid")

uuid=$(json_field "$EXAMPLE" 'd["uuid"]')
tenant=$(json_field "$EXAMPLE" 'd["project_id"]')
network=$(json_field "$EXAMPLE" 'd["ports"][0]["network_id"]')
router=$(json_field "$EXAMPLE" 'd["ports"][0]["router_id"]')
cli() { "$BIN" "$@" --url "$admin_url" --token-file "$work/token" >/dev/null; }
cli router create "$router" --project "$tenant"
cli network create "$network" --project "$tenant" --router "$router"
cli instance create -f "$EXAMPLE"
signature=$(printf '%s' "$uuid" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
export BENCH_INSTANCE_ID=$uuid BENCH_TENANT_ID=$tenant BENCH_SIGNATURE=$signature

# --- nginx, serving the same document from disk ---------------------------------------------
mkdir -p "$work/www/openstack/latest"
"$BIN" get "$EXAMPLE" "$PATH_MD" >"$work/www$PATH_MD"
chmod -R a+rX "$work/www"
nginx_port=$(free_port)
cat >"$work/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  open_file_cache max=16 inactive=60s;
  open_file_cache_valid 60s;
  $(nginx_temp_paths "$work")
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' 2>>"$work/nginx-error.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$nginx_port$PATH_MD" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$nginx_port$PATH_MD" ||
  { cat "$work/nginx-error.log" >&2; echo "api_bench: nginx does not serve $PATH_MD" >&2; exit 1; }

# Both answer the same document (ours with a fresh random_seed, of the same length).
ours_len=$(curl -sf -H "X-Instance-ID: $uuid" -H "X-Tenant-ID: $tenant" \
  -H "X-Instance-ID-Signature: $signature" "http://127.0.0.1:$api_port$PATH_MD" | wc -c)
nginx_len=$(curl -sf "http://127.0.0.1:$nginx_port$PATH_MD" | wc -c)
[ "$ours_len" = "$nginx_len" ] || { echo "api_bench: bodies differ: ours $ours_len bytes, nginx $nginx_len" >&2; exit 1; }

# --- Nova's nova-api-metadata: its WSGI app under eventlet.wsgi, the same instance ------------
# tests/integration/nova_reference.py --serve: nova.api.metadata.handler.MetadataRequestHandler
# in signed (Neutron proxy) mode, served by eventlet.wsgi in one process as nova-api-metadata
# runs it; only the database and Neutron look-ups are stubbed, and its InstanceMetadata is built
# once and reused, as Nova's metadata cache does.
nova_pid="" nova_line="" nova_port=""
if [ "${NOVA:-1}" = 1 ] && [[ " $CONNS " == *" $NOVA_CONNS "* ]]; then
  if "$PY" -c 'import nova, eventlet' 2>/dev/null; then
    "$PY" "$ROOT/tests/integration/nova_reference.py" "$EXAMPLE" --shared-secret "$secret" \
      --serve "$work/nova.port" >"$work/nova.log" 2>&1 &
    nova_pid=$!
    for _ in $(seq 600); do [ -s "$work/nova.port" ] && break; sleep 0.1; done
    [ -s "$work/nova.port" ] || { cat "$work/nova.log" >&2; echo "api_bench: Nova did not start" >&2; exit 1; }
    nova_port=$(cat "$work/nova.port")
    nova_len=$(curl -sf -H "X-Instance-ID: $uuid" -H "X-Tenant-ID: $tenant" \
      -H "X-Instance-ID-Signature: $signature" "http://127.0.0.1:$nova_port$PATH_MD" | wc -c)
    [ "$nova_len" -gt 0 ] || { cat "$work/nova.log" >&2; echo "api_bench: Nova does not answer $PATH_MD" >&2; exit 1; }
    nova_line="Nova: python3-nova $(dpkg-query -W -f '${Version}' python3-nova 2>/dev/null), its metadata WSGI app under eventlet.wsgi (nova_reference.py --serve), body $nova_len bytes"
  else
    echo "api_bench: python3-nova or python3-eventlet is missing; Nova is not measured (NOVA=0 skips it)" >&2
  fi
fi

# --- wrk -------------------------------------------------------------------------------------
# CPU time (user + system, in clock ticks) of a server: the process and its children (nginx's
# workers). CPU per request is what a run on a busy machine still measures fairly: requests/s
# there depends on what else runs, CPU microseconds per answer much less.
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
run_wrk() {  # port seconds [server pid] -> the RESULT line, with cpu_us (per request) if a pid
  local before=0 line
  [ -n "${3:-}" ] && before=$(cpu_ticks "$3")
  line=$(wrk -t"$THREADS" -c"$CONNS" -d"$2"s -s "$ROOT/bench/api_bench.lua" "http://127.0.0.1:$1$PATH_MD" |
    grep '^RESULT')
  if [ -n "${3:-}" ]; then
    local ticks=$(( $(cpu_ticks "$3") - before )) hz
    hz=$(getconf CLK_TCK)
    line+=" cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v n="$(field "$line" requests)" \
      'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}')"
  fi
  echo "$line"
}

echo "== Metadata API vs nginx${nova_line:+ and Nova}: GET $PATH_MD, signed mode, wrk -t$THREADS -d${DURATION}s"
echo "   machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "   body $ours_len bytes; store $STORE; connections: $CONNS${nova_line:+ (Nova at $NOVA_CONNS)}"
echo "   metastack: $BIN (--rate-limit ${RATE_LIMIT:-0}${API_THREADS:+, --threads $API_THREADS})"
echo "   nginx: $(nginx -v 2>&1 | sed 's/.*: //'), worker_processes $NGINX_WORKERS; wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
[ -n "$nova_line" ] && echo "   $nova_line"
declare -A port_of=([ours]=$api_port [nginx]=$nginx_port) pid_of=([ours]=$api_pid [nginx]=$nginx_pid)
[ -n "$nova_pid" ] && port_of[nova]=$nova_port pid_of[nova]=$nova_pid
summary=()
for conns in $CONNS; do
  who_list="ours nginx"
  [ -n "$nova_pid" ] && [ "$conns" = "$NOVA_CONNS" ] && who_list+=" nova"
  echo
  echo "-- $conns connections: $ROUNDS rounds, alternating $who_list"
  declare -A best=()
  for who in $who_list; do CONNS=$conns run_wrk "${port_of[$who]}" 2 >/dev/null; done  # warm-up
  for round in $(seq "$ROUNDS"); do
    for who in $who_list; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      line=$(CONNS=$conns run_wrk "${port_of[$who]}" "$DURATION" "${pid_of[$who]}")
      printf '   round %d %-5s (load %s) %s\n' "$round" "$who" "$load" "${line#RESULT }"
      keep_best "$who" "$line"
    done
  done
  echo "   best round of each:"
  printf '   %-8s %12s %10s %10s %10s %8s %12s\n' "" "requests/s" "p50 ms" "p99 ms" "max ms" "non-2xx" "CPU us/req"
  for who in $who_list; do
    line=${best[$who]}
    printf '   %-8s %12s %10s %10s %10s %8s %12s\n' "$who" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
      "$(field "$line" p99_ms)" "$(field "$line" max_ms)" "$(field "$line" non2xx)" "$(field "$line" cpu_us)"
  done
  summary+=("ours/nginx at $conns connections: requests/s $(ratio "$(field "${best[ours]}" rps)" "$(field "${best[nginx]}" rps)")x; p99 $(field "${best[ours]}" p99_ms) vs $(field "${best[nginx]}" p99_ms) ms; CPU per request nginx/ours $(ratio "$(field "${best[nginx]}" cpu_us)" "$(field "${best[ours]}" cpu_us)")x")
  if [[ " $who_list " == *" nova "* ]]; then
    summary+=("ours/Nova at $conns connections: requests/s $(ratio "$(field "${best[ours]}" rps)" "$(field "${best[nova]}" rps)")x; p99 $(field "${best[ours]}" p99_ms) vs $(field "${best[nova]}" p99_ms) ms")
  fi
  unset best
done
echo
echo "== ratios (best round each; goals: ours/nginx >= 1.00 at 64 connections, p99 at or below nginx's)"
printf '%s\n' "${summary[@]}"
if [ "${LIGHT_CONNS:-8}" != 0 ]; then
  # At 64 connections both servers and wrk saturate the cores, so latency is mostly queueing
  # (p50 ~ connections / requests/s); a light load shows the service time.
  echo "light load, wrk -t1 -c${LIGHT_CONNS:-8} -d$((DURATION / 2))s:"
  for who in ours nginx; do
    line=$(THREADS=1 CONNS=${LIGHT_CONNS:-8} run_wrk "${port_of[$who]}" $((DURATION / 2)))
    printf '%-8s %12s %10s %10s %10s %8s\n' "$who" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
      "$(field "$line" p99_ms)" "$(field "$line" max_ms)" "$(field "$line" non2xx)"
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$nova_pid" ]; then kill "$nova_pid" 2>/dev/null; wait "$nova_pid" 2>/dev/null || true; nova_pid=""; fi

# The API's threads: what each costs idle and under load. Per thread (name, tid): voluntary
# context switches per second (it went to sleep: each is a wake-up when it runs again),
# involuntary ones (the scheduler took the core from it), and CPU.
task_sample() {  # pid -> lines "tid name voluntary nonvoluntary ticks"
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" \
      "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")" \
      "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")" \
      "$(awk '{print $14 + $15}' "$t/stat")"
  done
}
task_report() {  # label seconds before after
  echo "$1:"
  printf '   %-8s %-16s %12s %14s %8s\n' tid name "wake-ups/s" "preempted/s" "CPU %"
  join <(sort <<<"$3") <(sort <<<"$4") | sort -n | awk -v s="$2" -v hz="$(getconf CLK_TCK)" '{
    printf "   %-8s %-16s %12.0f %14.0f %8.1f\n", $1, $2, ($7 - $3) / s, ($8 - $4) / s, ($9 - $5) / hz / s * 100 }'
}
if [ "${TASKS:-1}" = 1 ]; then
  echo
  echo "== the API's threads (/proc/$api_pid/task): idle 5 s, then under load (wrk -c${CONNS##* } ${DURATION}s)"
  before=$(task_sample "$api_pid"); sleep 5; after=$(task_sample "$api_pid")
  task_report "idle" 5 "$before" "$after"
  before=$(task_sample "$api_pid")
  sched=""
  if [ "${SCHED:-0}" = 1 ] && command -v perf >/dev/null; then
    perf sched record -o "$work/sched.data" -- sleep $((DURATION - 1)) >/dev/null 2>&1 &
    sched=$!
  fi
  line=$(CONNS=${CONNS##* } run_wrk "$api_port" "$DURATION")
  after=$(task_sample "$api_pid")
  task_report "under load ($(field "$line" rps) requests/s, p99 $(field "$line" p99_ms) ms)" "$DURATION" "$before" "$after"
  if [ -n "$sched" ]; then
    wait "$sched" || true
    echo "where the connection threads' requests waited for a core (perf sched, bench/sched_blame.py):"
    perf sched timehist -i "$work/sched.data" >"$work/timehist.txt" 2>/dev/null || true
    "$PY" "$ROOT/bench/sched_blame.py" "$work/timehist.txt" \
      $(grep -l '^metastack-io' /proc/"$api_pid"/task/*/comm | cut -d/ -f5) || true
  fi
fi

if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  echo
  echo "== perf profile of the API during one ${DURATION}s run (self time, top 40)"
  perf record -F 999 -g -o "$work/perf.data" -p "$api_pid" -- sleep "$DURATION" >/dev/null 2>&1 &
  perf_pid=$!
  CONNS=${CONNS##* } run_wrk "$api_port" "$DURATION" >/dev/null
  wait "$perf_pid" || true
  perf report -i "$work/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | cut -c1-150 | sed -E 's/ +$//' | sed -n 1,40p
fi

# --- resident memory with 10,000 instances ---------------------------------------------------
mem_one=$(mem_kb "$api_pid")
fill=$("$PY" - "$EXAMPLE" "$admin_port" "$api_port" "$token" "$secret" "$INSTANCES" "$api_pid" <<'EOF'
import copy, hashlib, hmac, http.client, json, sys, time
example, admin_port, api_port, token, secret, count, pid = sys.argv[1:]
count = int(count)
base = json.load(open(example))

def rss():
    fields = dict(line.split(':', 1) for line in open(f'/proc/{pid}/status'))
    return f"{fields['VmRSS'].split()[0]},{fields['RssAnon'].split()[0]}"

def doc(i):
    d = copy.deepcopy(base)
    d['uuid'] = f'{i:08x}-0000-4000-8000-{i:012x}'
    d['name'] = d['hostname'] = f'vm-{i:05d}'
    p = d['ports'][0]
    p['id'] = f'{i:08x}-1111-4000-8000-{i:012x}'
    p['mac'] = 'fa:16:3f:%02x:%02x:%02x' % (i >> 16 & 255, i >> 8 & 255, i & 255)
    h = i + 2
    s = p['subnets'][0]
    s['id'] = f'{i:08x}-2222-4000-8000-{i:012x}'
    s['cidr'] = '10.128.0.0/9'
    s['gateway_ip'] = '10.128.0.1'
    s['ip_address'] = f'10.{128 + (h >> 16)}.{h >> 8 & 255}.{h & 255}'
    return d

admin = http.client.HTTPConnection('127.0.0.1', int(admin_port))
auth = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}
t0 = time.monotonic()
for i in range(1, count + 1):
    admin.request('POST', '/v1/instances', json.dumps(doc(i)), auth)
    r = admin.getresponse()
    body = r.read()
    if r.status not in (200, 201):
        sys.exit(f'create {i}: {r.status} {body[:200]!r}')
created = time.monotonic() - t0
time.sleep(0.5)
rss_created = rss()

api = http.client.HTTPConnection('127.0.0.1', int(api_port))
t0 = time.monotonic()
size = 0
for i in range(1, count + 1):
    uuid = doc(i)['uuid']
    api.request('GET', '/openstack/latest/meta_data.json', headers={
        'X-Instance-ID': uuid, 'X-Tenant-ID': base['project_id'],
        'X-Instance-ID-Signature': hmac.new(secret.encode(), uuid.encode(), hashlib.sha256).hexdigest()})
    r = api.getresponse()
    size += len(r.read())
    if r.status != 200:
        sys.exit(f'GET {uuid}: {r.status}')
filled = time.monotonic() - t0
time.sleep(0.5)
rss_cached = rss()
admin.request('GET', '/metrics')
metrics = admin.getresponse().read().decode()
cached = [l.split()[-1] for l in metrics.splitlines() if l.startswith('metastack_api_cache_instances')]
print(f'created {count} instances through the admin API in {created:.1f} s ({count / created:.0f}/s); '
      f'first GET of each in {filled:.1f} s ({count / filled:.0f}/s, {size / count:.0f} bytes each); '
      f'cache holds {cached[0] if cached else "?"} instances')
print(f'MEM_CREATED={rss_created} MEM_CACHED={rss_cached}')
EOF
)
mem_created=$(sed -nE 's/^MEM_CREATED=([0-9,]+).*/\1/p' <<<"$fill")
mem_cached=$(sed -nE 's/.*MEM_CACHED=([0-9,]+).*/\1/p' <<<"$fill")
echo
echo "== resident memory of the API, store $STORE: VmRSS (RssAnon, i.e. without mapped files)"
grep -v '^MEM_' <<<"$fill"
awk -v e="$mem_empty" -v o="$mem_one" -v c="$mem_created" -v f="$mem_cached" -v n="$INSTANCES" 'BEGIN {
  split(e, E, ","); split(o, O, ","); split(c, C, ","); split(f, F, ",")
  printf "empty store, nothing cached:             %7.1f MiB (%7.1f)\n", E[1] / 1024, E[2] / 1024
  printf "1 instance cached, after the wrk runs:   %7.1f MiB (%7.1f)\n", O[1] / 1024, O[2] / 1024
  printf "+%d instances in the store, not cached: %7.1f MiB (%7.1f)\n", n, C[1] / 1024, C[2] / 1024
  printf "all %d cached (one GET each):          %7.1f MiB (%7.1f)\n", n + 1, F[1] / 1024, F[2] / 1024
  printf "cache cost: %.1f KiB per instance (RssAnon %.1f KiB)\n", (F[1] - C[1]) / n, (F[2] - C[2]) / n
}'
