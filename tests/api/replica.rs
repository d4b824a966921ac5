//! `tenant-catalog replica` (contract section 7, "Replicas") against a real serve, database and
//! broker: it answers `route` and `routes` as serve does, follows creations, renames (old
//! hosts too), deletions, moves and shard changes, refuses to answer before its snapshot is
//! loaded and once it could be staler than its bound, and comes back after a lost broker
//! connection and a serve restart.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BY_ID: &str = "query($id: ID) { route(tenantId: $id) { tenantId host region shard endpoint state serving epoch status } }";
const BY_HOST: &str =
    "query($host: String) { route(host: $host) { tenantId host shard endpoint serving } }";
const MANY: &str = "query($ids: [ID!]!) { routes(tenantIds: $ids) { tenantId shard epoch } }";

async fn active(app: &TestApp, residency: &str) -> (Commerce, String) {
    let mut c = Commerce::new();
    let site = unique_site("rp");
    app.publish(&c.direct_purchase(days_ago(3), &site, residency))
        .await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    (c, site)
}

/// Waits until the replica answers `query` as serve does (and without errors).
async fn same_answer(
    serve: &TestApp,
    replica: &TestApp,
    query: &str,
    vars: Value,
    what: &str,
) -> Value {
    let expected = serve.graphql(query, vars.clone()).await;
    assert!(expected.get("errors").is_none(), "{expected}");
    replica
        .wait_for(10, what, || async {
            let got = replica.graphql(query, vars.clone()).await;
            (got == expected).then_some(got)
        })
        .await
}

fn not_ready(answer: &Value) -> bool {
    answer["errors"][0]["extensions"]["code"] == "NOT_READY"
}

#[tokio::test]
async fn a_replica_answers_nothing_before_its_snapshot_then_what_serve_answers() {
    let app = spawn_app().await;
    let (c, _) = active(&app, "eu").await;
    // The source is not there yet: the replica can load nothing.
    let port = free_port();
    let source = format!("http://127.0.0.1:{port}");
    let replica = spawn_replica(&app, &source, 2_000).await;
    replica
        .wait_metric("tenant_catalog_replica_failures_total", 1.0)
        .await;
    let (status, body) = readyz(&replica).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    let answer = replica.graphql(BY_ID, json!({"id": c.tenant_id})).await;
    assert!(not_ready(&answer), "{answer}");
    assert_eq!(answer["data"]["route"], Value::Null, "{answer}");

    // A serve comes up there: the replica loads and answers as it does.
    let mut settings = app.settings.clone();
    settings.http_addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let source_app = spawn_with(&settings).await;
    replica.wait_ready().await;
    same_answer(
        &source_app,
        &replica,
        BY_ID,
        json!({"id": c.tenant_id}),
        "the route",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let answer = same_answer(
        &source_app,
        &replica,
        MANY,
        json!({"ids": [c.tenant_id, unknown]}),
        "routes",
    )
    .await;
    assert_eq!(answer["data"]["routes"][1], Value::Null);
    // The same limits as serve's: a bad id and a foreign host are refused alike.
    for (query, vars) in [
        (BY_ID, json!({"id": "not-a-uuid"})),
        (BY_HOST, json!({"host": "acme.elsewhere.org"})),
    ] {
        let theirs = source_app.graphql(query, vars.clone()).await;
        let ours = replica.graphql(query, vars).await;
        assert_eq!(ours["errors"][0]["message"], theirs["errors"][0]["message"]);
        assert_eq!(
            ours["errors"][0]["extensions"]["code"],
            theirs["errors"][0]["extensions"]["code"]
        );
    }
    let refused = replica
        .post_graphql(None, json!({"query": BY_ID}).to_string().into_bytes())
        .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn a_replica_follows_creations_renames_deletions_moves_and_shard_changes() {
    let app = spawn_app().await;
    // Tenants before the replica starts come with the snapshot (several pages of 7).
    let mut before = Vec::new();
    for _ in 0..9 {
        before.push(active(&app, "us").await.0.tenant_id);
    }
    let replica = spawn_replica(&app, &app.address, 5_000).await;
    replica.wait_ready().await;
    same_answer(
        &app,
        &replica,
        MANY,
        json!({"ids": before}),
        "the snapshot's routes",
    )
    .await;

    // A creation after the snapshot comes through the change feed.
    let (mut c, old_site) = active(&app, "eu").await;
    let id = c.tenant_id.clone();
    same_answer(&app, &replica, BY_ID, json!({"id": id}), "the new tenant").await;

    // A rename: the new host and the old one both lead to the tenant.
    let new_site = unique_site("rn");
    app.publish(&c.event("site.renamed", days_ago(1), json!({"site": new_site})))
        .await;
    let new_host = format!("{new_site}.example.net");
    let old_host = format!("{old_site}.example.net");
    // What serve answers is the reference: wait until it has the rename itself.
    app.wait_for(10, "serve to know the new host", || async {
        let r = app.graphql(BY_HOST, json!({"host": new_host})).await;
        (!r["data"]["route"].is_null()).then_some(())
    })
    .await;
    let by_new = same_answer(
        &app,
        &replica,
        BY_HOST,
        json!({"host": new_host}),
        "the new host",
    )
    .await;
    assert_eq!(by_new["data"]["route"]["tenantId"], json!(id));
    let by_old = same_answer(
        &app,
        &replica,
        BY_HOST,
        json!({"host": old_host}),
        "the old host",
    )
    .await;
    assert_eq!(by_old["data"]["route"]["host"], json!(new_host));

    // A new endpoint of the tenant's shard.
    let route = app.query(BY_ID, json!({"id": id})).await["route"].clone();
    let shard = route["shard"].as_str().expect("shard").to_owned();
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/admin/v1/shards/{shard}"),
            Some(
                json!({"region": route["region"], "endpoint": "https://moved.shards.example.net",
                        "capacity": 10000, "status": "open"}),
            ),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let answer = same_answer(&app, &replica, BY_ID, json!({"id": id}), "the new endpoint").await;
    assert_eq!(
        answer["data"]["route"]["endpoint"],
        "https://moved.shards.example.net"
    );

    // A move: every step's status and epoch.
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/moves"),
            Some(json!({"to_shard": "eu-west-1-1", "reason": "replica test"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let move_id = body["id"].as_str().expect("move id").to_owned();
    let moving = same_answer(&app, &replica, BY_ID, json!({"id": id}), "MOVING").await;
    assert_eq!(moving["data"]["route"]["status"], "MOVING");
    for phase in ["cutover", "done"] {
        let (status, body) = app
            .admin(
                Method::POST,
                &format!("/admin/v1/moves/{move_id}/advance"),
                Some(json!({"phase": phase})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        same_answer(&app, &replica, BY_ID, json!({"id": id}), phase).await;
    }
    let moved = replica.query(BY_ID, json!({"id": id})).await;
    assert_eq!(moved["route"]["shard"], "eu-west-1-1");
    assert_eq!(moved["route"]["status"], "ONLINE");

    // A deletion: no route, and neither host leads anywhere.
    app.publish(&c.event(
        "data.deletion_requested",
        days_ago(0),
        json!({"reason": "customer asked"}),
    ))
    .await;
    app.wait_tenant(&id, "DELETED", |t| t.state == "DELETED")
        .await;
    let gone = same_answer(&app, &replica, BY_ID, json!({"id": id}), "the deletion").await;
    assert_eq!(gone["data"]["route"], Value::Null);
    for host in [&new_host, &old_host] {
        let answer = same_answer(
            &app,
            &replica,
            BY_HOST,
            json!({"host": host}),
            "a purged host",
        )
        .await;
        assert_eq!(answer["data"]["route"], Value::Null, "{host}");
    }
    assert_eq!(
        replica
            .metric("tenant_catalog_replica_change_delay_seconds_count")
            .await
            .min(1.0),
        1.0,
        "the replica measures how late changes arrive"
    );
}

#[tokio::test]
async fn a_lost_broker_connection_starts_a_new_queue_and_snapshot_and_loses_nothing() {
    let app = spawn_app().await;
    let (first, _) = active(&app, "us").await;
    let replica = spawn_replica(&app, &app.address, 5_000).await;
    replica.wait_ready().await;
    same_answer(
        &app,
        &replica,
        BY_ID,
        json!({"id": first.tenant_id}),
        "the first tenant",
    )
    .await;

    // The replica's connection dies (as in a broker restart); its queue goes with it, and
    // changes made meanwhile reach it through the next snapshot or the next queue.
    assert_eq!(
        replica
            .close_broker_connections("tenant-catalog replica")
            .await,
        1
    );
    let (second, _) = active(&app, "us").await;
    same_answer(
        &app,
        &replica,
        BY_ID,
        json!({"id": second.tenant_id}),
        "a tenant created while it reconnected",
    )
    .await;
    let resyncs = replica
        .wait_for(10, "the resync to count", || async {
            let n = replica.metric("tenant_catalog_replica_resyncs_total").await;
            (n >= 1.0).then_some(n)
        })
        .await;
    assert!(resyncs >= 1.0);
    let (third, _) = active(&app, "us").await;
    same_answer(
        &app,
        &replica,
        BY_ID,
        json!({"id": third.tenant_id}),
        "a tenant created after",
    )
    .await;
}

#[tokio::test]
async fn with_serve_gone_the_replica_stops_answering_within_its_bound_and_comes_back_with_it() {
    let env_app = spawn_app().await;
    let (c, _) = active(&env_app, "us").await;
    let port = free_port();
    let mut settings = env_app.settings.clone();
    settings.http_addr = format!("127.0.0.1:{port}").parse().expect("addr");
    // The only serve of the catalog, on a fixed address; the first one stops.
    let mut first_serve = spawn_with(&settings).await;
    let mut env_serve = env_app;
    let bound = Duration::from_millis(1_500);
    let replica = spawn_replica(&env_serve, &first_serve.address, bound.as_millis() as u64).await;
    replica.wait_ready().await;
    env_serve.stop().await;
    same_answer(
        &first_serve,
        &replica,
        BY_ID,
        json!({"id": c.tenant_id}),
        "the route",
    )
    .await;

    first_serve.stop().await;
    let stopped = Instant::now();
    // Nothing publishes heartbeats now: the replica answers until its bound has passed, never
    // much later (a heartbeat's interval and a poll of slack), then says it is not ready.
    let refused_after = replica
        .wait_for(10, "the replica to stop answering", || async {
            let answer = replica.graphql(BY_ID, json!({"id": c.tenant_id})).await;
            not_ready(&answer).then(|| stopped.elapsed())
        })
        .await;
    assert!(
        refused_after <= bound + Duration::from_millis(1_000),
        "answered {refused_after:?} after the last serve stopped, bound {bound:?}"
    );
    let (status, body) = readyz(&replica).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bound"),
        "{body}"
    );

    // A serve comes back on the same address: heartbeats flow again, and a change made
    // while it is up is answered.
    let second_serve = spawn_with(&settings).await;
    replica.wait_ready().await;
    let (d, _) = active(&second_serve, "us").await;
    same_answer(
        &second_serve,
        &replica,
        BY_ID,
        json!({"id": d.tenant_id}),
        "a tenant created after the restart",
    )
    .await;
}

/// A queue on the change feed that takes nothing: the broker nacks every message routed to it,
/// as a broker that refuses a change would. Gone with the connection returned.
async fn refusing_queue(app: &TestApp, routing_key: &str) -> lapin::Connection {
    use lapin::types::{AMQPValue, FieldTable, ShortString};
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-max-length"), AMQPValue::LongLongInt(0));
    args.insert(
        ShortString::from("x-overflow"),
        AMQPValue::LongString("reject-publish".into()),
    );
    app.change_queue(routing_key, args).await.0
}

#[tokio::test]
async fn a_change_the_catalog_cannot_publish_makes_the_replica_refuse_its_tenant_only() {
    let app = spawn_app().await;
    let (a, a_site) = active(&app, "eu").await;
    let (mut b, b_site) = active(&app, "eu").await;
    let bound = Duration::from_millis(1_500);
    let replica = spawn_replica(&app, &app.address, bound.as_millis() as u64).await;
    replica.wait_ready().await;
    same_answer(&app, &replica, BY_ID, json!({"id": b.tenant_id}), "b").await;

    // The broker refuses b's suspension: it stays in the outbox, and holds the watermark back.
    let refusing = refusing_queue(&app, "tenant.suspended").await;
    app.publish(&b.event(
        "subscription.suspended",
        chrono::Utc::now(),
        json!({"reason": "payment_overdue"}),
    ))
    .await;
    app.wait_tenant(&b.tenant_id, "SUSPENDED", |t| t.state == "SUSPENDED")
        .await;
    tokio::time::sleep(bound + Duration::from_millis(500)).await;
    let (status, body) = readyz(&replica).await;
    assert_eq!(status, 200, "ready for all but b: {body}");
    assert_eq!(body["details"]["waiting"], 1, "{body}");
    let oldest = body["details"]["staleness_ms"].as_u64().unwrap_or_default();
    assert!(oldest > bound.as_millis() as u64, "{body}");

    // Past the bound for b's change, a's route is still answered as serve answers it, b's is
    // refused by id and by host, alone or in a list.
    same_answer(&app, &replica, BY_ID, json!({"id": a.tenant_id}), "a").await;
    let a_host = format!("{a_site}.example.net");
    same_answer(
        &app,
        &replica,
        BY_HOST,
        json!({"host": a_host}),
        "a by host",
    )
    .await;
    for (query, vars) in [
        (BY_ID, json!({"id": b.tenant_id})),
        (BY_HOST, json!({"host": format!("{b_site}.example.net")})),
        (MANY, json!({"ids": [a.tenant_id, b.tenant_id]})),
    ] {
        let answer = replica.graphql(query, vars).await;
        assert!(not_ready(&answer), "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("waited to be published"), "{answer}");
    }
    assert_eq!(
        replica
            .metric("tenant_catalog_replica_refusals_total")
            .await,
        3.0
    );

    // The broker takes it again: b's change is published and answered.
    refusing.close(0, "test done".into()).await.expect("closed");
    same_answer(
        &app,
        &replica,
        BY_ID,
        json!({"id": b.tenant_id}),
        "b, suspended",
    )
    .await;
    replica
        .wait_for(5, "a heartbeat naming nothing waiting", || async {
            let (status, body) = readyz(&replica).await;
            (status == 200 && body["details"]["waiting"] == 0).then_some(())
        })
        .await;
}
