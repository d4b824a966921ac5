//! The scheduler's queries: tenants whose timer is due, tenants waiting for a shard with room,
//! and how late the scheduler is.

use crate::catalog::{Db, Doing, StoreError, Tx};
use crate::domain::{Region, Residency, TenantId};
use chrono::{DateTime, Utc};

/// Tenants whose next timer is due, locked for this transaction; others skip them.
pub async fn claim_due(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TenantId>, StoreError> {
    let ids = sqlx::query_scalar!(
        r#"select id from tenants where next_timer_at <= $1
           order by next_timer_at limit $2 for update skip locked"#,
        now,
        limit
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "claiming tenants with due timers".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// Live tenants waiting for a shard that some open shard has room for now, locked for this
/// transaction: those that will be served once placed first, then the oldest first. Tenants whose residency has no room are not looked at, so
/// they cannot keep others that would fit from being placed.
pub async fn claim_waiting(tx: &mut Tx, limit: i64) -> Result<Vec<TenantId>, StoreError> {
    let regions: Vec<String> = sqlx::query_scalar!(
        r#"select distinct region as "region!" from shards where status = 'open' and tenant_count < capacity"#
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "reading regions with room".into())?;
    let regions: Vec<Region> = regions.iter().filter_map(|r| r.parse().ok()).collect();
    let residencies: Vec<&str> = Residency::ALL
        .iter()
        .filter(|r| r.allowed_regions().iter().any(|g| regions.contains(g)))
        .map(|r| r.as_str())
        .collect();
    if residencies.is_empty() {
        return Ok(Vec::new());
    }
    let ids = sqlx::query_scalar!(
        r#"select id from tenants
           where shard_id is null and lifecycle <> 'DELETED' and site is not null
             and residency = any($2)
           order by (suspended or lifecycle = 'DEACTIVATED'), inserted_at limit $1 for update skip locked"#,
        limit,
        &residencies as &[&str]
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "claiming tenants waiting for a shard".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// Seconds since the most overdue timer came due; 0 when none is due.
pub async fn timer_lag(db: &Db) -> Result<f64, StoreError> {
    sqlx::query_scalar!(
        r#"select coalesce(extract(epoch from now() - min(next_timer_at)), 0)::float8 as "lag!"
           from tenants where next_timer_at <= now()"#
    )
    .fetch_one(db)
    .await
    .doing(|| "measuring the scheduler's lag".into())
}
