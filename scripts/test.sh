#!/usr/bin/env bash
# Installs what the project needs, builds, and runs every test: the release build first, then
# every fuzz target for a bounded time (FUZZ_SECONDS per target, default 10; 0 skips it), then the
# whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer, whose CTest summary
# closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== release: build"
bash scripts/build.sh release
echo "== release: test"
ctest --preset release -j "$(nproc)"
seconds=${FUZZ_SECONDS:-10}
if [ "$seconds" -gt 0 ]; then
  echo "== fuzz: build and run each target for ${seconds}s"
  bash scripts/fuzz.sh "$seconds"
fi
echo "== asan: build"
bash scripts/build.sh asan
echo "== asan: test"
ctest --preset asan -j "$(nproc)"
