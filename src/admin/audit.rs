//! The audit trail, wrapped once around every admin handler: whatever a handler answers
//! (a reply or an [`ApiError`], a 404 or a 405 included), who asked, what, and how it ended is
//! logged (target `audit`) and written to `admin_audit`.
//!
//! Handlers leave what only they know in the request's extensions: the caller ([`Principal`],
//! once the token is read) and the request body ([`AuditedBody`]). Replies carry their outcome
//! in words ([`Reply`]); errors carry theirs in their message.

use super::AdminState;
use crate::auth::Principal;
use crate::catalog::admin::{self as store, AuditEntry};
use crate::error::ApiError;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Responder, web};
use serde_json::Value;

/// The request body as the audit trail keeps it.
#[derive(Debug, Clone)]
pub struct AuditedBody(pub Value);

/// A successful answer, with the outcome in words for the audit trail.
pub struct Reply {
    pub status: StatusCode,
    /// JSON text: serialised from the view types, so fields keep their declared order.
    pub body: String,
    pub outcome: String,
}

/// The outcome of a reply, from the handler to the audit.
#[derive(Clone)]
struct Outcome(String);

impl Responder for Reply {
    type Body = BoxBody;
    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body);
        response.extensions_mut().insert(Outcome(self.outcome));
        response
    }
}

/// The middleware: runs the handler, then audits what it answered.
pub async fn audited(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AdminState>>().cloned();
    let response = next.call(req).await?;
    let entry = entry(&response);
    log(&entry);
    if let Some(state) = state
        && let Err(error) = store::audit(&state.db, &entry).await
    {
        tracing::error!(target: "audit", %error, path = %entry.path, "An admin request could not be written to the audit trail.");
    }
    Ok(response)
}

/// What the trail keeps of one answered request.
fn entry(response: &ServiceResponse<BoxBody>) -> AuditEntry {
    let req = response.request();
    let path = req.path();
    let id = req.match_info().get("id");
    let extensions = req.extensions();
    let principal = extensions.get::<Principal>();
    let outcome = match response.response().error() {
        Some(error) => match error.as_error::<ApiError>() {
            Some(ApiError {
                cause: Some(cause), ..
            }) => {
                // The caller is told only to try again; the cause is for the operator.
                tracing::error!(error = %cause, %path, "An admin request failed on the catalog.");
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
    };
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
        status: response.status().as_u16(),
        outcome,
    }
}

fn log(e: &AuditEntry) {
    tracing::info!(
        target: "audit",
        subject = e.subject.as_deref().unwrap_or("-"),
        method = %e.method,
        path = %e.path,
        status = e.status,
        outcome = %e.outcome,
        "Admin request."
    );
}
