#!/usr/bin/env bash
# Start-up: metastack's light verbs as one process per call (the way Nova's driver, a
# hypervisor hook or an operator's script runs a builder), against Nova's whole path for a
# config drive, in turns in the same run.
#
#   bash bench/startup_bench.sh [BUILD_DIR]        (default build/release)
#
# BUILD_DIR must hold apps/metastack/metastack (and metastack-server beside it) and
# bench/configdrive_bench (targets metastack and configdrive_bench). $ROUNDS rounds; in each,
# the load average is printed, then every mode runs once, in this order:
#   nova       configdrive_bench genisoimage: render + temp tree + one genisoimage process
#              (nova.virt.configdrive's flags) + rm, $NOVA_COUNT drives; its mean per drive
#   cli-iso    `metastack configdrive build -f INSTANCE -o OUT.iso --seed I`, $PROCS processes
#   cli-vfat   the same with --format vfat (a 64 MiB sparse image)
#   version    `metastack --version`
#   validate   `metastack validate INSTANCE`
#   render     `metastack render INSTANCE --out DIR` (a new DIR each time, removed afterwards)
#   get        `metastack get INSTANCE /openstack/latest/meta_data.json`
# Each process is started from a bash loop (fork + exec included, as a script pays them); wall
# and CPU (user + sys of the loop: the processes and bash's forks) are per process, from
# /usr/bin/time. Then the medians over the rounds, and the ratios: nova / cli-iso and
# nova / cli-vfat (the aim: >= 10x), and cli-iso's wall against the 5 ms aim.
#
# Environment: ROUNDS (5), PROCS (200), NOVA_COUNT (100), INSTANCE (examples/instance.json);
# BASELINE=PATH: another metastack binary (an older build, for a before/after) whose cli-iso and
# version modes run in the same turns as base-cli-iso and base-version.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/common.sh"
BUILD=$(realpath "${1:-$ROOT/build/release}")
BENCH=$BUILD/bench/configdrive_bench
BIN=$BUILD/apps/metastack/metastack
ROUNDS=${ROUNDS:-5}
PROCS=${PROCS:-200}
NOVA_COUNT=${NOVA_COUNT:-100}
INSTANCE=${INSTANCE:-$ROOT/examples/instance.json}

for tool in "$BENCH" "$BIN" "$BIN-server"; do
  [ -x "$tool" ] || { echo "startup_bench: no $tool (build the target)" >&2; exit 1; }
done
for tool in genisoimage /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "startup_bench: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/startup-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# loop ARGS...: `$bin ARGS...` $PROCS times, "wall_ms cpu_ms" per process (common.sh).
loop() { per_process "$work" "$PROCS" "$bin" "$@" || exit 1; }

modes=(nova cli-iso cli-vfat version validate render get)
[ -n "${BASELINE:-}" ] && modes+=(base-cli-iso base-version)
echo "# $ROUNDS rounds; $PROCS processes per mode and round, $NOVA_COUNT drives for nova;" \
     "$(nproc) CPUs, $(uname -r); $BIN ($(stat -L -c %s "$BIN") bytes," \
     "$(ldd "$BIN" | grep -c '=>') shared libraries)"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round=$r load=$(cut -d' ' -f1-3 /proc/loadavg)"
  for mode in "${modes[@]}"; do
    bin=$BIN
    [[ $mode == base-* ]] && bin=$BASELINE
    case ${mode#base-} in
      nova)
        line=$("$BENCH" genisoimage "$NOVA_COUNT" "$INSTANCE" "$work")
        result="$(sed -E 's/.*mean_ms=([0-9.]+).*/\1/' <<<"$line") -" ;;
      cli-iso) result=$(loop configdrive build -f "$INSTANCE" -o "$work/cli.iso" --seed @I@) ;;
      cli-vfat)
        result=$(loop configdrive build -f "$INSTANCE" -o "$work/cli.img" --format vfat --seed @I@) ;;
      version) result=$(loop --version) ;;
      validate) result=$(loop validate "$INSTANCE") ;;
      render)
        result=$(loop render "$INSTANCE" --out "$work/tree.@I@")
        rm -rf "$work"/tree.* ;;
      get) result=$(loop get "$INSTANCE" /openstack/latest/meta_data.json) ;;
    esac
    record_sample "$mode" "$result"
  done
done

echo "# medians over $ROUNDS rounds, per process (nova: per drive)"
medians_per_mode "${modes[@]}"
awk -v n="${wall[nova]}" -v i="${wall[cli-iso]}" -v v="${wall[cli-vfat]}" 'BEGIN {
  printf "ratio nova/cli-iso=%.1fx nova/cli-vfat=%.1fx (aim >= 10x); cli-iso %.2f ms per drive (aim <= 5 ms)\n",
         n / i, n / v, i }'
