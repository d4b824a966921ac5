#!/usr/bin/env bash
# Measures how fast one `serve` applies commerce events end to end (delivery, one transaction
# per batch, ack): fills the lifecycle queue with EVENTS events while no consumer runs, then
# starts `serve` and times how long it takes until every event is judged, and checks that every
# one ended applied.
# Usage: scripts/ingest-rate.sh [EVENTS]   (default 20000: half trials, half activations)
# Environment: PRELOAD tenants already in the catalog (default 0; scripts/bench/load-tenants.sql,
#   one stored event and site claim each), BIN. To compare two builds on one catalog: COMPARE
#   (the other `tenant-catalog` binary) and ROUNDS (default 1): each round runs BIN then
#   COMPARE on fresh events, so the pairs share the machine's state; the medians come last.
#   Then, as the reference, the same writes per event done directly by pgbench
#   (scripts/bench/direct-writes.sql: one transaction per event, one connection, as the one
#   consumer), on the same catalog.
#   STATEMENTS=1: then one more run of BIN with pg_stat_statements on, and what each batch spent
#   where, statement by statement (loads pg_stat_statements into PostgreSQL with ALTER SYSTEM
#   and a restart of the server when it is not loaded yet, and undoes both at the end).
# Runs on its own database and vhost (tc_bench_ingest) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-20000}
preload=${PRELOAD:-0}
rounds=${ROUNDS:-1}
name=tc_bench_ingest
source scripts/bench/env.sh
bench_env "$name"
export HTTP_ADDR=127.0.0.1:0
$bin migrate >/dev/null

# Declare the topology (serve does), then stop, so the queue fills with no consumer.
$bin serve 2>"$work/serve0.log" & serve_pid=$!
until curl -sf -u guest:guest "$api/queues/$name/tenant-catalog.lifecycle" >/dev/null; do sleep 0.2; done
kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=

if [ "$preload" -gt 0 ]; then
  t0=$(date +%s.%N)
  psql -h 127.0.0.1 -U postgres -d "$name" -q -v ON_ERROR_STOP=1 -v tenants="$preload" \
    -v with_events=true -f scripts/bench/load-tenants.sql
  python3 -c "print(f'preloaded: $preload tenants with one event each in {$(date +%s.%N) - $t0:.1f} s')"
fi
# Room for every tenant.
psql -h 127.0.0.1 -U postgres -d "$name" -qc "update shards set capacity = 10000000" >/dev/null

# How many of the tenants in the file $1 (one id a line) are ACTIVE: each run's trial and
# activation must end so. By primary key, so the check reads only those rows.
active_count() {
  psql -h 127.0.0.1 -U postgres -d "$name" -tAq -c "create temp table run_ids (id uuid)" \
    -c "\copy run_ids from '$1'" \
    -c "select count(*) from tenants t join run_ids r using (id) where t.state = 'ACTIVE'"
}
# The service's own counters of judged events, not a count of rows, which would load the
# database being measured. Each new event is counted once, with its first judgement: an
# event judged before the one that creates its tenant arrived counts as rejected, and is
# applied when that one's batch refolds the tenant (the tenants are checked at the end).
judged() {
  local body; body=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
  awk 'index($0, "tenant_catalog_events_total{outcome=\"applied\"}") == 1 ||
       index($0, "tenant_catalog_events_total{outcome=\"rejected\"}") == 1 {n += $2}
       END {print n + 0}' <<<"$body"
}

# One measured run of the binary $1 on EVENTS new events whose sites start with $2; prints
# its events/s.
run_once() {
  python3 - "$events" "$2" "$work/ids.txt" > "$work/events.jsonl" <<'PY'
import json, sys, uuid, datetime
n, prefix = int(sys.argv[1]) // 2, sys.argv[2]
ids = open(sys.argv[3], "w")
now = datetime.datetime.now(datetime.timezone.utc)
for i in range(n):
    t = str(uuid.uuid4())
    print(t, file=ids)
    start = now - datetime.timedelta(days=2)
    print(json.dumps({"id": str(uuid.uuid4()), "type": "trial.started", "tenant_id": t,
        "occurred_at": start.isoformat(), "sequence": 1,
        "data": {"site": f"{prefix}-{i}", "products": ["jira"], "residency": "global", "billing_day": 5}}))
    print(json.dumps({"id": str(uuid.uuid4()), "type": "subscription.activated", "tenant_id": t,
        "occurred_at": (start + datetime.timedelta(days=1)).isoformat(), "sequence": 2,
        "data": {"plan": "standard", "cycle": "monthly",
                 "current_period_end": (now + datetime.timedelta(days=30)).isoformat()}}))
PY
  "$1" publish "$work/events.jsonl" >/dev/null
  port=$(free_port)
  local start end
  start=$(date +%s.%N)
  HTTP_ADDR=127.0.0.1:$port "$1" serve 2>"$work/serve.log" & serve_pid=$!
  while [ "$(judged)" -lt "$events" ]; do sleep 0.05; done
  end=$(date +%s.%N)
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
  # Every tenant must have ended ACTIVE: checked once the clock has stopped.
  local active; active=$(active_count "$work/ids.txt")
  [ "$active" = $((events / 2)) ] || { echo "only $active of $((events / 2)) tenants ACTIVE" >&2; exit 1; }
  python3 -c "print(round($events / ($end - $start)))"
}

median() { python3 -c 'import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:]))))' "$@"; }

echo "queued and measured: $events events for $((events / 2)) tenants a run"
a=(); b=()
for r in $(seq "$rounds"); do
  rate=$(run_once "$bin" "bench-$r-a"); a+=("$rate")
  if [ -n "${COMPARE:-}" ]; then
    rate=$(run_once "$COMPARE" "bench-$r-b"); b+=("$rate")
    echo "round $r: $bin ${a[-1]} events/s, $COMPARE ${b[-1]} events/s"
  fi
done
if [ -z "${COMPARE:-}" ] && [ "$rounds" = 1 ]; then
  echo "applied: $events events, ${a[0]} events/s (one serve, release build, $preload tenants preloaded)"
else
  echo "applied: median $(median "${a[@]}") events/s ($bin, ${a[*]}; one serve, release build, $preload tenants preloaded)"
  [ -n "${COMPARE:-}" ] && echo "applied: median $(median "${b[@]}") events/s ($COMPARE, ${b[*]})"
fi

if [ "${STATEMENTS:-0}" = 1 ]; then
  psql_() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 "$@"; }
  case $(psql_ -d postgres -tAc "show shared_preload_libraries") in
    *pg_stat_statements*) ;;
    *) echo "STATEMENTS=1: loading pg_stat_statements into PostgreSQL (ALTER SYSTEM, then a restart of the server)"
       psql_ -d postgres -qc "alter system set shared_preload_libraries = 'pg_stat_statements'"
       pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
       unload_statements=1 ;;
  esac
  psql_ -d "$name" -qc "create extension if not exists pg_stat_statements"
  psql_ -d "$name" -qc "select pg_stat_statements_reset()" >/dev/null
  rate=$(run_once "$bin" "bench-statements")
  echo "with pg_stat_statements on: $rate events/s; what the batches spent, statement by statement (times in the server, not the round trips):"
  psql_ -d "$name" -P pager=off -c "
    with s as (
      select calls, total_exec_time, rows, regexp_replace(query, '\s+', ' ', 'g') as query
      from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
    ), batches as (select max(calls) as n from s where query like 'with queued as (%')
    select s.calls, round((s.calls::numeric / nullif(batches.n, 0)), 1) as per_batch,
           round(s.total_exec_time::numeric, 0) as total_ms,
           round((100 * s.total_exec_time / sum(s.total_exec_time) over ())::numeric, 1) as pct,
           round((s.total_exec_time / nullif(batches.n, 0))::numeric, 2) as ms_per_batch,
           s.rows, left(s.query, 110) as statement
    from s, batches order by s.total_exec_time desc limit 25"
  if [ "${unload_statements:-0}" = 1 ]; then
    psql_ -d postgres -qc "alter system reset shared_preload_libraries"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
  fi
fi

# The reference: the same rows written directly, one event a transaction, one connection.
pgbench -h 127.0.0.1 -U postgres -n -c 1 -T 10 -f scripts/bench/direct-writes.sql "$name" \
  > "$work/direct.out" 2>&1 || { cat "$work/direct.out" >&2; exit 1; }
awk '/^tps = /{printf "direct SQL reference: %.0f events/s (pgbench, the same writes per event, one transaction each, one connection)\n", $3; exit}' "$work/direct.out"
pgbench -h 127.0.0.1 -U postgres -n -c 1 -T 10 -f scripts/bench/direct-writes-batch.sql "$name" \
  > "$work/direct-batch.out" 2>&1 || { cat "$work/direct-batch.out" >&2; exit 1; }
awk '/^tps = /{printf "direct SQL ceiling: %.0f events/s (pgbench, the same writes for 500 events a transaction, set-based, one connection)\n", $3 * 500; exit}' "$work/direct-batch.out"
