//! Deletion receipts (contract section 7, "History"): when a deletion is carried out, a durable
//! receipt says when, what caused it and who, what was purged, and a digest of the history
//! before the purge; it is in the change message and at
//! `GET /admin/v1/tenants/{id}/deletion-receipt`.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn receipt_path(id: &str) -> String {
    format!("/admin/v1/tenants/{id}/deletion-receipt")
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// A stored event as the digest reads it: id, type, occurred_at, sequence, data as text.
type EventLine = (uuid::Uuid, String, DateTime<Utc>, Option<i64>, String);

/// The history's lines in the receipt's documented form, as the database holds them now.
async fn history_lines(app: &TestApp, id: &str) -> Vec<String> {
    let rows: Vec<EventLine> = sqlx::query_as(
        "select event_id, type, occurred_at, sequence, data::text from tenant_events
         where tenant_id = $1 order by occurred_at, coalesce(sequence, 0), event_id",
    )
    .bind(id.parse::<uuid::Uuid>().expect("uuid"))
    .fetch_all(&app.db)
    .await
    .expect("history");
    rows.into_iter()
        .map(|(event, kind, at, seq, data)| {
            format!(
                "{event} {kind} {} {} {data}",
                at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                seq.unwrap_or(0)
            )
        })
        .collect()
}

#[tokio::test]
async fn a_deletion_leaves_a_receipt_that_proves_the_history_it_purged() {
    let app = spawn_app().await;
    let mut changes = app.listen_changes().await;
    let mut c = Commerce::new();
    let site = unique_site("gone");
    app.publish(&c.trial(days_ago(5), &site, "eu")).await;
    let id = c.tenant_id.clone();
    app.wait_tenant(&id, "TRIAL", |t| t.state == "TRIAL").await;
    let renamed = format!("{site}-2");
    app.publish(&c.event("site.renamed", days_ago(4), json!({"site": renamed})))
        .await;
    app.wait_tenant(&id, "renamed", |t| t.site.as_deref() == Some(&renamed))
        .await;
    let (status, body) = app.admin(Method::GET, &receipt_path(&id), None).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is not deleted"),
        "{body}"
    );

    // The history as it stands, and the deletion request commerce sends: what the receipt's
    // digest must cover, in its documented form.
    let request = c.event(
        "data.deletion_requested",
        micros(Utc::now()),
        json!({"reason": "customer asked"}),
    );
    let mut lines = history_lines(&app, &id).await;
    lines.push(format!(
        "{} data.deletion_requested {} {} {{\"reason\": \"customer asked\"}}",
        request["id"].as_str().unwrap_or_default(),
        time(&request["occurred_at"]).format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        request["sequence"]
    ));
    app.publish(&request).await;
    app.wait_tenant(&id, "DELETED", |t| t.state == "DELETED")
        .await;

    let (status, r) = app.admin(Method::GET, &receipt_path(&id), None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["tenant_id"], id.as_str());
    assert_eq!(r["cause"]["type"], "data.deletion_requested", "{r}");
    assert_eq!(r["cause"]["event_id"], request["id"]);
    assert_eq!(r["cause"]["reason"], "customer asked");
    assert_eq!(r["by"], "commerce");
    assert_eq!(r["released_by"], Value::Null);
    assert_eq!(r["purged"]["site_sha256"], sha256(&renamed), "{r}");
    assert_eq!(r["purged"]["old_sites_sha256"], json!([sha256(&site)]));
    assert_eq!(r["purged"]["hosts"], 2);
    assert_eq!(r["purged"]["products"], json!(["jira", "confluence"]));
    assert_eq!(
        r["purged"]["events_scrubbed"], 2,
        "the trial and the rename named a site"
    );
    assert_eq!(r["history"]["events"], 3);
    assert_eq!(
        r["history"]["sha256"],
        sha256(&lines.join("\n")),
        "the digest is of the history before the purge"
    );
    let after = history_lines(&app, &id).await.join("\n");
    assert_ne!(
        r["history"]["sha256"],
        sha256(&after),
        "the purge changed the history"
    );
    assert!(
        !after.contains(&site),
        "no site name is left in the history"
    );
    let text = r.to_string();
    assert!(!text.contains(&site) && !text.contains(&renamed), "{text}");

    // The change message that announces the deletion carries the same receipt.
    let receipt = loop {
        let (key, body) = changes.next(10).await;
        if key == "tenant.deleted" {
            break body["deletion_receipt"].clone();
        }
    };
    assert_eq!(receipt, r);
}

#[tokio::test]
async fn an_admin_deletion_and_a_lifted_hold_are_named_in_their_receipts() {
    let app = spawn_app().await;
    let admin_deleted = active_tenant(&app, "us").await;
    let id = admin_deleted.tenant_id.clone();
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "abuse report 17", "immediate": true, "force": true})),
        )
        .await;
    assert_eq!((status, &body["state"]), (202, &json!("DELETED")), "{body}");
    let (_, r) = app.admin(Method::GET, &receipt_path(&id), None).await;
    assert_eq!(r["cause"]["type"], "admin.deletion_requested", "{r}");
    assert_eq!(
        (&r["by"], &r["cause"]["reason"]),
        (&json!("tests"), &json!("abuse report 17"))
    );
    assert_eq!(r["deleted_at"], body["deleted_at"]);

    let mut held = active_tenant(&app, "us").await;
    let held_id = held.tenant_id.clone();
    let hold = format!("/admin/v1/tenants/{held_id}/hold");
    let (status, _) = app
        .admin(Method::PUT, &hold, Some(json!({"reason": "litigation 3"})))
        .await;
    assert_eq!(status, 200);
    // Dated after the hold: a request dated before it would have been carried out before it.
    app.publish(&held.event(
        "data.deletion_requested",
        Utc::now(),
        json!({"reason": "customer asked"}),
    ))
    .await;
    app.wait_tenant(&held_id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;
    let (status, _) = app.admin(Method::GET, &receipt_path(&held_id), None).await;
    assert_eq!(status, 404, "held: not deleted, no receipt");
    let (status, lifted) = app
        .admin(
            Method::DELETE,
            &hold,
            Some(json!({"reason": "case closed"})),
        )
        .await;
    assert_eq!(
        (status, &lifted["state"]),
        (200, &json!("DELETED")),
        "{lifted}"
    );
    let (_, r) = app.admin(Method::GET, &receipt_path(&held_id), None).await;
    assert_eq!(r["cause"]["type"], "data.deletion_requested", "{r}");
    assert_eq!(r["released_by"]["type"], "admin.hold_lifted");
    assert_eq!(r["released_by"]["by"], "tests");
    assert_eq!(r["released_by"]["reason"], "case closed");
    assert!(time(&r["deleted_at"]) > time(&r["deletion_due_at"]), "{r}");

    let (status, body) = app
        .admin(
            Method::GET,
            &receipt_path(&uuid::Uuid::new_v4().to_string()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
}
