#!/bin/bash
# store_bench with its PostgreSQL runs: starts a throwaway PostgreSQL cluster (the one the store
# tests use: src/store/postgres_test_cluster.h, unix socket only, fsync off, stopped when this
# script ends however it ends), creates a database for the bench, and runs store_bench with
# METASTACK_BENCH_POSTGRES naming it. Arguments go to store_bench, e.g.
#   bash bench/store_bench.sh --benchmark_filter='postgres|sqlite/'
# Populations (1 .. 1,000,000 instances) print their times on stderr ("populated ...").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
for bin in "$BUILD/bench/store_bench" "$BUILD/src/store/pg_test_cluster"; do
  [[ -x $bin ]] || { echo "missing $bin: cmake --build $BUILD --target store_bench pg_test_cluster" >&2; exit 1; }
done

scratch=$(mktemp -d /tmp/metastack-store-bench-sh-XXXXXX)
state=$scratch/cluster.state
cleanup() {
  "$BUILD/src/store/pg_test_cluster" stop "$state" || true
  rm -rf "$scratch"
}
trap cleanup EXIT
"$BUILD/src/store/pg_test_cluster" start "$state"
read -r dir port _ <"$state"
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c 'CREATE DATABASE bench' >/dev/null
uri="postgresql:///bench?host=$dir&port=$port&user=postgres"

echo "# $(date -u '+%F %H:%M') load average: $(cut -d' ' -f1-3 /proc/loadavg)" \
  "PostgreSQL $(psql -X -A -t -h "$dir" -p "$port" -U postgres -d postgres -c 'SHOW server_version')"
METASTACK_BENCH_POSTGRES=$uri "$BUILD/bench/store_bench" --benchmark_counters_tabular=true \
  --benchmark_out="$scratch/out.json" --benchmark_out_format=json "$@"

# Flatness: each lookup's p99 at the largest population run over its p99 at 1,000 instances.
/usr/bin/python3 - "$scratch/out.json" <<'PY'
import json, sys
runs = {}
for b in json.load(open(sys.argv[1]))['benchmarks']:
    parts = b['name'].split('/')
    if len(parts) >= 3 and parts[2].isdigit() and 'p99_us' in b:
        runs.setdefault((parts[0], parts[1]), {})[int(parts[2])] = b['p99_us']
for (lookup, backend), by_n in sorted(runs.items()):
    if 1000 in by_n and max(by_n) > 1000:
        top = max(by_n)
        print(f'{lookup} {backend}: p99 {by_n[1000]:.1f} us at 1,000 -> {by_n[top]:.1f} us at '
              f'{top:,}: {by_n[top] / by_n[1000]:.2f}x')
PY
