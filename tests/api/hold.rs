//! Legal holds (contract section 7, "History"): while one stands no deletion is carried out,
//! admin deletion requests answer 409 saying why, and lifting it carries out an overdue
//! deletion at once. Placing and lifting are history events with `sub` and reason.

use crate::helpers::*;
use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use tenant_catalog::auth::Scope;

fn hold(id: &str) -> String {
    format!("/admin/v1/tenants/{id}/hold")
}

#[tokio::test]
async fn a_legal_hold_stops_every_deletion_until_it_is_lifted() {
    let app = spawn_app().await;
    let mut c = active_tenant(&app, "de").await;
    let id = c.tenant_id.clone();

    let placed_after = micros(Utc::now());
    let (status, body) = app
        .admin(
            Method::PUT,
            &hold(&id),
            Some(json!({"reason": "litigation 2026-17"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["legal_hold"]["by"], "tests");
    assert_eq!(body["legal_hold"]["reason"], "litigation 2026-17");
    assert!(time(&body["legal_hold"]["since"]) >= placed_after, "{body}");
    let shown = app
        .query(
            "query($id: ID!) { tenant(id: $id) { state legalHold { by reason since } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(shown["tenant"]["legalHold"]["by"], "tests", "{shown}");
    assert_eq!(shown["tenant"]["legalHold"]["reason"], "litigation 2026-17");

    // Commerce asks for the data to be deleted now: without the hold it would be gone at once.
    let request = c.event(
        "data.deletion_requested",
        Utc::now(),
        json!({"reason": "customer request"}),
    );
    app.publish(&request).await;
    let held = app
        .wait_tenant(&id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;
    assert!(held.site.is_some(), "nothing purged while held: {held:?}");
    assert!(held.deletion_due_at.is_some_and(|due| due <= Utc::now()));
    assert_eq!(
        held.next_timer_at, None,
        "no deletion timer is armed while held"
    );

    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "cleanup", "immediate": true, "force": true})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "legal_hold");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("legal hold stands since") && message.contains("litigation 2026-17"),
        "{message}"
    );
    let (status, body) = app
        .admin(
            Method::PUT,
            &hold(&id),
            Some(json!({"reason": "second case"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("legal_hold")),
        "{body}"
    );
    assert_eq!(
        app.tenant(&id).await.map(|t| t.state),
        Some("DEACTIVATED".into())
    );

    let lifted_after = micros(Utc::now());
    let (status, body) = app
        .admin(
            Method::DELETE,
            &hold(&id),
            Some(json!({"reason": "case closed"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["state"], "DELETED",
        "the overdue deletion is carried out at once: {body}"
    );
    assert_eq!(body["legal_hold"], Value::Null);
    assert!(
        time(&body["deleted_at"]) >= lifted_after,
        "deleted when lifted: {body}"
    );
    assert_eq!(body["site"], Value::Null);

    let (status, body) = app
        .admin(Method::DELETE, &hold(&id), Some(json!({"reason": "again"})))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("already_deleted")),
        "{body}"
    );

    let seen = admin_actions(&app, &id).await;
    let expect = [
        ("admin.hold_placed", "applied", "litigation 2026-17"),
        ("admin.deletion_requested", "rejected", "cleanup"),
        ("admin.hold_placed", "rejected", "second case"),
        ("admin.hold_lifted", "applied", "case closed"),
        ("admin.hold_lifted", "rejected", "again"),
    ];
    assert_eq!(seen.len(), expect.len(), "{seen:?}");
    for ((t, outcome, by, reason), (et, eo, er)) in seen.iter().zip(expect) {
        assert_eq!(
            (t.as_str(), outcome.as_str(), by, reason),
            (et, eo, &json!("tests"), &json!(er))
        );
    }
}

#[tokio::test]
async fn lifting_a_hold_before_anything_is_due_changes_nothing_else_and_bad_requests_say_why() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(3), &unique_site("hold"), "us"))
        .await;
    let id = c.tenant_id.clone();
    let before = app
        .wait_tenant(&id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;

    let (status, body) = app
        .admin(
            Method::DELETE,
            &hold(&id),
            Some(json!({"reason": "nothing held"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("no_hold")),
        "{body}"
    );
    let (status, body) = app
        .admin(Method::PUT, &hold(&id), Some(json!({"reason": ""})))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request")),
        "{body}"
    );
    let (status, body) = app.admin(Method::PUT, &hold(&id), None).await;
    assert_eq!(status, 400, "a reason is required: {body}");
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = app
        .admin(
            Method::PUT,
            &hold(&unknown.to_string()),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let read = format!("Bearer {}", app.token(Scope::Read));
    let (status, _) = app
        .admin_request(
            Method::PUT,
            &hold(&id),
            Some(&read),
            Some(br#"{"reason": "x"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 403, "a read token cannot place a hold");

    let (status, placed) = app
        .admin(Method::PUT, &hold(&id), Some(json!({"reason": "audit"})))
        .await;
    assert_eq!(status, 200, "{placed}");
    let (status, lifted) = app
        .admin(
            Method::DELETE,
            &hold(&id),
            Some(json!({"reason": "audit done"})),
        )
        .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["state"], "ACTIVE");
    assert_eq!(lifted["legal_hold"], Value::Null);
    let after = app.tenant(&id).await.expect("tenant");
    assert_eq!(
        (after.lifecycle, after.site, after.next_timer_at),
        (before.lifecycle, before.site, before.next_timer_at)
    );
}
