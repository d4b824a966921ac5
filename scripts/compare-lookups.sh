#!/usr/bin/env bash
# Compares the warm `route` lookup rate of two builds of `tenant-catalog` on one catalog, in one
# run, alternating them ROUNDS times so that the machine's drift falls on both alike.
# Usage: scripts/compare-lookups.sh BIN_A BIN_B
# Environment: TENANTS (100000), ROUNDS (3), DURATION seconds of each measured run (15), MODE
#   (`route`, the id in a variable; `inline`, the id written into the query text).
# Each run: serve started, routing cache warmed for 8 s by wrk, then DURATION s of `route`
# from wrk (2 threads, 32 connections, every answer checked). Prints one line per run.
# Runs on its own database and vhost (tc_compare_lookups) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
a=$1; b=$2
tenants=${TENANTS:-100000}
rounds=${ROUNDS:-3}
duration=${DURATION:-15}
source scripts/bench/env.sh
bench_env tc_compare_lookups
ensure_wrk
SEED_SHARD_CAPACITY=$tenants "$b" migrate >/dev/null
psql -h 127.0.0.1 -U postgres -d tc_compare_lookups -q -v ON_ERROR_STOP=1 -v tenants="$tenants" \
  -v with_events=false -f scripts/bench/load-tenants.sql
port=$(free_port); export HTTP_ADDR=127.0.0.1:$port; base=http://127.0.0.1:$port
token=$("$b" token --scope read --sub compare-lookups)
run() { # LABEL: one wrk run, its RESULT fields of interest
  TOKEN=$token TENANTS=$tenants MODE=${MODE:-route} THREADS=2 LABEL=$1 \
    wrk -t2 -c32 -d"$2s" -s scripts/bench/lookup.lua "$base/graphql" 2>/dev/null | grep '^RESULT' \
    | tr ' ' '\n' | grep -E '^(rps|p50_ms|p99_ms|non200|graphql_errors|nulls)=' | tr '\n' ' '
}
for round in $(seq 1 "$rounds"); do
  for bin in "$a" "$b"; do
    "$bin" serve 2>/dev/null & serve_pid=$!
    for _ in $(seq 1 100); do
      curl -sf "$base/metrics" 2>/dev/null | grep -q '^tenant_catalog_route_cache_live 1' && break
      sleep 0.2
    done
    run warm 8 >/dev/null
    echo "$bin round $round: $(run measured "$duration")"
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
  done
done
