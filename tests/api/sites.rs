//! One truth across tenants (CONTRACT.md section 7), through the real broker: site claims are
//! judged in contract order over all tenants, old sites stay with their tenant, and a tenant
//! stays in a region its residency allows.

use crate::helpers::*;
use serde_json::json;

const ROUTE: &str = "query($host: String) { route(host: $host) { tenantId region } }";

async fn route_of(app: &TestApp, site: &str) -> serde_json::Value {
    let host = format!("{site}.example.net");
    app.query(ROUTE, json!({"host": host})).await["route"].clone()
}

/// A renames from `acme` to `acme-corp`; B then claims `acme` and is refused: the old host
/// still routes to A.
#[tokio::test]
async fn a_renamed_tenants_old_site_is_not_given_to_another() {
    let app = spawn_app().await;
    let (old, new) = (unique_site("acme"), unique_site("acme-corp"));
    let mut a = Commerce::new();
    app.publish(&a.trial(days_ago(3), &old, "eu")).await;
    app.publish(&a.event("site.renamed", days_ago(2), json!({"site": new})))
        .await;
    app.wait_tenant(&a.tenant_id, "renamed", |t| t.site.as_deref() == Some(&new))
        .await;
    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(1), &old, "eu")).await;
    app.wait_events_stored(3).await;
    app.wait_queue_drained().await;

    let b_row = app.tenant(&b.tenant_id).await.expect("B is kept");
    assert_eq!(
        (b_row.state.as_str(), &b_row.site),
        ("PROVISIONING", &None),
        "B does not get acme"
    );
    assert_eq!(route_of(&app, &old).await["tenantId"], a.tenant_id);
}

/// B claims a site first, is placed, put under a legal hold and starts a move; A's earlier
/// claim of the site arrives later and wins (CONTRACT.md section 8). B stays visible:
/// PROVISIONING with no host, its explanation naming the site, A and A's claim time; its move is
/// cancelled and both slots freed; its hold stays. A rename to a free site lets it proceed.
#[tokio::test]
async fn a_tenant_that_loses_its_site_to_an_earlier_claim_stays_visible_and_proceeds_after_a_rename()
 {
    let app = spawn_app().await;
    let site = unique_site("first");
    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(1), &site, "eu")).await;
    let placed = app
        .wait_tenant(&b.tenant_id, "B placed", |t| t.shard_id.is_some())
        .await;
    assert_eq!(route_of(&app, &site).await["tenantId"], b.tenant_id);
    let target = match placed.shard_id.as_deref() {
        Some("eu-central-1-1") => "eu-west-1-1",
        _ => "eu-central-1-1",
    };
    let (status, moving) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{}/moves", b.tenant_id),
            Some(json!({"to_shard": target, "reason": "rebalance"})),
        )
        .await;
    assert_eq!(status, 202, "{moving}");
    let (status, held) = app
        .admin(
            reqwest::Method::PUT,
            &format!("/admin/v1/tenants/{}/hold", b.tenant_id),
            Some(json!({"reason": "case 7"})),
        )
        .await;
    assert_eq!(status, 200, "{held}");
    let mut feed = app.listen_changes().await;

    let mut a = Commerce::new();
    let earlier = a.trial(days_ago(2), &site, "eu");
    app.publish(&earlier).await;
    app.wait_tenant(&a.tenant_id, "A created", |t| {
        t.site.as_deref() == Some(&site)
    })
    .await;
    let lost = app
        .wait_tenant(&b.tenant_id, "B without its site", |t| t.site.is_none())
        .await;
    assert_eq!(
        (lost.state.as_str(), lost.lifecycle.as_str(), &lost.shard_id),
        ("PROVISIONING", "TRIAL", &None),
        "{lost:?}"
    );
    assert_eq!(route_of(&app, &site).await["tenantId"], a.tenant_id);
    let shown = app
        .query(
            "query($id: ID!) { tenant(id: $id) { state host legalHold { reason }
               explanation { summary siteConflict { site holder holderClaimedAt } } } }",
            json!({"id": b.tenant_id}),
        )
        .await;
    let t = &shown["tenant"];
    assert_eq!(
        (&t["state"], &t["host"]),
        (&json!("PROVISIONING"), &json!(null)),
        "{t}"
    );
    assert_eq!(t["legalHold"]["reason"], "case 7", "the hold stays: {t}");
    let conflict = &t["explanation"]["siteConflict"];
    assert_eq!(conflict["site"], json!(site), "{t}");
    assert_eq!(conflict["holder"], json!(a.tenant_id));
    assert_eq!(
        time(&conflict["holderClaimedAt"]),
        micros(time(&earlier["occurred_at"]))
    );
    let summary = t["explanation"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&site) && summary.contains(&a.tenant_id),
        "{summary}"
    );
    let (_, m) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/moves/{}", moving["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(m["phase"], "cancelled", "its move is cancelled: {m}");
    let fill: i32 = sqlx::query_scalar("select sum(tenant_count)::int4 from shards")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(fill, 1, "only A holds a slot: B's and its move's are freed");
    loop {
        let (key, message) = feed.next(10).await;
        if message["tenant_id"] == b.tenant_id && message["host"].is_null() {
            assert_eq!(key, "tenant.provisioning", "{message}");
            assert!(message["caused_by"].is_string(), "{message}");
            assert!(message["epoch"].as_i64().is_some(), "{message}");
            assert_eq!(message["route_status"], "ONLINE", "{message}");
            break;
        }
    }

    // A rename to a free site lets B proceed.
    let free = unique_site("free");
    app.publish(&b.event("site.renamed", days_ago(0), json!({"site": free})))
        .await;
    let back = app
        .wait_tenant(&b.tenant_id, "B placed again", |t| t.shard_id.is_some())
        .await;
    assert_eq!(
        (back.state.as_str(), back.site.as_deref()),
        ("TRIAL", Some(free.as_str()))
    );
    assert_eq!(route_of(&app, &free).await["tenantId"], b.tenant_id);
}
