//! The operational HTTP surface: `/healthz`, `/readyz`, `/metrics` (CONTRACT.md section 2).
//! Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.

use crate::catalog::Db;
use crate::error::{ApiError, Code};
use crate::health::Health;
use crate::metrics::Metrics;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError, web};
use prometheus::HistogramVec;
use serde_json::json;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub db: Db,
    pub health: Health,
    pub metrics: Metrics,
    /// Tokens signed with the development key are trusted (no AUTH_PUBLIC_KEYS_DIR): shown in
    /// `/readyz`, so that a production deployment that forgot its keys is seen at once.
    pub trusts_dev_key: bool,
}

/// Registers the operational routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it sent a sensible one (up to 64 visible ASCII characters),
/// else a new one: echoed in the response and logged, so one request can be followed from the
/// caller's logs to ours. New ids are this process's random prefix and a counter: unique, and
/// cheap on the lookup hot path (no random numbers drawn per request).
pub fn request_id(req: &ServiceRequest) -> HeaderValue {
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static NEXT: AtomicU64 = AtomicU64::new(1);
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            HeaderValue::from_str(&format!("{}-{n:x}", *PREFIX))
                .unwrap_or_else(|_| HeaderValue::from_static("-"))
        })
}

/// Records a request's latency under its route pattern (never the raw path, so the label set
/// stays small).
pub fn observe<B>(
    histogram: &HistogramVec,
    response: &ServiceResponse<B>,
    took: std::time::Duration,
) {
    let route = response.request().match_pattern();
    let status = match response.status().as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    histogram
        .with_label_values(&[
            route.as_deref().unwrap_or("unmatched"),
            response.request().method().as_str(),
            status,
        ])
        .observe(took.as_secs_f64());
}

/// The request's `Authorization` header, if it sent one. Two or more are refused with a 400:
/// a proxy that checks one and a server that uses another would disagree about who asks.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut all = headers.get_all(AUTHORIZATION);
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(ApiError::bad_request(
            "send one Authorization header, not several",
        ));
    }
    first.to_str().map(Some).map_err(|_| {
        ApiError::new(
            Code::Unauthenticated,
            "the Authorization header is not ASCII text: send `Authorization: Bearer <token>`",
        )
    })
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is over {} KiB", .0 / 1024)]
    TooLarge(usize),
    #[error("the request body could not be read")]
    Unreadable,
}

/// Reads a request body of at most `limit` bytes. Read by hand rather than by an extractor,
/// so that the token is checked first and a refusal gets the contract's JSON error body.
pub async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, BodyError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_) => Err(BodyError::TooLarge(limit)),
    }
}

/// Answers unknown paths with the JSON error body rather than an empty 404.
pub async fn not_found() -> HttpResponse {
    ApiError::not_found("no such endpoint").error_response()
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    let database = match sqlx::query_scalar::<_, i32>("select 1")
        .fetch_one(&state.db)
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            // The cause is for the operator's log; callers of /readyz get no SQL or addresses.
            tracing::warn!(%error, "The readiness check could not reach the database.");
            Err("database unreachable: the catalog database does not answer (the log has the cause)".to_owned())
        }
    };
    let broker = if state.health.consuming() {
        Ok(())
    } else {
        Err("broker unreachable: the lifecycle consumer is not consuming".to_owned())
    };
    let status = |r: &Result<(), String>| if r.is_ok() { "up" } else { "down" };
    let checks = json!({"database": status(&database), "broker": status(&broker)});
    let auth = if state.trusts_dev_key {
        "development key: tokens signed with AUTH_SIGNING_KEY are trusted (set AUTH_PUBLIC_KEYS_DIR and AUTH_DEV_KEY=false in production)"
    } else {
        "public keys from AUTH_PUBLIC_KEYS_DIR"
    };
    let details = json!({"auth": auth});
    let problems: Vec<String> = [database, broker]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if problems.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks, "details": details}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "error": {"code": Code::NotReady.as_str(), "message": problems.join("; ")},
            "checks": checks,
            "details": details,
        }))
    }
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
