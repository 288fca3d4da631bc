#!/usr/bin/env bash
# A NoCloud seed from the same inputs: `metastack configdrive build` from flags against
# cloud-image-utils' `cloud-localds` (a shell script around genisoimage), a process per seed,
# in turns in the same run.
#
#   bash bench/seed_bench.sh [BUILD_DIR]        (default build/release)
#
# Inputs: an ed25519 public key, a cloud-config user-data file, a hostname and an instance id.
#   metastack      `metastack configdrive build --format nocloud --uuid U --hostname web-01
#                  --ssh-key id.pub --user-data cloud.yaml -o seed.iso`
#   cloud-localds  `cloud-localds seed.iso cloud.yaml meta-data`, meta-data being exactly the
#                  file metastack writes into its seed (instance-id, local-hostname,
#                  public-keys), so both seeds hold the same two files (checked first)
#   metastack-cd   the one-line config drive (`--format iso`, label config-2, 44 files), for
#                  scale: what the same flags cost as a whole OpenStack drive
# $ROUNDS rounds, load average printed before each; in each, every mode runs $PROCS processes
# from a bash loop (common.sh per_process: wall and CPU per process). Then medians over the
# rounds and the ratio cloud-localds / metastack.
#
# Environment: ROUNDS (5), PROCS (100).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/common.sh"
BUILD=$(realpath "${1:-$ROOT/build/release}")
BIN=$BUILD/apps/metastack/metastack
ROUNDS=${ROUNDS:-5}
PROCS=${PROCS:-100}

[ -x "$BIN" ] || { echo "seed_bench: no $BIN (build the target metastack)" >&2; exit 1; }
for tool in cloud-localds genisoimage isoinfo ssh-keygen /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "seed_bench: $tool missing (scripts/setup.sh bench)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/seed-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
uuid=5a7c3e1d-9b2f-4c8e-a6d4-1f0e2b3c4d5e
ssh-keygen -q -t ed25519 -N '' -C op@laptop -f id
printf '#cloud-config\npackages: [nginx]\nruncmd:\n  - [systemctl, enable, --now, nginx]\n' > cloud.yaml
ours=(configdrive build --format nocloud --uuid "$uuid" --hostname web-01 --ssh-key id.pub
      --user-data cloud.yaml -o ours.iso)
"$BIN" "${ours[@]}" 2>/dev/null
isoinfo -i ours.iso -R -x /meta-data > meta-data
cloud-localds theirs.iso cloud.yaml meta-data
for f in meta-data user-data; do
  cmp <(isoinfo -i ours.iso -R -x "/$f") <(isoinfo -i theirs.iso -R -x "/$f") ||
    { echo "seed_bench: the seeds' $f differ" >&2; exit 1; }
done
echo "# $ROUNDS rounds, $PROCS processes per mode and round; $(machine_line); $(uname -r)"
echo "# both seeds hold the same meta-data and user-data; ours $(stat -c %s ours.iso) bytes," \
     "cloud-localds's $(stat -c %s theirs.iso) bytes"

modes=(metastack cloud-localds metastack-cd)
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round=$r load=$(cut -d' ' -f1-3 /proc/loadavg)"
  for mode in "${modes[@]}"; do
    case $mode in
      metastack) result=$(per_process "$work" "$PROCS" "$BIN" "${ours[@]}") ;;
      cloud-localds)
        result=$(per_process "$work" "$PROCS" "$(command -v cloud-localds)" theirs.iso cloud.yaml meta-data) ;;
      metastack-cd)
        result=$(per_process "$work" "$PROCS" "$BIN" configdrive build --uuid "$uuid" \
          --hostname web-01 --ssh-key id.pub --user-data cloud.yaml -o cd.iso --seed @I@) ;;
    esac
    record_sample "$mode" "$result"
  done
done

echo "# medians over $ROUNDS rounds, per seed"
medians_per_mode "${modes[@]}"
echo "ratio cloud-localds/metastack wall=$(ratio "${wall[cloud-localds]}" "${wall[metastack]}")x" \
     "cpu=$(ratio "${cpu[cloud-localds]}" "${cpu[metastack]}")x"
