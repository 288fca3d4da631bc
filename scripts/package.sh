#!/usr/bin/env bash
# Builds the Debian package: the `metastack` binary and its man page only (not the tests or
# benchmarks), then `cpack -G DEB` (dist/CMakeLists.txt). Prints the .deb's path on the last
# line. Install it with: apt-get install ./metastack_<version>_<arch>.deb
# Usage: scripts/package.sh [PRESET]   (default: run, the main job's -O2 unity build, a few
# minutes on 2 cores; `release` is RelWithDebInfo, whose unstripped binary stays in the build
# directory for reading a core dump, and takes several times longer)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-run}
bash scripts/setup.sh run >/dev/null  # build-essential brings dpkg-dev (dpkg-shlibdeps)
cmake --preset "$preset" >/dev/null
dir=build/$preset
cmake --build "$dir" -j "$(nproc)" --target metastack metastack_man
rm -f "$dir"/metastack_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/metastack_*.deb)
echo "$PWD/$deb"
