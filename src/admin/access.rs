//! Who may act: the bearer token, checked by the [`gate`] before any routing, and
//! spent at its first presentation to a write endpoint, committed before the write begins and
//! whatever becomes of the write (CONTRACT.md section 8), so that a captured request cannot be
//! replayed, not even one whose first answer was a refusal.

use super::AdminState;
use super::audit::{self, record};
use super::reply::Reply;
use crate::auth::{Principal, Scope, Verifier};
use crate::catalog::admin as store;
use crate::catalog::{Db, Doing, Tx};
use crate::error::{ApiError, Code};
use crate::http::authorization;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};

/// The middleware: authenticates, runs the handler, then audits what it answered.
pub async fn gate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AdminState>>().cloned() else {
        // The admin scope is only ever mounted with its state (startup.rs).
        return Ok(req.error_response(ApiError::new(
            crate::error::Code::CatalogUnavailable,
            "the admin API is not configured",
        )));
    };
    let principal = match authorization(req.headers())
        .and_then(|header| state.verifier.bearer(header).map_err(ApiError::from))
    {
        Ok(principal) => principal,
        Err(error) => {
            audit::refused(&state, &req, &error);
            return Ok(req.error_response(error));
        }
    };
    req.extensions_mut().insert(principal.clone());
    // A token presented to a write endpoint is spent now, whatever becomes of the write.
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let spent = match writes {
        true => spend(&state.db, &principal).await,
        false => Ok(()),
    };
    let response = match spent
        .and_then(|()| Verifier::require(principal, Scope::Admin).map_err(ApiError::from))
    {
        Ok(_) => next.call(req).await?,
        Err(refused) => req.error_response(refused),
    };
    audit::answered(&state, &response).await;
    Ok(response)
}

/// The caller the gate let in.
pub(super) fn caller(req: &HttpRequest) -> Result<Principal, ApiError> {
    req.extensions().get::<Principal>().cloned().ok_or_else(|| {
        // Unreachable while the gate wraps the scope; refusing is the safe answer if not.
        ApiError::new(
            Code::Unauthenticated,
            "no valid token was checked for this request",
        )
    })
}

/// Spends the token on a write, at once and for good, before anything else is read of the
/// request (the gate calls it): a token seen before is a replay. Tokens past their expiry are
/// forgotten first.
pub(super) async fn spend(db: &Db, who: &Principal) -> Result<(), ApiError> {
    store::forget_expired_tokens(db).await?;
    let expires_at = i64::try_from(who.expires_at)
        .ok()
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if store::use_token(db, &who.issuer, &who.token_id, expires_at).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::TokenReplayed,
            "this token was used for an admin write already (replayed `jti`): mint a new token for each write",
        ))
    }
}

/// Starts an admin write's transaction (the gate has spent the caller's token).
pub(super) async fn begin_write(state: &AdminState) -> Result<Tx, ApiError> {
    let tx = state
        .db
        .begin()
        .await
        .doing(|| "starting an admin transaction".into())?;
    Ok(tx)
}

/// Ends an admin write: the answer, a refusal too, audited in the write's transaction, which
/// commits; then the answer.
pub(super) async fn commit_write(
    mut tx: Tx,
    req: &HttpRequest,
    answer: Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let (status, outcome) = match &answer {
        Ok(reply) => (reply.status, reply.outcome.clone()),
        Err(error) => (error.code.status(), error.message.clone()),
    };
    record(&mut tx, req, status, outcome).await?;
    tx.commit()
        .await
        .doing(|| format!("committing admin request {} {}", req.method(), req.path()))?;
    answer
}
