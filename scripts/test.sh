#!/usr/bin/env bash
# Installs what the project needs, builds, and runs every test once, under AddressSanitizer and
# UndefinedBehaviorSanitizer (the asan preset: every target, the benchmarks included, so they
# are known to build). Beside the tests, the fuzz preset (clang, libFuzzer) is built and every
# fuzz target runs for a bounded time (FUZZ_SECONDS per target, default 10; 0 skips it); its
# lines appear among CTest's, whose summary closes the run. The run preset (scripts/run.sh) and
# the release preset (bench/) build the same sources with -O2. Installs the test role's packages
# (scripts/setup.sh test: libbenchmark-dev among them, as the asan preset builds the benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh test
echo "== asan: build"
bash scripts/build.sh asan
echo "== built in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s (setup included)"
seconds=${FUZZ_SECONDS:-10}
if [ "$seconds" -gt 0 ]; then
  # The fuzz build uses the CPU the tests leave idle while they wait on processes, namespaces,
  # QEMU and Nova's Python; at a lower priority, so that it never slows a test's deadline.
  mkdir -p build
  (
    nice -n 10 bash scripts/fuzz.sh --build-only >build/fuzz-build.log 2>&1 ||
      { tail -50 build/fuzz-build.log; echo "fuzz: the build failed (build/fuzz-build.log)"; exit 1; }
    echo "== fuzz: run each target for ${seconds}s"
    nice -n 10 bash scripts/fuzz.sh "$seconds"
  ) &
  fuzz=$!
fi
echo "== asan: test"
status=0
ctest --preset asan -j "$(( $(nproc) + 1 ))" || status=$?
if [ "$seconds" -gt 0 ] && ! wait "$fuzz"; then
  echo "fuzz: failed (its lines are above)"
  exit 1
fi
exit "$status"
