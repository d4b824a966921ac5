//! Prepared lookups (src/graphql/fast.rs): a `route` or `routes` text seen before is answered
//! without the GraphQL executor, byte for byte as the executor answers it, by serve and by a
//! replica; anything it cannot answer (bad ids, null variables, a wrong operation name) goes to
//! the executor and gets the executor's answer.

use crate::helpers::*;
use serde_json::{Value, json};
use tenant_catalog::auth::Scope;

async fn raw(app: &TestApp, body: &Value) -> Vec<u8> {
    let bearer = format!("Bearer {}", app.token(Scope::Read));
    let response = app
        .post_graphql(Some(&bearer), body.to_string().into_bytes())
        .await;
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("body").to_vec()
}

/// Sends each request twice: the first time its text is new and the executor answers; the
/// second time it is kept. Returns how many second answers were prepared.
async fn first_and_second_answers_agree(app: &TestApp, requests: &[Value]) -> f64 {
    let before = app.metric("tenant_catalog_graphql_prepared_total").await;
    for body in requests {
        let first = raw(app, body).await;
        let second = raw(app, body).await;
        assert_eq!(
            String::from_utf8_lossy(&second),
            String::from_utf8_lossy(&first),
            "{body}"
        );
    }
    app.metric("tenant_catalog_graphql_prepared_total").await - before
}

fn lookups(id: &str, other: &str, host: &str, old_host: &str) -> (Vec<Value>, Vec<Value>) {
    let unknown = uuid::Uuid::new_v4().to_string();
    let prepared = vec![
        json!({"query": "query($id: ID!) { route(tenantId: $id) { tenantId host region shard endpoint state serving epoch status __typename } }", "variables": {"id": id}}),
        json!({"query": "query L($id: ID) { r: route(tenantId: $id) { s: shard e: epoch } }", "variables": {"id": id}, "operationName": "L"}),
        json!({"query": "query($id: ID) { route(tenantId: $id) { shard } }", "variables": {"id": unknown}}),
        json!({"query": format!("{{ route(tenantId: \"{other}\") {{ host serving }} }}")}),
        json!({"query": "query($h: String) { route(host: $h) { tenantId host } }", "variables": {"h": host}}),
        json!({"query": "query($h: String!) { route(host: $h) { tenantId host } }", "variables": {"h": old_host.to_uppercase()}}),
        json!({"query": "query($h: String) { route(host: $h) { tenantId } }", "variables": {"h": "nobody-here.example.net"}}),
        json!({"query": "query($ids: [ID!]!) { routes(tenantIds: $ids) { tenantId shard status } }", "variables": {"ids": [id, unknown, other]}}),
        json!({"query": format!("{{ routes(tenantIds: [\"{id}\"]) {{ endpoint }} }}")}),
    ];
    let executor = vec![
        json!({"query": "query($id: ID) { route(tenantId: $id) { shard } }", "variables": {"id": "not-a-uuid"}}),
        json!({"query": "query($id: ID) { route(tenantId: $id) { shard } }", "variables": {"id": null}}),
        json!({"query": "query($id: ID) { route(tenantId: $id) { shard } }", "variables": {"id": 12}}),
        json!({"query": "query L($id: ID) { route(tenantId: $id) { shard } }", "variables": {"id": id}, "operationName": "M"}),
        json!({"query": "query($h: String) { route(host: $h) { tenantId } }", "variables": {"h": "acme.elsewhere.org"}}),
        json!({"query": "query($ids: [ID!]!) { routes(tenantIds: $ids) { shard } }", "variables": {"ids": id}}),
    ];
    (prepared, executor)
}

async fn tenants(app: &TestApp) -> (String, String, String, String) {
    let mut c = Commerce::new();
    let old_site = unique_site("pp");
    app.publish(&c.direct_purchase(days_ago(4), &old_site, "eu"))
        .await;
    let new_site = unique_site("pq");
    app.publish(&c.event("site.renamed", days_ago(1), json!({"site": new_site})))
        .await;
    app.wait_tenant(&c.tenant_id, "renamed", |t| {
        t.site.as_deref() == Some(new_site.as_str())
    })
    .await;
    let mut d = Commerce::new();
    app.publish(&d.trial(days_ago(2), &unique_site("pr"), "us"))
        .await;
    app.wait_tenant(&d.tenant_id, "TRIAL", |t| t.state == "TRIAL")
        .await;
    (
        c.tenant_id,
        d.tenant_id,
        format!("{new_site}.example.net"),
        format!("{old_site}.example.net"),
    )
}

#[tokio::test]
async fn serve_answers_a_kept_lookup_as_the_executor_does() {
    let app = spawn_app().await;
    let (id, other, host, old_host) = tenants(&app).await;
    let (prepared, executor) = lookups(&id, &other, &host, &old_host);
    let n = first_and_second_answers_agree(&app, &prepared).await;
    assert_eq!(n, prepared.len() as f64, "every second answer was prepared");
    let n = first_and_second_answers_agree(&app, &executor).await;
    assert_eq!(n, 0.0, "these went to the executor");
}

#[tokio::test]
async fn a_replica_answers_a_kept_lookup_as_its_executor_does() {
    let app = spawn_app().await;
    let (id, other, host, old_host) = tenants(&app).await;
    let replica = spawn_replica(&app, &app.address, 5_000).await;
    replica.wait_ready().await;
    let (prepared, executor) = lookups(&id, &other, &host, &old_host);
    let n = first_and_second_answers_agree(&replica, &prepared).await;
    assert_eq!(n, prepared.len() as f64, "every second answer was prepared");
    let n = first_and_second_answers_agree(&replica, &executor).await;
    assert_eq!(n, 0.0, "these went to the executor");
    // And the replica's answers are serve's.
    for body in &prepared {
        assert_eq!(raw(&replica, body).await, raw(&app, body).await, "{body}");
    }
}
