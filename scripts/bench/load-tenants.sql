-- Bulk-loads :tenants tenants for the benchmarks (psql -v tenants=N -v with_events=true|false).
-- Tenant n: id hhhhhhhh-0000-4000-8000-<n in 12 hex digits>, hhhhhhhh = n * 2654435761 mod 2^32
-- (the same formula is in scripts/bench/lookup.lua); site t0000001...
-- 70% ACTIVE, 25% TRIAL, 3% CANCELLING, 1% SUSPENDED, 1% DEACTIVATED, all placed on the seeded
-- shard of their region, half with residency `global`; timers due in 10 to 25 days, so the
-- scheduler leaves them alone. Triggers are off for the load (session_replication_role), so
-- the load sends no change notifications. Every tenant was placed once: epoch 1.
set session_replication_role = replica;
set synchronous_commit = off;
insert into tenants (id, lifecycle, state, suspended, site, residency, region, shard_id, products,
                     billing_day, plan, cycle, trial_ends_at, current_period_end,
                     cancellation_effective_at, deletion_due_at, next_timer_at, created_at, version, epoch)
select b.id, b.lifecycle, b.state, b.suspended, b.site, b.residency, b.region, s.id, array['jira'],
       b.billing_day, b.plan, b.cycle, b.trial_ends_at, b.current_period_end,
       b.cancellation_effective_at, b.deletion_due_at,
       coalesce(b.trial_ends_at, b.cancellation_effective_at, b.deletion_due_at),
       b.created_at, b.version, 1
from (
  select (lpad(to_hex((n * 2654435761) % 4294967296), 8, '0') || '-0000-4000-8000-'
            || lpad(to_hex(n), 12, '0'))::uuid as id,
         't' || lpad(n::text, greatest(7, length(n::text)), '0') as site,
         r.region,
         case when (n / 5) % 2 = 0 then 'global' else r.residency end as residency,
         k.lifecycle, k.state, k.suspended,
         (n % 28 + 1)::smallint as billing_day,
         case when k.lifecycle in ('ACTIVE', 'CANCELLING') then 'standard' end as plan,
         case when k.lifecycle in ('ACTIVE', 'CANCELLING') then 'monthly' end as cycle,
         case when k.lifecycle = 'TRIAL' then now() + interval '20 days' end as trial_ends_at,
         case when k.lifecycle in ('ACTIVE', 'CANCELLING') then now() + interval '25 days' end as current_period_end,
         case when k.lifecycle = 'CANCELLING' then now() + interval '25 days' end as cancellation_effective_at,
         case when k.lifecycle = 'DEACTIVATED' then now() + interval '10 days' end as deletion_due_at,
         now() - interval '90 days' as created_at,
         k.version
  from generate_series(1, :tenants) n
  cross join lateral (
    select (array['us-east-1', 'eu-central-1', 'eu-west-1', 'ap-southeast-1', 'ap-southeast-2'])[n % 5 + 1] as region,
           (array['us', 'de', 'ie', 'sg', 'au'])[n % 5 + 1] as residency) r
  cross join lateral (
    select case when n % 100 < 70 then 'ACTIVE' when n % 100 < 95 then 'TRIAL'
                when n % 100 < 98 then 'CANCELLING' when n % 100 = 98 then 'ACTIVE' else 'DEACTIVATED' end as lifecycle,
           case when n % 100 < 70 then 'ACTIVE' when n % 100 < 95 then 'TRIAL'
                when n % 100 < 98 then 'CANCELLING' when n % 100 = 98 then 'SUSPENDED' else 'DEACTIVATED' end as state,
           n % 100 = 98 as suspended,
           case when n % 100 < 70 then 2 when n % 100 < 95 then 1 else 3 end::bigint as version) k
) b
join shards s on s.region = b.region;
update shards s set capacity = greatest(s.capacity, c.n), tenant_count = c.n
from (select shard_id, count(*)::int as n from tenants
      where lifecycle <> 'DELETED' and shard_id is not null group by shard_id) c
where s.id = c.shard_id;
\if :with_events
-- One stored event per tenant (its creation), so that the events table has the size it would
-- have; the judgements say `applied`, as the catalog would have judged them.
insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome)
select md5(t.id::text)::uuid, t.id, 'subscription.activated', t.created_at, 1,
       jsonb_build_object('plan', 'standard', 'cycle', 'monthly',
                          'current_period_end', to_jsonb(now() + interval '25 days'),
                          'site', t.site, 'products', jsonb_build_array('jira'),
                          'residency', t.residency),
       'applied'
from tenants t;
-- And its claim of the tenant's site, granted, as the catalog would have judged it: the
-- judgement of every new claim reads the claims of its site.
insert into site_claims (event_id, tenant_id, site_md5, occurred_at, sequence, granted)
select md5(t.id::text)::uuid, t.id, md5(t.site), t.created_at, 1, true
from tenants t;
\endif
vacuum analyze;
