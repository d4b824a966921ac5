//! The reads behind routing lookups: what a tenant's route needs, by id or by host, in one
//! round trip each.

use super::Db;
use super::db::{Doing, StoreError};
use uuid::Uuid;

/// The part of a tenant row that routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    pub id: Uuid,
    pub site: Option<String>,
    pub state: String,
    pub region: Option<String>,
    pub shard_id: Option<String>,
    pub version: i64,
}

/// The route rows of the tenants among `ids` that exist, in one query.
pub async fn by_ids(db: &Db, ids: &[Uuid]) -> Result<Vec<RouteRow>, StoreError> {
    sqlx::query_as!(
        RouteRow,
        r#"select id, site, state, region, shard_id, version from tenants where id = any($1)"#,
        ids
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the routes of {} tenants", ids.len()))
}

/// The tenant a site names: the tenant whose current site it is, else the tenant that held it
/// most recently as an old site.
pub async fn tenant_of_site(db: &Db, site: &str) -> Result<Option<Uuid>, StoreError> {
    sqlx::query_scalar!(
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
    .doing(|| format!("looking up the tenant of site {site}"))
}

/// A shard as routes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRoute {
    pub id: String,
    pub region: String,
    pub endpoint: String,
}

/// Every shard's endpoint.
pub async fn shard_routes(db: &Db) -> Result<Vec<ShardRoute>, StoreError> {
    sqlx::query_as!(ShardRoute, "select id, region, endpoint from shards")
        .fetch_all(db)
        .await
        .doing(|| "reading shard endpoints".into())
}
