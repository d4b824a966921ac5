//! Drains: the shards an admin asked to empty, and the lock that lets one instance at a time
//! start a drain's moves. The moves themselves are in [`super::moves`].

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::ShardId;
use chrono::{DateTime, Utc};

/// A shard an admin asked to drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drain {
    pub shard: ShardId,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    /// Most moves out of the shard running at once.
    pub batch: i32,
}

/// Marks a shard draining (it takes no new tenants) and asks the scheduler to move its
/// tenants out, `batch` at a time. `None` when there is no such shard.
#[tracing::instrument(level = "debug", name = "store: request a drain", skip_all, fields(shard = %shard))]
pub async fn request_drain(
    tx: &mut Tx,
    shard: &ShardId,
    by: &str,
    batch: i32,
) -> Result<Option<Drain>, StoreError> {
    let row = sqlx::query!(
        r#"update shards set status = 'draining', drain_requested_at = now(),
                  drain_requested_by = $2, drain_batch = $3
           where id = $1
           returning drain_requested_at as "at!", drain_requested_by as "by!", drain_batch as "batch!""#,
        shard.as_str(),
        by,
        batch
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("asking for the drain of shard {shard}"))?;
    Ok(row.map(|r| Drain {
        shard: shard.clone(),
        requested_at: r.at,
        requested_by: r.by,
        batch: r.batch,
    }))
}

/// Forgets the drain of a shard that is open again.
#[tracing::instrument(level = "debug", name = "store: forget a drain", skip_all, fields(shard = %shard))]
pub async fn forget_drain(tx: &mut Tx, shard: &ShardId) -> Result<(), StoreError> {
    sqlx::query!(
        r#"update shards set drain_requested_at = null, drain_requested_by = null, drain_batch = null
           where id = $1 and status = 'open'"#,
        shard.as_str()
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("forgetting the drain of shard {shard}"))?;
    Ok(())
}

/// The drains asked for, by shard id.
pub async fn drains(db: &Db) -> Result<Vec<Drain>, StoreError> {
    let rows = sqlx::query!(
        r#"select id, drain_requested_at as "at!", drain_requested_by as "by!", drain_batch as "batch!"
           from shards where drain_requested_at is not null order by id"#
    )
    .fetch_all(db)
    .await
    .doing(|| "reading the drains asked for".into())?;
    rows.into_iter()
        .map(|r| {
            Ok(Drain {
                shard: ShardId::try_from(r.id.as_str()).map_err(|e| {
                    StoreError::new(
                        format!("reading shard {}", r.id),
                        sqlx::Error::Decode(e.0.into()),
                    )
                })?,
                requested_at: r.at,
                requested_by: r.by,
                batch: r.batch,
            })
        })
        .collect()
}

/// Takes the transaction lock of a shard's drain, if no other transaction holds it.
pub async fn try_lock_drain(tx: &mut Tx, shard: &ShardId) -> Result<bool, StoreError> {
    // Advisory keys of drains live in their own space (class 2), apart from tenants' keys.
    let taken = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock(2, hashtext($1)) as "taken!""#,
        shard.as_str()
    )
    .fetch_one(&mut **tx)
    .await
    .doing(|| format!("locking the drain of shard {shard}"))?;
    Ok(taken)
}
