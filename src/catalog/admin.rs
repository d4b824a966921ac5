//! The admin API's own records: the tokens used for writes (replay check) and the audit
//! trail. Admin actions on tenants are events, applied by `apply::admin`.

use super::Db;
use super::error::{Doing, StoreError};
use crate::domain::TenantId;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Forgets the uses of tokens that have expired (they are refused anyway). Outside the
/// write's transaction, so that two writes never wait on each other's clean-up.
#[tracing::instrument(level = "debug", name = "store: forget expired tokens", skip_all)]
pub async fn forget_expired_tokens(db: &Db) -> Result<(), StoreError> {
    sqlx::query!("delete from admin_token_uses where expires_at < now() - interval '5 minutes'")
        .execute(db)
        .await
        .doing(|| "forgetting expired admin tokens".into())?;
    Ok(())
}

/// Remembers, in the write's transaction, that a token was used for an admin write. `false`
/// when it was used before: a replay.
#[tracing::instrument(level = "debug", name = "store: spend a token", skip_all)]
pub async fn use_token(
    db: &Db,
    issuer: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
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

/// Appends to the audit trail: in an action's transaction (`&mut **tx`), or from the pool for
/// reads and refusals that changed nothing.
#[tracing::instrument(level = "debug", name = "store: write an audit row", skip_all, fields(method = %e.method, status = e.status))]
pub async fn audit<'e>(ex: impl sqlx::PgExecutor<'e>, e: &AuditEntry) -> Result<(), StoreError> {
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
    .execute(ex)
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
