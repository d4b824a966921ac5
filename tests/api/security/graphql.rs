//! GraphQL work the depth and complexity limits did not see: fragment bombs, aliases, batches
//! of ids, pages. Refused by the cost model before any resolver runs.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tenant_catalog::auth::Scope;

/// A fragment that spreads the next one twice, `levels` deep: 2^levels selections if expanded.
fn fragment_bomb(levels: usize) -> String {
    let mut q = String::from("query { ...f0 }");
    for i in 0..levels {
        q.push_str(&format!(
            " fragment f{i} on Query {{ ...f{n} ...f{n} }}",
            n = i + 1
        ));
    }
    q.push_str(&format!(" fragment f{levels} on Query {{ __typename }}"));
    q
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn lookups(app: &TestApp) -> f64 {
    app.metric("tenant_catalog_route_cache_lookups_total{result=\"hit\"}")
        .await
        + app
            .metric("tenant_catalog_route_cache_lookups_total{result=\"miss\"}")
            .await
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_at_once_and_the_server_stays_responsive() {
    let app = spawn_app().await;
    let bomb = fragment_bomb(30);
    assert!(bomb.len() < 1_300, "a small document: {} bytes", bomb.len());
    let body = app.graphql(&bomb, json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    assert!(body["data"].is_null(), "{body}");

    // Four attackers send bombs as fast as they can while a caller checks /healthz.
    let bearer = format!("Bearer {}", app.token(Scope::Read));
    let payload = json!({ "query": bomb }).to_string().into_bytes();
    let stop = Instant::now() + Duration::from_secs(3);
    let attackers: Vec<_> = (0..4)
        .map(|_| {
            let (address, bearer, payload) = (app.address.clone(), bearer.clone(), payload.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut refused = 0;
                while Instant::now() < stop {
                    let r = client
                        .post(format!("{address}/graphql"))
                        .header("authorization", &bearer)
                        .header("content-type", "application/json")
                        .body(payload.clone())
                        .send()
                        .await
                        .expect("the server answers");
                    let body: Value = r.json().await.unwrap();
                    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
                    refused += 1;
                }
                refused
            })
        })
        .collect();
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    while Instant::now() < stop {
        let start = Instant::now();
        let r = client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        latencies.push(start.elapsed());
    }
    let mut refused = 0;
    for attacker in attackers {
        refused += attacker.await.unwrap();
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(refused > 20, "the attack ran: {refused} bombs");
    assert!(
        p99 < Duration::from_millis(50),
        "/healthz p99 {p99:?} over {} probes during {refused} bombs",
        latencies.len()
    );
    assert_eq!(
        app.metric("tenant_catalog_graphql_refused_total{code=\"QUERY_TOO_LARGE\"}")
            .await,
        f64::from(refused + 1)
    );
}

#[tokio::test]
async fn aliases_and_batches_past_the_budgets_are_refused_before_any_lookup() {
    let app = spawn_app().await;
    let before = lookups(&app).await;

    // 1,000 aliases of `route` are 40 KB of text; 25 are over the root-field budget.
    let aliases = |n: usize| -> String {
        let fields: String = (0..n)
            .map(|i| format!(" r{i}: route(host: \"s{i:03}.example.net\") {{ shard }}"))
            .collect();
        format!("{{{fields} }}")
    };
    let body = app.graphql(&aliases(1000), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("variables"),
        "a text over 8 KiB is refused before it is parsed: {body}"
    );
    let body = app.graphql(&aliases(25), json!({})).await;
    assert_eq!(code(&body), "TOO_MANY_ROOT_FIELDS", "{body}");

    // `routes` × 1,000 aliases × 100 ids, and × 5 aliases (500 ids, past the budget of 100).
    let ids: Vec<String> = (0..100).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let batch = |n: usize| {
        let fields: String = (0..n)
            .map(|i| format!(" a{i}: routes(tenantIds: $ids) {{ shard }}"))
            .collect();
        format!("query($ids: [ID!]!) {{{fields} }}")
    };
    let body = app.graphql(&batch(1000), json!({ "ids": ids })).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    let body = app.graphql(&batch(5), json!({ "ids": ids })).await;
    assert_eq!(code(&body), "TOO_MANY_IDS", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{body}"
    );

    // 1,500 aliases of `tenants(first: 100) { __typename }`; one page too costly on its own.
    let pages: String = (0..1500)
        .map(|i| format!("t{i}:tenants(first:100){{__typename}}"))
        .collect();
    let body = app.graphql(&format!("{{{pages}}}"), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    let costly = "{ tenants(first: 100) { edges { node { history { eventId } } } } }";
    let body = app.graphql(costly, json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COSTLY", "{body}");
    // `__typename` is not free: 21 of them are 21 root fields.
    let names: String = (0..21).map(|i| format!(" n{i}: __typename")).collect();
    let body = app.graphql(&format!("{{{names} }}"), json!({})).await;
    assert_eq!(code(&body), "TOO_MANY_ROOT_FIELDS", "{body}");

    assert_eq!(
        lookups(&app).await,
        before,
        "no refused request looked anything up"
    );
    // What fits the budget still runs.
    let ok = app.graphql(&batch(1), json!({ "ids": ids })).await;
    assert!(ok["errors"].is_null(), "{ok}");
    assert_eq!(ok["data"]["a0"].as_array().unwrap().len(), 100);
    // The same text, parsed once and kept, is judged again with every request's variables.
    let two = app.graphql(&batch(2), json!({ "ids": ids[..10] })).await;
    assert!(two["errors"].is_null(), "{two}");
    let over = app.graphql(&batch(2), json!({ "ids": ids })).await;
    assert_eq!(
        code(&over),
        "TOO_MANY_IDS",
        "a kept text is still judged: {over}"
    );
}
