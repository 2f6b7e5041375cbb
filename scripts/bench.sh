#!/usr/bin/env bash
# Builds the release server and runs every benchmark: criterion
# micro-benchmarks, then the load benchmark on SQLite (and PostgreSQL when
# BENCH_DATABASE_URL names a server). The load results table is written to
# target/bench-results.md; BENCHMARKS.md records a run.
#
#   scripts/bench.sh                 # 10 s per scenario
#   SECONDS_PER_SCENARIO=3 scripts/bench.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECONDS_PER_SCENARIO:-10}"
cargo build --release --locked --bin portcullis
cargo bench --locked --bench micro
cargo bench --locked --bench load -- --seconds "$secs" --concurrency "${CONCURRENCY:-32}"
