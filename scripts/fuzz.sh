#!/usr/bin/env bash
# Builds the fuzz preset (clang 16, libFuzzer, ASan+UBSan) and runs every fuzz target for a
# bounded time on its committed corpus (docs/fuzzing.md).
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
#        scripts/fuzz.sh --build-only [target...]
#   seconds-per-target  default 20 (CI runs 10); e.g. 3600 for an hour each
#   target              default: every fuzz/<name>.cc
# Env: FUZZ_JOBS (targets run at once, default 2), FUZZ_OUT (default build/fuzz/out).
# A crash, leak, sanitizer report or broken invariant saves the input as
# $FUZZ_OUT/<target>/crash-* (copy it into fuzz/regressions/<target>/) and fails the script.
# New corpus entries stay in $FUZZ_OUT; the committed corpus is only read.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=false
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  shift
fi
seconds=20
if ! $build_only; then
  seconds=${1:-20}
  shift || true
fi
jobs=${FUZZ_JOBS:-2}
out=${FUZZ_OUT:-build/fuzz/out}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/corpus/*/; do targets+=("$(basename "$f")"); done
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
$build_only && exit 0

root=$(pwd)
run_one() {
  local t=$1 dir="$out/$1"
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  local dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=("-dict=$root/fuzz/dict/$t.dict")
  # -rss_limit_mb: the image writers hold a few 64 MiB images; -max_len: room for a drive tree.
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$root/build/fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=30 \
      -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/" \
      "${dict[@]}" "$dir/corpus" "$root/fuzz/corpus/$t" >"$dir/log" 2>&1; then
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$')
    echo "fuzz $t: ok, $execs runs in ${seconds}s ($((execs / seconds))/s)"
  else
    echo "fuzz $t: FAILED (input saved in $dir; log: $dir/log)"
    grep -m1 -A12 'ERROR\|invariant violated\|runtime error' "$dir/log" || tail -20 "$dir/log"
    return 1
  fi
}
export -f run_one
export seconds out root

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
