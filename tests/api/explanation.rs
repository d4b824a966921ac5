//! `Tenant.explanation` (contract section 7, "History"): served or not and why, which event or
//! timer made it so (with `by` and reason for admin actions), and what happens next and when;
//! in GraphQL, in the admin API's tenant view, and from `tenant-catalog show`.

use crate::helpers::*;
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

const EXPLAIN: &str = "query($id: ID!, $at: DateTime) {
  tenant(id: $id, asOf: $at) {
    trialEndsAt deletionDueAt
    explanation {
      summary serving state since
      cause { kind type eventId at by reason }
      next { type at what }
      legalHold { by reason }
      moving { phase }
    }
  }
}";

async fn explain(app: &TestApp, id: &str, at: Option<String>) -> Value {
    let data = app.query(EXPLAIN, json!({"id": id, "at": at})).await;
    data["tenant"].clone()
}

#[tokio::test]
async fn a_trial_says_when_it_ends_and_when_its_data_goes() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let started = days_ago(3);
    let trial = c.trial(started, &unique_site("why"), "eu");
    app.publish(&trial).await;
    let id = c.tenant_id.clone();
    app.wait_tenant(&id, "TRIAL", |t| t.state == "TRIAL").await;

    let t = explain(&app, &id, None).await;
    let e = &t["explanation"];
    assert_eq!(
        (e["serving"].clone(), e["state"].clone()),
        (json!(true), json!("TRIAL")),
        "{e}"
    );
    assert_eq!(e["cause"]["type"], "trial.started");
    assert_eq!(e["cause"]["kind"], "event");
    assert_eq!(e["cause"]["eventId"], trial["id"]);
    assert_eq!(time(&e["since"]), micros(started));
    let ends = time(&t["trialEndsAt"]);
    let next: Vec<(String, Value)> = e["next"]
        .as_array()
        .expect("next")
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap_or_default().to_owned(),
                n["at"].clone(),
            )
        })
        .collect();
    assert_eq!(next.len(), 2, "{e}");
    assert_eq!(next[0].0, "timer.trial_ended");
    assert_eq!(time(&next[0].1), ends);
    assert_eq!(next[1].0, "timer.deletion_due");
    assert_eq!(time(&next[1].1), ends + Duration::days(15));
    let summary = e["summary"].as_str().unwrap_or_default();
    assert!(summary.starts_with("Served: TRIAL since"), "{summary}");
    assert!(summary.contains("the trial ends at"), "{summary}");
}

#[tokio::test]
async fn an_admin_deletion_names_who_and_why_and_a_hold_stops_what_comes_next() {
    let app = spawn_app().await;
    let mut c = active_tenant(&app, "us").await;
    let id = c.tenant_id.clone();
    let suspended_at = days_ago(2);
    app.publish(&c.event(
        "subscription.suspended",
        suspended_at,
        json!({"reason": "payment_overdue"}),
    ))
    .await;
    app.wait_tenant(&id, "SUSPENDED", |t| t.state == "SUSPENDED")
        .await;
    let e = explain(&app, &id, None).await["explanation"].clone();
    assert_eq!(e["cause"]["type"], "subscription.suspended", "{e}");
    assert_eq!(e["cause"]["reason"], "payment_overdue");
    assert_eq!(e["next"], json!([]));
    assert!(
        e["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("subscription.unsuspended"),
        "{e}"
    );

    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "abuse report 17", "force": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let t = explain(&app, &id, None).await;
    let e = &t["explanation"];
    assert_eq!(e["state"], "DEACTIVATED", "{e}");
    assert_eq!(
        (
            &e["cause"]["type"],
            &e["cause"]["by"],
            &e["cause"]["reason"]
        ),
        (
            &json!("admin.deletion_requested"),
            &json!("tests"),
            &json!("abuse report 17")
        )
    );
    assert_eq!(e["next"][0]["type"], "timer.deletion_due");
    assert_eq!(e["next"][0]["at"], t["deletionDueAt"]);

    let (status, _) = app
        .admin(
            Method::PUT,
            &format!("/admin/v1/tenants/{id}/hold"),
            Some(json!({"reason": "litigation 9"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, view) = app
        .admin(Method::GET, &format!("/admin/v1/tenants/{id}"), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let e = &view["explanation"];
    assert_eq!(e["legal_hold"]["reason"], "litigation 9", "{view}");
    assert_eq!(
        e["next"][0]["at"],
        Value::Null,
        "a held deletion has no date: {e}"
    );
    assert_eq!(e["cause"]["by"], "tests");
    let summary = e["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("Not served: DEACTIVATED since")
            && summary.contains("admin.deletion_requested by tests: abuse report 17")
            && summary.contains("waits for the legal hold"),
        "{summary}"
    );

    // The past explains itself too: before the suspension it was ACTIVE, by its purchase; but
    // the catalog heard of it only today, so it had not placed it then, and says so.
    let before = explain(&app, &id, Some(days_ago(5).to_rfc3339())).await;
    let e = &before["explanation"];
    assert_eq!(
        (e["state"].clone(), e["serving"].clone()),
        (json!("ACTIVE"), json!(false)),
        "{e}"
    );
    assert_eq!(e["cause"]["type"], "subscription.activated");
    let summary = e["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("had not placed it then"), "{summary}");
}

#[tokio::test]
async fn a_timer_is_named_as_the_cause_and_show_prints_the_sentence() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    // A trial that ended a few days ago, whose data is not due for deletion yet: it ends on
    // the first billing day strictly after 30 days, so a trial started an hour less than 30
    // days before a billing day ends on that day.
    use chrono::{Datelike, Duration, TimeZone};
    let site = unique_site("why");
    let mut ended = chrono::Utc::now() - Duration::days(3);
    while ended.day() > 28 {
        ended -= Duration::days(1);
    }
    let ended = chrono::Utc
        .with_ymd_and_hms(ended.year(), ended.month(), ended.day(), 0, 0, 0)
        .single()
        .expect("a day of a month");
    let trial = c.event(
        "trial.started",
        ended - Duration::days(30) - Duration::hours(1),
        json!({"site": site, "products": ["jira"], "residency": "eu", "billing_day": ended.day()}),
    );
    app.publish(&trial).await;
    let id = c.tenant_id.clone();
    let stored = app
        .wait_tenant(&id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;
    assert_eq!(stored.deletion_due_at, Some(ended + Duration::days(15)));
    let e = explain(&app, &id, None).await["explanation"].clone();
    assert_eq!(e["cause"]["kind"], "timer", "{e}");
    assert_eq!(e["cause"]["type"], "timer.trial_ended");
    assert_eq!(e["cause"]["eventId"], Value::Null);
    assert_eq!(
        Some(time(&e["next"][0]["at"])),
        stored.deletion_due_at,
        "{e}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .args(["show", &id])
        .env("DATABASE_URL", &app.settings.database_url)
        .env("RUST_LOG", "off")
        .output()
        .expect("show runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sentence = String::from_utf8_lossy(&out.stderr);
    assert!(
        sentence.starts_with("Not served: DEACTIVATED since")
            && sentence.contains("timer.trial_ended"),
        "{sentence}"
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(shown["explanation"]["cause"]["type"], "timer.trial_ended");
    assert_eq!(shown["tenant"]["state"], "DEACTIVATED");
}
