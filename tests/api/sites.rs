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

    assert!(
        app.tenant(&b.tenant_id).await.is_none(),
        "B does not get acme"
    );
    let history = app.history(&b.tenant_id).await;
    assert_eq!(history[0].outcome.as_str(), "rejected");
    assert!(
        history[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("taken"),
        "{history:?}"
    );
    assert_eq!(route_of(&app, &old).await["tenantId"], a.tenant_id);
}

/// B claims a site first; A's earlier claim of it arrives later and wins. B, whose creation
/// that was, is unknown again: its route is gone and the change feed says so.
#[tokio::test]
async fn the_earliest_claim_wins_whichever_arrived_first() {
    let app = spawn_app().await;
    let site = unique_site("first");
    let mut feed = app.listen_changes().await;
    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(1), &site, "eu")).await;
    app.wait_tenant(&b.tenant_id, "B created", |_| true).await;
    assert_eq!(route_of(&app, &site).await["tenantId"], b.tenant_id);

    let mut a = Commerce::new();
    app.publish(&a.trial(days_ago(2), &site, "eu")).await;
    app.wait_tenant(&a.tenant_id, "A created", |t| {
        t.site.as_deref() == Some(&site)
    })
    .await;
    app.wait_for(10, "B withdrawn", || async {
        app.tenant(&b.tenant_id).await.is_none().then_some(())
    })
    .await;
    assert_eq!(route_of(&app, &site).await["tenantId"], a.tenant_id);
    let history = app.history(&b.tenant_id).await;
    assert_eq!(history[0].outcome.as_str(), "rejected", "{history:?}");

    let mut keys = Vec::new();
    for _ in 0..5 {
        let (key, message) = feed.next(10).await;
        if message["tenant_id"] == b.tenant_id {
            keys.push((key, message["version"].clone()));
        }
        if keys.len() == 2 {
            break;
        }
    }
    assert_eq!(
        keys,
        [
            ("tenant.trial".to_owned(), json!(1)),
            ("tenant.withdrawn".to_owned(), json!(2))
        ]
    );
    let fill: i32 = sqlx::query_scalar("select sum(tenant_count)::int4 from shards")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(fill, 1, "B's slot is freed");

    // B created again on a site of its own: its versions go on after the withdrawal, so a
    // consumer that drops what is not above the last version it saw takes the new tenant.
    app.publish(&b.trial(days_ago(1), &unique_site("again"), "eu"))
        .await;
    let again = app
        .wait_tenant(&b.tenant_id, "B created again", |_| true)
        .await;
    assert_eq!(again.version, 3);
    loop {
        let (key, message) = feed.next(10).await;
        if message["tenant_id"] == b.tenant_id {
            assert_eq!(
                (key.as_str(), &message["version"]),
                ("tenant.trial", &json!(3))
            );
            break;
        }
    }
}

/// A direct purchase with residency `us` arrives first and is placed in us-east-1; then the
/// trial that came before it arrives, with residency `de`: the purchase is now a conversion,
/// the residency is `de`, and the tenant is placed again in eu-central-1.
#[tokio::test]
async fn a_tenant_is_placed_again_when_an_earlier_event_changes_its_residency() {
    let app = spawn_app().await;
    let site = unique_site("res");
    let mut c = Commerce::new();
    let trial = c.trial(days_ago(5), &site, "de");
    let purchase = c.direct_purchase(days_ago(4), &site, "us");
    app.publish(&purchase).await;
    let t = app
        .wait_tenant(&c.tenant_id, "placed in us", |t| t.shard_id.is_some())
        .await;
    assert_eq!(t.region.as_deref(), Some("us-east-1"));

    app.publish(&trial).await;
    let t = app
        .wait_tenant(&c.tenant_id, "placed again", |t| {
            t.region.as_deref() == Some("eu-central-1")
        })
        .await;
    assert_eq!((t.residency.as_str(), t.state.as_str()), ("de", "ACTIVE"));
    let fills: Vec<(String, i32)> =
        sqlx::query_as("select id, tenant_count from shards where tenant_count > 0")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        fills,
        [("eu-central-1-1".to_owned(), 1)],
        "the old slot is freed"
    );
}
