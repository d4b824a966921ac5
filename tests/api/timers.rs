//! Timed transitions: already past on arrival, and coming due while the service runs.

use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::json;
use std::time::Instant;

#[tokio::test]
async fn a_cancellation_already_effective_on_arrival_deactivates_at_once() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let effective = days_ago(5);
    app.publish(&c.trial(days_ago(10), "late", "de")).await;
    app.publish(&c.event(
        "subscription.cancelled",
        days_ago(9),
        json!({"effective_at": effective.to_rfc3339()}),
    ))
    .await;
    let t = app
        .wait_tenant(&c.tenant_id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;
    assert_eq!(
        t.deletion_due_at,
        Some(micros(effective) + Duration::days(15))
    );
    assert_eq!(
        t.next_timer_at, t.deletion_due_at,
        "the deletion timer is armed"
    );
}

#[tokio::test]
async fn a_deletion_already_due_on_arrival_deletes_and_frees_the_slot() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    app.publish(&c.trial(days_ago(30), "gone", "ie")).await;
    app.publish(&c.event(
        "subscription.cancelled",
        days_ago(29),
        json!({"effective_at": days_ago(20).to_rfc3339()}),
    ))
    .await;
    let t = app
        .wait_tenant(&c.tenant_id, "DELETED", |t| t.state == "DELETED")
        .await;
    // Due 15 days after the end of the paid period; carried out when the news of it was
    // stored (no grace in these tests), not on the past date.
    let stored = app.history(&c.tenant_id).await;
    let cancelled = stored
        .iter()
        .find(|e| e.event_type == "subscription.cancelled")
        .expect("stored");
    assert_eq!(t.deleted_at, Some(cancelled.received_at));
    let due = t.deletion_due_at.expect("due date kept");
    assert!(
        (due - (Utc::now() - Duration::days(5))).num_seconds().abs() < 60,
        "due {due}"
    );
    let used: i32 = sqlx::query_scalar("select tenant_count from shards where id = 'eu-west-1-1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(used, 0);

    // A deletion carried out is final: a late reactivation changes nothing.
    app.publish(&c.event(
        "subscription.reactivated",
        days_ago(1),
        json!({"current_period_end": (Utc::now() + Duration::days(30)).to_rfc3339()}),
    ))
    .await;
    app.wait_events_stored(3).await;
    let after = app.tenant(&c.tenant_id).await.expect("tenant");
    assert_eq!(
        (after.state.as_str(), after.version),
        ("DELETED", t.version)
    );
    let h = app.history(&c.tenant_id).await;
    assert!(
        h[2].reason
            .as_deref()
            .unwrap_or_default()
            .contains("DELETED"),
        "{h:?}"
    );
}

#[tokio::test]
async fn timers_fire_within_five_seconds_while_the_service_runs() {
    let app = spawn_app().await;
    let mut feed = app.listen_changes().await;
    let mut c = Commerce::new();
    let effective = Utc::now() + Duration::seconds(2);
    app.publish(&c.trial(Utc::now() - Duration::hours(1), "soon", "us"))
        .await;
    // Stored before the next event is sent: two events in one batch make one change.
    app.wait_tenant(&c.tenant_id, "TRIAL", |t| t.state == "TRIAL")
        .await;
    app.publish(&c.event(
        "subscription.cancelled",
        Utc::now() - Duration::minutes(30),
        json!({"effective_at": effective.to_rfc3339()}),
    ))
    .await;
    app.wait_tenant(&c.tenant_id, "CANCELLING", |t| t.state == "CANCELLING")
        .await;

    let t = app
        .wait_tenant(&c.tenant_id, "DEACTIVATED by the timer", |t| {
            t.state == "DEACTIVATED"
        })
        .await;
    let seen = Utc::now();
    assert!(
        seen - effective < Duration::seconds(5),
        "fired {} after due",
        seen - effective
    );
    assert_eq!(
        t.deletion_due_at,
        Some(micros(effective) + Duration::days(15))
    );

    // A deletion requested for a moment just ahead is carried out when that moment comes.
    let due = Utc::now() + Duration::seconds(1);
    let started = Instant::now();
    app.publish(&c.event(
        "data.deletion_requested",
        due,
        json!({"reason": "customer request"}),
    ))
    .await;
    app.wait_tenant(&c.tenant_id, "DELETED by the timer", |t| {
        t.state == "DELETED"
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(7));

    let mut causes = Vec::new();
    for _ in 0..5 {
        let (_, body) = feed.next(10).await;
        causes.push(body["cause"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        causes,
        [
            "trial.started",
            "subscription.cancelled",
            "timer.cancellation_effective",
            // Moves the deletion due date from 15 days ahead to the request's time...
            "data.deletion_requested",
            // ...when the scheduler carries it out.
            "timer.deletion_due"
        ]
    );
}
