//! The reads behind routing lookups, in one round trip each: the part of tenant rows that a
//! route needs (the hot path reads no more), and which tenant a site names.

use super::Db;
use super::error::{Doing, StoreError};
use crate::domain::{Placement, RouteStatus, ShardId, Site, TenantId};
use crate::lifecycle::ShownState;
use uuid::Uuid;

/// The part of a tenant row that a route needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    pub id: TenantId,
    pub site: Option<Site>,
    pub state: ShownState,
    pub placement: Option<Placement>,
    pub epoch: i64,
    pub route_status: RouteStatus,
}

/// The route rows of the tenants among `ids` that exist, in one query. A row whose columns do
/// not decode is left out (it has no route); the tenant reads of the admin API and GraphQL
/// report it.
pub async fn by_ids(db: &Db, ids: &[TenantId]) -> Result<Vec<RouteRow>, StoreError> {
    let uuids: Vec<Uuid> = ids.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"select id, site, state, region, shard_id, epoch, route_status from tenants where id = any($1)"#,
        &uuids
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the routes of {} tenants", ids.len()))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let placement = match (r.region, r.shard_id) {
                (Some(region), Some(shard)) => Some(Placement {
                    region: region.parse().ok()?,
                    shard: ShardId::try_from(shard.as_str()).ok()?,
                }),
                _ => None,
            };
            Some(RouteRow {
                id: TenantId::from_uuid(r.id),
                site: r
                    .site
                    .map(|s| Site::try_from(s.as_str()))
                    .transpose()
                    .ok()?,
                state: ShownState::parse(&r.state)?,
                placement,
                epoch: r.epoch,
                route_status: r.route_status.parse().ok()?,
            })
        })
        .collect())
}

/// The tenant a site names: the tenant whose current site it is, else the tenant that held it
/// most recently as an old site.
pub async fn tenant_of_site(db: &Db, site: &str) -> Result<Option<TenantId>, StoreError> {
    let id = sqlx::query_scalar!(
        r#"select id as "id!" from (
               select id, 0 as rank, now() as at from tenants where site = $1
               union all
               select tenant_id, 1, created_at from site_aliases where site = $1
           ) found
           order by rank, at desc
           limit 1"#,
        site
    )
    .fetch_optional(db)
    .await
    .doing(|| format!("looking up the tenant of site {site}"))?;
    Ok(id.map(TenantId::from_uuid))
}

/// What a replica holds of one tenant (see `crate::replica`): enough to answer its route and
/// its hosts, with the version and epoch that order it. A tenant that is unknown again (a
/// withdrawal) has no state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRow {
    pub id: TenantId,
    pub version: i64,
    pub epoch: i64,
    pub state: Option<ShownState>,
    pub site: Option<Site>,
    pub old_sites: Vec<Site>,
    pub placement: Option<Placement>,
    pub route_status: RouteStatus,
}

struct ReplicaColumns {
    id: Uuid,
    version: i64,
    epoch: i64,
    state: Option<String>,
    site: Option<String>,
    old_sites: Vec<String>,
    region: Option<String>,
    shard_id: Option<String>,
    route_status: String,
}

impl ReplicaColumns {
    /// `None` for a row whose columns do not decode, as in [`by_ids`].
    fn decode(self) -> Option<ReplicaRow> {
        let placement = match (self.region, self.shard_id) {
            (Some(region), Some(shard)) => Some(Placement {
                region: region.parse().ok()?,
                shard: ShardId::try_from(shard.as_str()).ok()?,
            }),
            _ => None,
        };
        let site = |s: String| Site::try_from(s.as_str()).ok();
        Some(ReplicaRow {
            id: TenantId::from_uuid(self.id),
            version: self.version,
            epoch: self.epoch,
            state: match self.state {
                Some(s) => Some(ShownState::parse(&s)?),
                None => None,
            },
            site: match self.site {
                Some(s) => Some(site(s)?),
                None => None,
            },
            old_sites: self
                .old_sites
                .into_iter()
                .map(site)
                .collect::<Option<_>>()?,
            placement,
            route_status: self.route_status.parse().ok()?,
        })
    }
}

/// Up to `limit` tenants after `after` in id order, deleted and withdrawn ones included (so a
/// replica that held them learns they are gone): one page of a replica's snapshot.
pub async fn replica_page(
    db: &Db,
    after: Option<TenantId>,
    limit: i64,
) -> Result<Vec<ReplicaRow>, StoreError> {
    let after = after.map_or(Uuid::nil(), |id| id.as_uuid());
    let rows = sqlx::query_as!(
        ReplicaColumns,
        r#"select id as "id!", version as "version!", epoch as "epoch!", state, site,
                  old_sites as "old_sites!", region, shard_id, route_status as "route_status!"
           from (
               (select id, version, epoch, state, site, old_sites, region, shard_id, route_status
                from tenants where id > $1 order by id limit $2)
               union all
               (select w.id, w.version, w.epoch, null, null, '{}'::text[], null, null, 'ONLINE'
                from withdrawn_tenants w
                where w.id > $1 and not exists (select 1 from tenants t where t.id = w.id)
                order by w.id limit $2)
           ) entries
           order by id
           limit $2"#,
        after,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading {limit} replica entries"))?;
    Ok(rows
        .into_iter()
        .filter_map(ReplicaColumns::decode)
        .collect())
}

/// The replica entries of `ids`, for a replica that missed some of their versions.
pub async fn replica_rows(db: &Db, ids: &[TenantId]) -> Result<Vec<ReplicaRow>, StoreError> {
    let uuids: Vec<Uuid> = ids.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query_as!(
        ReplicaColumns,
        r#"select id as "id!", version as "version!", epoch as "epoch!", state, site,
                  old_sites as "old_sites!", region, shard_id, route_status as "route_status!"
           from (
               select id, version, epoch, state, site, old_sites, region, shard_id, route_status
               from tenants where id = any($1)
               union all
               select w.id, w.version, w.epoch, null, null, '{}'::text[], null, null, 'ONLINE'
               from withdrawn_tenants w
               where w.id = any($1) and not exists (select 1 from tenants t where t.id = w.id)
           ) entries"#,
        &uuids
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the replica entries of {} tenants", ids.len()))?;
    Ok(rows
        .into_iter()
        .filter_map(ReplicaColumns::decode)
        .collect())
}
