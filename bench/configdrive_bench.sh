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
# then `metastack configdrive build` as a process per drive ($CLI_COUNT times, fork+exec from
# this shell included). Prints each mode's line, then genisoimage's median / ours.
#
# Environment: COUNT (1000), CLI_COUNT (200), INSTANCE (examples/instance.json).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath "${1:-$ROOT/build/release}")
BENCH=$BUILD/bench/configdrive_bench
BIN=$BUILD/apps/metastack/metastack
COUNT=${COUNT:-1000}
CLI_COUNT=${CLI_COUNT:-200}
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

# The CLI, one process per drive (what an operator's script or a hypervisor hook would run).
for fmt in iso vfat; do
  start=$(date +%s%N)
  for ((i = 0; i < CLI_COUNT; i++)); do
    "$BIN" configdrive build -f "$INSTANCE" -o "$work/cli.$fmt" --format "$fmt" --seed "$i" 2>/dev/null
  done
  end=$(date +%s%N)
  /usr/bin/time -v -o "$work/time.cli" "$BIN" configdrive build -f "$INSTANCE" -o "$work/cli.$fmt" \
    --format "$fmt" --seed x 2>/dev/null
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.cli")
  awk -v n="$CLI_COUNT" -v ns=$((end - start)) -v f="$fmt" -v rss="$rss" 'BEGIN {
    printf "mode=cli-%s count=%d mean_ms=%.3f drives_per_s=%.1f peak_rss_kib=%s\n",
           f, n, ns / n / 1e6, n / (ns / 1e9), rss }'
done

awk -v g="${median[genisoimage]}" -v i="${median[iso]}" -v v="${median[vfat]}" \
    -v im="${median[iso-memory]}" -v vm="${median[vfat-memory]}" 'BEGIN {
  printf "ratio genisoimage/iso=%.1fx genisoimage/vfat=%.1fx genisoimage/iso-memory=%.1fx genisoimage/vfat-memory=%.1fx (medians)\n",
         g / i, g / v, g / im, g / vm }'
