#!/usr/bin/env bash
# metastack-guest against cloud-init, first boot from start to everything applied.
#
#   bash bench/guest_bench.sh [BUILD_DIR]        (default build/release; needs root)
#
# BUILD_DIR must hold apps/metastack-guest/metastack-guest and apps/metastack/metastack. The
# instance is examples/instance.json (hostname, a key, two injected files, cloud-config user
# data, one port with a static address). Each side runs $RUNS times, in turns, each time as a
# new process applying to a fresh copy of a small root tree (bench/guest_bench.py):
#   config drive  metastack-guest reading the ISO image in place  vs  cloud-init's ConfigDrive
#                 source on the drive's files (as mounted; mounting not counted)
#   service       both in a guest namespace behind a router namespace, against one
#                 `metastack serve` on a SQLite store: metastack-guest's service source vs
#                 cloud-init's OpenStack source (bench/cloudinit_guest.py). The guest's DNS is a
#                 dnsmasq in the router namespace that knows no name (as a tenant network's DNS
#                 knows none of cloud-init's probe names): cloud-init resolves bogus names
#                 before it asks the service, and with no DNS server answering that alone takes
#                 5 to 30 s.
# Then the binary's size (as built and stripped) and its shared libraries.
#
# Environment: RUNS (30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/common.sh"
BUILD=$(realpath "${1:-$ROOT/build/release}")
GUEST=$BUILD/apps/metastack-guest/metastack-guest
BIN=$BUILD/apps/metastack/metastack
RUNS=${RUNS:-30}
for tool in "$GUEST" "$BIN"; do
  [ -x "$tool" ] || { echo "guest_bench: no $tool (build it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/guest-bench.XXXXXX)
tag=gb$$
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  [ -e "$work/dnsmasq.pid" ] && kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null
  rm -rf "/etc/netns/g$tag"
  ip netns del "g$tag" 2>/dev/null || true
  ip netns del "r$tag" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image's tree both apply to, and the guest's NIC table (eth0 with the port's MAC).
template=$work/template
mkdir -p "$template/etc/systemd" "$template/etc/network" "$template/root/.ssh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$template/etc/passwd"
printf '127.0.0.1\tlocalhost\n' >"$template/etc/hosts"
mkdir -p "$work/net/eth0" && echo fa:16:3e:12:34:56 >"$work/net/eth0/address"

"$BIN" render "$ROOT/examples/instance.json" --out "$work/drive" >/dev/null
"$BIN" configdrive build -f "$ROOT/examples/instance.json" -o "$work/drive.iso" 2>/dev/null

echo "# $(machine_line); $RUNS runs each, in turns; $(uname -r)"
echo "config drive (first boot: read, apply; fresh root each run):"
"$PY" "$ROOT/bench/guest_bench.py" "$RUNS" "$template" \
  "metastack-guest (ISO in place)" \
  "$GUEST --quiet --source config-drive --drive $work/drive.iso --root ROOT --network both --sys-class-net $work/net" \
  "cloud-init ConfigDrive (files)" \
  "$PY $ROOT/bench/cloudinit_guest.py configdrive $work/drive ROOT"

store="sqlite:$work/metastack.db"
seed_store "$BIN" "$store" "$ROOT/examples/instance.json"
guest_and_router "$BIN" "$tag" "g$tag" "r$tag"
mkdir -p "/etc/netns/g$tag"
echo "nameserver 10.0.0.1" >"/etc/netns/g$tag/resolv.conf"
ip netns exec "r$tag" dnsmasq --port=53 --listen-address=10.0.0.1 --bind-interfaces --no-resolv \
  --no-hosts --address=/#/ --user=root --pid-file="$work/dnsmasq.pid"
"$BIN" serve --store "$store" --admin-listen '' --agent-socket "$work/agent.sock" \
  --control "$work/proxy.sock" --threads 1 --log-level error --ready-file "$work/ready" \
  --rate-burst 1000000 \
  >"$work/serve.log" 2>&1 &
serve_pid=$!
wait_until test -e "$work/ready"
"$BIN" proxy-ctl --control "$work/proxy.sock" add --name "r$tag" --netns "r$tag" --kind router \
  --id "$router" >/dev/null
wait_until ip netns exec "g$tag" curl -sf http://169.254.169.254/openstack/latest/meta_data.json
echo "metadata service (first boot from a guest namespace; fresh root each run):"
"$PY" "$ROOT/bench/guest_bench.py" "$RUNS" "$template" \
  "metastack-guest (service)" \
  "$GUEST --quiet --source service --url http://169.254.169.254 --root ROOT --network both --sys-class-net $work/net" \
  "cloud-init OpenStack source" \
  "$PY $ROOT/bench/cloudinit_guest.py openstack http://169.254.169.254 ROOT" \
  "g$tag"

stripped=$work/metastack-guest.stripped
strip -o "$stripped" "$GUEST"
echo "binary: $(stat -c %s "$GUEST") bytes as built, $(stat -c %s "$stripped") stripped;" \
  "$(ldd "$GUEST" 2>&1 | grep -q 'not a dynamic' && echo 'statically linked' || echo "$(ldd "$GUEST" | wc -l) shared libraries")"
