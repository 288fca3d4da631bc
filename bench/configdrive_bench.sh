#!/usr/bin/env bash
# Config drive build time: our ISO and VFAT writers vs genisoimage the way Nova uses it.
#
#   bash bench/configdrive_bench.sh [BUILD_DIR]        (default build/release)
#
# BUILD_DIR must hold bench/configdrive_bench and apps/metastack/metastack (target
# configdrive_bench and metastack). For each mode, configdrive_bench builds $COUNT drives in a
# row of examples/instance.json (each rendered afresh, with its own random_seed) under
# /usr/bin/time -v (peak memory = its "Maximum resident set size"):
#   iso / vfat         in-process writer, image written atomically (temp file, fsync, rename)
#   iso-memory / vfat-memory   the same without the file (Build only)
#   render             rendering alone, which every mode includes
#   genisoimage        Nova's way: render into a temp tree, one genisoimage process per drive
#                      (nova.virt.configdrive's flags), remove the tree; no fsync
# Prints each mode's line, then genisoimage's median / ours; then runs bench/startup_bench.sh
# (`metastack configdrive build` and the other light verbs as a process per call, against
# genisoimage's mode in turns; ROUNDS, PROCS... are its own: see there) and bench/vhd_bench.sh
# (a VHD drive against Nova's Hyper-V path; ROUNDS and COUNT are its own too).
#
# Environment: COUNT (1000), INSTANCE (examples/instance.json).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath "${1:-$ROOT/build/release}")
BENCH=$BUILD/bench/configdrive_bench
BIN=$BUILD/apps/metastack/metastack
COUNT=${COUNT:-1000}
INSTANCE=${INSTANCE:-$ROOT/examples/instance.json}

for tool in "$BENCH" "$BIN"; do
  [ -x "$tool" ] || { echo "configdrive_bench: no $tool (build the target)" >&2; exit 1; }
done
for tool in genisoimage /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "configdrive_bench: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/configdrive-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

declare -A median
echo "# $COUNT drives per mode, $(nproc) CPUs, $(uname -r)"
for mode in render iso vfat iso-memory vfat-memory genisoimage; do
  line=$(/usr/bin/time -v -o "$work/time.$mode" "$BENCH" "$mode" "$COUNT" "$INSTANCE" "$work")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.$mode")
  echo "$line peak_rss_kib=$rss"
  median[$mode]=$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")
done

# configdrive_bench's peak RSS does not include its genisoimage children: measure one of them.
"$BIN" render "$INSTANCE" --out "$work/tree" 2>/dev/null
/usr/bin/time -v -o "$work/time.geniso" genisoimage -o "$work/g.iso" -ldots -allow-lowercase \
  -allow-multidot -l -publisher metastack -quiet -J -r -V config-2 "$work/tree" 2>/dev/null
echo "mode=genisoimage-process peak_rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.geniso")"

awk -v g="${median[genisoimage]}" -v i="${median[iso]}" -v v="${median[vfat]}" \
    -v im="${median[iso-memory]}" -v vm="${median[vfat-memory]}" 'BEGIN {
  printf "ratio genisoimage/iso=%.1fx genisoimage/vfat=%.1fx genisoimage/iso-memory=%.1fx genisoimage/vfat-memory=%.1fx (medians)\n",
         g / i, g / v, g / im, g / vm }'

# The CLI, a process per drive, against Nova's whole path in turns (and the other light verbs'
# start-up): bench/startup_bench.sh.
bash "$ROOT/bench/startup_bench.sh" "$BUILD"

# A VHD drive: metastack in-process vs Nova's Hyper-V path (genisoimage + qemu-img convert
# -O vpc): bench/vhd_bench.sh.
bash "$ROOT/bench/vhd_bench.sh" "$BUILD"
