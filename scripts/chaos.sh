#!/usr/bin/env bash
# Fault scenarios (issue 5): each runs `serve` (release build) on a database and vhost of its
# own, pushes a generated event stream through it (`tenant-catalog-load generate`), injects a fault,
# and then checks the catalog against the lifecycle engine (`tenant-catalog-load check`): no
# event lost, no tenant different from the fold of its events, shard fills equal to the tenants
# placed. Prints one figures line per scenario and a Markdown table at the end; exits 1 on any
# loss or difference.
#
# Usage: scripts/chaos.sh [SCENARIO...]   (default: all of kill9 broker database poison three contested)
# Environment: KILL_TENANTS (default 30000: about 100,000 events sent with 30% redeliveries),
#   KILLS (default 10), TENANTS (default 5000, the other scenarios), BIN, LOAD_BIN.
#
# The broker and database scenarios stop and start the machine's RabbitMQ and PostgreSQL: run
# this script alone, not next to `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-./target/release/tenant-catalog}
load=${LOAD_BIN:-./target/release/tenant-catalog-load}
kill_tenants=${KILL_TENANTS:-30000}
kills=${KILLS:-10}
tenants=${TENANTS:-5000}
scenarios=${*:-kill9 broker database poison three contested}
api=http://127.0.0.1:15672/api
pgver=$(ls /etc/postgresql | sort -n | tail -1)
export LOG_FORMAT=json RUST_LOG=warn
# Each tenant's shuffled history arrives within moments, and an outage (5 s, plus the broker's
# restart and the consumer's backoff) delays it by less than this: with this grace it ends as
# its in-order fold, which the check compares with, no leeway (CONTRACT.md section 8).
export DELETION_GRACE_SECS=${DELETION_GRACE_SECS:-30}
work=$(mktemp -d)
export AUTH_SIGNING_KEY=$work/signing-key.pem
pids=()
current=
results=()
failed=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

teardown() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  pids=()
  if [ -n "$current" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $current with (force)" >/dev/null 2>&1 || true
    curl -sf -u guest:guest -X DELETE "$api/vhosts/$current" >/dev/null || true
  fi
  current=
}
cleanup() {
  teardown
  # Leave the machine's services running, whatever happened.
  rabbitmqctl start_app >/dev/null 2>&1 || true
  pg_ctlcluster --skip-systemctl-redirect "$pgver" main start >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$bin" ] || cargo build --release --locked
./scripts/services.sh

# A fresh database and vhost for one scenario.
setup() {
  teardown
  current=tc_chaos_$1
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$current
  export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/$current
  curl -sf -u guest:guest -X PUT "$api/vhosts/$current" >/dev/null
  curl -sf -u guest:guest -X PUT -H 'content-type: application/json' \
    -d '{"configure":".*","write":".*","read":".*"}' "$api/permissions/$current/guest" >/dev/null
  SEED_SHARD_CAPACITY=1000000 $bin migrate >/dev/null
}

# Starts a serve on a free port; sets $port and appends to $pids.
start_serve() {
  port=$(free_port)
  HTTP_ADDR=127.0.0.1:$port $bin serve 2>>"$work/serve-$current.log" &
  pids+=($!)
}

# Seconds until /readyz on $1 answers 200 (up to 60 s).
wait_ready() {
  local t0; t0=$(now)
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && { since "$t0"; return 0; }
    sleep 0.1
  done
  echo "timeout"; return 1
}

# Waits until /readyz on $1 answers 503 (up to 30 s); prints the body.
wait_unready() {
  for _ in $(seq 300); do
    body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$1/readyz" || true)
    case "$body" in *" 503") echo "${body% 503}"; return 0;; esac
    sleep 0.1
  done
  echo "readyz never answered 503"; return 1
}

# Shard fills must equal the live tenants placed on them.
fills_consistent() {
  psql -h 127.0.0.1 -U postgres -d "$current" -tAc "
    select count(*) from shards s
    where s.tenant_count <> (select count(*) from tenants t where t.shard_id = s.id and t.lifecycle <> 'DELETED')
       or s.tenant_count > s.capacity"
}

# A queue of our own on the change exchange, drained by the load check to check the feed. Durable, as
# the relay's messages are persistent, so a broker restart keeps them.
bind_feed() {
  curl -sf -u guest:guest -X PUT -H 'content-type: application/json' -d '{"durable":true}' \
    "$api/queues/$current/chaos-changes" >/dev/null
  curl -sf -u guest:guest -X POST -H 'content-type: application/json' -d '{"routing_key":"tenant.#"}' \
    "$api/bindings/$current/e/tenant-catalog.changes/q/chaos-changes" >/dev/null
}

dlq_depth() {
  curl -sf -u guest:guest "$api/queues/$current/tenant-catalog.lifecycle.dlq" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages", 0))'
}

# Runs the load check and records a result line: scenario, sent, figures, extra notes.
verify() {
  local name=$1 sent=$2 note=$3 report status=ok
  report=$($load check --events "$work/events-$name.jsonl" --wait 240 --changes-queue chaos-changes \
    2>"$work/check-$name.err") || { status=FAILED; cat "$work/check-$name.err" >&2; }
  local bad; bad=$(fills_consistent)
  [ "$bad" = 0 ] || { status=FAILED; note="$note; $bad shards with a wrong fill"; }
  [ "$status" = ok ] || failed=1
  local row
  row=$(python3 - "$name" "$sent" "$status" "$note" "$report" <<'PY'
import json, sys
name, sent, status, note, report = sys.argv[1:6]
r = json.loads(report) if report.strip() else {}
f = r.get("feed", {})
cells = [name, sent, r.get("distinct_events", "?"), r.get("applied", "?"), r.get("rejected", "?"),
         r.get("redeliveries_seen", "?"), r.get("lost", "?"), r.get("mismatched", "?"),
         f.get("double_applied", "?"), f.get("missing", "?"), f.get("repeated", "?"),
         note, status]
print("| " + " | ".join(str(c) for c in cells) + " |")
for e in r.get("examples", []) + f.get("examples", []):
    print(f"<!-- {e} -->", file=sys.stderr)
PY
)
  echo "$row"
  results+=("$row")
}

publish() { # name tenants [poison [contested]]: publishes, prints the generator's summary (with its seed) to stderr
  local out
  out=$($load generate --tenants "$2" --poison "${3:-0}" --contested "${4:-0}" --seed "$RANDOM" --events-out "$work/events-$1.jsonl")
  echo "generate: $out" >&2
  echo "$out"
}
sent_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sent"])' "$1"; }

scenario_kill9() {
  setup kill9
  start_serve; wait_ready "$port" >/dev/null; bind_feed
  local out; out=$(publish kill9 "$kill_tenants") || { echo "publish failed"; failed=1; return; }
  local recover=()
  for i in $(seq "$kills"); do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 1.5), 2))')"
    kill -9 "${pids[-1]}"; unset 'pids[-1]'
    start_serve
    recover+=("$(wait_ready "$port")")
  done
  verify kill9 "$(sent_of "$out")" "$kills kills (kill -9, restart at once); back to ready in ${recover[*]} s"
}

# A dependency stopped for 5 s mid-stream and started again: $1 scenario, $2 what, $3 and $4
# the commands that stop and start it.
outage() {
  setup "$1"
  start_serve; wait_ready "$port" >/dev/null; bind_feed
  local out; out=$(publish "$1" "$tenants") || { echo "publish failed"; failed=1; return; }
  sleep 0.5
  local t0; t0=$(now)
  $3 >/dev/null
  local why; why=$(wait_unready "$port")
  sleep 5
  $4 >/dev/null
  local back; back=$(wait_ready "$port")
  verify "$1" "$(sent_of "$out")" "$2 stopped 5 s mid-stream; readyz 503 ($why); ready again $back s after the start, $(since "$t0") s after the stop"
}

scenario_broker() {
  outage broker RabbitMQ "rabbitmqctl stop_app" "rabbitmqctl start_app"
}

scenario_database() {
  outage database PostgreSQL \
    "pg_ctlcluster --skip-systemctl-redirect $pgver main stop -m fast" \
    "pg_ctlcluster --skip-systemctl-redirect $pgver main start"
}

scenario_poison() {
  setup poison
  start_serve; wait_ready "$port" >/dev/null; bind_feed
  local out; out=$(publish poison "$tenants" 1000) || { echo "publish failed"; failed=1; return; }
  $load check --events "$work/events-poison.jsonl" --wait 240 >/dev/null 2>&1 || true
  # The management API's counts lag by a few seconds.
  local depth=0
  for _ in $(seq 30); do depth=$(dlq_depth); [ "$depth" -ge 1000 ] && break; sleep 1; done
  local note="1000 poison messages interleaved; $depth in the dead-letter queue"
  [ "$depth" = 1000 ] || { note="$note (expected 1000)"; failed=1; }
  verify poison "$(sent_of "$out")" "$note"
}

scenario_three() {
  setup three
  start_serve; local p1=$port
  start_serve; start_serve
  wait_ready "$p1" >/dev/null; wait_ready "$port" >/dev/null; bind_feed
  local out; out=$(publish three "$tenants") || { echo "publish failed"; failed=1; return; }
  verify three "$(sent_of "$out")" "three serve processes on one queue and one database"
}

scenario_contested() {
  setup contested
  start_serve; local p1=$port
  start_serve
  wait_ready "$p1" >/dev/null; wait_ready "$port" >/dev/null; bind_feed
  local out; out=$(publish contested "$tenants" 0 0.3) || { echo "publish failed"; failed=1; return; }
  for i in 1 2 3; do
    sleep 0.7
    kill -9 "${pids[-1]}"; unset 'pids[-1]'
    start_serve
  done
  verify contested "$(sent_of "$out")" "30% of the tenants claim sites of a shared pool (about 3 claimants a site); two serve processes, one killed with kill -9 three times"
}

started=$(now)
for s in $scenarios; do
  echo "== $s =="
  "scenario_$s"
done
teardown

echo
echo "## Fault scenarios: $(date -u +%Y-%m-%d), $(nproc) CPUs, $(since "$started") s in all"
echo
echo "| scenario | sent | distinct events | applied | rejected | redeliveries seen | lost | differing tenants | double-applied | change messages missing | change messages repeated (allowed) | fault and recovery | result |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
printf '%s\n' "${results[@]}"
exit $failed
