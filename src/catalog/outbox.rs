//! The transactional outbox: a tenant change and its message commit together, and the relay
//! publishes what committed.

use super::Tx;
use super::db::{Doing, StoreError};
use serde_json::Value;
use uuid::Uuid;

/// Queues a change message in the same transaction as the change.
pub async fn enqueue(
    tx: &mut Tx,
    tenant_id: Uuid,
    routing_key: &str,
    payload: &Value,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into outbox (tenant_id, routing_key, payload) values ($1, $2, $3)",
        tenant_id,
        routing_key,
        payload
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("queueing the change message of tenant {tenant_id}"))?;
    Ok(())
}

/// A message waiting to be published.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub routing_key: String,
    pub payload: Value,
}

/// The oldest waiting messages, locked so that other relays skip them.
pub async fn claim(tx: &mut Tx, limit: i64) -> Result<Vec<Pending>, StoreError> {
    sqlx::query_as!(
        Pending,
        "select id, routing_key, payload from outbox order by id limit $1 for update skip locked",
        limit
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "claiming outbox messages".into())
}

/// Removes messages the broker confirmed.
pub async fn remove(tx: &mut Tx, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query!("delete from outbox where id = any($1)", ids)
        .execute(&mut **tx)
        .await
        .doing(|| "removing published outbox messages".into())?;
    Ok(())
}

/// How many messages wait, for the metrics.
pub async fn backlog(db: &super::Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from outbox"#)
        .fetch_one(db)
        .await
        .doing(|| "counting outbox messages".into())
}
