#!/usr/bin/env bash
# Measures how fast one `serve` applies commerce events end to end (delivery, one transaction
# per batch, ack): fills the lifecycle queue with EVENTS events while no consumer runs, then
# starts `serve` and times how long it takes until every event is stored and the queue is empty.
# Usage: scripts/ingest-rate.sh [EVENTS]   (default 20000: half trials, half activations)
# Runs on its own database and vhost (tc_bench_ingest) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-20000}
name=tc_bench_ingest
bin=${BIN:-./target/release/tenant-catalog}
api=http://127.0.0.1:15672/api
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$name
export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/$name
export HTTP_ADDR=127.0.0.1:0 LOG_FORMAT=json RUST_LOG=warn
work=$(mktemp -d)
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $name with (force)" >/dev/null 2>&1 || true
  curl -sf -u guest:guest -X DELETE "$api/vhosts/$name" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$bin" ] || cargo build --release --locked
./scripts/services.sh
cleanup; work=$(mktemp -d)
curl -sf -u guest:guest -X PUT "$api/vhosts/$name" >/dev/null
curl -sf -u guest:guest -X PUT -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' "$api/permissions/$name/guest" >/dev/null
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
# Room for every tenant: the seeded shards hold 10000 each.
psql -h 127.0.0.1 -U postgres -d "$name" -qc "update shards set capacity = 1000000" >/dev/null
$bin publish "$work/events.jsonl" >/dev/null
ready=$(curl -sf -u guest:guest "$api/queues/$name/tenant-catalog.lifecycle" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
echo "queued: $ready events for $((events / 2)) tenants"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
HTTP_ADDR=127.0.0.1:$port $bin serve 2>"$work/serve.log" & serve_pid=$!
# The service's own counter of applied events: reading it costs the database nothing, unlike
# counting rows, so the measurement does not slow down what it measures.
applied() {
  curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null \
    | awk '/^tenant_catalog_events_total\{outcome="applied"\}/ {print $2; found=1} END {if (!found) print 0}'
}
while true; do
  [ "$(applied)" -ge "$events" ] && break
  sleep 0.05
done
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'applied: $events events in {s:.2f} s = {$events/s:.0f} events/s (one serve, release build)')"
