-- Every committed change of a tenant row or a shard is announced on channel `catalog_changes`,
-- so that each `serve` process can drop what its routing cache holds about it. PostgreSQL
-- delivers notifications at commit, in commit order, and never those of a rolled-back
-- transaction. Payload: `t <tenant id> <site>...` naming the sites whose host lookups may have
-- changed (old and new current site and old sites), or `s <shard id>`; `*` for a tenant whose
-- sites do not fit in a notification.

create function notify_tenant_change() returns trigger language plpgsql as $$
declare
    sites text[] := coalesce(array_append(new.old_sites, new.site), '{}');
    payload text;
begin
    if tg_op = 'UPDATE' then
        sites := sites || coalesce(array_append(old.old_sites, old.site), '{}');
    end if;
    payload := 't ' || new.id::text
        || coalesce(' ' || array_to_string(array(select distinct s from unnest(sites) s where s is not null), ' '), '');
    -- A notification holds at most 8000 bytes; a tenant renamed a hundred times says `*`:
    -- forget every cached host.
    if octet_length(payload) > 7900 then
        payload := 't ' || new.id::text || ' *';
    end if;
    perform pg_notify('catalog_changes', payload);
    return null;
end;
$$;
create trigger tenants_notify after insert or update on tenants
    for each row execute function notify_tenant_change();

create function notify_shard_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('catalog_changes', 's ' || coalesce(new.id, old.id));
    return null;
end;
$$;
-- Fill changes (`tenant_count`) are not announced: routes do not depend on them.
create trigger shards_notify_insert_delete after insert or delete on shards
    for each row execute function notify_shard_change();
create trigger shards_notify_update after update on shards
    for each row when ((old.region, old.endpoint, old.status) is distinct from (new.region, new.endpoint, new.status))
    execute function notify_shard_change();
