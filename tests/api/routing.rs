//! The routing cache: every `serve` instance sees a committed change within the staleness
//! bound, and never answers from a cache whose notifications were cut.

use crate::helpers::*;
use serde_json::json;
use std::time::{Duration, Instant};

const ROUTE: &str = "query($id: ID) { route(tenantId: $id) { state serving } }";
/// The documented bound from commit to every instance answering the new state.
const STALENESS_BOUND: Duration = Duration::from_secs(1);

async fn serving(app: &TestApp, id: &str) -> Option<bool> {
    app.query(ROUTE, json!({"id": id})).await["route"]["serving"].as_bool()
}

async fn cache_hits(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("tenant_catalog_route_cache_lookups_total{result=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Suspends the tenant, waits for the commit, and returns when it was seen committed.
async fn suspend_and_wait_commit(app: &TestApp, c: &mut Commerce) -> Instant {
    app.publish(&c.event(
        "subscription.suspended",
        days_ago(0),
        json!({"reason": "overdue"}),
    ))
    .await;
    app.wait_for(10, "the suspension to commit", || async {
        app.tenant(&c.tenant_id)
            .await
            .filter(|t| t.state == "SUSPENDED")
            .map(|_| Instant::now())
    })
    .await
}

/// Polls `app` until the tenant is no longer served; how long that took after `committed`.
async fn time_to_see_suspension(app: &TestApp, id: &str, committed: Instant) -> Duration {
    app.wait_for(5, "the instance to answer the new state", || async {
        (serving(app, id).await == Some(false)).then(|| committed.elapsed())
    })
    .await
}

#[tokio::test]
async fn a_change_is_seen_by_every_instance_within_the_staleness_bound() {
    let a = spawn_app().await;
    let b = spawn_second(&a).await;
    let mut c = Commerce::new();
    a.publish(&c.trial(days_ago(1), &unique_site("stale"), "us"))
        .await;
    a.wait_tenant(&c.tenant_id, "TRIAL", |t| t.state == "TRIAL")
        .await;
    for app in [&a, &b] {
        app.wait_for(5, "the route cache to be live", || async {
            let hits = cache_hits(app).await;
            assert_eq!(serving(app, &c.tenant_id).await, Some(true));
            (cache_hits(app).await > hits).then_some(())
        })
        .await;
        let before = cache_hits(app).await;
        assert_eq!(serving(app, &c.tenant_id).await, Some(true));
        assert!(cache_hits(app).await > before, "answered from the cache");
    }

    let committed = suspend_and_wait_commit(&a, &mut c).await;
    for (name, app) in [("a", &a), ("b", &b)] {
        let took = time_to_see_suspension(app, &c.tenant_id, committed).await;
        assert!(took < STALENESS_BOUND, "instance {name} took {took:?}");
    }
}

#[tokio::test]
async fn a_cache_whose_notifications_were_cut_never_answers_stale() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    app.publish(&c.trial(days_ago(1), &unique_site("cut"), "us"))
        .await;
    app.wait_tenant(&c.tenant_id, "TRIAL", |t| t.state == "TRIAL")
        .await;
    app.wait_for(5, "the route to be cached", || async {
        let hits = cache_hits(&app).await;
        serving(&app, &c.tenant_id).await;
        (cache_hits(&app).await > hits).then_some(())
    })
    .await;

    // Cut the listener's connection, as a PostgreSQL restart or a network fault would.
    let db = app.database_name();
    let cut: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query like 'LISTEN%'",
    )
    .bind(&db)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(cut, [true], "the listener's connection was found and cut");

    let committed = suspend_and_wait_commit(&app, &mut c).await;
    let took = time_to_see_suspension(&app, &c.tenant_id, committed).await;
    assert!(took < STALENESS_BOUND, "took {took:?}");
    app.wait_for(10, "the cache to be live again", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.contains("tenant_catalog_route_cache_live 1")
            .then_some(())
    })
    .await;
}
