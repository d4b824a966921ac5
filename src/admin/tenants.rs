//! Tenants: deletion requests and their cancellation, and the tenant with its history.

use super::AdminState;
use super::access::{begin_write, caller, commit_write};
use super::input::{field, json_body, json_text, tenant_id};
use super::reply::Reply;
use super::views::{self, DeletionCancel, DeletionRequest, HoldRequest, TenantView};
use crate::apply::admin::{Acted, AdminAction, act};
use crate::apply::receipt::DeletionReceipt;
use crate::auth::Principal;
use crate::catalog::{events, receipts, tenants};
use crate::domain::{FreeText, TenantId};
use crate::error::{ApiError, Code};
use crate::history;
use crate::lifecycle::Lifecycle;
use crate::snapshot::TenantSnapshot;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chrono::Utc;

fn not_found(id: TenantId) -> ApiError {
    ApiError::not_found(format!(
        "no tenant {id}: the catalog has no tenant with this id (an id that only had rejected events has none)"
    ))
}

/// Loads the tenant as the admin API shows it.
async fn snapshot(state: &AdminState, id: TenantId) -> Result<TenantSnapshot, ApiError> {
    let row = tenants::get(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(TenantSnapshot::new(row, &state.rules.base))
}

/// Ask for a tenant's deletion.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{id}/deletion",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body = DeletionRequest,
    responses(
        (status = 202, description = "Deletion scheduled (or carried out, when `immediate`); a repeat changes nothing and answers the same", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "Already DELETED (`already_deleted`), a legal hold stands (`legal_hold`), or a served, suspended or provisioning tenant without `force: true` (`force_required`)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: request a deletion", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn request_deletion(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let id = tenant_id(&req)?;
    let body: DeletionRequest = json_body(&req, payload, false).await?;
    let reason = field("reason", FreeText::try_from(body.reason.as_str()))?;
    let action = AdminAction::RequestDeletion {
        reason: reason.into(),
        immediate: body.immediate,
        force: body.force,
    };
    tenant_action(&state, &req, id, &action, &who, |acted, tenant| {
        let outcome = match acted {
            Acted::Unchanged => "nothing changed: the deletion was scheduled already".to_owned(),
            _ if tenant.lifecycle == Lifecycle::Deleted => "tenant deleted".to_owned(),
            _ => format!(
                "deletion scheduled for {}",
                tenant
                    .deletion_due_at
                    .map_or_else(|| "?".into(), |at| at.to_rfc3339())
            ),
        };
        (StatusCode::ACCEPTED, outcome)
    })
    .await
}

/// Cancel a tenant's admin deletions that are not carried out yet.
#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{id}/deletion",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body(content = Option<DeletionCancel>, description = "Optional: why the deletion is cancelled"),
    responses(
        (status = 200, description = "Admin deletions cancelled: the tenant is what commerce's events alone make it", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "No admin deletion is pending, or it was carried out already (final)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: cancel a deletion", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn cancel_deletion(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let id = tenant_id(&req)?;
    let body: DeletionCancel = json_body(&req, payload, true).await?;
    let reason = match body.reason.as_deref() {
        Some(r) => String::from(field("reason", FreeText::try_from(r))?),
        None => "no reason given".to_owned(),
    };
    let action = AdminAction::CancelDeletion { reason };
    tenant_action(&state, &req, id, &action, &who, |_, tenant| {
        (
            StatusCode::OK,
            format!("deletion cancelled; tenant is {}", tenant.state),
        )
    })
    .await
}

/// Place a legal hold on a tenant.
#[utoipa::path(
    put,
    path = "/admin/v1/tenants/{id}/hold",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body = HoldRequest,
    responses(
        (status = 200, description = "The hold stands: no deletion of the tenant is carried out until it is lifted (timers wait, admin deletion requests answer 409)", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "A hold stands already (`legal_hold`; lift it to place another), or the tenant is DELETED (`already_deleted`)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: place a legal hold", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn place_hold(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let place = |reason| AdminAction::PlaceHold { reason };
    hold_change(&state, &req, payload, place, |tenant| {
        format!("legal hold placed; tenant is {}", tenant.state)
    })
    .await
}

/// Lift a tenant's legal hold.
#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{id}/hold",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body = HoldRequest,
    responses(
        (status = 200, description = "The hold is lifted; a deletion that fell due while it stood is carried out at once (the tenant answered is DELETED then)", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "No hold stands (`no_hold`), or the tenant is DELETED (`already_deleted`)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: lift a legal hold", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn lift_hold(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let lift = |reason| AdminAction::LiftHold { reason };
    hold_change(&state, &req, payload, lift, |tenant| {
        if tenant.lifecycle == Lifecycle::Deleted {
            "legal hold lifted; the overdue deletion was carried out".to_owned()
        } else {
            format!("legal hold lifted; tenant is {}", tenant.state)
        }
    })
    .await
}

/// Places or lifts a hold: both take a required reason and answer 200 with the tenant.
async fn hold_change(
    state: &AdminState,
    req: &HttpRequest,
    payload: web::Payload,
    action: impl FnOnce(String) -> AdminAction,
    outcome: impl FnOnce(&TenantSnapshot) -> String,
) -> Result<Reply, ApiError> {
    let who = caller(req)?;
    let id = tenant_id(req)?;
    let body: HoldRequest = json_body(req, payload, false).await?;
    let reason = field("reason", FreeText::try_from(body.reason.as_str()))?;
    let action = action(reason.into());
    tenant_action(state, req, id, &action, &who, |_, tenant| {
        (StatusCode::OK, outcome(tenant))
    })
    .await
}

/// An admin action on a tenant, in one transaction: the token spent, the action recorded in
/// the tenant's history and judged by the lifecycle rules, and the audit row. Every admin
/// action, refused and repeated ones included, stays in the tenant's history with who, why
/// and its outcome (CONTRACT.md section 7): a refusal is a 409 that says why, and is
/// committed too. `done` says how an accepted action is answered.
async fn tenant_action(
    state: &AdminState,
    req: &HttpRequest,
    id: TenantId,
    action: &AdminAction,
    who: &Principal,
    done: impl FnOnce(&Acted, &TenantSnapshot) -> (StatusCode, String),
) -> Result<Reply, ApiError> {
    let mut tx = begin_write(state).await?;
    if tenants::load_many(&mut *tx, &[id]).await?.is_empty() {
        return Err(not_found(id));
    }
    let acted = act(&mut tx, id, &who.subject, action, Utc::now(), &state.rules).await?;
    let row = tenants::load_many(&mut *tx, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| not_found(id))?;
    let tenant = TenantSnapshot::new(row, &state.rules.base);
    let answer = match acted {
        Acted::Refused(message) => {
            let held = tenant.legal_hold.is_some();
            let code = match (tenant.lifecycle == Lifecycle::Deleted, action) {
                (true, _) => Code::AlreadyDeleted,
                (false, AdminAction::RequestDeletion { .. }) if held => Code::LegalHold,
                (false, AdminAction::RequestDeletion { .. }) => Code::ForceRequired,
                (false, AdminAction::CancelDeletion { .. }) => Code::NothingToCancel,
                (false, AdminAction::PlaceHold { .. }) => Code::LegalHold,
                (false, AdminAction::LiftHold { .. }) => Code::NoHold,
            };
            Err(ApiError::new(code, message))
        }
        acted => {
            let (status, outcome) = done(&acted, &tenant);
            Ok(tenant_reply(status, tenant, outcome))
        }
    };
    commit_write(tx, req, answer).await
}

fn tenant_reply(status: StatusCode, tenant: TenantSnapshot, outcome: String) -> Reply {
    Reply {
        status,
        body: json_text(&TenantView {
            tenant,
            explanation: None,
            history: None,
        }),
        outcome,
    }
}

/// The receipt of a tenant's deletion.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{id}/deletion-receipt",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The receipt written when the deletion was carried out: when, what caused it and who, what was purged (sites by SHA-256 only), and a digest of the history before the purge", body = DeletionReceipt),
        (status = 400, description = "A non-UUID id", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant, a tenant not deleted, or one deleted before receipts were kept; the message says which", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: read a deletion receipt", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn deletion_receipt(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<Reply, ApiError> {
    let id = tenant_id(&req)?;
    if let Some(receipt) = receipts::get(&state.db, id).await? {
        return Ok(Reply {
            status: StatusCode::OK,
            body: json_text(&receipt),
            outcome: "read".into(),
        });
    }
    let tenant = snapshot(&state, id).await?;
    Err(ApiError::not_found(
        if tenant.lifecycle == Lifecycle::Deleted {
            format!(
                "tenant {id} was deleted before deletion receipts were kept: its history (GET /admin/v1/tenants/{id}) still says when and why"
            )
        } else {
            format!(
                "tenant {id} is not deleted (it is {}): a receipt is written when its deletion is carried out",
                tenant.state
            )
        },
    ))
}

/// A tenant with its full history.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant with its full history in contract order, admin actions included; for an id with stored events but no tenant (none of its events created one), an EventsOnlyView with `state: null`", body = TenantView),
        (status = 400, description = "A non-UUID id", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "No tenant and no event under this id", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: read a tenant", skip_all, fields(tenant_id = %crate::http::path_id(&req)))]
pub async fn tenant(state: web::Data<AdminState>, req: HttpRequest) -> Result<Reply, ApiError> {
    let id = tenant_id(&req)?;
    let Some(row) = tenants::get(&state.db, id).await? else {
        return events_only(&state, id).await;
    };
    let tenant = TenantSnapshot::new(row, &state.rules.base);
    let (history, explanation) = tokio::try_join!(
        events::history(&state.db, id),
        history::explain_now(&state.db, &tenant, state.rules.grace),
    )?;
    Ok(Reply {
        status: StatusCode::OK,
        body: json_text(&TenantView {
            tenant,
            explanation: Some(explanation),
            history: Some(history),
        }),
        outcome: "read".into(),
    })
}

/// An id with stored events but no tenant: the events, each with its judgement; 404 when the
/// catalog holds nothing at all under the id.
async fn events_only(state: &AdminState, id: TenantId) -> Result<Reply, ApiError> {
    let history = events::history(&state.db, id).await?;
    if history.is_empty() {
        return Err(not_found(id));
    }
    Ok(Reply {
        status: StatusCode::OK,
        body: json_text(&views::EventsOnlyView {
            id,
            state: None,
            serving: false,
            summary: history::never_created(id, &history),
            history,
        }),
        outcome: "read".into(),
    })
}
