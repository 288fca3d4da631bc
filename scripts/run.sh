#!/usr/bin/env bash
# The main job: installs what building and running need (scripts/setup.sh run), builds the
# metastack binary alone (the run preset: no tests, no benchmarks), and runs the metadata service
# on the embedded SQLite store with the sample instance (examples/instance.json). A guest in its own
# network namespace, routed through a router namespace, then fetches its metadata from
# http://169.254.169.254 exactly as a VM on a Neutron tenant network does:
#
#   guest ns --(default route)--> router ns: iptables REDIRECT :80 -> :9697
#     --> ns-proxy listener (inside the router ns) --> metadata agent (UNIX socket)
#     --> metadata API (signed) --> SQLite
#
# Needs root (namespaces, iptables). Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh run
bash scripts/build.sh run
bin=$PWD/build/run/apps/metastack/metastack
echo "== built $bin in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s (setup included)"
instance=examples/instance.json
router=c0ffee00-1234-4abc-8def-0123456789ab
network=7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b
uuid=b65cee2f-8c69-4aeb-be2f-f79742548fc2

work=$(mktemp -d /tmp/metastack-run.XXXXXX)
guest_ns=msrun-guest-$$
router_ns=msrun-router-$$
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  "$bin" net router-teardown --netns "$router_ns" >/dev/null 2>&1 || true
  ip netns del "$guest_ns" 2>/dev/null || true
  ip netns del "$router_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the sample instance, as the service renders it"
"$bin" validate "$instance"
"$bin" get "$instance" /openstack/latest/meta_data.json; echo

echo "== the store: $work/metastack.db"
export METASTACK_STORE=sqlite:$work/metastack.db
"$bin" router create "$router" --name edge --project 3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41 >/dev/null
"$bin" network create "$network" --name private --router "$router" >/dev/null
"$bin" instance create -f "$instance" >/dev/null
"$bin" instance list
"$bin" port list

echo "== a guest namespace behind a router namespace"
ip netns add "$guest_ns"
ip netns add "$router_ns"
ip link add msrun-g$$ type veth peer name qr-msrun$$
ip link set msrun-g$$ netns "$guest_ns"
ip link set qr-msrun$$ netns "$router_ns"
ip -n "$guest_ns" link set lo up
ip -n "$guest_ns" link set msrun-g$$ name eth0
ip -n "$guest_ns" link set eth0 address fa:16:3e:12:34:56 up
ip -n "$guest_ns" addr add 10.0.0.5/24 dev eth0
ip -n "$guest_ns" route add default via 10.0.0.1
ip -n "$router_ns" link set lo up
ip -n "$router_ns" link set qr-msrun$$ up
ip -n "$router_ns" addr add 10.0.0.1/24 dev qr-msrun$$
"$bin" net router-setup --netns "$router_ns"

echo "== metastack serve (API + agent + ns-proxy listener in $router_ns)"
echo -n "$(head -c 24 /dev/urandom | base64)" > "$work/admin.token"
"$bin" serve --store "$METASTACK_STORE" --admin-listen 127.0.0.1:0 \
  --admin-token-file "$work/admin.token" \
  --agent-socket "$work/agent.sock" --control "$work/proxy.sock" \
  --listen "qrouter-$router,$router_ns,router,$router" \
  --ready-file "$work/ready.json" &
serve_pid=$!
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "metastack serve did not start" >&2; exit 1; }

echo "== from inside the guest: curl http://169.254.169.254/..."
for path in /openstack /openstack/latest/meta_data.json /latest/meta-data/instance-id \
            /latest/meta-data/local-ipv4 /openstack/latest/user_data; do
  echo "-- GET $path"
  ip netns exec "$guest_ns" curl -sS --max-time 5 "http://169.254.169.254$path"; echo
done

echo "== an edit through the admin API is served at once (no cache TTL)"
admin_port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$work/ready.json")
METASTACK_STORE= "$bin" instance set-meta "$uuid" role=db \
  --url "http://127.0.0.1:$admin_port" --token-file "$work/admin.token" >/dev/null
ip netns exec "$guest_ns" curl -sS --max-time 5 http://169.254.169.254/openstack/latest/meta_data.json \
  | /usr/bin/python3 -c 'import json,sys; print("meta:", json.load(sys.stdin)["meta"])'

echo "== the config drive tree"
"$bin" render "$instance" --out "$work/drive"
(cd "$work/drive" && find . -type f | sort)

echo "== done. The binary: $bin (it runs the daemons' verbs with $bin-server, beside it)"
echo "   on PATH for this shell: export PATH=$(dirname "$bin"):\$PATH"
echo "   for every shell:        install -m 755 $bin $bin-server /usr/local/bin/"
