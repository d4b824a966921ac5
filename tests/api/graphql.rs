//! The GraphQL API: every query, the batch, pagination, old hosts, limits, the schema file and
//! the example queries.

use crate::helpers::*;
use serde_json::{Value, json};
use uuid::Uuid;

const TENANT: &str = "query($id: ID!) { tenant(id: $id) {
    id site host oldHosts state serving region shard products plan trialEndsAt version
    history { eventId type occurredAt outcome reason } } }";
const ROUTE_BY_ID: &str =
    "query($id: ID) { route(tenantId: $id) { tenantId host region shard endpoint state serving } }";
const ROUTE_BY_HOST: &str = "query($host: String) { route(host: $host) { tenantId host region shard endpoint state serving } }";

/// Publishes a trial for a new tenant and waits until it is stored in `state`.
async fn trial(app: &TestApp, site: &str, residency: &str, state: &str) -> (Commerce, Value) {
    let mut c = Commerce::new();
    let event = c.trial(days_ago(1), site, residency);
    app.publish(&event).await;
    app.wait_tenant(&c.tenant_id, state, |t| t.state == state)
        .await;
    (c, event)
}

#[tokio::test]
async fn a_tenant_its_history_and_its_old_host_are_found_by_id_and_by_host() {
    let app = spawn_app().await;
    let old = unique_site("acme");
    let new = unique_site("acme-corp");
    let (mut c, created) = trial(&app, &old, "de", "TRIAL").await;
    let renamed = c.event("site.renamed", days_ago(0), json!({"site": new}));
    app.publish(&renamed).await;
    app.wait_tenant(&c.tenant_id, "renamed", |t| t.site.as_deref() == Some(&new))
        .await;

    let data = app.query(TENANT, json!({"id": c.tenant_id})).await;
    let t = &data["tenant"];
    assert_eq!(t["id"], c.tenant_id.as_str());
    assert_eq!(t["host"], format!("{new}.example.net"));
    assert_eq!(t["oldHosts"], json!([format!("{old}.example.net")]));
    assert_eq!(t["state"], "TRIAL");
    assert_eq!(t["serving"], true);
    assert_eq!(
        t["region"], "eu-central-1",
        "residency de allows only eu-central-1"
    );
    assert_eq!(t["shard"], "eu-central-1-1");
    assert_eq!(t["products"], json!(["jira", "confluence"]));
    assert_eq!(t["version"], 2);
    let history: Vec<(&str, &str)> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventId"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (created["id"].as_str().unwrap(), "applied"),
            (renamed["id"].as_str().unwrap(), "applied")
        ],
        "history in contract order"
    );

    for host in [format!("{new}.example.net"), format!("{old}.EXAMPLE.net")] {
        let data = app
            .query(
                "query($h: String!) { tenantByHost(host: $h) { id host } }",
                json!({"h": host}),
            )
            .await;
        assert_eq!(data["tenantByHost"]["id"], c.tenant_id.as_str(), "{host}");
        let data = app.query(ROUTE_BY_HOST, json!({"host": host})).await;
        assert_eq!(data["route"]["tenantId"], c.tenant_id.as_str(), "{host}");
        assert_eq!(data["route"]["host"], format!("{new}.example.net"));
        assert_eq!(
            data["route"]["endpoint"],
            "https://eu-central-1-1.shards.example.net"
        );
    }
    let by_host = "query($h: String!) { tenantByHost(host: $h) { id } route(host: $h) { host } }";
    let data = app
        .query(by_host, json!({"h": "nobody-here.example.net"}))
        .await;
    assert_eq!(data, json!({"tenantByHost": null, "route": null}));
    // Hosts that no tenant can have are refused, not looked up.
    for impossible in ["elsewhere.org", "", "a.example.net", "x.y.example.net"] {
        let body = app.graphql(by_host, json!({"h": impossible})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{impossible:?}: {body}"
        );
    }
    let data = app
        .query(TENANT, json!({"id": Uuid::new_v4().to_string()}))
        .await;
    assert_eq!(data["tenant"], Value::Null, "an unknown tenant is null");
}

#[tokio::test]
async fn a_route_is_given_only_for_placed_tenants_that_are_not_deleted() {
    // Only us-east-1 has a shard: an `au` tenant waits PROVISIONING.
    let app = spawn_app_with(&[("SEED_SHARD_REGIONS", "us-east-1")]).await;
    let (served, _) = trial(&app, &unique_site("served"), "us", "TRIAL").await;
    let (waiting, _) = trial(&app, &unique_site("waiting"), "au", "PROVISIONING").await;
    let (mut gone, _) = trial(&app, &unique_site("gone"), "us", "TRIAL").await;
    let deletion = gone.event(
        "data.deletion_requested",
        days_ago(0),
        json!({"reason": "customer asked"}),
    );
    app.publish(&deletion).await;
    app.wait_tenant(&gone.tenant_id, "DELETED", |t| t.state == "DELETED")
        .await;

    let route = app
        .query(ROUTE_BY_ID, json!({"id": served.tenant_id}))
        .await;
    assert_eq!(route["route"]["state"], "TRIAL");
    assert_eq!(route["route"]["serving"], true);
    assert_eq!(route["route"]["region"], "us-east-1");
    assert_eq!(route["route"]["shard"], "us-east-1-1");
    let unknown = Uuid::new_v4().to_string();
    for id in [&waiting.tenant_id, &gone.tenant_id, &unknown] {
        let data = app.query(ROUTE_BY_ID, json!({"id": id})).await;
        assert_eq!(data["route"], Value::Null, "no route for {id}");
    }
    let data = app.query(TENANT, json!({"id": gone.tenant_id})).await;
    assert_eq!(data["tenant"]["state"], "DELETED");
    assert_eq!(
        data["tenant"]["host"],
        Value::Null,
        "a deleted tenant's host is purged"
    );

    // A suspended tenant is routed, but not to be served.
    let mut s = served;
    app.publish(&s.event(
        "subscription.suspended",
        days_ago(0),
        json!({"reason": "overdue"}),
    ))
    .await;
    app.wait_tenant(&s.tenant_id, "SUSPENDED", |t| t.state == "SUSPENDED")
        .await;
    let data = app.query(ROUTE_BY_ID, json!({"id": s.tenant_id})).await;
    assert_eq!(data["route"]["state"], "SUSPENDED");
    assert_eq!(data["route"]["serving"], false);

    let both = app
        .graphql(
            "{ route(tenantId: \"00000000-0000-0000-0000-000000000000\", host: \"x.example.net\") { host } }",
            json!({}),
        )
        .await;
    assert!(
        both["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("exactly one"),
        "{both}"
    );
}

#[tokio::test]
async fn routes_answers_many_ids_in_the_order_asked_up_to_the_cap() {
    let app = spawn_app_with(&[("GRAPHQL_MAX_ROUTE_IDS", "4")]).await;
    let (a, _) = trial(&app, &unique_site("a"), "us", "TRIAL").await;
    let (b, _) = trial(&app, &unique_site("b"), "sg", "TRIAL").await;
    let unknown = Uuid::new_v4().to_string();
    let query = "query($ids: [ID!]!) { routes(tenantIds: $ids) { tenantId region } }";

    let ids = json!([b.tenant_id, unknown, a.tenant_id, b.tenant_id]);
    let data = app.query(query, json!({"ids": ids})).await;
    assert_eq!(
        data["routes"],
        json!([
            {"tenantId": b.tenant_id, "region": "ap-southeast-1"},
            null,
            {"tenantId": a.tenant_id, "region": "us-east-1"},
            {"tenantId": b.tenant_id, "region": "ap-southeast-1"},
        ])
    );
    // Asked again, the answer comes from the cache and is the same.
    assert_eq!(app.query(query, json!({"ids": ids})).await, data);

    let five = json!([
        a.tenant_id,
        a.tenant_id,
        a.tenant_id,
        a.tenant_id,
        a.tenant_id
    ]);
    let over = app.graphql(query, json!({"ids": five})).await;
    assert_eq!(
        over["errors"][0]["extensions"]["code"], "TOO_MANY_IDS",
        "{over}"
    );
    assert!(
        over["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 4"),
        "{over}"
    );
    let bad = app.graphql(query, json!({"ids": ["not-a-uuid"]})).await;
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{bad}"
    );
}

#[tokio::test]
async fn tenants_pages_through_the_catalog_with_opaque_cursors() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let (c, _) = trial(&app, &unique_site(&format!("page{n}")), "global", "TRIAL").await;
        created.push(c.tenant_id);
    }
    let (mut direct, _) = (Commerce::new(), ());
    app.publish(&direct.direct_purchase(days_ago(1), &unique_site("direct"), "us"))
        .await;
    app.wait_tenant(&direct.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;

    let query = "query($after: String) { tenants(state: TRIAL, first: 2, after: $after) {
        edges { cursor node { id state } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app.query(query, json!({"after": after})).await;
        let page = &data["tenants"];
        pages += 1;
        for edge in page["edges"].as_array().unwrap() {
            assert_eq!(edge["node"]["state"], "TRIAL");
            seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(page["pageInfo"]["hasPreviousPage"], pages > 1);
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(pages, 3, "5 tenants, 2 a page");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in id order");
    created.sort();
    assert_eq!(seen, created, "every TRIAL tenant once, the ACTIVE one not");

    let all = app
        .query(
            "{ tenants(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all["tenants"]["edges"].as_array().unwrap().len(), 6);

    for (args, message) in [
        ("first: 101", "`first` must be from 0 to 100"),
        ("after: \"bogus!\"", "not a cursor"),
        ("region: \"mars-1\"", "region"),
    ] {
        let body = app
            .graphql(
                &format!("{{ tenants({args}) {{ edges {{ cursor }} }} }}"),
                json!({}),
            )
            .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{args}: {body}"
        );
    }
}

#[tokio::test]
async fn shards_lists_every_shard_with_its_fill() {
    let app = spawn_app().await;
    trial(&app, &unique_site("filled"), "us", "TRIAL").await;
    let data = app
        .query(
            "{ shards { id region endpoint capacity tenantCount status } }",
            json!({}),
        )
        .await;
    let shards = data["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 5, "one seeded shard per region");
    let us = shards.iter().find(|s| s["id"] == "us-east-1-1").unwrap();
    assert_eq!(
        us,
        &json!({"id": "us-east-1-1", "region": "us-east-1",
                "endpoint": "https://us-east-1-1.shards.example.net",
                "capacity": 10000, "tenantCount": 1, "status": "open"})
    );
    let eu = app
        .query(
            "{ shards(region: \"eu-west-1\") { id tenantCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        eu["shards"],
        json!([{"id": "eu-west-1-1", "tenantCount": 0}])
    );
}

#[tokio::test]
async fn queries_beyond_the_limits_get_graphql_errors_not_server_errors() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.token(tenant_catalog::auth::Scope::Read));

    // Deeper than allowed: the introspection type tree nests without end.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(12),
        "} ".repeat(12)
    );
    let body = app.graphql(&deep, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
    // Too costly: 100 tenants with their history each.
    let costly = "{ tenants(first: 100) { edges { node { history { eventId type occurredAt outcome reason } } } } }";
    let body = app.graphql(costly, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COSTLY",
        "{body}"
    );
    assert!(body["data"].is_null(), "nothing is resolved: {body}");
    let body = app.graphql("{ tenant(id: \"x\") { id } ", json!({})).await;
    assert!(
        body["errors"].is_array(),
        "a syntax error is a GraphQL error: {body}"
    );

    let huge = format!(
        "{{\"query\": \"{{ shards {{ id }} }}\", \"x\": \"{}\"}}",
        "a".repeat(70_000)
    );
    let response = app.post_graphql(Some(&bearer), huge.into_bytes()).await;
    assert_eq!(response.status(), 413, "a body over 64 KiB is refused");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");

    let response = app.post_graphql(Some(&bearer), b"{not json".to_vec()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("graphiql"),
        "GraphiQL page"
    );
}

#[tokio::test]
async fn introspection_and_graphiql_can_be_switched_off() {
    let app = spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;
    let body = app
        .graphql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"],
        Value::Null,
        "the schema is not revealed: {body}"
    );
    assert_eq!(app.get("/graphql").await.status(), 404);
    let data = app.query("{ shards { id } }", json!({})).await;
    assert_eq!(
        data["shards"].as_array().unwrap().len(),
        5,
        "queries still work"
    );
}

#[test]
fn the_committed_schemas_are_what_export_schema_prints() {
    for (file, printed) in [
        ("schema.graphql", tenant_catalog::graphql::sdl()),
        ("replica.graphql", tenant_catalog::graphql::replica_sdl()),
    ] {
        let path = format!("{}/graphql/{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).expect("the committed schema exists");
        assert!(
            committed == printed,
            "graphql/{file} is stale: run `make schema` and commit it"
        );
    }
}

#[tokio::test]
async fn every_example_query_runs_without_errors() {
    let app = spawn_app().await;
    let site = unique_site("example");
    let (c, _) = trial(&app, &site, "eu", "TRIAL").await;
    let variables = json!({
        "tenantId": c.tenant_id,
        "tenantIds": [c.tenant_id, Uuid::new_v4().to_string()],
        "host": format!("{site}.example.net"),
        "first": 10,
        "after": null,
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/graphql/examples");
    let mut ran = 0;
    for entry in std::fs::read_dir(dir).expect("graphql/examples") {
        let path = entry.unwrap().path();
        let query = std::fs::read_to_string(&path).unwrap();
        let data = app.query(&query, variables.clone()).await;
        let answer = data.as_object().unwrap().values().next().unwrap();
        assert!(
            !answer.is_null(),
            "{} finds the tenant: {data}",
            path.display()
        );
        ran += 1;
    }
    assert!(ran >= 5, "the examples are there");
}
