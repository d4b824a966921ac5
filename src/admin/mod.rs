//! The admin API (CONTRACT.md sections 6 and 7) under `/admin/v1`: deletions, moves and shards,
//! for tokens with scope `admin`.
//!
//! [`access::gate`], wrapped once around the whole scope, checks the token before any routing
//! and audits every request that has a valid one (who, what, the outcome) to the log and to
//! the `admin_audit` table; a write and its audit row commit in one transaction. A token may
//! be used for one write only: its `jti` is remembered until it expires, so a captured request
//! cannot be replayed.

mod access;
mod audit;
mod input;
mod moves;
mod openapi;
mod rebalance;
mod reply;
mod shards;
mod tenants;
mod views;

pub use openapi::{ApiDoc, openapi_json};
pub use views::{
    DeletionCancel, DeletionRequest, MoveAdvance, MoveCancel, MoveRequest, MoveView, ShardList,
    ShardRequest, ShardView, TenantView,
};

use crate::auth::Verifier;
use crate::catalog::Db;
use crate::domain::Rules;
use crate::error::{ApiError, Code};
use crate::metrics::Metrics;
use crate::moves::MoveMetrics;
use crate::scheduler::Scheduler;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, web};
use prometheus::IntCounterVec;
use reply::Reply;

/// Largest admin request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared state of the admin handlers.
#[derive(Clone)]
pub struct AdminState {
    pub db: Db,
    pub verifier: Verifier,
    pub rules: Rules,
    /// Places waiting tenants at once when a shard gets room.
    pub scheduler: Scheduler,
    pub metrics: AdminMetrics,
}

/// What the admin API counts.
#[derive(Clone)]
pub struct AdminMetrics {
    /// Requests refused before routing, by reason: unauthenticated (no valid token),
    /// bad_request (two Authorization headers).
    pub refused: IntCounterVec,
    pub moves: MoveMetrics,
}

impl AdminMetrics {
    pub fn new(m: &Metrics, moves: MoveMetrics) -> Self {
        AdminMetrics {
            refused: m.counters(
                "tenant_catalog_admin_refused_total",
                "Admin requests refused before routing (logged, never written to the audit table), by reason.",
                "reason",
                &["unauthenticated", "bad_request"],
            ),
            moves,
        }
    }
}

/// Registers `/admin/v1/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .wrap(from_fn(access::gate))
            .service(
                web::resource("/tenants/{id}/deletion")
                    .route(web::post().to(tenants::request_deletion))
                    .route(web::delete().to(tenants::cancel_deletion))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/tenants/{id}/deletion-receipt")
                    .route(web::get().to(tenants::deletion_receipt))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/tenants/{id}/hold")
                    .route(web::put().to(tenants::place_hold))
                    .route(web::delete().to(tenants::lift_hold))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/tenants/{id}/moves")
                    .route(web::post().to(moves::start_move))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/moves/{id}/advance")
                    .route(web::post().to(moves::advance_move))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/moves/{id}/cancel")
                    .route(web::post().to(moves::cancel_move))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/moves")
                    .route(web::get().to(moves::list_moves))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/rebalance")
                    .route(web::get().to(rebalance::rebalance))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/shards/{id}/drain")
                    .route(web::post().to(shards::drain_shard))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/moves/{id}")
                    .route(web::get().to(moves::get_move))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/tenants/{id}")
                    .route(web::get().to(tenants::tenant))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/shards/{id}")
                    .route(web::put().to(shards::put_shard))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/shards")
                    .route(web::get().to(shards::list_shards))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(openapi_document))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(no_such_endpoint)),
    );
}

/// This document.
#[utoipa::path(
    get,
    path = "/admin/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This document"),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: the OpenAPI document", skip_all)]
pub async fn openapi_document() -> Result<Reply, ApiError> {
    Ok(Reply {
        status: StatusCode::OK,
        body: openapi_json(),
        outcome: "read".into(),
    })
}

/// A known path with a method it does not take.
#[tracing::instrument(name = "admin: method not allowed", skip_all)]
async fn method_not_allowed() -> Result<Reply, ApiError> {
    Err(ApiError::new(
        Code::MethodNotAllowed,
        "this method is not allowed here; see /admin/v1/openapi.json",
    ))
}

/// An unknown path under `/admin/v1` (answered only to callers with an admin token).
#[tracing::instrument(name = "admin: no such endpoint", skip_all)]
async fn no_such_endpoint(req: HttpRequest) -> Result<Reply, ApiError> {
    Err(ApiError::not_found(format!(
        "no admin endpoint {} {}; see /admin/v1/openapi.json",
        req.method(),
        req.path()
    )))
}
