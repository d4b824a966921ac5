//! Deletion receipts (`deletion_receipts`): written once, in the transaction that carries a
//! deletion out, before the tenant's history loses its site names; never changed after.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::TenantId;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// What the history held before the purge, per tenant: its events, how many named a site, and
/// the SHA-256 of every event as stored, in contract order, one line each:
/// `event_id type occurred_at(UTC, microseconds) sequence data(jsonb text)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryDigest {
    pub events: i64,
    pub with_site: i64,
    pub sha256: String,
}

/// Digests the histories of `tenants` as they are now (call it before the purge).
pub async fn digest_histories(
    tx: &mut Tx,
    tenants: &[TenantId],
) -> Result<HashMap<TenantId, HistoryDigest>, StoreError> {
    if tenants.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"select tenant_id, count(*) as "events!",
                  count(*) filter (where data ? 'site') as "with_site!",
                  encode(sha256(convert_to(string_agg(
                      event_id::text || ' ' || type || ' '
                      || to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                      || ' ' || coalesce(sequence, 0)::text || ' ' || data::text,
                      E'\n' order by occurred_at, coalesce(sequence, 0), event_id), 'UTF8')),
                      'hex') as "sha256!"
           from tenant_events where tenant_id = any($1)
           group by tenant_id"#,
        &ids
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("digesting the histories of {} deleted tenants", ids.len()))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                TenantId::from_uuid(r.tenant_id),
                HistoryDigest {
                    events: r.events,
                    with_site: r.with_site,
                    sha256: r.sha256,
                },
            )
        })
        .collect())
}

/// Stores receipts; a tenant that has one keeps it.
#[tracing::instrument(level = "debug", name = "store: insert deletion receipts", skip_all, fields(receipts = receipts.len()))]
pub async fn insert(
    tx: &mut Tx,
    receipts: &[(TenantId, chrono::DateTime<chrono::Utc>, Value)],
) -> Result<(), StoreError> {
    if receipts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = receipts.iter().map(|(id, _, _)| id.as_uuid()).collect();
    let at: Vec<_> = receipts.iter().map(|(_, at, _)| *at).collect();
    let bodies: Vec<Value> = receipts.iter().map(|(_, _, r)| r.clone()).collect();
    sqlx::query!(
        r#"insert into deletion_receipts (tenant_id, deleted_at, receipt)
           select * from unnest($1::uuid[], $2::timestamptz[], $3::jsonb[])
           on conflict (tenant_id) do nothing"#,
        &ids,
        &at,
        &bodies
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("storing {} deletion receipts", ids.len()))?;
    Ok(())
}

/// A tenant's receipt, if its deletion was carried out with receipts kept.
pub async fn get(db: &Db, tenant: TenantId) -> Result<Option<Value>, StoreError> {
    sqlx::query_scalar!(
        "select receipt from deletion_receipts where tenant_id = $1",
        tenant.as_uuid()
    )
    .fetch_optional(db)
    .await
    .doing(|| format!("reading the deletion receipt of tenant {tenant}"))
}
