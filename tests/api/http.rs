//! The operational HTTP surface.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["broker"], "up");

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for name in [
        "tenant_catalog_events_received_total",
        "tenant_catalog_events_total{outcome=\"applied\"}",
        "tenant_catalog_events_total{outcome=\"dead_lettered\"}",
        "tenant_catalog_timers_fired_total",
        "tenant_catalog_consumer_lag",
    ] {
        assert!(text.contains(name), "metrics lack {name}");
    }
}

#[tokio::test]
async fn an_unknown_path_gets_the_json_error_body() {
    let app = spawn_app().await;
    let r = app.get("/nope").await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn readiness_reports_a_database_that_went_away_and_no_event_is_lost_meanwhile() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    // Cut this catalog's database connections off the way a server restart would.
    let name = app.database_name();
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let allow = |yes: bool| {
        sqlx::AssertSqlSafe(format!(
            "alter database \"{name}\" with allow_connections {yes}"
        ))
    };
    sqlx::query(allow(false)).execute(&admin).await.unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    let status = app
        .wait_for(15, "readyz to say 503", || async {
            let r = app.get("/readyz").await;
            (r.status() == 503).then_some(r)
        })
        .await;
    let body: Value = status.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "down");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database")
    );

    // An event that arrives while the database is away waits in the queue, unacknowledged.
    app.publish(&c.trial(days_ago(1), "patient", "us")).await;
    // Received and tried more often than a data error is before it is refused.
    app.wait_metric("tenant_catalog_store_retries_total", 4.0)
        .await;
    assert!(
        app.dead_letters().await.is_empty(),
        "nothing is dead-lettered while the database is away"
    );

    sqlx::query(allow(true)).execute(&admin).await.unwrap();
    app.wait_for(15, "readyz to recover", || async {
        (app.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
    app.wait_tenant(&c.tenant_id, "the waiting event applied", |t| {
        t.state == "TRIAL"
    })
    .await;
}

#[tokio::test]
async fn the_consumer_reconnects_by_itself_when_the_broker_drops_it() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let closed = app
        .close_broker_connections("tenant-catalog consumer")
        .await;
    assert!(
        closed >= 1,
        "the consumer's connection was found and closed"
    );
    app.publish(&c.trial(days_ago(1), "reconnected", "us"))
        .await;
    app.wait_tenant(&c.tenant_id, "applied after the reconnect", |t| {
        t.state == "TRIAL"
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn requests_carry_an_id_and_their_latency_is_measured_by_route() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let given = client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "caller-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "caller-42");
    let made = app.get("/healthz").await;
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    let again = app.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !id.is_empty() && id != again,
        "a new id each time: {id}, {again}"
    );
    app.get(&format!("/admin/v1/tenants/{}", uuid::Uuid::new_v4()))
        .await;

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let count = |route: &str, status: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("tenant_catalog_http_request_duration_seconds_count{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(count("/healthz", "2xx"), Some(3), "{metrics}");
    assert_eq!(
        count("/admin/v1/tenants/{id}", "4xx"),
        Some(1),
        "by pattern, not by raw path"
    );
    assert!(
        metrics.contains("tenant_catalog_scheduler_lag_seconds 0"),
        "{metrics}"
    );
}
