#!/usr/bin/env bash
# A VHD config drive (what Hyper-V attaches), one process per drive: `metastack configdrive build
# -o disk.vhd` (in-process: render, ISO9660, VHD container) against Nova's Hyper-V path
# (nova.virt.hyperv: render a temporary tree, genisoimage with nova.virt.configdrive's flags,
# then `qemu-img convert -f raw -O vpc` of the ISO, then remove the tree and the ISO).
#
#   bash bench/vhd_bench.sh [BUILD_DIR]        (default build/release; target metastack)
#
# $ROUNDS rounds; in each, the two sides in turns (which goes first alternates), $COUNT drives
# each, the load average printed before each run; a side's figure for a round is its mean wall
# time per drive. Prints the medians over the rounds and the ratio nova-hyperv / metastack.
# The tree is rendered by `metastack render` (not Nova's Python), as configdrive_bench.sh's
# genisoimage mode does: the comparison is of the image and container steps.
#
# Environment: ROUNDS (5), COUNT (50), INSTANCE (examples/instance.json).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath "${1:-$ROOT/build/release}")
BIN=$BUILD/apps/metastack/metastack
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-50}
INSTANCE=${INSTANCE:-$ROOT/examples/instance.json}

[ -x "$BIN" ] || { echo "vhd_bench: no $BIN (build the target metastack)" >&2; exit 1; }
for tool in genisoimage qemu-img; do
  command -v "$tool" >/dev/null || { echo "vhd_bench: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/vhd-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

metastack_side() {
  "$BIN" configdrive build -f "$INSTANCE" -o "$work/m.vhd" --seed bench 2>/dev/null
}
nova_side() {
  "$BIN" render "$INSTANCE" --out "$work/tree" 2>/dev/null
  genisoimage -o "$work/n.iso" -ldots -allow-lowercase -allow-multidot -l \
    -publisher metastack -quiet -J -r -V config-2 "$work/tree" 2>/dev/null
  qemu-img convert -f raw -O vpc "$work/n.iso" "$work/n.vhd"
  rm -rf "$work/tree" "$work/n.iso"
}

# Mean milliseconds per drive of `side` over $COUNT drives.
run_side() {
  local side=$1 start end
  start=$(date +%s%N)
  for ((i = 0; i < COUNT; i++)); do "$side"; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n="$COUNT" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "# VHD drive: $ROUNDS rounds, $COUNT drives per side and round, $(nproc) CPUs"
declare -a ours nova
for ((r = 1; r <= ROUNDS; r++)); do
  sides=(metastack_side nova_side)
  ((r % 2)) || sides=(nova_side metastack_side)
  for side in "${sides[@]}"; do
    echo "round=$r side=${side%_side} load=$(cut -d' ' -f1-3 /proc/loadavg)"
    ms=$(run_side "$side")
    echo "round=$r side=${side%_side} ms_per_drive=$ms"
    if [ "$side" = metastack_side ]; then ours+=("$ms"); else nova+=("$ms"); fi
  done
done
m=$(printf '%s\n' "${ours[@]}" | median)
n=$(printf '%s\n' "${nova[@]}" | median)
awk -v m="$m" -v n="$n" 'BEGIN {
  printf "vhd metastack=%.2f ms nova-hyperv=%.2f ms per drive (medians); ratio nova-hyperv/metastack=%.1fx\n", m, n, n / m }'
