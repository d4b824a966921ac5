//! Shards and their fill. Slots are claimed by conditional increments that the database checks
//! against the capacity, so concurrent placements can never overfill a shard.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::config::SeedShards;
use crate::domain::{
    Capacity, Endpoint, InvalidValue, Placement, Region, Residency, ShardId, ShardStatus, TenantId,
};
use crate::placement::{Candidate, choose};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Creates the configured shards if the catalog has none yet.
pub async fn seed(db: &Db, seeds: &SeedShards) -> Result<(), StoreError> {
    let mut tx = db
        .begin()
        .await
        .doing(|| "starting to seed shards".into())?;
    // Two `migrate` runs at once must not both seed.
    sqlx::query!("lock table shards in exclusive mode")
        .execute(&mut *tx)
        .await
        .doing(|| "locking shards for seeding".into())?;
    let count = sqlx::query_scalar!(r#"select count(*) as "n!" from shards"#)
        .fetch_one(&mut *tx)
        .await
        .doing(|| "counting shards".into())?;
    if count == 0 {
        for (id, region, endpoint, capacity) in seeds.shards() {
            sqlx::query!(
                "insert into shards (id, region, endpoint, capacity, status) values ($1, $2, $3, $4, 'open')",
                id,
                region.as_str(),
                endpoint,
                capacity
            )
            .execute(&mut *tx)
            .await
            .doing(|| format!("seeding shard {id}"))?;
            tracing::info!(shard = %id, %region, capacity, "Seeded a shard.");
        }
    }
    tx.commit()
        .await
        .doing(|| "committing the seeded shards".into())
}

/// Claims slots for many tenants at once: the shards with room are read once, each tenant in
/// turn is given the shard [`choose`] picks as the earlier ones fill them, and each shard's
/// slots are taken in one conditional increment that the database checks against the
/// capacity, so concurrent placements can never overfill a shard. Where a shard filled up in
/// the meantime, its increment matches no row and its tenants try again on a fresh read; each
/// retry sees at least one more slot taken, so this ends. Tenants that find no room are left
/// out.
#[tracing::instrument(level = "debug", name = "store: claim slots", skip_all, fields(tenants = wanted.len()))]
pub async fn claim_slots(
    tx: &mut Tx,
    wanted: &[(TenantId, Residency)],
) -> Result<HashMap<TenantId, Placement>, StoreError> {
    let mut placed = HashMap::new();
    let mut pending = wanted.to_vec();
    while !pending.is_empty() {
        let mut candidates: Vec<Candidate> = sqlx::query!(
            r#"select id, region, capacity, tenant_count from shards
               where status = 'open' and tenant_count < capacity"#
        )
        .fetch_all(&mut **tx)
        .await
        .doing(|| "reading shards with room".into())?
        .into_iter()
        .filter_map(|r| {
            // The table's check constraints make every row a valid candidate.
            Some(Candidate {
                region: r.region.parse::<Region>().ok()?,
                id: ShardId::try_from(r.id.as_str()).ok()?,
                capacity: r.capacity,
                tenant_count: r.tenant_count,
                open: true,
            })
        })
        .collect();
        let mut chosen: Vec<(TenantId, Residency, usize)> = Vec::new();
        for (tenant, residency) in &pending {
            let Some(shard) = choose(*residency, &candidates).map(|c| c.id.clone()) else {
                continue;
            };
            if let Some(i) = candidates.iter().position(|c| c.id == shard) {
                candidates[i].tenant_count += 1;
                chosen.push((*tenant, *residency, i));
            }
        }
        let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
        for (_, _, i) in &chosen {
            *counts.entry(candidates[*i].id.as_str()).or_default() += 1;
        }
        let ids: Vec<String> = counts.keys().map(|id| (*id).to_owned()).collect();
        let ns: Vec<i32> = counts.values().copied().collect();
        let taken: HashSet<String> = sqlx::query_scalar!(
            r#"update shards s set tenant_count = s.tenant_count + u.n
               from unnest($1::text[], $2::int4[]) as u(id, n)
               where s.id = u.id and s.status = 'open' and s.tenant_count + u.n <= s.capacity
               returning s.id"#,
            &ids,
            &ns
        )
        .fetch_all(&mut **tx)
        .await
        .doing(|| "claiming shard slots".into())?
        .into_iter()
        .collect();
        pending.clear();
        for (tenant, residency, i) in chosen {
            let c = &candidates[i];
            if taken.contains(c.id.as_str()) {
                let placement = Placement {
                    region: c.region,
                    shard: c.id.clone(),
                };
                placed.insert(tenant, placement);
            } else {
                pending.push((tenant, residency));
            }
        }
    }
    Ok(placed)
}

/// Frees the slots of deleted tenants: `shard_ids` holds one entry per slot.
#[tracing::instrument(level = "debug", name = "store: release slots", skip_all, fields(shards = shard_ids.len()))]
pub async fn release_slots(tx: &mut Tx, shard_ids: &[ShardId]) -> Result<(), StoreError> {
    if shard_ids.is_empty() {
        return Ok(());
    }
    let shard_ids: Vec<&str> = shard_ids.iter().map(ShardId::as_str).collect();
    sqlx::query!(
        r#"update shards s set tenant_count = s.tenant_count - u.n
           from (select id, count(*)::int4 as n from unnest($1::text[]) as id group by id) as u
           where s.id = u.id"#,
        &shard_ids as &[&str]
    )
    .execute(&mut **tx)
    .await
    .doing(|| "freeing shard slots".into())?;
    Ok(())
}

/// A shard with its fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRow {
    pub id: ShardId,
    pub region: Region,
    pub endpoint: Endpoint,
    pub capacity: i32,
    pub tenant_count: i32,
    pub status: ShardStatus,
}

impl ShardRow {
    /// Whether the shard takes another tenant now.
    pub fn has_room(&self) -> bool {
        self.status == ShardStatus::Open && self.tenant_count < self.capacity
    }
}

/// The columns of `shards` as PostgreSQL holds them.
struct Columns {
    id: String,
    region: String,
    endpoint: String,
    capacity: i32,
    tenant_count: i32,
    status: String,
}

impl TryFrom<Columns> for ShardRow {
    type Error = StoreError;
    fn try_from(c: Columns) -> Result<Self, StoreError> {
        let column = |name: &str, e: InvalidValue| {
            StoreError::new(
                format!("reading column `{name}` of shard {}", c.id),
                sqlx::Error::Decode(e.0.into()),
            )
        };
        Ok(ShardRow {
            id: ShardId::try_from(c.id.as_str()).map_err(|e| column("id", e))?,
            region: c.region.parse().map_err(|e| column("region", e))?,
            endpoint: Endpoint::try_from(c.endpoint.as_str()).map_err(|e| column("endpoint", e))?,
            capacity: c.capacity,
            tenant_count: c.tenant_count,
            status: c.status.parse().map_err(|e| column("status", e))?,
        })
    }
}

fn decode(rows: Vec<Columns>) -> Result<Vec<ShardRow>, StoreError> {
    rows.into_iter().map(ShardRow::try_from).collect()
}

/// All shards, or those of one region, by id.
pub async fn list(db: &Db, region: Option<Region>) -> Result<Vec<ShardRow>, StoreError> {
    let rows = sqlx::query_as!(
        Columns,
        r#"select id, region, endpoint, capacity, tenant_count, status from shards
           where $1::text is null or region = $1
           order by id"#,
        region.map(Region::as_str)
    )
    .fetch_all(db)
    .await
    .doing(|| "listing shards".into())?;
    decode(rows)
}

/// A shard as an admin declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    pub id: ShardId,
    pub region: Region,
    pub endpoint: Endpoint,
    pub capacity: Capacity,
    pub status: ShardStatus,
}

/// What declaring a shard did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    Created(ShardRow),
    Updated(ShardRow),
    /// Nothing was changed, for this reason.
    Refused(String),
}

/// Creates or updates a shard. The region of an existing shard never changes (its tenants
/// live there), and its capacity never goes below its fill.
#[tracing::instrument(level = "debug", name = "store: declare a shard", skip_all, fields(shard = %spec.id))]
pub async fn declare(tx: &mut Tx, spec: &ShardSpec) -> Result<Declared, StoreError> {
    let id = spec.id.as_str();
    let current = sqlx::query_as!(
        Columns,
        "select id, region, endpoint, capacity, tenant_count, status from shards where id = $1 for update",
        id
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("reading shard {id}"))?
    .map(ShardRow::try_from)
    .transpose()?;
    let Some(current) = current else {
        let row = sqlx::query_as!(
            Columns,
            r#"insert into shards (id, region, endpoint, capacity, status) values ($1, $2, $3, $4, $5)
               returning id, region, endpoint, capacity, tenant_count, status"#,
            id,
            spec.region.as_str(),
            spec.endpoint.as_str(),
            spec.capacity.get(),
            spec.status.as_str()
        )
        .fetch_one(&mut **tx)
        .await
        .doing(|| format!("creating shard {id}"))?;
        return Ok(Declared::Created(row.try_into()?));
    };
    if current.region != spec.region {
        return Ok(Declared::Refused(format!(
            "shard {id} is in region {}; a shard's region cannot change (its tenants live there): declare a new shard instead",
            current.region
        )));
    }
    if spec.capacity.get() < current.tenant_count {
        return Ok(Declared::Refused(format!(
            "shard {id} holds {} tenants; its capacity cannot go below that (asked for {}): set status `draining` to stop new placements",
            current.tenant_count,
            spec.capacity.get()
        )));
    }
    let row = sqlx::query_as!(
        Columns,
        r#"update shards set endpoint = $2, capacity = $3, status = $4 where id = $1
           returning id, region, endpoint, capacity, tenant_count, status"#,
        id,
        spec.endpoint.as_str(),
        spec.capacity.get(),
        spec.status.as_str()
    )
    .fetch_one(&mut **tx)
    .await
    .doing(|| format!("updating shard {id}"))?;
    Ok(Declared::Updated(row.try_into()?))
}

/// A shard, if it exists, in a transaction.
pub async fn get(tx: &mut Tx, id: &ShardId) -> Result<Option<ShardRow>, StoreError> {
    sqlx::query_as!(
        Columns,
        "select id, region, endpoint, capacity, tenant_count, status from shards where id = $1",
        id.as_str()
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("reading shard {id}"))?
    .map(ShardRow::try_from)
    .transpose()
}

/// The status of a shard, if it exists.
pub async fn status(tx: &mut Tx, id: &ShardId) -> Result<Option<ShardStatus>, StoreError> {
    let status = sqlx::query_scalar!("select status from shards where id = $1", id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .doing(|| format!("reading shard {id}"))?;
    Ok(status.and_then(|s| s.parse().ok()))
}
