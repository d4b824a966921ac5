#!/usr/bin/env bash
# Side by side with PostGraphile 4, the usual way to put GraphQL over PostgreSQL: on one catalog
# of TENANTS tenants (loaded once), wrk asks `serve` and `tenant-catalog replica` for `route`,
# and PostGraphile for `tenantById` (the same tenant's row by primary key: region, shard id,
# state), each with the id in a variable and written into the query text, in one run, and
# prints the ratios.
#
# Usage: scripts/compare-postgraphile.sh   (make bench-compare)
# Environment: TENANTS (default 1000000), DURATION seconds of each run (default 20), ROUNDS
#   (default 1; each round runs all six, in turn), CONNECTIONS (32), THREADS (2),
#   POSTGRAPHILE_DIR where PostGraphile is installed with npm when missing (default
#   ~/.cache/tenant-catalog/postgraphile), BIN (./target/release/tenant-catalog).
# PostGraphile runs with two worker processes (--cluster-workers 2), as serve has two HTTP
# workers, and without its query log; serve's routing cache is warmed first (every tenant read
# once), as PostgreSQL's buffers hold the whole catalog for PostGraphile. Every answer is
# checked (status 200, no errors, no null). Runs on its own database and vhost
# (tc_bench_compare) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants=${TENANTS:-1000000}
duration=${DURATION:-20}; duration=${duration%s}
rounds=${ROUNDS:-1}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
pgl_dir=${POSTGRAPHILE_DIR:-$HOME/.cache/tenant-catalog/postgraphile}
source scripts/bench/env.sh
replica_pid=; pgl_pid=
stop_all() {
  for p in $replica_pid $pgl_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  bench_cleanup
}
bench_env tc_bench_compare
trap stop_all EXIT
ensure_wrk

# ---- PostGraphile 4, with Node.js from Debian when there is none ----
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Node.js and npm"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1 || {
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
fi
pgl=$pgl_dir/node_modules/.bin/postgraphile
if [ ! -x "$pgl" ]; then
  echo "installing PostGraphile 4 into $pgl_dir"
  mkdir -p "$pgl_dir"
  npm install --prefix "$pgl_dir" --no-audit --no-fund --loglevel=error postgraphile@4 >/dev/null
fi
echo "machine: $(nproc) CPUs; node $(node --version); postgraphile $(node -p "require('$pgl_dir/node_modules/postgraphile/package.json').version")"

# ---- one catalog ----
SEED_SHARD_CAPACITY=$tenants $bin migrate >/dev/null
psql -h 127.0.0.1 -U postgres -d tc_bench_compare -q -v ON_ERROR_STOP=1 -v tenants="$tenants" \
  -v with_events=false -f scripts/bench/load-tenants.sql
echo "loaded $tenants tenants"

# ---- the three servers ----
port=$(free_port); export HTTP_ADDR=127.0.0.1:$port; base=http://127.0.0.1:$port
$bin serve 2>"$work/serve.log" & serve_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$base/metrics" 2>/dev/null | grep -q '^tenant_catalog_route_cache_live 1' && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.2
done
token=$($bin token --scope read --sub compare-postgraphile)
python3 scripts/bench/warm-up.py "$base/graphql" "$token" "$tenants" $(( threads * 2 ))
echo "serve: routing cache warm"
rport=$(free_port); rbase=http://127.0.0.1:$rport
REPLICA_ADDR=127.0.0.1:$rport REPLICA_SOURCE=$base REPLICA_PAGE_SIZE=20000 $bin replica 2>"$work/replica.log" & replica_pid=$!
for _ in $(seq 1 3000); do
  curl -sf "$rbase/readyz" >/dev/null 2>&1 && break
  kill -0 "$replica_pid" 2>/dev/null || { cat "$work/replica.log" >&2; exit 1; }
  sleep 0.2
done
echo "replica: ready"
gport=$(free_port); gbase=http://127.0.0.1:$gport
"$pgl" --connection "$DATABASE_URL" --schema public --host 127.0.0.1 --port "$gport" \
  --cluster-workers 2 --disable-query-log >"$work/postgraphile.log" 2>&1 & pgl_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$gbase/graphql" -H 'Content-Type: application/json' -d '{"query":"{ __typename }"}' >/dev/null 2>&1 && break
  kill -0 "$pgl_pid" 2>/dev/null || { cat "$work/postgraphile.log" >&2; exit 1; }
  sleep 0.2
done
sample=$(curl -sf "$gbase/graphql" -H 'Content-Type: application/json' \
  -d '{"query":"{ tenantById(id: \"9e3779b1-0000-4000-8000-000000000001\") { region shardId state } }"}')
echo "postgraphile, tenant 1: $sample"
case $sample in *'"shardId":"'*) ;; *) echo "unexpected answer from PostGraphile" >&2; exit 1 ;; esac

# ---- the runs, in turn ----
declare -A R
run() { # LABEL URL MODE
  local line kv
  line=$(TOKEN=$token TENANTS=$tenants MODE=$3 THREADS=$threads LABEL=$1 \
    wrk -t"$threads" -c"$connections" -d"${duration}s" -s scripts/bench/lookup.lua "$2/graphql" 2>"$work/$1.err" | grep '^RESULT') \
    || { cat "$work/$1.err" >&2; exit 1; }
  echo "$line"
  for kv in ${line#RESULT }; do R[$1.${kv%%=*}]=${kv#*=}; done
  R[$1.bad]=$(( ${R[$1.bad]:-0} + ${R[$1.non200]} + ${R[$1.graphql_errors]} + ${R[$1.nulls]} + ${R[$1.socket_errors]} ))
  R[$1.all]="${R[$1.all]:-} ${R[$1.rps]}"
}
labels="serve serve-inline replica replica-inline postgraphile postgraphile-inline"
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds =="
  run serve "$base" route
  run serve-inline "$base" inline
  run replica "$rbase" route
  run replica-inline "$rbase" inline
  run postgraphile "$gbase" pg
  run postgraphile-inline "$gbase" pg-inline
done
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))" $1; }
for l in $labels; do R[$l.median]=$(median "${R[$l.all]}"); done
ratio() { python3 -c "print(f'{$1 / max($2, 1):.1f}')"; }
bad=0; for l in $labels; do bad=$(( bad + ${R[$l.bad]} )); done
cat <<EOT

## Side by side with PostGraphile 4: $tenants tenants, $(nproc) CPUs, ${duration} s a run, $rounds round(s), $connections connections

| lookup | id in a variable, requests/s | id in the text, requests/s | p99 ms (variable) |
|---|---:|---:|---:|
| \`serve\` \`route\` | ${R[serve.median]} | ${R[serve-inline.median]} | ${R[serve.p99_ms]} |
| \`tenant-catalog replica\` \`route\` | ${R[replica.median]} | ${R[replica-inline.median]} | ${R[replica.p99_ms]} |
| PostGraphile 4 \`tenantById\` | ${R[postgraphile.median]} | ${R[postgraphile-inline.median]} | ${R[postgraphile.p99_ms]} |

- serve vs PostGraphile: $(ratio "${R[serve.median]}" "${R[postgraphile.median]}")x (variables), $(ratio "${R[serve-inline.median]}" "${R[postgraphile-inline.median]}")x (inlined)
- replica vs PostGraphile: $(ratio "${R[replica.median]}" "${R[postgraphile.median]}")x (variables), $(ratio "${R[replica-inline.median]}" "${R[postgraphile-inline.median]}")x (inlined)
- bad answers or socket errors in all runs: $bad
EOT
[ "$bad" = 0 ]
