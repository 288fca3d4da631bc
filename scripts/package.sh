#!/usr/bin/env bash
# Builds the Debian package of a release build: the `metastack` binary and its man page only
# (not the tests or benchmarks), then `cpack -G DEB` (dist/CMakeLists.txt). Prints the .deb's
# path on the last line. Install it with: apt-get install ./metastack_<version>_<arch>.deb
# Usage: scripts/package.sh [PRESET]   (default: release, RelWithDebInfo, stripped in the package)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
bash scripts/setup.sh >/dev/null
cmake --preset "$preset" >/dev/null
dir=build/$preset
cmake --build "$dir" -j "$(nproc)" --target metastack metastack_man
rm -f "$dir"/metastack_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/metastack_*.deb)
echo "$PWD/$deb"
