//! Admin actions on tenants, and the admin API's own records: the tokens used for writes
//! (replay check) and the audit trail.
//!
//! An admin action is an event of the tenant's history, folded with commerce's events by the
//! same refold; the lifecycle rules judge it, nothing here re-implements them.

use super::db::{Doing, StoreError};
use super::events::NewEvent;
use super::refold::{Ingested, ingest};
use super::{Db, Tx};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::EventType;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

/// What an admin action did. Only `Changed` is meant to be committed: a repeat or a refusal
/// leaves the history as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Applied and the tenant changed.
    Changed,
    /// Applied, but the tenant is already so (a repeated request).
    Unchanged,
    /// The lifecycle rules refuse it, for this reason.
    Refused(String),
}

/// Records an admin action (`data` holds `by` and `reason`) at `now` and refolds the tenant.
/// The caller commits only when the result is [`Acted::Changed`].
pub async fn act(
    tx: &mut Tx,
    tenant: TenantId,
    action: EventType,
    data: &Value,
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<Acted, StoreError> {
    // Kept to the microsecond, as stored, so the fold sees exactly what a refold will read.
    let now = now.trunc_subsecs(6);
    let event = NewEvent {
        id: EventId::from_uuid(Uuid::new_v4()),
        tenant_id: tenant,
        event_type: action.as_str(),
        occurred_at: now,
        sequence: None,
        data,
    };
    let report = ingest(tx, &[event], now, base_domain).await?;
    Ok(match report.results.first() {
        Some(Ingested::Judged {
            outcome: "applied", ..
        }) if report.changes.is_empty() => Acted::Unchanged,
        Some(Ingested::Judged {
            outcome: "applied", ..
        }) => Acted::Changed,
        Some(Ingested::Judged { reason, .. }) => {
            Acted::Refused(reason.clone().unwrap_or_else(|| "refused".into()))
        }
        other => Acted::Refused(format!("the action could not be recorded: {other:?}")),
    })
}

/// Remembers that a token was used for an admin write. `false` when it was used before: a
/// replay. Entries are dropped once their token has expired, when it is refused anyway.
pub async fn use_token(
    db: &Db,
    issuer: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    sqlx::query!("delete from admin_token_uses where expires_at < now() - interval '5 minutes'")
        .execute(db)
        .await
        .doing(|| "forgetting expired admin tokens".into())?;
    let inserted = sqlx::query!(
        r#"insert into admin_token_uses (issuer, jti, expires_at) values ($1, $2, $3)
           on conflict do nothing"#,
        issuer,
        jti,
        expires_at
    )
    .execute(db)
    .await
    .doing(|| "recording the use of an admin token".into())?;
    Ok(inserted.rows_affected() == 1)
}

/// One admin request, as the audit trail keeps it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditEntry {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub token_id: Option<String>,
    pub method: String,
    pub path: String,
    pub tenant_id: Option<Uuid>,
    pub shard_id: Option<String>,
    pub request: Option<Value>,
    pub status: u16,
    pub outcome: String,
}

/// Appends to the audit trail.
pub async fn audit(db: &Db, e: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query!(
        r#"insert into admin_audit (subject, issuer, token_id, method, path, tenant_id, shard_id,
                                    request, status, outcome)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        e.subject,
        e.issuer,
        e.token_id,
        e.method,
        e.path,
        e.tenant_id,
        e.shard_id,
        e.request,
        i16::try_from(e.status).unwrap_or(i16::MAX),
        e.outcome
    )
    .execute(db)
    .await
    .doing(|| "writing the admin audit trail".into())?;
    Ok(())
}

/// The audit trail of one tenant, oldest first.
pub async fn audit_of_tenant(db: &Db, tenant: TenantId) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query!(
        r#"select subject, issuer, token_id, method, path, tenant_id, shard_id, request, status, outcome
           from admin_audit where tenant_id = $1 order by at, id"#,
        tenant.as_uuid()
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the audit trail of tenant {tenant}"))?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            subject: r.subject,
            issuer: r.issuer,
            token_id: r.token_id,
            method: r.method,
            path: r.path,
            tenant_id: r.tenant_id,
            shard_id: r.shard_id,
            request: r.request,
            status: u16::try_from(r.status).unwrap_or_default(),
            outcome: r.outcome,
        })
        .collect())
}
