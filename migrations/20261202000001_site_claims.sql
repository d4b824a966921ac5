-- Site claims across tenants (CONTRACT.md section 7, "One truth"): of two tenants that claim one
-- site, the earlier claim in contract order wins, whichever arrived first, and a site is held by
-- its tenant, current or old, until that tenant is DELETED. Every event that would give its
-- tenant a site (a creation, a rename) is kept here with its place in contract order and whether
-- its tenant's fold granted it, so that a claim is judged against the claims of every tenant.
--
-- The site is kept as its MD5 digest: a deleted tenant's claims must still count for the time it
-- held the site, while its site names are purged.
create table site_claims (
    event_id    uuid primary key,
    tenant_id   uuid not null,
    site_md5    text not null,
    occurred_at timestamptz not null,
    sequence    bigint not null check (sequence >= 0),
    granted     boolean not null
);
create index site_claims_by_site on site_claims (site_md5, occurred_at, sequence, event_id);
create index site_claims_by_tenant on site_claims (tenant_id);

-- What the catalog already judged. Deleted tenants' events have lost their site names, so their
-- claims cannot be recovered; they hold nothing any more.
insert into site_claims (event_id, tenant_id, site_md5, occurred_at, sequence, granted)
select event_id, tenant_id, md5(data->>'site'), occurred_at, coalesce(sequence, 0),
       outcome = 'applied'
from tenant_events
where data ? 'site'
  and (type in ('trial.started', 'site.renamed')
       or (type = 'subscription.activated' and data ? 'products' and data ? 'residency'));

-- Within one transaction a late earlier claim takes a site from the tenant that held it: both
-- rows are rewritten by one statement, so uniqueness is checked when the transaction commits.
drop index tenants_site_unique;
alter table tenants add constraint tenants_site_unique unique (site) deferrable initially deferred;

-- A tenant whose only creation a late earlier claim takes back is unknown again: its row is
-- removed, and the routing caches must hear of it like of any other change.
create function notify_tenant_removal() returns trigger language plpgsql as $$
declare
    payload text := 't ' || old.id::text
        || coalesce(' ' || array_to_string(array(
               select distinct s from unnest(array_append(old.old_sites, old.site)) s
               where s is not null), ' '), '');
begin
    if octet_length(payload) > 7900 then
        payload := 't ' || old.id::text || ' *';
    end if;
    perform pg_notify('catalog_changes', payload);
    return null;
end;
$$;
create trigger tenants_notify_delete after delete on tenants
    for each row execute function notify_tenant_removal();
