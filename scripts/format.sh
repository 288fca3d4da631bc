#!/usr/bin/env bash
# Formats every C++ file (src, apps, bench, fuzz) with clang-format and the repository's
# .clang-format. With --check, changes nothing and fails, naming each file that deviates
# (CTest's `format` test runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find src apps bench fuzz -name '*.cc' -o -name '*.h' | sort)
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'format: %s deviates from .clang-format\n' "${bad[@]}"
    echo "format: ${#bad[@]} of ${#files[@]} files deviate; run scripts/format.sh"
    exit 1
  fi
  echo "format: ${#files[@]} files match .clang-format"
else
  clang-format -i "${files[@]}"
fi
