//! Shards: declaring one, and listing all with their fill.

use super::AdminState;
use super::access::{begin_write, caller, commit_write};
use super::audit::record;
use super::input::{field, json_body, json_text, path_id};
use super::reply::Reply;
use super::views::{self, DrainRequest, DrainView, ShardList, ShardRequest, ShardView};
use crate::catalog::shards::{self, Declared, ShardSpec};
use crate::catalog::{Doing, tenants};
use crate::catalog::{drains, moves};
use crate::domain::{Capacity, Endpoint, ShardId, ShardStatus};
use crate::error::{ApiError, Code};
use crate::scheduler;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

/// Moves out of a draining shard running at once, when the admin does not say.
const DEFAULT_DRAIN_BATCH: i32 = 10;

/// Create or update a shard.
#[utoipa::path(
    put,
    path = "/admin/v1/shards/{id}",
    tag = "shards",
    params(("id" = String, Path, description = "The shard's id: a-z, 0-9 and `-`, 1 to 63 characters")),
    request_body = ShardRequest,
    responses(
        (status = 201, description = "Shard created", body = ShardView),
        (status = 200, description = "Shard updated", body = ShardView),
        (status = 400, description = "Malformed JSON, unknown fields, a bad id, region, endpoint or status, a negative capacity", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 409, description = "Capacity below the shard's fill, or another region for an existing shard", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: declare a shard", skip_all, fields(shard = %crate::http::path_id(&req)))]
pub async fn put_shard(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let id = field("id", ShardId::try_from(path_id(&req)))?;
    let body: ShardRequest = json_body(&req, payload, false).await?;
    let region = field("region", body.region.parse())?;
    let endpoint = field("endpoint", Endpoint::try_from(body.endpoint.as_str()))?;
    let capacity = field("capacity", Capacity::try_from(body.capacity))?;
    let status = body
        .status
        .as_deref()
        .map(|s| field("status", s.parse()))
        .transpose()?;
    let mut tx = begin_write(&state).await?;
    let current_status = shards::status(&mut tx, &id).await?;
    let spec = ShardSpec {
        id,
        region,
        endpoint,
        capacity,
        status: status.or(current_status).unwrap_or(ShardStatus::Open),
    };
    let (http_status, verb, row) = match shards::declare(&mut tx, &spec).await? {
        Declared::Created(row) => (StatusCode::CREATED, "created", row),
        Declared::Updated(row) => (StatusCode::OK, "updated", row),
        Declared::Refused(message) => return Err(ApiError::new(Code::ShardConflict, message)),
    };
    // A shard opened again is not drained any more; moves already running go on.
    drains::forget_drain(&mut tx, &row.id).await?;
    let outcome = format!(
        "shard {} {verb}: capacity {}, status {}",
        row.id, row.capacity, row.status
    );
    record(&mut tx, &req, http_status, outcome.clone()).await?;
    tx.commit()
        .await
        .doing(|| format!("committing shard {}", spec.id))?;
    if row.has_room() {
        // Waiting tenants are placed now rather than at the next scheduler tick.
        let scheduler = state.scheduler.clone();
        tokio::spawn(async move {
            if let Err(error) = scheduler::place_waiting(&scheduler).await {
                tracing::warn!(%error, "Placing waiting tenants failed; the scheduler will try again.");
            }
        });
    }
    Ok(Reply {
        status: http_status,
        outcome,
        body: json_text(&ShardView::from(row)),
    })
}

/// All shards with their fill.
#[utoipa::path(
    get,
    path = "/admin/v1/shards",
    tag = "shards",
    responses(
        (status = 200, description = "All shards with their fill, by id", body = ShardList),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: list shards", skip_all)]
pub async fn list_shards(state: web::Data<AdminState>) -> Result<Reply, ApiError> {
    let rows = shards::list(&state.db, None).await?;
    let waiting = tenants::count_waiting(&state.db).await?;
    let running = moves::running_by_shard(&state.db).await?;
    let live = moves::live_tenants_by_shard(&state.db).await?;
    let drains = drains::drains(&state.db).await?;
    let shards = rows
        .into_iter()
        .map(|row| {
            let id = row.id.as_str().to_owned();
            let mut view = ShardView::from(row);
            (view.moving_out, view.moving_in) = running.get(&id).copied().unwrap_or((0, 0));
            view.drain = drains
                .iter()
                .find(|d| d.shard.as_str() == id)
                .map(|d| DrainView {
                    requested_at: d.requested_at,
                    requested_by: d.requested_by.clone(),
                    batch: d.batch,
                    remaining: live.get(&id).copied().unwrap_or(0),
                });
            view
        })
        .collect();
    Ok(Reply {
        status: StatusCode::OK,
        outcome: "read".into(),
        body: json_text(&ShardList { shards, waiting }),
    })
}

/// Drain a shard: it takes no new tenants, and its tenants are moved out.
#[utoipa::path(
    post,
    path = "/admin/v1/shards/{id}/drain",
    tag = "shards",
    params(("id" = String, Path, description = "The shard's id")),
    request_body(content = Option<DrainRequest>, description = "Optional: how many moves may run at once"),
    responses(
        (status = 202, description = "The shard is draining: the scheduler starts moves of its tenants, `batch` at a time, each to the shard placement would choose; the data plane advances them. Progress in GET /admin/v1/shards", body = ShardView),
        (status = 400, description = "Malformed JSON, unknown fields, a bad id or a batch out of range", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown shard", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: drain a shard", skip_all, fields(shard = %crate::http::path_id(&req)))]
pub async fn drain_shard(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
    let id = field("id", ShardId::try_from(path_id(&req)))?;
    let body: DrainRequest = json_body(&req, payload, true).await?;
    let batch = match body.batch {
        None => DEFAULT_DRAIN_BATCH,
        Some(b @ 1..=1000) => b as i32,
        Some(b) => {
            return Err(ApiError::bad_request(format!(
                "`batch`: must be 1 to 1000, got {b}"
            )));
        }
    };
    let mut tx = begin_write(&state).await?;
    let answer = match drains::request_drain(&mut tx, &id, &who.subject, batch).await? {
        None => Err(ApiError::not_found(format!(
            "no shard {id}: see GET /admin/v1/shards"
        ))),
        Some(drain) => {
            let row = shards::get(&mut tx, &id).await?;
            let mut view = row.map(ShardView::from);
            if let Some(v) = view.as_mut() {
                v.drain = Some(DrainView {
                    requested_at: drain.requested_at,
                    requested_by: drain.requested_by,
                    batch: drain.batch,
                    remaining: i64::from(v.tenants),
                });
            }
            Ok(Reply {
                status: StatusCode::ACCEPTED,
                outcome: format!("shard {id} draining, {batch} moves at a time"),
                body: json_text(&view),
            })
        }
    };
    commit_write(tx, &req, answer).await
}
