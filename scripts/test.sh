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
seconds=${FUZZ_SECONDS:-10}
if [ "$seconds" -gt 0 ]; then
  # The fuzz build (clang) uses the CPU the release tests leave idle while they wait on
  # processes, namespaces and Nova's Python: built beside them, run after them.
  echo "== fuzz: build (beside the release tests; log in build/fuzz-build.log)"
  mkdir -p build
  nice -n 10 bash scripts/fuzz.sh --build-only >build/fuzz-build.log 2>&1 &
  fuzz_build=$!
fi
echo "== release: test"
ctest --preset release -j "$(nproc)"
if [ "$seconds" -gt 0 ]; then
  if ! wait "$fuzz_build"; then
    tail -50 build/fuzz-build.log
    echo "fuzz: the build failed (build/fuzz-build.log)"
    exit 1
  fi
  echo "== fuzz: run each target for ${seconds}s"
  bash scripts/fuzz.sh "$seconds"
fi
echo "== asan: build"
bash scripts/build.sh asan
echo "== asan: test"
ctest --preset asan -j "$(nproc)"
