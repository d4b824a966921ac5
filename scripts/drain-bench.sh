#!/usr/bin/env bash
# Measures a drain (issue 14's goal: a drain of 10,000 tenants, its time and the lookup p99
# during it). Loads TENANTS tenants (default 50,000, with their events; a fifth of them, 10,000,
# on eu-central-1-1), starts `serve`, adds an empty shard eu-central-1-2, measures `route`
# lookups paced at RATE a second for WINDOW seconds as the baseline, then drains eu-central-1-1
# with BATCH moves at a time while scripts/bench/data-plane.py plays the data plane (advances
# every move to cutover, then done, as soon as it is started) and `route` lookups go on at the
# same rate in WINDOW-second runs. Checks that the shard ends empty, every moved tenant is
# ONLINE on its new shard, and `verify` finds nothing (the loaded rows are rebuilt from their
# histories first). Prints a Markdown summary.
# Usage: scripts/drain-bench.sh   Environment: TENANTS, BATCH (200), RATE (4000), WINDOW (10),
#   WORKERS data-plane threads (8), BIN.
# Runs on its own database and vhost (tc_bench_drain) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants=${TENANTS:-50000}
batch=${BATCH:-200}
rate=${RATE:-4000}
window=${WINDOW:-10}
workers=${WORKERS:-8}
name=tc_bench_drain
source scripts/bench/env.sh
bench_env "$name"
ensure_wrk
psql_() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 "$@"; }
echo "machine: $(nproc) CPUs; settings: TENANTS=$tenants BATCH=$batch RATE=$rate WINDOW=${window}s WORKERS=$workers"

SEED_SHARD_CAPACITY=$tenants $bin migrate >/dev/null
psql_ -d "$name" -q -v tenants="$tenants" -v with_events=true -f scripts/bench/load-tenants.sql
psql_ -d "$name" -qc "update shards s set tenant_count = (select count(*) from tenants t where t.shard_id = s.id and t.lifecycle <> 'DELETED')"
# The bulk load's rows are close to their histories but not equal (billing day, timestamps):
# rebuild them first, so that `verify` afterwards tells whether the moves kept every row its
# history's fold.
$bin rebuild >/dev/null 2>&1
on_shard=$(psql_ -d "$name" -tAc "select count(*) from tenants where shard_id = 'eu-central-1-1' and lifecycle <> 'DELETED'")
echo "loaded: $tenants tenants, $on_shard live on eu-central-1-1"

start_serve
read_token=$($bin token --scope read --sub drain-bench)
$bin token --scope admin --sub drain-bench --count $((on_shard * 2 + 100)) >"$work/tokens"
list_token=$(head -n 1 "$work/tokens"); sed -i 1d "$work/tokens"
admin_once() { local t; t=$(head -n 1 "$work/tokens"); sed -i 1d "$work/tokens"; echo "$t"; }
curl -sf -X PUT "$base/admin/v1/shards/eu-central-1-2" -H "Authorization: Bearer $(admin_once)" \
  -H 'Content-Type: application/json' \
  -d "{\"region\": \"eu-central-1\", \"endpoint\": \"https://eu-central-1-2.shards.example.net\", \"capacity\": $tenants}" >/dev/null

lookups() { # LABEL: one paced wrk run of WINDOW seconds; prints its RESULT line
  TOKEN=$read_token TENANTS=$tenants MODE=route RATE=$rate THREADS=1 LABEL=$1 \
    wrk -t1 -c16 -d"${window}s" -s scripts/bench/lookup.lua "$base/graphql" 2>/dev/null | grep '^RESULT '
}
# Warm the cache, then the baseline.
lookups warmup >/dev/null
baseline=$(lookups baseline); echo "$baseline"

: >"$work/during"
( while [ ! -f "$work/stop" ]; do lookups during >>"$work/during"; done ) & lookups_pid=$!
t0=$(date +%s.%N)
curl -sf -X POST "$base/admin/v1/shards/eu-central-1-1/drain" -H "Authorization: Bearer $(admin_once)" \
  -H 'Content-Type: application/json' -d "{\"batch\": $batch}" >/dev/null
plane=$(python3 scripts/bench/data-plane.py "$base" eu-central-1-1 "$list_token" "$work/tokens" "$workers")
t1=$(date +%s.%N)
touch "$work/stop"; wait "$lookups_pid"
echo "$plane"
cat "$work/during"
drain_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")

left=$(psql_ -d "$name" -tAc "select count(*) from tenants where shard_id = 'eu-central-1-1' and lifecycle <> 'DELETED'")
not_online=$(psql_ -d "$name" -tAc "select count(*) from tenants where route_status <> 'ONLINE'")
moved=$(psql_ -d "$name" -tAc "select count(*) from moves where phase = 'done' and from_shard = 'eu-central-1-1'")
verify_out=$($bin verify 2>/dev/null | tail -n 1) || true
rss=$(awk '/VmHWM/{print int($2/1024)}' "/proc/$serve_pid/status")
[ "$left" = 0 ] && [ "$not_online" = 0 ] && [ "$moved" = "$on_shard" ] \
  || { echo "drain incomplete: $left left, $not_online not ONLINE, $moved moved of $on_shard" >&2; exit 1; }

p99s=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^p99_ms=/) {sub("p99_ms=", "", $i); print $i}}' "$work/during" | sort -n)
median_p99=$(echo "$p99s" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
max_p99=$(echo "$p99s" | tail -n 1)
base_p99=$(echo "$baseline" | tr ' ' '\n' | awk -F= '$1 == "p99_ms" {print $2}')
cat <<MD

| drain of eu-central-1-1 | value |
|---|---|
| tenants moved | $moved (batch $batch, every move advanced twice by the data plane) |
| drain time, from the request to an empty shard | $drain_s s ($(python3 -c "print(f'{$moved / ($t1 - $t0):.0f}')") moves/s) |
| route lookups at $rate/s before the drain, p99 | $base_p99 ms |
| route lookups at $rate/s during the drain, p99 of each ${window}-s window | median $median_p99 ms, worst $max_p99 ms ($(echo "$p99s" | wc -l) windows) |
| serve peak RSS | $rss MiB |
| verify afterwards | $verify_out |
MD
