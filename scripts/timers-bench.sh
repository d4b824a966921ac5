#!/usr/bin/env bash
# Measures how fast one `serve` fires timers that all come due at once (issue 5's goal: 100,000
# within 60 s). Bulk-loads TIMERS cancelling tenants whose cancellation took effect a minute
# ago (each with its two stored events: the purchase and the cancellation), starts `serve`, and
# times from its start until its scheduler has fired them all (its own counter
# tenant_catalog_timers_fired_total) and every tenant is DEACTIVATED.
# Usage: scripts/timers-bench.sh   Environment: TIMERS (default 100000), BIN.
# Runs on its own database and vhost (tc_bench_timers) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
timers=${TIMERS:-100000}
name=tc_bench_timers
source scripts/bench/env.sh
bench_env "$name"
SEED_SHARD_CAPACITY=$timers $bin migrate >/dev/null

t0=$(date +%s.%N)
psql -h 127.0.0.1 -U postgres -d "$name" -q -v ON_ERROR_STOP=1 -v timers="$timers" <<'SQL'
set session_replication_role = replica;
set synchronous_commit = off;
create temporary table t as
select md5('timer-tenant-' || n)::uuid as id, 'tm' || lpad(n::text, 7, '0') as site,
       now() - interval '60 days' as bought, now() - interval '1 minute' as effective
from generate_series(1, :timers) n;
insert into tenants (id, lifecycle, state, suspended, site, residency, region, shard_id, products,
                     plan, cycle, current_period_end, cancellation_effective_at, next_timer_at,
                     created_at, version)
select id, 'CANCELLING', 'CANCELLING', false, site, 'us', 'us-east-1', 'us-east-1-1', array['jira'],
       'standard', 'annual', bought + interval '365 days', effective, effective, bought, 2
from t;
insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome)
select md5(id::text || 'activated')::uuid, id, 'subscription.activated', bought, 1,
       jsonb_build_object('plan', 'standard', 'cycle', 'annual',
                          'current_period_end', to_jsonb(bought + interval '365 days'),
                          'site', site, 'products', jsonb_build_array('jira'), 'residency', 'us'),
       'applied'
from t
union all
select md5(id::text || 'cancelled')::uuid, id, 'subscription.cancelled', bought + interval '1 day', 2,
       jsonb_build_object('effective_at', to_jsonb(effective)), 'applied'
from t;
update shards set tenant_count = :timers where id = 'us-east-1-1';
vacuum analyze;
SQL
python3 -c "print(f'loaded: $timers cancelling tenants, their timers due a minute ago, in {$(date +%s.%N) - $t0:.1f} s')"

port=$(free_port)
start=$(date +%s.%N)
HTTP_ADDR=127.0.0.1:$port $bin serve 2>"$work/serve.log" & serve_pid=$!
fired() { metric "$port" 'tenant_catalog_timers_fired_total '; }
until [ "$(fired)" -ge "$timers" ]; do
  sleep 0.1
  python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $start < 300 else 1)" \
    || { echo "gave up after 300 s: $(fired) fired" >&2; exit 1; }
done
end=$(date +%s.%N)
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$serve_pid/status")
deactivated=$(psql -h 127.0.0.1 -U postgres -d "$name" -tAc "select count(*) from tenants where lifecycle = 'DEACTIVATED'")
python3 -c "s=$end-$start; print(f'fired: $timers timers in {s:.1f} s = {$timers/s:.0f} a second (one serve, from its start); {$deactivated} tenants DEACTIVATED; peak resident memory of serve {$rss/1024:.0f} MiB')"
[ "$deactivated" = "$timers" ] || { echo "expected $timers DEACTIVATED tenants" >&2; exit 1; }
