//! Placement: residency decides the region, fill decides the shard, and a tenant with no room
//! waits PROVISIONING until room appears.

use crate::helpers::*;
use serde_json::json;

async fn place(app: &TestApp, residency: &str) -> StoredTenant {
    let mut c = Commerce::new();
    app.publish(&c.trial(days_ago(1), &unique_site(residency), residency))
        .await;
    app.wait_tenant(&c.tenant_id, "stored", |_| true).await
}

#[tokio::test]
async fn residency_decides_the_region() {
    let app = spawn_app().await;
    for (residency, allowed) in [
        ("us", &["us-east-1"][..]),
        ("de", &["eu-central-1"]),
        ("ie", &["eu-west-1"]),
        ("sg", &["ap-southeast-1"]),
        ("au", &["ap-southeast-2"]),
        ("eu", &["eu-central-1", "eu-west-1"]),
    ] {
        let t = place(&app, residency).await;
        let region = t.region.clone().expect("placed");
        assert!(
            allowed.contains(&region.as_str()),
            "{residency} placed in {region}"
        );
        assert_eq!(t.shard_id, Some(format!("{region}-1")));
        assert_eq!(t.state, "TRIAL");
    }
}

#[tokio::test]
async fn the_shard_with_the_lowest_fill_takes_the_tenant() {
    let app = spawn_app().await;
    sqlx::query("insert into shards (id, region, endpoint, capacity) values ('eu-central-1-2', 'eu-central-1', 'https://x', 4)")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update shards set capacity = 2 where id = 'eu-central-1-1'")
        .execute(&app.db)
        .await
        .unwrap();
    // Fill 0/2 vs 0/4: a tie, broken by shard id. Then 1/2 vs 0/4, then 1/2 vs 1/4, ...
    let mut shards = Vec::new();
    for _ in 0..5 {
        shards.push(place(&app, "de").await.shard_id.expect("placed"));
    }
    assert_eq!(
        shards,
        [
            "eu-central-1-1",
            "eu-central-1-2",
            "eu-central-1-2",
            "eu-central-1-1",
            "eu-central-1-2"
        ]
    );
}

#[tokio::test]
async fn with_no_room_a_tenant_waits_provisioning_and_is_placed_when_room_appears() {
    let app = spawn_app().await;
    sqlx::query("update shards set capacity = 0 where region = 'ap-southeast-2'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update shards set status = 'draining' where region = 'us-east-1'")
        .execute(&app.db)
        .await
        .unwrap();
    let waiting_au = place(&app, "au").await;
    let waiting_us = place(&app, "us").await;
    for t in [&waiting_au, &waiting_us] {
        assert_eq!(
            (t.state.as_str(), t.shard_id.as_deref()),
            ("PROVISIONING", None)
        );
    }

    sqlx::query("update shards set capacity = 1 where region = 'ap-southeast-2'")
        .execute(&app.db)
        .await
        .unwrap();
    let id = waiting_au.id.to_string();
    let t = app
        .wait_tenant(&id, "placed once room appears", |t| t.state == "TRIAL")
        .await;
    assert_eq!(t.shard_id.as_deref(), Some("ap-southeast-2-1"));
    let us = app
        .tenant(&waiting_us.id.to_string())
        .await
        .expect("tenant");
    assert_eq!(
        us.state, "PROVISIONING",
        "a draining shard takes no new tenants"
    );
}

/// CONTRACT.md section 7: a tenant waiting to be served (PROVISIONING) takes a free slot before
/// an unplaced tenant that would not be served anyway (suspended), even a longer-waiting one.
#[tokio::test]
async fn waiting_tenants_that_will_be_served_are_placed_before_suspended_ones() {
    let app = spawn_app_with(&[("SEED_SHARD_CAPACITY", "0")]).await;
    let mut suspended = Commerce::new();
    app.publish(&suspended.trial(days_ago(2), &unique_site("sus"), "au"))
        .await;
    app.publish(&suspended.event(
        "subscription.suspended",
        days_ago(1),
        json!({"reason": "overdue"}),
    ))
    .await;
    app.wait_tenant(&suspended.tenant_id, "suspended", |t| {
        t.state == "SUSPENDED"
    })
    .await;
    let mut waiting = Commerce::new();
    app.publish(&waiting.trial(days_ago(1), &unique_site("wait"), "au"))
        .await;
    app.wait_tenant(&waiting.tenant_id, "waiting", |t| t.state == "PROVISIONING")
        .await;

    // One slot appears.
    sqlx::query("update shards set capacity = 1 where id = 'ap-southeast-2-1'")
        .execute(&app.db)
        .await
        .unwrap();
    let placed = app
        .wait_tenant(&waiting.tenant_id, "placed", |t| t.state == "TRIAL")
        .await;
    assert_eq!(placed.shard_id.as_deref(), Some("ap-southeast-2-1"));
    let other = app.tenant(&suspended.tenant_id).await.unwrap();
    assert_eq!(other.shard_id, None, "the suspended tenant still waits");
}
