//! The transactional outbox: a tenant change and its message commit together, and the relay
//! publishes what committed.

use super::Tx;
use super::error::{Doing, StoreError};
use serde_json::Value;
use uuid::Uuid;

/// A change message to publish once its change commits.
#[derive(Debug, Clone)]
pub struct Message {
    pub tenant_id: Uuid,
    pub routing_key: String,
    pub payload: Value,
}

/// Queues change messages in the same transaction as their changes, in order, and keeps each
/// in the change log (`tenant_changes`, read by as-of lookups) in the same statement. A
/// deletion removes the hosts from the tenant's earlier changes, as from its history.
#[tracing::instrument(level = "debug", name = "store: queue change messages", skip_all, fields(messages = messages.len()))]
pub async fn enqueue(tx: &mut Tx, messages: &[Message]) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let tenants: Vec<Uuid> = messages.iter().map(|m| m.tenant_id).collect();
    let keys: Vec<&str> = messages.iter().map(|m| m.routing_key.as_str()).collect();
    let payloads: Vec<Value> = messages.iter().map(|m| m.payload.clone()).collect();
    // `created_at` is when the messages were queued, the batch's last work before its commit,
    // not when its transaction began: the relay's watermark (`watermark`) holds back to the
    // oldest waiting message, and a long transaction would hold it back by its whole length.
    // Of two messages of one tenant version in a batch, the later is kept, as a second upsert
    // would keep it.
    sqlx::query!(
        r#"with queued as (
               insert into outbox (tenant_id, routing_key, payload, created_at)
               select t, k, p, clock_timestamp()
               from unnest($1::uuid[], $2::text[], $3::jsonb[]) with ordinality as m(t, k, p, n)
               order by n
               returning id, tenant_id, routing_key, payload, created_at
           )
           insert into tenant_changes (tenant_id, version, changed_at, routing_key, payload)
           select distinct on (tenant_id, (payload->>'version')::bigint)
                  tenant_id, (payload->>'version')::bigint,
                  coalesce((payload->>'changed_at')::timestamptz, created_at), routing_key, payload
           from queued
           where payload ? 'version'
           order by tenant_id, (payload->>'version')::bigint, id desc
           on conflict (tenant_id, version) do update
               set changed_at = excluded.changed_at, routing_key = excluded.routing_key,
                   payload = excluded.payload"#,
        &tenants,
        &keys as &[&str],
        &payloads
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("queueing {} change messages", messages.len()))?;
    let deleted: Vec<Uuid> = messages
        .iter()
        .filter(|m| m.payload.get("state").and_then(Value::as_str) == Some("DELETED"))
        .map(|m| m.tenant_id)
        .collect();
    if !deleted.is_empty() {
        sqlx::query!(
            r#"update tenant_changes set payload = payload - 'host' - 'old_hosts'
               where tenant_id = any($1) and (payload ? 'host' or payload ? 'old_hosts')"#,
            &deleted
        )
        .execute(&mut **tx)
        .await
        .doing(|| {
            format!(
                "removing the hosts of {} deleted tenants' changes",
                deleted.len()
            )
        })?;
    }
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
#[tracing::instrument(level = "debug", name = "store: remove published messages", skip_all, fields(messages = ids.len()))]
pub async fn remove(tx: &mut Tx, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query!("delete from outbox where id = any($1)", ids)
        .execute(&mut **tx)
        .await
        .doing(|| "removing published outbox messages".into())?;
    Ok(())
}

/// About how many messages wait, for the metrics: the span of the waiting messages' ids (an
/// upper bound, exact but for gaps that aborted transactions and other relays leave). Two reads
/// of the primary key, where a count would read every waiting message after every batch:
/// measured, the count was the largest single cost of a flood of events (docs/benchmarks.md).
pub async fn backlog(db: &super::Db) -> Result<i64, StoreError> {
    sqlx::query_scalar!(r#"select coalesce(max(id) - min(id) + 1, 0) as "n!" from outbox"#)
        .fetch_one(db)
        .await
        .doing(|| "counting outbox messages".into())
}

/// What the relay saw in the outbox at one instant, for a heartbeat.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// The catalog's time up to which every committed change has been published: `as_of`,
    /// or the queueing time of the oldest message still waiting (any relay's, claimed or not),
    /// whichever is earlier. A message is queued before its change commits, so a change
    /// committed before this instant is not waiting any more.
    pub at: chrono::DateTime<chrono::Utc>,
    /// When it looked.
    pub as_of: chrono::DateTime<chrono::Utc>,
    /// The waiting messages' tenants and every host they name (current and old), when no more
    /// than the `name_up_to` asked for were waiting; `None` when more were.
    pub waiting: Option<(Vec<Uuid>, Vec<String>)>,
    /// The shard list at the same instant, in id order: (id, region, endpoint).
    pub shards: Vec<(String, String, String)>,
}

/// The outbox's watermark, what is still waiting and the shard list, read at one instant (one
/// statement, one snapshot, one round trip: a heartbeat on a saturated machine waits for each):
/// every change committed before `as_of` is published but those of the tenants named.
pub async fn watermark(db: &super::Db, name_up_to: usize) -> Result<Watermark, StoreError> {
    let limit = i64::try_from(name_up_to).unwrap_or(i64::MAX - 1) + 1;
    let row = sqlx::query!(
        r#"with waiting as (select tenant_id, payload from outbox order by id limit $1)
           select statement_timestamp() as "as_of!",
                  least(statement_timestamp(), (select min(created_at) from outbox)) as "at!",
                  (select count(*) from waiting) as "n!",
                  array(select distinct tenant_id from waiting) as "tenants!",
                  array(select payload->>'host' from waiting
                        where jsonb_typeof(payload->'host') = 'string'
                        union
                        select jsonb_array_elements_text(payload->'old_hosts') from waiting
                        where jsonb_typeof(payload->'old_hosts') = 'array') as "hosts!",
                  array(select id from shards order by id) as "shard_ids!",
                  array(select region from shards order by id) as "shard_regions!",
                  array(select endpoint from shards order by id) as "shard_endpoints!""#,
        limit
    )
    .fetch_one(db)
    .await
    .doing(|| "reading the outbox's watermark".into())?;
    let shards = row
        .shard_ids
        .into_iter()
        .zip(row.shard_regions)
        .zip(row.shard_endpoints)
        .map(|((id, region), endpoint)| (id, region, endpoint))
        .collect();
    Ok(Watermark {
        at: row.at,
        as_of: row.as_of,
        waiting: (row.n < limit).then_some((row.tenants, row.hosts)),
        shards,
    })
}
