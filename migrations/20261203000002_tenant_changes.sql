-- Every change message of every tenant, kept after the relay has published it: the catalog's own
-- record of what it answered and when. As-of and known-at lookups read a tenant's placement,
-- epoch and routing status at an instant here (placement depends on the shards' fill, not on the
-- tenant's events, so the events alone cannot tell it).
--
-- A trigger keeps it, so no path that queues a change can forget to. When a tenant is deleted,
-- the hosts of its earlier changes are removed, like the site names of its history.
create table tenant_changes (
    tenant_id   uuid not null,
    version     bigint not null,
    changed_at  timestamptz not null,
    routing_key text not null,
    payload     jsonb not null,
    primary key (tenant_id, version)
);
create index tenant_changes_in_time on tenant_changes (tenant_id, changed_at, version);

create function keep_tenant_change() returns trigger language plpgsql as $$
begin
    insert into tenant_changes (tenant_id, version, changed_at, routing_key, payload)
    values (new.tenant_id, (new.payload->>'version')::bigint,
            coalesce((new.payload->>'changed_at')::timestamptz, new.created_at),
            new.routing_key, new.payload)
    on conflict (tenant_id, version) do update
        set changed_at = excluded.changed_at, routing_key = excluded.routing_key,
            payload = excluded.payload;
    if new.payload->>'state' = 'DELETED' then
        update tenant_changes set payload = payload - 'host' - 'old_hosts'
        where tenant_id = new.tenant_id and (payload ? 'host' or payload ? 'old_hosts');
    end if;
    return new;
end
$$;
create trigger outbox_keeps_changes after insert on outbox
    for each row when (new.payload ? 'version') execute function keep_tenant_change();

-- Tenants that existed before this: what the catalog holds now, as their earliest known change.
insert into tenant_changes (tenant_id, version, changed_at, routing_key, payload)
select id, version, now(), 'catalog.backfill',
       jsonb_build_object('tenant_id', id, 'state', state, 'region', region, 'shard', shard_id,
                          'version', version, 'epoch', epoch, 'route_status', route_status,
                          'changed_at', now())
from tenants
on conflict do nothing;
