#!/usr/bin/env bash
# Configures and builds one preset (default: release). Usage: scripts/build.sh [release|run|asan|tidy]
# (run: the metastack binary alone, scripts/run.sh's)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
