# Helpers the bench scripts share (sourced, not run).
PY=/usr/bin/python3

# A field of a wrk RESULT line: field "$line" rps
field() { sed -E "s/.* $2=([^ ]+).*/\1/" <<<"$1"; }
# A value from a JSON file: json_field FILE 'd["key"][0]'
json_field() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
# a / b with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# per_process WORK N BIN ARGS...: runs `BIN ARGS...` N times from one bash loop (the word @I@
# replaced by the iteration; fork + exec included, as a script pays them) and prints
# "wall_ms cpu_ms" per process (CPU: user + sys of the loop, the processes and bash's forks).
per_process() {
  local work=$1 n=$2
  shift 2
  /usr/bin/time -f '%e %U %S' -o "$work/time" bash -c '
    bin=$1; n=$2; shift 2
    for ((i = 0; i < n; i++)); do "$bin" "${@//@I@/$i}" >/dev/null 2>&1 || exit 1; done' \
    _ "$1" "$n" "${@:2}" || { echo "per_process: $* failed" >&2; return 1; }
  awk -v n="$n" '{ printf "%.3f %.3f\n", $1 * 1000 / n, ($2 + $3) * 1000 / n }' "$work/time"
}

# The median of standard input's numbers, one per line ("-" lines skipped; "-" when none).
median() { awk '$1 != "-"' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "-"; exit } print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Rounds of per-process modes: record_sample MODE "WALL_MS CPU_MS" prints the round's line and
# keeps it; medians_per_mode MODE... prints each mode's medians over the rounds and leaves them in
# wall[MODE] and cpu[MODE].
declare -A samples wall cpu
record_sample() {
  local w c
  read -r w c <<<"$2"
  echo "  mode=$1 wall_ms=$w cpu_ms=$c"
  samples[$1]+="$w $c,"
}
medians_per_mode() {
  local mode
  for mode in "$@"; do
    wall[$mode]=$(tr ',' '\n' <<<"${samples[$mode]}" | awk 'NF { print $1 }' | median)
    cpu[$mode]=$(tr ',' '\n' <<<"${samples[$mode]}" | awk 'NF { print $2 }' | median)
    echo "mode=$mode wall_ms=${wall[$mode]} cpu_ms=${cpu[$mode]}"
  done
}

# Tries command... every 50 ms for up to 10 s; fails if it never succeeds.
wait_until() {
  for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}

# One line naming the machine: cores, CPU model, memory.
machine_line() {
  echo "$(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
}

# A store holding examples/instance.json, its router and its network: seed_store BIN STORE EXAMPLE.
# Sets uuid, tenant, network and router from the example.
seed_store() {
  uuid=$(json_field "$3" 'd["uuid"]')
  tenant=$(json_field "$3" 'd["project_id"]')
  network=$(json_field "$3" 'd["ports"][0]["network_id"]')
  router=$(json_field "$3" 'd["ports"][0]["router_id"]')
  "$1" router create "$router" --project "$tenant" --store "$2" >/dev/null
  "$1" network create "$network" --router "$router" --store "$2" >/dev/null
  "$1" instance create -f "$3" --store "$2" >/dev/null
}

# The example's guest: namespace GUEST_NS with eth0 10.0.0.5 (the port's MAC), a veth to
# ROUTER_NS's qr-TAG (10.0.0.1, the default route), and `metastack net router-setup`'s rules
# in ROUTER_NS (169.254.169.254:80 redirected to :9697): guest_and_router BIN TAG GUEST_NS ROUTER_NS
guest_and_router() {
  ip netns add "$3"
  ip netns add "$4"
  ip link add eth0 netns "$3" type veth peer name "qr-$2" netns "$4"
  ip -n "$4" link set lo up
  ip -n "$4" addr add 10.0.0.1/24 dev "qr-$2"
  ip -n "$4" link set "qr-$2" up
  ip -n "$3" link set lo up
  ip -n "$3" link set eth0 address fa:16:3e:12:34:56 up
  ip -n "$3" addr add 10.0.0.5/24 dev eth0
  ip -n "$3" route add default via 10.0.0.1
  "$1" net router-setup --netns "$4" >/dev/null
}

# haproxy's configuration for a router as Neutron's driver renders it
# (neutron/agent/metadata/driver.py, see /work/shared/reference/neutron.md), less `user`,
# `group` and `daemon`: neutron_haproxy_cfg ROUTER_ID UPSTREAM_SOCKET PIDFILE
neutron_haproxy_cfg() {
  cat <<CFG
global
    log /dev/log local0 info
    log-tag haproxy-metadata-proxy-$1
    maxconn 1024
    pidfile $3
defaults
    log global
    mode http
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor
    retries 3
    timeout http-request 30s
    timeout connect 30s
    timeout client 32s
    timeout server 32s
    timeout http-keep-alive 30s
listen listener
    bind :::9697
    server metadata $2
    http-request del-header X-Neutron-Network-ID
    http-request set-header X-Neutron-Router-ID $1
CFG
}

# Keeps in the caller's associative array `best` the RESULT line with the most requests/s of
# each side across rounds: keep_best WHO LINE.
keep_best() {
  if [ -z "${best[$1]:-}" ] || [ "$(field "$2" rps)" -gt "$(field "${best[$1]}" rps)" ]; then
    best[$1]=$2
  fi
}

# The results table of a wrk RESULT line: result_header, then result_row LABEL LINE.
# errors = non-2xx answers + connect, read and timeout errors.
result_header() {
  printf '  %-26s %10s %9s %9s %9s %9s %7s\n' "" "req/s" "p50 ms" "p99 ms" "max ms" "errors" "requests"
}
result_row() {
  printf '  %-26s %10s %9s %9s %9s %9s %7s\n' "$1" "$(field "$2" rps)" "$(field "$2" p50_ms)" \
    "$(field "$2" p99_ms)" "$(field "$2" max_ms)" \
    "$(($(field "$2" non2xx) + $(field "$2" connect) + $(field "$2" read) + $(field "$2" timeout)))" \
    "$(field "$2" requests)"
}

# The temporary directories of an nginx run under WORK (created): lines for its http {} block.
nginx_temp_paths() {
  mkdir -p "$1/nginx-tmp"
  local kind
  for kind in client_body proxy fastcgi uwsgi scgi; do
    printf '%s_temp_path %s;\n' "$kind" "$1/nginx-tmp/${kind#client_}"
  done
}

# The proxy benches' stub upstream: one nginx worker on the UNIX socket $2/stub.sock serving
# what `metastack get EXAMPLE PATH` renders, so only the proxy in front of it differs between
# runs. Its pid is appended to the caller's `pids`; its log is $2/nginx-error.log.
stub_upstream() {
  local bin=$1 work=$2 example=$3 path=$4
  mkdir -p "$work/www$(dirname "$path")"
  "$bin" get "$example" "$path" >"$work/www$path"
  chmod -R a+rX "$work/www"
  cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 100000000;
  open_file_cache max=16 inactive=60s;
  $(nginx_temp_paths "$work")
  server { listen unix:$work/stub.sock; root $work/www; }
}
EOF
  nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' 2>>"$work/nginx-error.log" &
  pids+=($!)
  wait_until test -S "$work/stub.sock" || { cat "$work/nginx-error.log" >&2; return 1; }
}
