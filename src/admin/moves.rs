//! Moves: starting one, reading it, and the data plane's advance and cancel (CONTRACT.md
//! section 7). Each write is one transaction: the token spent, the step (see `moves`) and its
//! audit row.

use super::AdminState;
use super::access::{begin_write, caller, commit_write};
use super::input::{bounded, field, json_body, json_text, path_id, query, tenant_id};
use super::reply::Reply;
use super::views::{self, MoveAdvance, MoveCancel, MoveList, MoveRequest, MoveView};
use crate::apply::moving;
use crate::auth::Principal;
use crate::catalog::moves::{self as moves_store, Move};
use crate::catalog::{Doing, StoreError, Tx, tenants};
use crate::domain::{FreeText, InvalidValue, MoveId, MoveOrigin, MovePhase, RouteStatus, ShardId};
use crate::error::{ApiError, Code};
use crate::moves::{self, Refusal, Stepped};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chrono::{Duration, Utc};

/// Longest deadline a move may be given: 30 days.
const MAX_DEADLINE_SECONDS: i64 = 30 * 24 * 3600;

fn move_id(req: &HttpRequest) -> Result<MoveId, ApiError> {
    path_id(req)
        .parse::<MoveId>()
        .map_err(|e| ApiError::bad_request(format!("in the path: {e}")))
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::NotFound(m) => ApiError::not_found(m),
        Refusal::Conflict(m) => ApiError::new(Code::MoveConflict, m),
    }
}

/// The move as answered, with its tenant's routing now.
async fn view(tx: &mut Tx, m: Move) -> Result<MoveView, StoreError> {
    let routing = tenants::load_many(&mut **tx, &[m.tenant_id])
        .await?
        .remove(&m.tenant_id)
        .map_or((0, RouteStatus::Online), |row| {
            (row.epoch, row.route_status)
        });
    Ok(MoveView::new(m, routing.0, routing.1))
}

/// Move a tenant to another shard.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{id}/moves",
    tag = "moves",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body = MoveRequest,
    responses(
        (status = 202, description = "Move started (phase `copying`): the target's slot is taken, the route is MOVING under a new epoch; the data plane advances it", body = MoveView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id, a bad shard id, an empty reason or a deadline out of range", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant or shard", body = views::ErrorBody),
        (status = 409, description = "The target's region is not allowed by the residency, the target is full or draining, the tenant is on it already, is not placed or is deleted, or a move of the tenant is already running", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: start a move", skip_all)]
pub async fn start_move(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let tenant = tenant_id(&req)?;
    let body: MoveRequest = json_body(&req, payload, false).await?;
    let to = field("to_shard", ShardId::try_from(body.to_shard.as_str()))?;
    let reason = field("reason", FreeText::try_from(body.reason.as_str()))?;
    let deadline = body
        .deadline_seconds
        .map(|s| {
            field(
                "deadline_seconds",
                if (1..=MAX_DEADLINE_SECONDS).contains(&s) {
                    Ok(Utc::now() + Duration::seconds(s))
                } else {
                    Err(InvalidValue(format!(
                        "must be 1 to {MAX_DEADLINE_SECONDS} seconds, got {s}"
                    )))
                },
            )
        })
        .transpose()?;
    let request = moves::Request {
        tenant,
        to,
        reason: reason.into(),
        by: who.subject.clone(),
        origin: MoveOrigin::Admin,
        deadline,
    };
    write(
        &state,
        &req,
        &who,
        StatusCode::ACCEPTED,
        Step::Start(request),
    )
    .await
}

/// A move.
#[utoipa::path(
    get,
    path = "/admin/v1/moves/{id}",
    tag = "moves",
    params(("id" = uuid::Uuid, Path, description = "The move's id")),
    responses(
        (status = 200, description = "The move, with its tenant's routing epoch and status now", body = MoveView),
        (status = 400, description = "A non-UUID id", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown move", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: read a move", skip_all, fields(move_id = %crate::http::path_id(&req)))]
pub async fn get_move(state: web::Data<AdminState>, req: HttpRequest) -> Result<Reply, ApiError> {
    let id = move_id(&req)?;
    let mut tx = state
        .db
        .begin()
        .await
        .doing(|| "starting to read a move".into())?;
    let m = moves_store::get(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no move {id}")))?;
    let body = view(&mut tx, m).await?;
    tx.rollback().await.doing(|| "ending a read".into())?;
    Ok(Reply {
        status: StatusCode::OK,
        outcome: "read".into(),
        body: json_text(&body),
    })
}

/// The data plane finished its step: advance the move.
#[utoipa::path(
    post,
    path = "/admin/v1/moves/{id}/advance",
    tag = "moves",
    params(("id" = uuid::Uuid, Path, description = "The move's id")),
    request_body(content = Option<MoveAdvance>, description = "Optional: the phase to advance to, which makes a retry safe"),
    responses(
        (status = 200, description = "Advanced: `cutover` (route READ_ONLY on the source) or `done` (route ONLINE on the target, the source's slot freed), each under a new epoch; or already in the phase asked for", body = MoveView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an unknown phase", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown move", body = views::ErrorBody),
        (status = 409, description = "The move is done or cancelled, the phase asked for is not the next one, or the tenant was deleted (the move is then cancelled)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: advance a move", skip_all, fields(move_id = %crate::http::path_id(&req)))]
pub async fn advance_move(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let id = move_id(&req)?;
    let body: MoveAdvance = json_body(&req, payload, true).await?;
    let wanted: Option<MovePhase> = body
        .phase
        .as_deref()
        .map(|p| field("phase", p.parse()))
        .transpose()?;
    write(
        &state,
        &req,
        &who,
        StatusCode::OK,
        Step::Advance(id, wanted),
    )
    .await
}

/// Cancel a move before it is done.
#[utoipa::path(
    post,
    path = "/admin/v1/moves/{id}/cancel",
    tag = "moves",
    params(("id" = uuid::Uuid, Path, description = "The move's id")),
    request_body(content = Option<MoveCancel>, description = "Optional: why the move is cancelled"),
    responses(
        (status = 200, description = "Cancelled: the tenant stays on the source, ONLINE under a new epoch; the target's slot is freed", body = MoveView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown move", body = views::ErrorBody),
        (status = 409, description = "The move is done (move the tenant back with a new move) or cancelled already", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: cancel a move", skip_all, fields(move_id = %crate::http::path_id(&req)))]
pub async fn cancel_move(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let id = move_id(&req)?;
    let body: MoveCancel = json_body(&req, payload, true).await?;
    let reason = match body.reason.as_deref() {
        Some(r) => String::from(field("reason", FreeText::try_from(r))?),
        None => "no reason given".to_owned(),
    };
    write(&state, &req, &who, StatusCode::OK, Step::Cancel(id, reason)).await
}

/// A step an admin (or the data plane) asks for.
enum Step {
    Start(moves::Request),
    Advance(MoveId, Option<MovePhase>),
    Cancel(MoveId, String),
}

/// A move step in one transaction: the token spent, the step, and the audit row. A refusal is
/// committed too (the tenant's history keeps it) and answered with what to do.
async fn write(
    state: &AdminState,
    req: &HttpRequest,
    who: &Principal,
    status: StatusCode,
    step: Step,
) -> Result<Reply, ApiError> {
    let mut tx = begin_write(state).await?;
    let (now, base, by) = (Utc::now(), &state.rules, who.subject.as_str());
    let stepped: Result<Stepped, Refusal> = match step {
        Step::Start(request) => moving::start(&mut tx, &request, now, base).await?,
        Step::Advance(id, wanted) => moving::advance(&mut tx, id, wanted, by, now, base).await?,
        Step::Cancel(id, reason) => moving::cancel(&mut tx, id, by, &reason, now, base).await?,
    };
    let answer = match stepped {
        Ok(stepped) => {
            if stepped.changed {
                state.metrics.moves.stepped(stepped.moved.phase, 1);
            }
            let outcome = if stepped.changed {
                format!(
                    "move {} of tenant {} is {} ({} to {})",
                    stepped.moved.id,
                    stepped.moved.tenant_id,
                    stepped.moved.phase,
                    stepped.moved.from,
                    stepped.moved.to
                )
            } else {
                format!(
                    "nothing changed: move {} is {} already",
                    stepped.moved.id, stepped.moved.phase
                )
            };
            let body = view(&mut tx, stepped.moved).await?;
            Ok(Reply {
                status,
                outcome,
                body: json_text(&body),
            })
        }
        Err(refusal) => Err(refused(refusal)),
    };
    commit_write(tx, req, answer).await
}

/// The query of `GET /admin/v1/moves`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MoveQuery {
    /// Only moves out of this shard.
    pub from_shard: Option<String>,
    /// Only running moves (`copying` or `cutover`); default false.
    pub running: Option<bool>,
    /// At most this many, newest first: 1 to 1000, default 100.
    pub limit: Option<i64>,
}

/// Moves, newest first: what a data plane polls for the moves it has to carry out.
#[utoipa::path(
    get,
    path = "/admin/v1/moves",
    tag = "moves",
    params(MoveQuery),
    responses(
        (status = 200, description = "Moves, newest first", body = MoveList),
        (status = 400, description = "A bad shard id, an unknown parameter or a limit out of range", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: list moves", skip_all)]
pub async fn list_moves(state: web::Data<AdminState>, req: HttpRequest) -> Result<Reply, ApiError> {
    let q: MoveQuery = query(&req)?;
    let from = q
        .from_shard
        .as_deref()
        .map(|s| field("from_shard", ShardId::try_from(s)))
        .transpose()?;
    let limit = bounded("limit", q.limit.unwrap_or(100), 1, 1000)?;
    let found =
        moves_store::list(&state.db, from.as_ref(), q.running.unwrap_or(false), limit).await?;
    let ids: Vec<_> = found.iter().map(|m| m.tenant_id).collect();
    let rows = tenants::load_many(&state.db, &ids).await?;
    let moves = found
        .into_iter()
        .map(|m| {
            let (epoch, status) = rows
                .get(&m.tenant_id)
                .map_or((0, RouteStatus::Online), |r| (r.epoch, r.route_status));
            MoveView::new(m, epoch, status)
        })
        .collect();
    Ok(Reply {
        status: StatusCode::OK,
        outcome: "read".into(),
        body: json_text(&MoveList { moves }),
    })
}
