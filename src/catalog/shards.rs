//! Shards and their fill. A slot is claimed by a conditional increment that the database checks
//! against the capacity, so concurrent placements can never overfill a shard.

use super::db::{Doing, StoreError};
use super::tenants::Placement;
use super::{Db, Tx};
use crate::config::SeedShards;
use crate::domain::{Capacity, Endpoint, Region, Residency, ShardId, ShardStatus};
use crate::placement::{Candidate, choose};

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

/// Claims a slot for a tenant of this residency; `None` when no allowed shard has room.
pub async fn claim_slot(
    tx: &mut Tx,
    residency: Residency,
) -> Result<Option<Placement>, StoreError> {
    let regions: Vec<String> = residency
        .allowed_regions()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    // A slot taken between the read and the increment makes the increment match no row; then
    // read again. Each retry sees at least one more slot taken, so this ends.
    loop {
        let rows = sqlx::query!(
            r#"select id, region, capacity, tenant_count from shards
               where status = 'open' and region = any($1) and tenant_count < capacity"#,
            &regions
        )
        .fetch_all(&mut **tx)
        .await
        .doing(|| "reading shards with room".into())?;
        let candidates: Vec<Candidate> = rows
            .into_iter()
            .filter_map(|r| {
                Some(Candidate {
                    region: r.region.parse::<Region>().ok()?,
                    id: r.id,
                    capacity: r.capacity,
                    tenant_count: r.tenant_count,
                    open: true,
                })
            })
            .collect();
        let Some(chosen) = choose(residency, &candidates) else {
            return Ok(None);
        };
        let claimed = sqlx::query!(
            r#"update shards set tenant_count = tenant_count + 1
               where id = $1 and status = 'open' and tenant_count < capacity"#,
            chosen.id
        )
        .execute(&mut **tx)
        .await
        .doing(|| format!("claiming a slot on shard {}", chosen.id))?;
        if claimed.rows_affected() == 1 {
            return Ok(Some(Placement {
                region: chosen.region.as_str().to_owned(),
                shard_id: chosen.id.clone(),
            }));
        }
    }
}

/// Frees the slot of a deleted tenant.
pub async fn release_slot(tx: &mut Tx, shard_id: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "update shards set tenant_count = tenant_count - 1 where id = $1",
        shard_id
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("freeing a slot on shard {shard_id}"))?;
    Ok(())
}

/// The endpoint of a shard, for change messages.
pub async fn endpoint(tx: &mut Tx, shard_id: &str) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar!("select endpoint from shards where id = $1", shard_id)
        .fetch_optional(&mut **tx)
        .await
        .doing(|| format!("reading shard {shard_id}"))
}

/// A shard with its fill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShardRow {
    pub id: String,
    pub region: String,
    pub endpoint: String,
    pub capacity: i32,
    pub tenant_count: i32,
    pub status: String,
}

/// All shards, or those of one region, by id.
pub async fn list(db: &Db, region: Option<&str>) -> Result<Vec<ShardRow>, StoreError> {
    sqlx::query_as!(
        ShardRow,
        r#"select id, region, endpoint, capacity, tenant_count, status from shards
           where $1::text is null or region = $1
           order by id"#,
        region
    )
    .fetch_all(db)
    .await
    .doing(|| "listing shards".into())
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
pub async fn declare(tx: &mut Tx, spec: &ShardSpec) -> Result<Declared, StoreError> {
    let id = spec.id.as_str();
    let current = sqlx::query_as!(
        ShardRow,
        "select id, region, endpoint, capacity, tenant_count, status from shards where id = $1 for update",
        id
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("reading shard {id}"))?;
    let Some(current) = current else {
        let row = sqlx::query_as!(
            ShardRow,
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
        return Ok(Declared::Created(row));
    };
    if current.region != spec.region.as_str() {
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
        ShardRow,
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
    Ok(Declared::Updated(row))
}

/// The status of a shard, if it exists.
pub async fn status(tx: &mut Tx, id: &ShardId) -> Result<Option<ShardStatus>, StoreError> {
    let status = sqlx::query_scalar!("select status from shards where id = $1", id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .doing(|| format!("reading shard {id}"))?;
    Ok(status.and_then(|s| s.parse().ok()))
}
