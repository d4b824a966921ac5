//! The operational HTTP surface of `serve`: `/healthz`, `/readyz`, `/metrics` (CONTRACT.md
//! section 2).

use crate::catalog::Db;
use crate::error::Code;
use crate::health::Health;
use crate::metrics::Metrics;
use actix_web::{HttpResponse, web};
use serde_json::json;

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

#[tracing::instrument(name = "healthz", skip_all)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

#[tracing::instrument(name = "readyz", skip_all)]
async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    // A server that takes no writes (a standby after a failover went wrong, or one set
    // read-only) is not ready either: events would wait unacknowledged behind it.
    let database = match sqlx::query_scalar::<_, bool>(
        "select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off'",
    )
    .fetch_one(&state.db)
    .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err((
            "read-only",
            "database read-only: the catalog database takes no writes (a standby, or a server set read-only); events wait unacknowledged until a primary answers".to_owned(),
        )),
        Err(error) => {
            // The cause is for the operator's log; callers of /readyz get no SQL or addresses.
            tracing::warn!(%error, "The readiness check could not reach the database.");
            Err(("down", "database unreachable: the catalog database does not answer (the log has the cause)".to_owned()))
        }
    };
    let broker = if state.health.consuming() {
        Ok(())
    } else {
        Err((
            "down",
            "broker unreachable: the lifecycle consumer is not consuming".to_owned(),
        ))
    };
    let status =
        |r: &Result<(), (&str, String)>| r.as_ref().err().map_or("up", |(s, _)| *s).to_owned();
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
        .map(|(_, why)| why)
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

#[tracing::instrument(name = "metrics", skip_all)]
async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
