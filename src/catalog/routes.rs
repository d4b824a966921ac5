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
