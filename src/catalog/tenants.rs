//! Tenant rows: the stored projection of a tenant's fold plus its placement.

use super::Tx;
use super::db::{Doing, StoreError};
use crate::domain::{Residency, Site, TenantId};
use crate::lifecycle::{Lifecycle, Tenant, timers};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// Where a tenant is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub region: String,
    pub shard_id: String,
}

/// A row of `tenants`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantRow {
    pub id: Uuid,
    pub lifecycle: String,
    pub state: String,
    pub suspended: bool,
    pub site: Option<String>,
    pub old_sites: Vec<String>,
    pub residency: String,
    pub region: Option<String>,
    pub shard_id: Option<String>,
    pub products: Option<Vec<String>>,
    pub billing_day: Option<i16>,
    pub plan: Option<String>,
    pub cycle: Option<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    pub deletion_due_at: Option<DateTime<Utc>>,
    pub next_timer_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub caused_by: Option<Uuid>,
}

impl TenantRow {
    /// The row for a folded tenant at a placement. `version` and `caused_by` are set by the
    /// caller once it knows the row changed.
    pub fn project(t: &Tenant, placement: Option<&Placement>) -> Self {
        TenantRow {
            id: t.id.as_uuid(),
            lifecycle: t.lifecycle.as_str().to_owned(),
            state: t.shown_state(placement.is_some()).as_str().to_owned(),
            suspended: t.suspended,
            site: t.site.as_ref().map(|s| s.as_str().to_owned()),
            old_sites: t.old_sites.iter().map(|s| s.as_str().to_owned()).collect(),
            residency: t.residency.as_str().to_owned(),
            region: placement.map(|p| p.region.clone()),
            shard_id: placement.map(|p| p.shard_id.clone()),
            products: t.products.as_ref().map(|p| p.as_slice().to_vec()),
            billing_day: t.billing_day.map(|d| i16::from(d.get())),
            plan: t.plan.clone(),
            cycle: t.cycle.map(|c| c.as_str().to_owned()),
            trial_ends_at: t.trial_ends_at,
            current_period_end: t.current_period_end,
            cancellation_effective_at: t.cancellation_effective_at,
            deletion_due_at: t.deletion_due_at,
            next_timer_at: timers::next_timer(t).map(|(_, at)| at),
            created_at: t.created_at,
            deleted_at: t.deleted_at,
            version: 0,
            caused_by: None,
        }
    }

    pub fn placement(&self) -> Option<Placement> {
        match (&self.region, &self.shard_id) {
            (Some(region), Some(shard_id)) => Some(Placement {
                region: region.clone(),
                shard_id: shard_id.clone(),
            }),
            _ => None,
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.lifecycle == Lifecycle::Deleted.as_str()
    }

    /// Whether two rows say the same about the tenant, whatever their versions.
    pub fn same_content(&self, other: &TenantRow) -> bool {
        let strip = |r: &TenantRow| TenantRow {
            version: 0,
            caused_by: None,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}

/// Serialises all work on these tenants until the transaction ends, whether or not their rows
/// exist yet. The locks are taken in ascending key order, the one order every caller uses, so
/// two transactions never wait for each other in a circle.
pub async fn lock(tx: &mut Tx, ids: &[TenantId]) -> Result<(), StoreError> {
    let mut keys: Vec<i64> = ids.iter().map(|id| lock_key(*id)).collect();
    keys.sort_unstable();
    keys.dedup();
    sqlx::query!(
        // A function scan returns the array in order, so the locks are taken in that order.
        "select pg_advisory_xact_lock(k) from unnest($1::int8[]) as k",
        &keys
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("locking {} tenants", keys.len()))?;
    Ok(())
}

/// The advisory-lock key of a tenant: the first 8 bytes of its UUID. Two tenants sharing a
/// key only wait for each other; correctness does not depend on the key being unique.
pub fn lock_key(id: TenantId) -> i64 {
    let bytes = id.as_uuid().into_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(head)
}

/// The rows of these tenants, by id, in a transaction (`&mut **tx`) or straight from the pool.
pub async fn load_many<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    ids: &[TenantId],
) -> Result<HashMap<TenantId, TenantRow>, StoreError> {
    let uuids: Vec<Uuid> = ids.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query_as!(
        TenantRow,
        r#"select id, lifecycle, state, suspended, site, old_sites, residency, region, shard_id,
                  products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                  cancellation_effective_at, deletion_due_at, next_timer_at, created_at,
                  deleted_at, version, caused_by
           from tenants where id = any($1)"#,
        &uuids
    )
    .fetch_all(ex)
    .await
    .doing(|| format!("loading {} tenants", uuids.len()))?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), r))
        .collect())
}

/// Inserts or replaces tenant rows, in one statement.
pub async fn save(tx: &mut Tx, rows: &[TenantRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_value(rows)
        .map_err(|e| StoreError::new("encoding tenant rows", sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query!(
        r#"insert into tenants (id, lifecycle, state, suspended, site, old_sites, residency, region,
                shard_id, products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                cancellation_effective_at, deletion_due_at, next_timer_at, created_at, deleted_at,
                version, caused_by)
           select id, lifecycle, state, suspended, site, old_sites, residency, region,
                shard_id, products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                cancellation_effective_at, deletion_due_at, next_timer_at, created_at, deleted_at,
                version, caused_by
           from jsonb_populate_recordset(null::tenants, $1)
           on conflict (id) do update set
                lifecycle = excluded.lifecycle, state = excluded.state,
                suspended = excluded.suspended, site = excluded.site,
                old_sites = excluded.old_sites, residency = excluded.residency,
                region = excluded.region, shard_id = excluded.shard_id,
                products = excluded.products, billing_day = excluded.billing_day,
                plan = excluded.plan, cycle = excluded.cycle,
                trial_ends_at = excluded.trial_ends_at,
                current_period_end = excluded.current_period_end,
                cancellation_effective_at = excluded.cancellation_effective_at,
                deletion_due_at = excluded.deletion_due_at,
                next_timer_at = excluded.next_timer_at, created_at = excluded.created_at,
                deleted_at = excluded.deleted_at, version = excluded.version,
                caused_by = excluded.caused_by"#,
        json
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("saving {} tenants", rows.len()))?;
    Ok(())
}

/// Makes exactly the tenant's old sites resolve to it.
pub async fn save_old_sites(tx: &mut Tx, row: &TenantRow) -> Result<(), StoreError> {
    sqlx::query!(
        "delete from site_aliases where tenant_id = $1 and not (site = any($2))",
        row.id,
        &row.old_sites
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("pruning old hosts of tenant {}", row.id))?;
    sqlx::query!(
        "insert into site_aliases (site, tenant_id) select unnest($2::text[]), $1 on conflict do nothing",
        row.id,
        &row.old_sites
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("recording old hosts of tenant {}", row.id))?;
    Ok(())
}

/// Who holds each of `sites` as their current site now (deleted tenants hold none).
pub async fn site_holders(
    tx: &mut Tx,
    sites: &[&Site],
) -> Result<HashMap<String, TenantId>, StoreError> {
    if sites.is_empty() {
        return Ok(HashMap::new());
    }
    let names: Vec<String> = sites.iter().map(|s| s.as_str().to_owned()).collect();
    let held = sqlx::query!(
        r#"select site as "site!", id from tenants where site = any($1)"#,
        &names
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "checking which sites are taken".into())?;
    Ok(held
        .into_iter()
        .map(|r| (r.site, TenantId::from_uuid(r.id)))
        .collect())
}

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

/// Live tenants waiting for a shard that some open shard has room for now, oldest first,
/// locked for this transaction. Tenants whose residency has no room are not looked at, so
/// they cannot keep others that would fit from being placed.
pub async fn claim_waiting(tx: &mut Tx, limit: i64) -> Result<Vec<TenantId>, StoreError> {
    let regions: Vec<String> = sqlx::query_scalar!(
        r#"select distinct region as "region!" from shards where status = 'open' and tenant_count < capacity"#
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "reading regions with room".into())?;
    let residencies: Vec<String> = Residency::ALL
        .iter()
        .filter(|r| {
            r.allowed_regions()
                .iter()
                .any(|g| regions.iter().any(|x| x == g.as_str()))
        })
        .map(|r| r.as_str().to_owned())
        .collect();
    if residencies.is_empty() {
        return Ok(Vec::new());
    }
    let ids = sqlx::query_scalar!(
        r#"select id from tenants
           where shard_id is null and lifecycle <> 'DELETED' and residency = any($2)
           order by inserted_at limit $1 for update skip locked"#,
        limit,
        &residencies
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "claiming tenants waiting for a shard".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// The tenant row, outside any transaction.
pub async fn get(db: &super::Db, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
    Ok(load_many(db, &[id]).await?.remove(&id))
}

/// Which tenants a listing shows; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<String>,
    pub region: Option<String>,
    pub shard_id: Option<String>,
}

/// Up to `limit` tenants matching `filter` with ids after `after`, in id order.
pub async fn page(
    db: &super::Db,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TenantRow>, StoreError> {
    sqlx::query_as!(
        TenantRow,
        r#"select id, lifecycle, state, suspended, site, old_sites, residency, region, shard_id,
                  products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                  cancellation_effective_at, deletion_due_at, next_timer_at, created_at,
                  deleted_at, version, caused_by
           from tenants
           where ($1::text is null or state = $1)
             and ($2::text is null or region = $2)
             and ($3::text is null or shard_id = $3)
             and ($4::uuid is null or id > $4)
           order by id
           limit $5"#,
        filter.state,
        filter.region,
        filter.shard_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "listing tenants".into())
}

/// How many live tenants wait for a shard with room.
pub async fn count_waiting(db: &super::Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from tenants where shard_id is null and lifecycle <> 'DELETED'"#
    )
    .fetch_one(db)
    .await
    .doing(|| "counting tenants waiting for a shard".into())
}

/// Up to `limit` tenant ids after `after`, in id order: a keyset page for walking the whole
/// catalog in bounded memory.
pub async fn ids_after(
    db: &super::Db,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TenantId>, StoreError> {
    let ids = sqlx::query_scalar!(
        "select id from tenants where ($1::uuid is null or id > $1) order by id limit $2",
        after,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "listing tenant ids".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// How many tenants the catalog holds.
pub async fn count(db: &super::Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from tenants"#)
        .fetch_one(db)
        .await
        .doing(|| "counting tenants".into())
}

/// Seconds since the most overdue timer came due; 0 when none is due.
pub async fn timer_lag(db: &super::Db) -> Result<f64, StoreError> {
    sqlx::query_scalar!(
        r#"select coalesce(extract(epoch from now() - min(next_timer_at)), 0)::float8 as "lag!"
           from tenants where next_timer_at <= now()"#
    )
    .fetch_one(db)
    .await
    .doing(|| "measuring the scheduler's lag".into())
}
