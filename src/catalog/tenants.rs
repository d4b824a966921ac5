//! Tenant rows: the stored projection of a tenant's fold plus its placement. Rows are read
//! into domain types here, at the row boundary; nothing above this module sees the columns'
//! text.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::{
    BillingDay, Cycle, InvalidValue, Placement, Products, Region, Residency, ShardId, Site,
    TenantId,
};
use crate::lifecycle::{Lifecycle, ShownState, Tenant, timers};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// A row of `tenants`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: TenantId,
    pub lifecycle: Lifecycle,
    pub state: ShownState,
    pub suspended: bool,
    /// `None` once deleted.
    pub site: Option<Site>,
    /// Earlier sites whose hosts still resolve to this tenant, oldest first.
    pub old_sites: Vec<Site>,
    pub residency: Residency,
    /// `None` while the tenant waits for a shard with room.
    pub placement: Option<Placement>,
    /// `None` once deleted.
    pub products: Option<Products>,
    pub billing_day: Option<BillingDay>,
    pub plan: Option<String>,
    pub cycle: Option<Cycle>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    pub deletion_due_at: Option<DateTime<Utc>>,
    pub next_timer_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Goes up by one with every change.
    pub version: i64,
    /// The event (or the timer's derived id) behind the last change.
    pub caused_by: Option<Uuid>,
}

impl TenantRow {
    /// The row for a folded tenant at a placement. `version` and `caused_by` are set by the
    /// caller once it knows the row changed.
    pub fn project(t: &Tenant, placement: Option<Placement>) -> Self {
        TenantRow {
            id: t.id,
            lifecycle: t.lifecycle,
            state: t.shown_state(placement.is_some()),
            suspended: t.suspended,
            site: t.site.clone(),
            old_sites: t.old_sites.clone(),
            residency: t.residency,
            placement,
            products: t.products.clone(),
            billing_day: t.billing_day,
            plan: t.plan.clone(),
            cycle: t.cycle,
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

    pub fn is_deleted(&self) -> bool {
        self.lifecycle == Lifecycle::Deleted
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

/// The columns of `tenants` as PostgreSQL holds them: what the queries read and write.
#[derive(Debug, serde::Serialize)]
struct Columns {
    id: Uuid,
    lifecycle: String,
    state: String,
    suspended: bool,
    site: Option<String>,
    old_sites: Vec<String>,
    residency: String,
    region: Option<String>,
    shard_id: Option<String>,
    products: Option<Vec<String>>,
    billing_day: Option<i16>,
    plan: Option<String>,
    cycle: Option<String>,
    trial_ends_at: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    cancellation_effective_at: Option<DateTime<Utc>>,
    deletion_due_at: Option<DateTime<Utc>>,
    next_timer_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    version: i64,
    caused_by: Option<Uuid>,
}

impl From<&TenantRow> for Columns {
    fn from(r: &TenantRow) -> Self {
        Columns {
            id: r.id.as_uuid(),
            lifecycle: r.lifecycle.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            suspended: r.suspended,
            site: r.site.as_ref().map(|s| s.as_str().to_owned()),
            old_sites: r.old_sites.iter().map(|s| s.as_str().to_owned()).collect(),
            residency: r.residency.as_str().to_owned(),
            region: r.placement.as_ref().map(|p| p.region.as_str().to_owned()),
            shard_id: r.placement.as_ref().map(|p| p.shard.as_str().to_owned()),
            products: r.products.as_ref().map(|p| p.as_slice().to_vec()),
            billing_day: r.billing_day.map(|d| i16::from(d.get())),
            plan: r.plan.clone(),
            cycle: r.cycle.map(|c| c.as_str().to_owned()),
            trial_ends_at: r.trial_ends_at,
            current_period_end: r.current_period_end,
            cancellation_effective_at: r.cancellation_effective_at,
            deletion_due_at: r.deletion_due_at,
            next_timer_at: r.next_timer_at,
            created_at: r.created_at,
            deleted_at: r.deleted_at,
            version: r.version,
            caused_by: r.caused_by,
        }
    }
}

/// A column whose text is not a value of its type: the row was written by hand or by a
/// version that had other rules.
fn column<T>(id: Uuid, name: &str, value: Result<T, InvalidValue>) -> Result<T, StoreError> {
    value.map_err(|e| {
        StoreError::new(
            format!("reading column `{name}` of tenant {id}"),
            sqlx::Error::Decode(e.0.into()),
        )
    })
}

fn known<T>(parsed: Option<T>, what: &str, raw: &str) -> Result<T, InvalidValue> {
    parsed.ok_or_else(|| InvalidValue(format!("`{raw}` is not a {what}")))
}

impl TryFrom<Columns> for TenantRow {
    type Error = StoreError;
    fn try_from(c: Columns) -> Result<Self, StoreError> {
        let id = c.id;
        let placement = match (c.region, c.shard_id) {
            (Some(region), Some(shard)) => Some(Placement {
                region: column(id, "region", region.parse::<Region>())?,
                shard: column(id, "shard_id", ShardId::try_from(shard.as_str()))?,
            }),
            _ => None,
        };
        let sites = |raw: &[String]| -> Result<Vec<Site>, StoreError> {
            raw.iter()
                .map(|s| column(id, "old_sites", Site::try_from(s.as_str())))
                .collect()
        };
        Ok(TenantRow {
            id: TenantId::from_uuid(id),
            lifecycle: column(
                id,
                "lifecycle",
                known(
                    Lifecycle::parse(&c.lifecycle),
                    "lifecycle state",
                    &c.lifecycle,
                ),
            )?,
            state: column(
                id,
                "state",
                known(ShownState::parse(&c.state), "shown state", &c.state),
            )?,
            suspended: c.suspended,
            site: c
                .site
                .map(|s| column(id, "site", Site::try_from(s.as_str())))
                .transpose()?,
            old_sites: sites(&c.old_sites)?,
            residency: column(id, "residency", c.residency.parse())?,
            placement,
            products: c
                .products
                .map(|p| column(id, "products", Products::try_from(p)))
                .transpose()?,
            billing_day: c
                .billing_day
                .map(|d| column(id, "billing_day", BillingDay::try_from(i64::from(d))))
                .transpose()?,
            plan: c.plan,
            cycle: c
                .cycle
                .map(|s| column(id, "cycle", s.parse()))
                .transpose()?,
            trial_ends_at: c.trial_ends_at,
            current_period_end: c.current_period_end,
            cancellation_effective_at: c.cancellation_effective_at,
            deletion_due_at: c.deletion_due_at,
            next_timer_at: c.next_timer_at,
            created_at: c.created_at,
            deleted_at: c.deleted_at,
            version: c.version,
            caused_by: c.caused_by,
        })
    }
}

fn decode(rows: Vec<Columns>) -> Result<Vec<TenantRow>, StoreError> {
    rows.into_iter().map(TenantRow::try_from).collect()
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
        Columns,
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
    Ok(decode(rows)?.into_iter().map(|r| (r.id, r)).collect())
}

/// Inserts or replaces tenant rows, in one statement.
pub async fn save(tx: &mut Tx, rows: &[TenantRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<Columns> = rows.iter().map(Columns::from).collect();
    let json = serde_json::to_value(columns)
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
    let id = row.id.as_uuid();
    let old_sites: Vec<String> = row
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
    .doing(|| format!("pruning old hosts of tenant {}", row.id))?;
    sqlx::query!(
        "insert into site_aliases (site, tenant_id) select unnest($2::text[]), $1 on conflict do nothing",
        id,
        &old_sites
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
) -> Result<HashMap<Site, TenantId>, StoreError> {
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
    // Every name asked for is a valid site, so every name found is one.
    Ok(held
        .into_iter()
        .filter_map(|r| {
            Some((
                Site::try_from(r.site.as_str()).ok()?,
                TenantId::from_uuid(r.id),
            ))
        })
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
           where shard_id is null and lifecycle <> 'DELETED' and residency = any($2)
           order by inserted_at limit $1 for update skip locked"#,
        limit,
        &residencies as &[&str]
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "claiming tenants waiting for a shard".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// The tenant row, outside any transaction.
pub async fn get(db: &Db, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
    Ok(load_many(db, &[id]).await?.remove(&id))
}

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
                  deleted_at, version, caused_by
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
        r#"select count(*) as "n!" from tenants where shard_id is null and lifecycle <> 'DELETED'"#
    )
    .fetch_one(db)
    .await
    .doing(|| "counting tenants waiting for a shard".into())
}

/// Up to `limit` tenant ids after `after`, in id order: a keyset page for walking the whole
/// catalog in bounded memory.
pub async fn ids_after(
    db: &Db,
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
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from tenants"#)
        .fetch_one(db)
        .await
        .doing(|| "counting tenants".into())
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
