#!/usr/bin/env bash
# Measures how fast one `serve` applies commerce events end to end (delivery, one transaction
# per batch, ack): fills the lifecycle queue with EVENTS events while no consumer runs, then
# starts `serve` and times how long it takes until every event is stored and the queue is empty.
# Usage: scripts/ingest-rate.sh [EVENTS]   (default 20000: half trials, half activations)
# Environment: PRELOAD tenants already in the catalog (default 0; scripts/bench/load-tenants.sql,
#   one stored event each), BIN. Then, as the reference, the same writes per event done directly
#   by pgbench (scripts/bench/direct-writes.sql: one transaction per event, one connection, as
#   the one consumer), on the same catalog.
# Runs on its own database and vhost (tc_bench_ingest) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-20000}
preload=${PRELOAD:-0}
name=tc_bench_ingest
source scripts/bench/env.sh
bench_env "$name"
export HTTP_ADDR=127.0.0.1:0
$bin migrate >/dev/null

# Declare the topology (serve does), then stop, so the queue fills with no consumer.
$bin serve 2>"$work/serve0.log" & serve_pid=$!
until curl -sf -u guest:guest "$api/queues/$name/tenant-catalog.lifecycle" >/dev/null; do sleep 0.2; done
kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=

python3 - "$events" > "$work/events.jsonl" <<'PY'
import json, sys, uuid, datetime
n = int(sys.argv[1]) // 2
now = datetime.datetime.now(datetime.timezone.utc)
for i in range(n):
    t = str(uuid.uuid4())
    start = now - datetime.timedelta(days=2)
    print(json.dumps({"id": str(uuid.uuid4()), "type": "trial.started", "tenant_id": t,
        "occurred_at": start.isoformat(), "sequence": 1,
        "data": {"site": f"bench-{i}", "products": ["jira"], "residency": "global", "billing_day": 5}}))
    print(json.dumps({"id": str(uuid.uuid4()), "type": "subscription.activated", "tenant_id": t,
        "occurred_at": (start + datetime.timedelta(days=1)).isoformat(), "sequence": 2,
        "data": {"plan": "standard", "cycle": "monthly",
                 "current_period_end": (now + datetime.timedelta(days=30)).isoformat()}}))
PY
if [ "$preload" -gt 0 ]; then
  t0=$(date +%s.%N)
  psql -h 127.0.0.1 -U postgres -d "$name" -q -v ON_ERROR_STOP=1 -v tenants="$preload" \
    -v with_events=true -f scripts/bench/load-tenants.sql
  python3 -c "print(f'preloaded: $preload tenants with one event each in {$(date +%s.%N) - $t0:.1f} s')"
fi
# Room for every tenant.
psql -h 127.0.0.1 -U postgres -d "$name" -qc "update shards set capacity = 10000000" >/dev/null
$bin publish "$work/events.jsonl" >/dev/null
ready=$(curl -sf -u guest:guest "$api/queues/$name/tenant-catalog.lifecycle" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages", "?"))')
echo "queued: $ready events for $((events / 2)) tenants"

applied_count() { psql -h 127.0.0.1 -U postgres -d "$name" -tAc "select count(*) from tenant_events where outcome = 'applied'"; }
applied_before=$(applied_count)
port=$(free_port)
start=$(date +%s.%N)
HTTP_ADDR=127.0.0.1:$port $bin serve 2>"$work/serve.log" & serve_pid=$!
# The service's own counters of judged events, not a count of rows, which would load the
# database being measured. Each new event is counted once, with its first judgement: an
# event judged before the one that creates its tenant arrived counts as rejected, and is
# applied when that one's batch refolds the tenant (the rows are counted at the end).
judged() {
  local body; body=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
  awk 'index($0, "tenant_catalog_events_total{outcome=\"applied\"}") == 1 ||
       index($0, "tenant_catalog_events_total{outcome=\"rejected\"}") == 1 {n += $2}
       END {print n + 0}' <<<"$body"
}
while true; do
  [ "$(judged)" -ge "$events" ] && break
  sleep 0.05
done
end=$(date +%s.%N)
# Every event must have ended applied: counted once the clock has stopped.
applied_rows=$(( $(applied_count) - applied_before ))
[ "$applied_rows" -ge "$events" ] || { echo "only $applied_rows of $events events applied" >&2; exit 1; }
python3 -c "s=$end-$start; print(f'applied: $events events in {s:.2f} s = {$events/s:.0f} events/s (one serve, release build, {$preload} tenants preloaded)')"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=

# The reference: the same rows written directly, one event a transaction, one connection.
pgbench -h 127.0.0.1 -U postgres -n -c 1 -T 10 -f scripts/bench/direct-writes.sql "$name" \
  > "$work/direct.out" 2>&1 || { cat "$work/direct.out" >&2; exit 1; }
awk '/^tps = /{printf "direct SQL reference: %.0f events/s (pgbench, the same writes per event, one transaction each, one connection)\n", $3; exit}' "$work/direct.out"
pgbench -h 127.0.0.1 -U postgres -n -c 1 -T 10 -f scripts/bench/direct-writes-batch.sql "$name" \
  > "$work/direct-batch.out" 2>&1 || { cat "$work/direct-batch.out" >&2; exit 1; }
awk '/^tps = /{printf "direct SQL ceiling: %.0f events/s (pgbench, the same writes for 500 events a transaction, set-based, one connection)\n", $3 * 500; exit}' "$work/direct-batch.out"
