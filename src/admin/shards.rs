//! Shards: declaring one, and listing all with their fill.

use super::AdminState;
use super::access::{begin_write, caller};
use super::audit::{Reply, record};
use super::input::{field, json_body, json_text, path_id};
use super::views::{self, ShardList, ShardRequest, ShardView};
use crate::catalog::shards::{self, Declared, ShardSpec};
use crate::catalog::{Doing, tenants};
use crate::domain::{Capacity, Endpoint, ShardId, ShardStatus};
use crate::error::{ApiError, Code};
use crate::scheduler;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

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
pub async fn put_shard(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Reply, ApiError> {
    let who = caller(&req)?;
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
    let mut tx = begin_write(&state, &who).await?;
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
pub async fn list_shards(state: web::Data<AdminState>) -> Result<Reply, ApiError> {
    let rows = shards::list(&state.db, None).await?;
    let waiting = tenants::count_waiting(&state.db).await?;
    Ok(Reply {
        status: StatusCode::OK,
        outcome: "read".into(),
        body: json_text(&ShardList {
            shards: rows.into_iter().map(ShardView::from).collect(),
            waiting,
        }),
    })
}
