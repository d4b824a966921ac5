-- pgbench script: what the catalog writes for one new event of a new tenant, done directly in
-- one transaction: the event, the tenant row, the change message. The reference rate for
-- scripts/ingest-rate.sh.
\set n random(1, 2000000000)
begin;
insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome)
values (gen_random_uuid(), md5(:n::text || 'tenant')::uuid, 'trial.started', now(), 1,
        jsonb_build_object('site', 'direct-' || :n, 'products', jsonb_build_array('jira'),
                           'residency', 'global', 'billing_day', 5),
        'applied');
insert into tenants (id, lifecycle, state, suspended, site, residency, region, shard_id,
                     products, billing_day, trial_ends_at, next_timer_at, created_at, version)
values (md5(:n::text || 'tenant')::uuid, 'TRIAL', 'TRIAL', false, 'direct-' || :n, 'global',
        'us-east-1', 'us-east-1-1', array['jira'], 5, now() + interval '30 days',
        now() + interval '30 days', now(), 1)
on conflict (id) do update set version = tenants.version + 1, state = excluded.state;
update shards set tenant_count = tenant_count + 1 where id = 'us-east-1-1';
insert into outbox (tenant_id, routing_key, payload)
values (md5(:n::text || 'tenant')::uuid, 'tenant.trial',
        jsonb_build_object('tenant_id', md5(:n::text || 'tenant')::uuid, 'state', 'TRIAL'));
commit;
