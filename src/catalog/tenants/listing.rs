//! Reading many tenants: filtered pages for GraphQL, keyset pages for walking the whole
//! catalog, and counts.

use super::TenantRow;
use super::columns::{Columns, decode};
use crate::catalog::{Db, Doing, StoreError};
use crate::domain::{Region, TenantId};
use crate::lifecycle::ShownState;
use uuid::Uuid;

/// Which tenants a listing shows; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<ShownState>,
    pub region: Option<Region>,
    pub shard_id: Option<String>,
}

/// Up to `limit` tenants matching `filter` with ids after `after`, in id order.
pub async fn page(
    db: &Db,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TenantRow>, StoreError> {
    let rows = sqlx::query_as!(
        Columns,
        r#"select id, lifecycle, state, suspended, site, old_sites, residency, region, shard_id,
                  products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                  cancellation_effective_at, deletion_due_at, next_timer_at, created_at,
                  deleted_at, version, caused_by, epoch, route_status,
                  legal_hold_since, legal_hold_by, legal_hold_reason, hold_lifted_at
           from tenants
           where ($1::text is null or state = $1)
             and ($2::text is null or region = $2)
             and ($3::text is null or shard_id = $3)
             and ($4::uuid is null or id > $4)
           order by id
           limit $5"#,
        filter.state.map(ShownState::as_str),
        filter.region.map(Region::as_str),
        filter.shard_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "listing tenants".into())?;
    decode(rows)
}

/// How many live tenants wait for a shard with room.
pub async fn count_waiting(db: &Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from tenants
           where shard_id is null and lifecycle <> 'DELETED' and site is not null"#
    )
    .fetch_one(db)
    .await
    .doing(|| "counting tenants waiting for a shard".into())
}

/// Up to `limit` tenant ids after `after`, in id order: every id with a row or with stored
/// events (a tenant id whose events never created it has no row, and `verify` covers it too,
/// CONTRACT.md section 8). For walking the catalog in bounded memory.
pub async fn ids_after(
    db: &Db,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TenantId>, StoreError> {
    let ids = sqlx::query_scalar!(
        r#"select id as "id!" from (
               (select id from tenants where ($1::uuid is null or id > $1) order by id limit $2)
               union
               (select distinct tenant_id from tenant_events
                where ($1::uuid is null or tenant_id > $1) order by tenant_id limit $2)
           ) ids order by id limit $2"#,
        after,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "listing tenant ids".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// How many tenants the catalog holds.
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from tenants"#)
        .fetch_one(db)
        .await
        .doing(|| "counting tenants".into())
}
