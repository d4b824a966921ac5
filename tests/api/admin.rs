//! The admin API (contract section 6): deletion requests and their cancellation, the tenant
//! view, shards, auth, bad input, the audit trail and the OpenAPI document.

use crate::auth::invalid_authorizations;
use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tenant_catalog::auth::Scope;
use tenant_catalog::catalog::admin::audit_of_tenant;
use tenant_catalog::domain::TenantId;

/// A tenant commerce activated directly, ACTIVE and placed.
async fn active_tenant(app: &TestApp) -> (Commerce, Value) {
    let mut c = Commerce::new();
    let created = c.direct_purchase(days_ago(10), &unique_site("adm"), "de");
    app.publish(&created).await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    (c, created)
}

fn deletion(id: &str) -> String {
    format!("/admin/v1/tenants/{id}/deletion")
}

async fn fill(app: &TestApp, shard: &str) -> i64 {
    let (status, body) = app.admin(Method::GET, "/admin/v1/shards", None).await;
    assert_eq!(status, 200, "{body}");
    body["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .find(|s| s["id"] == shard)
        .and_then(|s| s["tenants"].as_i64())
        .unwrap_or_else(|| panic!("shard {shard} listed: {body}"))
}

#[tokio::test]
async fn a_served_tenant_needs_force_and_a_repeat_schedules_nothing_more() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;

    let (status, body) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "abuse report 17"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "force_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("force: true"),
        "{body}"
    );
    assert_eq!(app.tenant(id).await.unwrap().state, "ACTIVE");
    let refused = admin_actions(&app, id).await;
    assert_eq!(
        (refused.len(), refused[0].1.as_str(), &refused[0].2),
        (1, "rejected", &json!("tests")),
        "a refused action is in the history, rejected, with who did it: {refused:?}"
    );

    let before = Utc::now();
    let request = json!({"reason": "abuse report 17", "force": true});
    let (status, first) = app
        .admin(Method::POST, &deletion(id), Some(request.clone()))
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["state"], "DEACTIVATED");
    assert_eq!(first["serving"], false);
    let due = time(&first["deletion_due_at"]);
    assert!(
        due >= micros(before) + Duration::days(15) && due <= Utc::now() + Duration::days(15),
        "due in 15 days: {due}"
    );

    let (status, again) = app.admin(Method::POST, &deletion(id), Some(request)).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["deletion_due_at"], first["deletion_due_at"]);
    assert_eq!(again["version"], first["version"]);
    let request = |outcome: &str| {
        (
            "admin.deletion_requested".to_owned(),
            outcome.to_owned(),
            json!("tests"),
            json!("abuse report 17"),
        )
    };
    assert_eq!(
        admin_actions(&app, id).await,
        [request("rejected"), request("applied"), request("applied")],
        "every request in the history, with who and why; the repeat changed nothing"
    );

    let (status, view) = app
        .admin(Method::GET, &format!("/admin/v1/tenants/{id}"), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let types: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "subscription.activated",
            "admin.deletion_requested",
            "admin.deletion_requested",
            "admin.deletion_requested"
        ],
        "the full history in contract order"
    );
    assert_eq!(view["history"][1]["data"]["by"], "tests");
    assert_eq!(view["state"], "DEACTIVATED");
}

#[tokio::test]
async fn cancelling_returns_the_tenant_to_what_commerce_made_it() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;
    let active = app.tenant(id).await.unwrap();

    let (status, _) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "fraud suspected", "force": true})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = app
        .admin(
            Method::DELETE,
            &deletion(id),
            Some(json!({"reason": "not fraud after all"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "ACTIVE");
    assert_eq!(body["deletion_due_at"], Value::Null);
    let restored = app.tenant(id).await.unwrap();
    assert_eq!(
        (
            &restored.lifecycle,
            restored.current_period_end,
            &restored.shard_id
        ),
        (
            &active.lifecycle,
            active.current_period_end,
            &active.shard_id
        )
    );
    assert_eq!(
        admin_actions(&app, id).await,
        [
            (
                "admin.deletion_requested".to_owned(),
                "cancelled".to_owned(),
                json!("tests"),
                json!("fraud suspected")
            ),
            (
                "admin.deletion_cancelled".to_owned(),
                "applied".to_owned(),
                json!("tests"),
                json!("not fraud after all")
            ),
        ]
    );

    // Nothing left to cancel; the body is optional.
    let (status, body) = app.admin(Method::DELETE, &deletion(id), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_cancel");
}

#[tokio::test]
async fn an_immediate_deletion_is_carried_out_purged_published_and_final() {
    let app = spawn_app().await;
    let (c, created) = active_tenant(&app).await;
    let id = &c.tenant_id;
    let shard = app.tenant(id).await.unwrap().shard_id.unwrap();
    let fill_before = fill(&app, &shard).await;
    let mut feed = app.listen_changes().await;

    let (status, body) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "legal hold lifted", "force": true, "immediate": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "DELETED");
    assert_eq!(
        (&body["site"], &body["host"], &body["products"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(fill(&app, &shard).await, fill_before - 1, "slot freed");

    let (key, change) = feed.next(10).await;
    assert_eq!(key, "tenant.deleted");
    assert_eq!(change["tenant_id"], id.as_str());
    assert_eq!(change["host"], Value::Null);
    assert_eq!(change["cause"], "admin.deletion_requested");

    // The history stays, without the site name.
    let history = app.history(id).await;
    assert_eq!(history.len(), 2);
    assert!(
        history.iter().all(|e| e.data.get("site").is_none()),
        "{history:?}"
    );

    // Final: neither a cancel nor a repeat changes it, and a redelivered commerce event is
    // still recognised as the same event (not dead-lettered as a conflicting id).
    let (status, body) = app.admin(Method::DELETE, &deletion(id), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_deleted");
    let (status, body) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "again", "force": true})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_deleted");
    app.publish(&created).await;
    app.wait_for(10, "the redelivery counted", || async {
        (app.history(id).await[0].deliveries == 2).then_some(())
    })
    .await;
    assert!(app.dead_letters().await.is_empty());
    assert_eq!(app.tenant(id).await.unwrap().state, "DELETED");
}

#[tokio::test]
async fn a_deactivated_tenant_needs_no_force_and_immediate_deletes_it_now() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(60), &unique_site("gone"), "us"))
        .await;
    app.publish(&c.event(
        "subscription.cancelled",
        days_ago(30),
        json!({"effective_at": days_ago(2).to_rfc3339()}),
    ))
    .await;
    let id = &c.tenant_id;
    let t = app
        .wait_tenant(id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;

    let (status, body) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "customer asked"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        time(&body["deletion_due_at"]),
        t.deletion_due_at.unwrap(),
        "without immediate the deletion keeps its date"
    );
    let actions = admin_actions(&app, id).await;
    assert_eq!(
        actions.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        ["applied"],
        "a request that changes nothing is recorded, applied, and changes nothing: {actions:?}"
    );

    let (status, body) = app
        .admin(
            Method::POST,
            &deletion(id),
            Some(json!({"reason": "customer asked", "immediate": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "DELETED");
}

#[tokio::test]
async fn unknown_tenants_are_404_and_bad_input_is_400_with_nothing_changed() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;
    let version = app.tenant(id).await.unwrap().version;
    let unknown = uuid::Uuid::new_v4();
    for (method, path, body) in [
        (
            Method::POST,
            deletion(&unknown.to_string()),
            Some(json!({"reason": "x", "force": true})),
        ),
        (Method::DELETE, deletion(&unknown.to_string()), None),
        (Method::GET, format!("/admin/v1/tenants/{unknown}"), None),
    ] {
        let (status, body) = app.admin(method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }

    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("malformed JSON", deletion(id), b"{\"reason\": ".to_vec()),
        (
            "an unknown field",
            deletion(id),
            br#"{"reason": "x", "force": true, "forse": true}"#.to_vec(),
        ),
        (
            "a non-UUID id",
            deletion("not-a-uuid"),
            br#"{"reason": "x", "force": true}"#.to_vec(),
        ),
        (
            "an empty reason",
            deletion(id),
            br#"{"reason": "  ", "force": true}"#.to_vec(),
        ),
        ("no reason", deletion(id), br#"{"force": true}"#.to_vec()),
        (
            "force as a string",
            deletion(id),
            br#"{"reason": "x", "force": "yes"}"#.to_vec(),
        ),
        ("an empty body", deletion(id), Vec::new()),
    ];
    for (what, path, body) in cases {
        let bearer = format!("Bearer {}", app.token(Scope::Admin));
        let (status, answer) = app
            .admin_request(Method::POST, &path, Some(&bearer), Some(body))
            .await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request", "{what}");
        assert!(
            !answer["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    let (status, body) = app
        .admin(Method::GET, "/admin/v1/tenants/not-a-uuid", None)
        .await;
    assert_eq!(status, 400, "{body}");

    let shard_cases = [
        (
            "a negative capacity",
            "eu-west-1-9",
            json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": -1}),
        ),
        (
            "an unknown region",
            "mars-1-1",
            json!({"region": "mars-1", "endpoint": "https://x.example.net", "capacity": 5}),
        ),
        (
            "an unknown status",
            "eu-west-1-9",
            json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": 5, "status": "closed"}),
        ),
        (
            "an endpoint that is no URL",
            "eu-west-1-9",
            json!({"region": "eu-west-1", "endpoint": "x", "capacity": 5}),
        ),
        (
            "a bad shard id",
            "EU_1",
            json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": 5}),
        ),
        (
            "a fractional capacity",
            "eu-west-1-9",
            json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": 1.5}),
        ),
        (
            "an unknown field",
            "eu-west-1-9",
            json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": 5, "weight": 2}),
        ),
    ];
    for (what, shard, body) in shard_cases {
        let (status, answer) = app
            .admin(
                Method::PUT,
                &format!("/admin/v1/shards/{shard}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request", "{what}");
    }

    let tenant = app.tenant(id).await.unwrap();
    assert_eq!(
        (tenant.state.as_str(), tenant.version),
        ("ACTIVE", version),
        "nothing changed"
    );
    assert!(admin_actions(&app, id).await.is_empty());
    let (_, shards) = app.admin(Method::GET, "/admin/v1/shards", None).await;
    assert_eq!(
        shards["shards"].as_array().unwrap().len(),
        5,
        "no shard created"
    );
}

#[tokio::test]
async fn every_invalid_token_is_401_a_read_token_403_and_a_replayed_token_401() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;
    let body = || Some(br#"{"reason": "x", "force": true}"#.to_vec());

    for (what, header) in invalid_authorizations(&app, "admin") {
        let (status, answer) = app
            .admin_request(Method::POST, &deletion(id), header.as_deref(), body())
            .await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthenticated", "{what}");
    }
    let read = format!("Bearer {}", app.token(Scope::Read));
    for (method, path) in [
        (Method::POST, deletion(id)),
        (Method::GET, "/admin/v1/shards".to_owned()),
        (Method::GET, format!("/admin/v1/tenants/{id}")),
    ] {
        let (status, answer) = app
            .admin_request(method.clone(), &path, Some(&read), body())
            .await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden");
    }
    assert_eq!(app.tenant(id).await.unwrap().state, "ACTIVE");

    // One token, two writes: the second is a replay.
    let admin = format!("Bearer {}", app.token(Scope::Admin));
    let (status, first) = app
        .admin_request(Method::POST, &deletion(id), Some(&admin), body())
        .await;
    assert_eq!(status, 202, "{first}");
    let (status, replay) = app
        .admin_request(Method::DELETE, &deletion(id), Some(&admin), None)
        .await;
    assert_eq!(status, 401, "{replay}");
    assert_eq!(replay["error"]["code"], "token_replayed");
    assert_eq!(
        app.tenant(id).await.unwrap().state,
        "DEACTIVATED",
        "the replay changed nothing"
    );
    // Reads may reuse a token.
    for _ in 0..2 {
        let (status, _) = app
            .admin_request(Method::GET, "/admin/v1/shards", Some(&admin), None)
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn every_admin_request_is_audited_with_who_what_and_the_outcome() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;
    app.admin_request(Method::POST, &deletion(id), None, None)
        .await;
    app.admin(Method::POST, &deletion(id), Some(json!({"reason": "r1"})))
        .await;
    app.admin(
        Method::POST,
        &deletion(id),
        Some(json!({"reason": "r2", "force": true})),
    )
    .await;
    let (status, body) = app.admin(Method::GET, &deletion(id), None).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, body) = app.admin(Method::GET, "/admin/v1/nothing", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let trail = audit_of_tenant(&app.db, id.parse::<TenantId>().unwrap())
        .await
        .unwrap();
    let seen: Vec<(Option<&str>, u16, &str)> = trail
        .iter()
        .map(|e| (e.subject.as_deref(), e.status, e.method.as_str()))
        .collect();
    // The request without a token is refused before routing and not stored (the security
    // tests check that); every request with a valid token is, wrong methods included.
    assert_eq!(
        seen,
        [
            (Some("tests"), 409, "POST"),
            (Some("tests"), 202, "POST"),
            (Some("tests"), 405, "GET")
        ]
    );
    assert!(trail[0].outcome.contains("force"), "{:?}", trail[0]);
    assert!(
        trail[1].outcome.contains("deletion scheduled"),
        "{:?}",
        trail[1]
    );
    assert_eq!(trail[1].request.as_ref().unwrap()["reason"], "r2");
    assert_eq!(trail[1].path, deletion(id));
}

#[tokio::test]
async fn shards_are_created_updated_listed_and_never_below_their_fill() {
    let app = spawn_app().await;
    let path = "/admin/v1/shards/eu-west-1-2";
    let spec = json!({"region": "eu-west-1", "endpoint": "https://eu-west-1-2.shards.example.net", "capacity": 3});
    let (status, body) = app.admin(Method::PUT, path, Some(spec.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["status"], &body["tenants"], &body["capacity"]),
        (&json!("open"), &json!(0), &json!(3))
    );

    // Fill it: `ie` tenants go to eu-west-1, to the emptier shard first.
    for _ in 0..2 {
        let mut c = Commerce::new();
        app.publish(&c.trial(days_ago(1), &unique_site("ie"), "ie"))
            .await;
        app.wait_tenant(&c.tenant_id, "placed", |t| t.shard_id.is_some())
            .await;
    }
    let on_new = fill(&app, "eu-west-1-2").await;
    assert!(on_new >= 1, "the new shard takes tenants");

    let (status, body) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"region": "eu-west-1", "endpoint": "https://x.example.net", "capacity": on_new - 1})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot go below"),
        "{body}"
    );
    let (status, body) = app
        .admin(
            Method::PUT,
            path,
            Some(
                json!({"region": "us-east-1", "endpoint": "https://x.example.net", "capacity": 9}),
            ),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    let (status, body) = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"region": "eu-west-1", "endpoint": "https://new.example.net", "capacity": on_new, "status": "draining"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["endpoint"]),
        (&json!("draining"), &json!("https://new.example.net"))
    );

    let (status, list) = app.admin(Method::GET, "/admin/v1/shards", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ap-southeast-1-1",
            "ap-southeast-2-1",
            "eu-central-1-1",
            "eu-west-1-1",
            "eu-west-1-2",
            "us-east-1-1"
        ]
    );
    assert_eq!(list["waiting"], 0);
}

#[tokio::test]
async fn waiting_tenants_are_placed_when_room_appears_and_never_on_a_draining_shard() {
    let app = spawn_app_with(&[("SEED_SHARD_CAPACITY", "1")]).await;
    let mut first = Commerce::new();
    app.publish(&first.trial(days_ago(1), &unique_site("de"), "de"))
        .await;
    app.wait_tenant(&first.tenant_id, "placed", |t| t.state == "TRIAL")
        .await;
    let mut second = Commerce::new();
    app.publish(&second.trial(days_ago(1), &unique_site("de"), "de"))
        .await;
    app.wait_tenant(&second.tenant_id, "waiting", |t| t.state == "PROVISIONING")
        .await;

    // Raising the capacity places it.
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-1",
            Some(json!({"region": "eu-central-1", "endpoint": "https://eu-central-1-1.shards.example.net", "capacity": 2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let placed = app
        .wait_tenant(&second.tenant_id, "placed", |t| t.state == "TRIAL")
        .await;
    assert_eq!(placed.shard_id.as_deref(), Some("eu-central-1-1"));

    // A draining shard with room takes nobody; a new open shard does.
    let (status, _) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-1",
            Some(json!({"region": "eu-central-1", "endpoint": "https://eu-central-1-1.shards.example.net", "capacity": 10, "status": "draining"})),
        )
        .await;
    assert_eq!(status, 200);
    let mut third = Commerce::new();
    app.publish(&third.trial(days_ago(1), &unique_site("de"), "de"))
        .await;
    app.wait_tenant(&third.tenant_id, "waiting", |t| t.state == "PROVISIONING")
        .await;
    app.wait_scheduler_rounds(3.0).await;
    assert_eq!(
        app.tenant(&third.tenant_id).await.unwrap().state,
        "PROVISIONING",
        "still waiting after several scheduler rounds"
    );
    let (_, list) = app.admin(Method::GET, "/admin/v1/shards", None).await;
    assert_eq!(list["waiting"], 1);

    let (status, _) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-2",
            Some(json!({"region": "eu-central-1", "endpoint": "https://eu-central-1-2.shards.example.net", "capacity": 5})),
        )
        .await;
    assert_eq!(status, 201);
    let placed = app
        .wait_tenant(&third.tenant_id, "placed", |t| t.state == "TRIAL")
        .await;
    assert_eq!(placed.shard_id.as_deref(), Some("eu-central-1-2"));
}

#[tokio::test]
async fn the_openapi_document_is_served_and_kept_in_docs() {
    let app = spawn_app().await;
    let (status, served) = app.admin(Method::GET, "/admin/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string("docs/admin-openapi.json").expect("docs/admin-openapi.json"),
    )
    .expect("JSON");
    assert_eq!(
        served, kept,
        "docs/admin-openapi.json is stale: run `make openapi`"
    );
    for path in [
        "/admin/v1/tenants/{id}/deletion",
        "/admin/v1/tenants/{id}",
        "/admin/v1/shards/{id}",
        "/admin/v1/shards",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} documented");
    }
    let (status, _) = app
        .admin_request(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_token_is_spent_at_its_first_write_whatever_that_write_answered() {
    let app = spawn_app().await;
    let (c, _) = active_tenant(&app).await;
    let id = &c.tenant_id;
    let body = || Some(br#"{"reason": "x", "force": true}"#.to_vec());
    let unknown = uuid::Uuid::new_v4().to_string();
    for (first_path, first_body, first_status) in [
        (deletion(&unknown), body(), 404),
        (deletion(id), Some(br#"{"reason": ""}"#.to_vec()), 400),
    ] {
        let admin = format!("Bearer {}", app.token(Scope::Admin));
        let (status, first) = app
            .admin_request(Method::POST, &first_path, Some(&admin), first_body)
            .await;
        assert_eq!(status, first_status, "{first}");
        let (status, replay) = app
            .admin_request(Method::POST, &deletion(id), Some(&admin), body())
            .await;
        assert_eq!(
            (status, &replay["error"]["code"]),
            (401, &serde_json::json!("token_replayed")),
            "a token refused once is spent: {replay}"
        );
    }
    assert_eq!(
        app.tenant(id).await.unwrap().state,
        "ACTIVE",
        "no replay changed anything"
    );
}

#[tokio::test]
async fn an_id_with_events_but_no_tenant_is_shown_with_its_history() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    // A rename of a tenant commerce never created: stored, rejected, and visible.
    let rename = c.event(
        "site.renamed",
        days_ago(1),
        json!({"site": unique_site("ghost")}),
    );
    app.publish(&rename).await;
    app.wait_events_stored(1).await;
    let (status, view) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{}", c.tenant_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["id"], json!(c.tenant_id));
    assert_eq!(view["state"], Value::Null);
    assert_eq!(view["serving"], false);
    let history = view["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{view}");
    assert_eq!(history[0]["event_id"], rename["id"]);
    assert_eq!(history[0]["outcome"], "rejected");
    assert!(
        history[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("tenant unknown")),
        "{view}"
    );
    assert!(
        view["summary"]
            .as_str()
            .is_some_and(|s| s.contains("no tenant")),
        "{view}"
    );
    let (status, _) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404, "nothing at all under this id");
}
