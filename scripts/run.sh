#!/usr/bin/env bash
# The main job: installs what the project needs, builds, and shows metastack serving the sample
# instance (examples/instance.json): the answers a guest gets, and the config-drive tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
bin=build/release/apps/metastack/metastack
instance=examples/instance.json

$bin validate "$instance"
for path in / /openstack /openstack/latest/ /openstack/latest/meta_data.json \
            /openstack/latest/network_data.json /latest/meta-data/ \
            /latest/meta-data/public-keys/0/openssh-key; do
  echo
  echo "== GET $path"
  $bin get "$instance" "$path"
  echo
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$bin render "$instance" --out "$out/drive"
echo
echo "== config drive tree"
(cd "$out/drive" && find . -type f | sort)
