-- pgbench script: the writes of direct-writes.sql for 500 new events at once, set-based, in one
-- transaction: PostgreSQL's own ceiling for these writes on this machine, with the batching the
-- service uses. One pgbench transaction = 500 events.
\set n random(1, 2000000000)
begin;
insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome)
select gen_random_uuid(), md5((:n + i)::text || 'tenant')::uuid, 'trial.started', now(), 1,
       jsonb_build_object('site', 'direct-' || (:n + i), 'products', jsonb_build_array('jira'),
                          'residency', 'global', 'billing_day', 5),
       'applied'
from generate_series(1, 500) i;
insert into tenants (id, lifecycle, state, suspended, site, residency, region, shard_id,
                     products, billing_day, trial_ends_at, next_timer_at, created_at, version)
select md5((:n + i)::text || 'tenant')::uuid, 'TRIAL', 'TRIAL', false, 'direct-' || (:n + i),
       'global', 'us-east-1', 'us-east-1-1', array['jira'], 5, now() + interval '30 days',
       now() + interval '30 days', now(), 1
from generate_series(1, 500) i
on conflict (id) do update set version = tenants.version + 1, state = excluded.state;
update shards set tenant_count = tenant_count + 500 where id = 'us-east-1-1';
insert into outbox (tenant_id, routing_key, payload)
select md5((:n + i)::text || 'tenant')::uuid, 'tenant.trial',
       jsonb_build_object('tenant_id', md5((:n + i)::text || 'tenant')::uuid, 'state', 'TRIAL')
from generate_series(1, 500) i;
commit;
