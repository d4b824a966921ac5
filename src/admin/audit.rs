//! The audit trail of the `/admin/v1` scope, kept by the gate (`access.rs`) and by writes.
//!
//! The gate checks the bearer token before any routing: a request without a valid token is
//! answered 401 (400 for two `Authorization` headers) whatever its path or method, logged
//! (escaped, bounded) and counted in `tenant_catalog_admin_refused_total`, and never written
//! to the database, so that nobody without a token can fill the audit table. A valid token
//! presented to a write (any method but GET, HEAD and OPTIONS) is spent before the handler
//! runs, so it cannot be replayed whatever the first answer was (CONTRACT.md section 8). Every request
//! with a valid token is audited (who, what, how it ended): logged under target `audit` and
//! written to `admin_audit`. A write's handler writes its audit row in the write's own
//! transaction ([`record`]), so the action and its audit row commit together or not at all;
//! the gate then only logs it.
//!
//! Handlers leave what only they know in the request's extensions: the request body
//! ([`AuditedBody`]) and whether they audited themselves ([`Audited`]). Replies carry their
//! outcome in words (`reply.rs`); errors carry theirs in their message.

use super::AdminState;
use super::reply::Outcome;
use crate::auth::Principal;
use crate::catalog::admin::{self as store, AuditEntry};
use crate::catalog::{StoreError, Tx};
use crate::error::ApiError;
use crate::untrusted::escape_controls;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use serde_json::Value;

/// The longest a path or a refusal's reason is written to the log.
const MAX_LOGGED: usize = 256;

/// The request body as the audit trail keeps it.
#[derive(Debug, Clone)]
pub struct AuditedBody(pub Value);

/// Set by a handler that wrote its audit row in its own transaction.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// Audits an answered request: logged, and written to the trail unless its handler wrote
/// its row in its own transaction.
pub(super) async fn answered(state: &AdminState, response: &ServiceResponse<BoxBody>) {
    let entry = entry(response.request(), response.status(), outcome_of(response));
    log(&entry);
    let audited = response.request().extensions().get::<Audited>().is_some();
    if !audited && let Err(error) = store::audit(&state.db, &entry).await {
        tracing::error!(target: "audit", %error, path = %entry.path, "An admin request could not be written to the audit trail.");
    }
}

/// A request refused before routing: logged and counted, not stored.
pub(super) fn refused(state: &AdminState, req: &ServiceRequest, error: &ApiError) {
    let reason = if error.code == crate::error::Code::BadRequest {
        "bad_request"
    } else {
        "unauthenticated"
    };
    state.metrics.refused.with_label_values(&[reason]).inc();
    tracing::warn!(
        target: "audit",
        method = %req.method(),
        path = %escape_controls(req.path(), MAX_LOGGED),
        peer = req.peer_addr().map(|a| a.ip().to_string()).as_deref().unwrap_or("-"),
        reason = %escape_controls(&error.message, MAX_LOGGED),
        "Refused an admin request without a valid token."
    );
}

/// Writes a write's audit row in its transaction, and marks the request audited. Called by
/// handlers just before they commit.
pub(super) async fn record(
    tx: &mut Tx,
    req: &HttpRequest,
    status: StatusCode,
    outcome: String,
) -> Result<(), StoreError> {
    store::audit(&mut **tx, &entry(req, status, outcome)).await?;
    req.extensions_mut().insert(Audited);
    Ok(())
}

/// How a response ended, in words.
fn outcome_of(response: &ServiceResponse<BoxBody>) -> String {
    match response.response().error() {
        Some(error) => match error.as_error::<ApiError>() {
            Some(ApiError {
                cause: Some(cause), ..
            }) => {
                // The caller is told only to try again; the cause is for the operator.
                tracing::error!(error = %cause, path = %response.request().path(), "An admin request failed on the catalog.");
                format!("failed: {cause}")
            }
            Some(e) => e.message.clone(),
            None => error.to_string(),
        },
        None => response
            .response()
            .extensions()
            .get::<Outcome>()
            .map_or_else(String::new, |o| o.0.clone()),
    }
}

/// What the trail keeps of one answered request.
fn entry(req: &HttpRequest, status: StatusCode, outcome: String) -> AuditEntry {
    let path = req.path();
    let id = req.match_info().get("id");
    let extensions = req.extensions();
    let principal = extensions.get::<Principal>();
    AuditEntry {
        subject: principal.map(|p| p.subject.clone()),
        issuer: principal.map(|p| p.issuer.clone()),
        token_id: principal.map(|p| p.token_id.clone()),
        method: req.method().to_string(),
        path: path.to_owned(),
        tenant_id: id
            .filter(|_| path.starts_with("/admin/v1/tenants/"))
            .and_then(|id| id.parse().ok()),
        shard_id: id
            .filter(|_| path.starts_with("/admin/v1/shards/"))
            .map(str::to_owned),
        request: extensions.get::<AuditedBody>().map(|b| b.0.clone()),
        status: status.as_u16(),
        outcome,
    }
}

fn log(e: &AuditEntry) {
    tracing::info!(
        target: "audit",
        subject = e.subject.as_deref().unwrap_or("-"),
        method = %e.method,
        path = %escape_controls(&e.path, MAX_LOGGED),
        status = e.status,
        outcome = %escape_controls(&e.outcome, MAX_LOGGED),
        "Admin request."
    );
}
