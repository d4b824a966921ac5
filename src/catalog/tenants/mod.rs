//! Tenant rows: the stored projection of a tenant's fold plus its placement. Rows are read
//! into domain types here, at the row boundary; nothing above this module sees the columns'
//! text.

mod columns;
mod due;
mod listing;
mod row;

pub use due::{claim_due, claim_waiting, timer_lag};
pub use listing::{Filter, count, count_waiting, ids_after, page};
pub use row::TenantRow;

use super::{Db, Doing, StoreError, Tx};
use crate::domain::TenantId;
use columns::{Columns, decode};
use std::collections::HashMap;
use uuid::Uuid;

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
        Columns,
        r#"select id, lifecycle, state, suspended, site, old_sites, residency, region, shard_id,
                  products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                  cancellation_effective_at, deletion_due_at, next_timer_at, created_at,
                  deleted_at, version, caused_by, epoch, route_status,
                  legal_hold_since, legal_hold_by, legal_hold_reason, hold_lifted_at
           from tenants where id = any($1)"#,
        &uuids
    )
    .fetch_all(ex)
    .await
    .doing(|| format!("loading {} tenants", uuids.len()))?;
    Ok(decode(rows)?.into_iter().map(|r| (r.id(), r)).collect())
}

/// Inserts or replaces tenant rows, in one statement.
#[tracing::instrument(level = "debug", name = "store: save tenant rows", skip_all)]
pub async fn save<'r>(
    tx: &mut Tx,
    rows: impl IntoIterator<Item = &'r TenantRow>,
) -> Result<(), StoreError> {
    let columns: Vec<Columns> = rows.into_iter().map(Columns::from).collect();
    if columns.is_empty() {
        return Ok(());
    }
    let columns_len = columns.len();
    let json = serde_json::to_value(columns)
        .map_err(|e| StoreError::new("encoding tenant rows", sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query!(
        r#"insert into tenants (id, lifecycle, state, suspended, site, old_sites, residency, region,
                shard_id, products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                cancellation_effective_at, deletion_due_at, next_timer_at, created_at, deleted_at,
                version, caused_by, epoch, route_status, legal_hold_since, legal_hold_by,
                legal_hold_reason, hold_lifted_at)
           select id, lifecycle, state, suspended, site, old_sites, residency, region,
                shard_id, products, billing_day, plan, cycle, trial_ends_at, current_period_end,
                cancellation_effective_at, deletion_due_at, next_timer_at, created_at, deleted_at,
                version, caused_by, epoch, route_status, legal_hold_since, legal_hold_by,
                legal_hold_reason, hold_lifted_at
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
                caused_by = excluded.caused_by, epoch = excluded.epoch,
                route_status = excluded.route_status,
                legal_hold_since = excluded.legal_hold_since,
                legal_hold_by = excluded.legal_hold_by,
                legal_hold_reason = excluded.legal_hold_reason,
                hold_lifted_at = excluded.hold_lifted_at"#,
        json
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("saving {} tenants", columns_len))?;
    Ok(())
}

/// Makes exactly the tenant's old sites resolve to it.
#[tracing::instrument(level = "debug", name = "store: save old sites", skip_all, fields(tenant_id = %row.id()))]
pub async fn save_old_sites(tx: &mut Tx, row: &TenantRow) -> Result<(), StoreError> {
    let id = row.id().as_uuid();
    let old_sites: Vec<String> = row
        .tenant
        .old_sites
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    sqlx::query!(
        "delete from site_aliases where tenant_id = $1 and not (site = any($2))",
        id,
        &old_sites
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("pruning old hosts of tenant {}", row.id()))?;
    sqlx::query!(
        "insert into site_aliases (site, tenant_id) select unnest($2::text[]), $1 on conflict do nothing",
        id,
        &old_sites
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("recording old hosts of tenant {}", row.id()))?;
    Ok(())
}

/// The last versions and epochs of tenants an earlier version removed as unknown again (their
/// creation's site taken back; since CONTRACT.md section 8 such a tenant keeps its row), by id:
/// a tenant created again goes on from there.
pub async fn withdrawn_versions(
    tx: &mut Tx,
    ids: &[TenantId],
) -> Result<HashMap<TenantId, (i64, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let uuids: Vec<Uuid> = ids.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        "select id, version, epoch from withdrawn_tenants where id = any($1)",
        &uuids
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "reading the versions of withdrawn tenants".into())?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), (r.version, r.epoch)))
        .collect())
}

/// The tenant row, outside any transaction.
pub async fn get(db: &Db, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
    Ok(load_many(db, &[id]).await?.remove(&id))
}
