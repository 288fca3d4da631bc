#!/usr/bin/env bash
# Installs what the project needs, builds, and runs every test: the release build first, then
# the whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer, then every fuzz
# target for a bounded time (FUZZ_SECONDS per target, default 20; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for preset in release asan; do
  echo "== $preset: build"
  bash scripts/build.sh "$preset"
  echo "== $preset: test"
  ctest --preset "$preset" -j "$(nproc)"
done
seconds=${FUZZ_SECONDS:-20}
if [ "$seconds" -gt 0 ]; then
  echo "== fuzz: build and run each target for ${seconds}s"
  bash scripts/fuzz.sh "$seconds"
fi
