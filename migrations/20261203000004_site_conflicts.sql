-- CONTRACT.md section 8: a tenant whose site claim lost to an earlier claim of another tenant
-- keeps its row and history, with no site (PROVISIONING, no host, not routable) until a rename
-- to a free site. A deleted tenant still has no site, hosts or products; a tenant with no site
-- holds no shard slot.
alter table tenants drop constraint deleted_tenants_are_purged;
alter table tenants add constraint deleted_tenants_are_purged check (
    lifecycle <> 'DELETED' or (site is null and products is null and old_sites = '{}')
);
alter table tenants add constraint no_site_no_shard check (
    lifecycle = 'DELETED' or site is not null or shard_id is null
);
