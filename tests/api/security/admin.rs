//! The admin API: no token, no routing and no database write; a write and its audit row are
//! one transaction.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use tenant_catalog::auth::Scope;

async fn audit_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from admin_audit")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_before_routing_and_never_stored() {
    let app = spawn_app().await;
    let forged_kid = {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "Bearer {}.{}.c2ln",
            b64(json!({"alg": "EdDSA", "kid": "tenant-catalog/dev\nFORGED"})),
            b64(json!({"sub": "x"}))
        )
    };
    let requests = [
        (Method::GET, "/admin/v1/no-such-endpoint"),
        (Method::DELETE, "/admin/v1/shards"),
        (Method::POST, "/admin/v1/tenants/not-a-uuid/deletion"),
        (Method::PUT, "/admin/v1/shards/us-east-1-9"),
        (Method::GET, "/admin/v1/openapi.json"),
    ];
    let headers = [None, Some("Bearer garbage"), Some(forged_kid.as_str())];
    let mut sent = 0.0;
    for (method, path) in &requests {
        for header in headers {
            let (status, body) = app
                .admin_request(method.clone(), path, header, Some(b"{}".to_vec()))
                .await;
            assert_eq!(status, 401, "{method} {path} with {header:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthenticated");
            sent += 1.0;
        }
    }
    assert_eq!(audit_rows(&app).await, 0, "nothing was written");
    assert_eq!(
        app.metric("tenant_catalog_admin_refused_total{reason=\"unauthenticated\"}")
            .await,
        sent
    );

    // A valid token of the wrong scope is identified: refused with 403 before routing, and
    // audited with who asked.
    let read = format!("Bearer {}", app.token(Scope::Read));
    let (status, body) = app
        .admin_request(Method::GET, "/admin/v1/no-such-endpoint", Some(&read), None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(audit_rows(&app).await, 1);
    // An admin token reaches the router, which answers 404 for what does not exist.
    let (status, _) = app
        .admin(Method::GET, "/admin/v1/no-such-endpoint", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_admin_write_and_its_audit_row_commit_in_one_transaction() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(3), &unique_site("tx"), "us"))
        .await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    let id: uuid::Uuid = c.tenant_id.parse().unwrap();

    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "customer asked", "force": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // Rows written by one transaction carry its id (`xmin`).
    let (tenant_tx, audit_tx): (String, String) = sqlx::query_as(
        "select (select xmin::text from tenants where id = $1),
                (select xmin::text from admin_audit where tenant_id = $1 and status = 202)",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(tenant_tx, audit_tx, "the action and its audit row");

    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/us-east-1-2",
            Some(json!({"region": "us-east-1", "endpoint": "https://us-east-1-2.shards.example.net", "capacity": 5})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (shard_tx, audit_tx): (String, String) = sqlx::query_as(
        "select (select xmin::text from shards where id = 'us-east-1-2'),
                (select xmin::text from admin_audit where shard_id = 'us-east-1-2')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(shard_tx, audit_tx, "the shard and its audit row");
}
