//! The past (contract section 7, "History"): `tenant(id, asOf)` and `route(..., asOf)` refold
//! the stored history up to an instant; `knownAt` counts what the catalog had received by then.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

const TENANT_AT: &str = "query($id: ID!, $at: DateTime, $known: DateTime) {
  tenant(id: $id, asOf: $at, knownAt: $known) {
    state lifecycle suspended site host trialEndsAt currentPeriodEnd cancellationEffectiveAt
    deletionDueAt createdAt region shard version serving history { type outcome }
    explanation { summary }
  }
}";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339")
}

fn opt_time(v: &Value) -> Option<DateTime<Utc>> {
    (!v.is_null()).then(|| time(v))
}

/// What `tenant(asOf:)` must say at one instant, written out by hand.
struct Then<'a> {
    at: &'static str,
    state: &'static str,
    lifecycle: &'static str,
    suspended: bool,
    site: &'a str,
    trial_ends_at: Option<&'static str>,
    current_period_end: Option<&'static str>,
    cancellation_effective_at: Option<&'static str>,
    /// Events that had occurred by then.
    events: usize,
}

#[tokio::test]
async fn a_tenant_as_of_an_instant_is_what_its_events_made_it_by_then() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let first = unique_site("past");
    let second = format!("{first}-2");
    let history = [
        c.trial(at("2026-06-01T10:00:00Z"), &first, "eu"),
        c.event("subscription.activated", at("2026-06-03T10:00:00Z"),
            json!({"plan": "standard", "cycle": "monthly", "current_period_end": "2026-07-10T00:00:00Z"})),
        c.event("subscription.suspended", at("2026-06-11T10:00:00Z"), json!({"reason": "payment_overdue"})),
        c.event("subscription.unsuspended", at("2026-06-13T10:00:00Z"), json!({})),
        c.event("site.renamed", at("2026-06-21T10:00:00Z"), json!({"site": second})),
        c.event("subscription.cancelled", at("2026-07-01T10:00:00Z"), json!({"effective_at": "2026-07-10T00:00:00Z"})),
        c.event("subscription.reactivated", at("2026-07-08T10:00:00Z"), json!({"current_period_end": "2027-02-10T00:00:00Z"})),
    ];
    // Delivered in reverse: arrival order must not matter to the past.
    for e in history.iter().rev() {
        app.publish(e).await;
    }
    app.wait_events_stored(history.len() as i64).await;
    app.wait_queue_drained().await;
    let id = c.tenant_id.clone();
    let (p1, p2) = (first.as_str(), second.as_str());
    // The trial ends on the first billing day (the 5th) strictly after 30 days: 2026-07-05.
    let thens = [
        Then {
            at: "2026-06-02T00:00:00Z",
            state: "TRIAL",
            lifecycle: "TRIAL",
            suspended: false,
            site: p1,
            trial_ends_at: Some("2026-07-05T00:00:00Z"),
            current_period_end: None,
            cancellation_effective_at: None,
            events: 1,
        },
        Then {
            at: "2026-06-05T00:00:00Z",
            state: "ACTIVE",
            lifecycle: "ACTIVE",
            suspended: false,
            site: p1,
            trial_ends_at: None,
            current_period_end: Some("2026-07-10T00:00:00Z"),
            cancellation_effective_at: None,
            events: 2,
        },
        Then {
            at: "2026-06-12T00:00:00Z",
            state: "SUSPENDED",
            lifecycle: "ACTIVE",
            suspended: true,
            site: p1,
            trial_ends_at: None,
            current_period_end: Some("2026-07-10T00:00:00Z"),
            cancellation_effective_at: None,
            events: 3,
        },
        Then {
            at: "2026-06-25T00:00:00Z",
            state: "ACTIVE",
            lifecycle: "ACTIVE",
            suspended: false,
            site: p2,
            trial_ends_at: None,
            current_period_end: Some("2026-07-10T00:00:00Z"),
            cancellation_effective_at: None,
            events: 5,
        },
        Then {
            at: "2026-07-05T00:00:00Z",
            state: "CANCELLING",
            lifecycle: "CANCELLING",
            suspended: false,
            site: p2,
            trial_ends_at: None,
            current_period_end: Some("2026-07-10T00:00:00Z"),
            cancellation_effective_at: Some("2026-07-10T00:00:00Z"),
            events: 6,
        },
        Then {
            at: "2026-07-09T00:00:00Z",
            state: "ACTIVE",
            lifecycle: "ACTIVE",
            suspended: false,
            site: p2,
            trial_ends_at: None,
            current_period_end: Some("2027-02-10T00:00:00Z"),
            cancellation_effective_at: None,
            events: 7,
        },
    ];
    let before = app
        .query(TENANT_AT, json!({"id": id, "at": "2026-06-01T09:59:59Z"}))
        .await;
    assert_eq!(
        before["tenant"],
        Value::Null,
        "no tenant before its trial: {before}"
    );
    for then in &thens {
        let got = app.query(TENANT_AT, json!({"id": id, "at": then.at})).await;
        let got = &got["tenant"];
        let what = format!("as of {}: {got}", then.at);
        assert_eq!(got["state"], then.state, "{what}");
        assert_eq!(got["lifecycle"], then.lifecycle, "{what}");
        assert_eq!(got["suspended"], then.suspended, "{what}");
        assert_eq!(got["site"], then.site, "{what}");
        assert_eq!(
            opt_time(&got["trialEndsAt"]),
            then.trial_ends_at.map(at),
            "{what}"
        );
        assert_eq!(
            opt_time(&got["currentPeriodEnd"]),
            then.current_period_end.map(at),
            "{what}"
        );
        assert_eq!(
            opt_time(&got["cancellationEffectiveAt"]),
            then.cancellation_effective_at.map(at),
            "{what}"
        );
        assert_eq!(got["deletionDueAt"], Value::Null, "{what}");
        assert_eq!(
            time(&got["createdAt"]),
            at("2026-06-01T10:00:00Z"),
            "{what}"
        );
        assert_eq!(
            got["history"].as_array().map(Vec::len),
            Some(then.events),
            "{what}"
        );
        // The catalog heard of the tenant only now: then, it had not placed it (CONTRACT.md
        // section 8), so no region and not served, and the explanation says why.
        assert_eq!(got["region"], Value::Null, "{what}");
        assert_eq!(got["serving"], false, "{what}");
        let summary = got["explanation"]["summary"].as_str().unwrap_or_default();
        assert!(summary.contains("had not placed it"), "{what}");
    }
    // Now the catalog has placed it where its residency allows.
    let now = Utc::now().to_rfc3339();
    let got = app.query(TENANT_AT, json!({"id": id, "at": now})).await;
    assert_eq!(got["tenant"]["state"], "ACTIVE", "{got}");
    assert_eq!(got["tenant"]["region"], "eu-central-1", "{got}");
    assert_eq!(got["tenant"]["serving"], true, "{got}");
}

#[tokio::test]
async fn known_at_counts_what_had_arrived_and_route_as_of_tells_where_requests_went() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let site = unique_site("was");
    app.publish(&c.direct_purchase(days_ago(30), &site, "de"))
        .await;
    let id = c.tenant_id.clone();
    app.wait_tenant(&id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    let created_seen = Utc::now();
    after(created_seen).await;

    // Renamed ten days ago by commerce's clock, but received only now.
    let renamed = format!("{site}-new");
    app.publish(&c.event("site.renamed", days_ago(10), json!({"site": renamed})))
        .await;
    app.wait_tenant(&id, "renamed", |t| t.site.as_deref() == Some(&renamed))
        .await;

    let at = (days_ago(5)).to_rfc3339();
    let as_of = app.query(TENANT_AT, json!({"id": id, "at": at})).await;
    assert_eq!(as_of["tenant"]["site"], renamed.as_str(), "{as_of}");
    let known = app
        .query(
            TENANT_AT,
            json!({"id": id, "known": created_seen.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        known["tenant"]["site"],
        site.as_str(),
        "the catalog had not received the rename yet: {known}"
    );
    assert_eq!(known["tenant"]["history"].as_array().map(Vec::len), Some(1));
    assert!(
        known["tenant"]["version"].as_i64().unwrap_or(0) >= 1,
        "{known}"
    );

    let route = "query($id: ID, $host: String, $at: DateTime, $known: DateTime) {
      route(tenantId: $id, host: $host, asOf: $at, knownAt: $known) { host region shard endpoint state serving }
    }";
    let then = app
        .query(route, json!({"id": id, "known": created_seen.to_rfc3339()}))
        .await;
    assert_eq!(
        then["route"]["host"],
        format!("{site}.example.net"),
        "{then}"
    );
    assert_eq!(then["route"]["region"], "eu-central-1");
    assert_eq!(then["route"]["serving"], true);
    let by_old_host = app
        .query(
            route,
            json!({"host": format!("{site}.example.net"), "known": Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(
        by_old_host["route"]["host"],
        format!("{renamed}.example.net"),
        "{by_old_host}"
    );
    // Five days ago by the events' timeline the catalog had not heard of the tenant, so it
    // had not placed it: no route then (CONTRACT.md section 8).
    let unplaced = app
        .query(
            route,
            json!({"host": format!("{site}.example.net"), "at": at}),
        )
        .await;
    assert_eq!(unplaced["route"], Value::Null, "{unplaced}");
    let before = app
        .query(route, json!({"id": id, "at": days_ago(31).to_rfc3339()}))
        .await;
    assert_eq!(
        before["route"],
        Value::Null,
        "no tenant before its creation"
    );

    // Deleted since: the past keeps its dates and states, never its names.
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "test", "immediate": true, "force": true})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let gone = app.query(TENANT_AT, json!({"id": id, "at": at})).await;
    assert_eq!(gone["tenant"]["lifecycle"], "ACTIVE", "{gone}");
    assert_eq!(gone["tenant"]["site"], Value::Null, "{gone}");
    assert_eq!(gone["tenant"]["host"], Value::Null);
    // Nor does the change log: every change it kept of the tenant, the deletion's included.
    let (kept, named): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where payload ? 'host' or payload ? 'old_hosts')
         from tenant_changes where tenant_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .expect("reading the change log");
    assert!(kept >= 2, "the tenant's changes are kept: {kept}");
    assert_eq!(named, 0, "no kept change names a host of a deleted tenant");
}

#[tokio::test]
async fn the_future_both_instants_and_bad_instants_are_refused_with_reasons() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4().to_string();
    let ask = |vars: Value| {
        let app = &app;
        async move { app.graphql(TENANT_AT, vars).await }
    };
    let future = ask(json!({"id": id, "at": (Utc::now() + Duration::days(1)).to_rfc3339()})).await;
    let message = future["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("in the future"), "{future}");
    assert_eq!(future["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let both =
        ask(json!({"id": id, "at": days_ago(1).to_rfc3339(), "known": days_ago(1).to_rfc3339()}))
            .await;
    assert!(
        both["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most one of `asOf` and `knownAt`"),
        "{both}"
    );
    let bad = ask(json!({"id": id, "at": "yesterday"})).await;
    assert!(bad["errors"].is_array(), "{bad}");
    let unknown = ask(json!({"id": id, "at": days_ago(1).to_rfc3339()})).await;
    assert_eq!(unknown["data"]["tenant"], Value::Null, "{unknown}");
}

#[tokio::test]
async fn known_at_judges_site_claims_as_the_catalog_knew_them_then() {
    let app = spawn_app().await;
    let site = unique_site("claim");
    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(1), &site, "eu")).await;
    app.wait_tenant(&b.tenant_id, "B holds the site", |t| t.shard_id.is_some())
        .await;
    let between = Utc::now();
    after(between).await;
    // A's earlier claim of the site arrives only now.
    let mut a = Commerce::new();
    app.publish(&a.trial(days_ago(2), &site, "eu")).await;
    app.wait_tenant(&b.tenant_id, "B without its site", |t| t.site.is_none())
        .await;

    let then = app
        .query(
            TENANT_AT,
            json!({"id": b.tenant_id, "known": between.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        (&then["tenant"]["site"], &then["tenant"]["state"]),
        (&json!(site), &json!("TRIAL")),
        "the catalog had not heard of A's claim then: {then}"
    );
    let now = app.query(TENANT_AT, json!({"id": b.tenant_id})).await;
    assert_eq!(
        (&now["tenant"]["site"], &now["tenant"]["state"]),
        (&Value::Null, &json!("PROVISIONING")),
        "{now}"
    );
}
