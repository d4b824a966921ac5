//! Several `serve` processes on one queue and one database.

use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::json;

#[tokio::test]
async fn two_consumers_on_one_queue_give_the_in_order_result_and_never_overfill() {
    let app = spawn_app().await;
    let mut second = spawn_second(&app).await;
    sqlx::query("update shards set capacity = 15 where id = 'us-east-1-1'")
        .execute(&app.db)
        .await
        .unwrap();

    let mut lives = Vec::new();
    let mut all = Vec::new();
    for i in 0..20 {
        let mut c = Commerce::new();
        let t0 = days_ago(3) + Duration::minutes(i);
        let life = vec![
            c.trial(t0, &format!("tenant-{i}"), "us"),
            c.event("subscription.activated", t0 + Duration::hours(1), json!({"plan": "p", "cycle": "monthly", "current_period_end": (Utc::now() + Duration::days(20)).to_rfc3339()})),
            c.event("subscription.suspended", t0 + Duration::hours(2), json!({"reason": "payment_overdue"})),
            c.event("subscription.unsuspended", t0 + Duration::hours(3), json!({})),
            c.event("subscription.cancelled", t0 + Duration::hours(4), json!({"effective_at": (Utc::now() + Duration::days(9)).to_rfc3339()})),
        ];
        all.extend(life.iter().cloned());
        all.extend(life.iter().skip(i as usize % 3).step_by(2).cloned());
        lives.push((c.tenant_id.clone(), life));
    }
    // Interleave tenants and reverse each tenant's order, so both consumers see every kind
    // of disorder.
    all.reverse();
    // Halfway through, one process shuts down gracefully: what it holds goes back to the queue.
    for (i, e) in all.iter().enumerate() {
        app.publish(e).await;
        if i == all.len() / 2 {
            second.stop().await;
        }
    }
    app.wait_queue_drained().await;
    app.wait_events_stored(100).await;

    let mut placed = 0;
    for (id, life) in &lives {
        let stored = app.tenant(id).await.expect("tenant");
        // Each life ends cancelled, with the activation's period and the cancellation's
        // effective date, not suspended.
        assert_eq!(stored.lifecycle, "CANCELLING", "{id}");
        assert!(!stored.suspended, "{id}");
        assert_eq!(
            stored.site.as_deref(),
            life[0]["data"]["site"].as_str(),
            "{id}"
        );
        assert_eq!(stored.plan.as_deref(), Some("p"), "{id}");
        assert_eq!(
            stored.current_period_end,
            Some(micros(time(&life[1]["data"]["current_period_end"]))),
            "{id}"
        );
        assert_eq!(
            stored.cancellation_effective_at,
            Some(micros(time(&life[4]["data"]["effective_at"]))),
            "{id}"
        );
        assert_eq!(
            stored.created_at,
            micros(time(&life[0]["occurred_at"])),
            "{id}"
        );
        placed += i32::from(stored.shard_id.is_some());
        let want = if stored.shard_id.is_some() {
            "CANCELLING"
        } else {
            "PROVISIONING"
        };
        assert_eq!(stored.state, want);
    }
    assert_eq!(placed, 15, "exactly the capacity is placed");
    let count: i32 = sqlx::query_scalar("select tenant_count from shards where id = 'us-east-1-1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 15);
}
