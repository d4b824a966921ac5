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

/// A small deterministic generator (xorshift), so a failing history can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random history of one tenant: a trial, then lifecycle events at random later times, all in
/// the past. Sites are the tenant's own, so no claim of another tenant interferes.
fn random_history(rng: &mut Rng, c: &mut Commerce) -> Vec<Value> {
    let start = Utc::now() - Duration::days(120) + Duration::hours(rng.next(24 * 20) as i64);
    let site = unique_site("past");
    let mut events = vec![c.trial(start, &site, "eu")];
    let mut at = start;
    for n in 0..(3 + rng.next(6)) {
        at += Duration::hours(1 + rng.next(24 * 12) as i64);
        let later = (at + Duration::days(5 + rng.next(40) as i64)).to_rfc3339();
        let (kind, data) = match rng.next(8) {
            0 => (
                "subscription.activated",
                json!({"plan": "standard", "cycle": "monthly", "current_period_end": later}),
            ),
            1 => ("subscription.renewed", json!({"current_period_end": later})),
            2 => ("subscription.cancelled", json!({"effective_at": later})),
            3 => (
                "subscription.suspended",
                json!({"reason": "payment_overdue"}),
            ),
            4 => ("subscription.unsuspended", json!({})),
            5 => ("site.renamed", json!({"site": format!("{site}-{n}")})),
            6 => (
                "subscription.reactivated",
                json!({"current_period_end": later}),
            ),
            _ => (
                "data.deletion_requested",
                json!({"reason": "customer request"}),
            ),
        };
        events.push(c.event(kind, at, data));
    }
    events
}

fn occurred(e: &Value) -> DateTime<Utc> {
    time(&e["occurred_at"])
}

fn opt_time(v: &Value) -> Option<DateTime<Utc>> {
    (!v.is_null()).then(|| time(v))
}

#[tokio::test]
async fn a_tenant_as_of_any_instant_is_the_fold_of_its_events_up_to_then() {
    let app = spawn_app().await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tenants = Vec::new();
    let mut total = 0;
    for _ in 0..6 {
        let mut c = Commerce::new();
        let events = random_history(&mut rng, &mut c);
        // Delivered in reverse: arrival order must not matter to the past either.
        for e in events.iter().rev() {
            app.publish(e).await;
        }
        total += events.len() as i64;
        tenants.push((c.tenant_id.clone(), events));
    }
    app.wait_events_stored(total).await;
    app.wait_queue_drained().await;

    let mut checked = 0;
    for (id, events) in &tenants {
        let deleted_now = app
            .tenant(id)
            .await
            .is_some_and(|t| t.lifecycle == "DELETED");
        let mut instants: Vec<DateTime<Utc>> = events.iter().map(occurred).collect();
        instants.extend(events.iter().map(|e| occurred(e) + Duration::hours(7)));
        let first_received = app
            .history(id)
            .await
            .iter()
            .map(|e| e.received_at)
            .min()
            .expect("stored");
        instants.push(occurred(&events[0]) - Duration::seconds(1));
        instants.push(Utc::now() - Duration::seconds(1));
        for at in instants {
            let upto: Vec<Value> = events
                .iter()
                .filter(|e| occurred(e) <= at)
                .cloned()
                .collect();
            let want = expected(&upto, at);
            let got = app
                .query(TENANT_AT, json!({"id": id, "at": at.to_rfc3339()}))
                .await;
            let got = &got["tenant"];
            let Some(want) = want else {
                assert_eq!(*got, Value::Null, "{id} at {at}: no tenant yet");
                checked += 1;
                continue;
            };
            let what = format!("{id} as of {at}: {got}");
            assert_eq!(got["lifecycle"], want.lifecycle.as_str(), "{what}");
            assert_eq!(got["suspended"], want.suspended, "{what}");
            assert_eq!(opt_time(&got["trialEndsAt"]), want.trial_ends_at, "{what}");
            assert_eq!(
                opt_time(&got["currentPeriodEnd"]),
                want.current_period_end,
                "{what}"
            );
            assert_eq!(
                opt_time(&got["cancellationEffectiveAt"]),
                want.cancellation_effective_at,
                "{what}"
            );
            assert_eq!(
                opt_time(&got["deletionDueAt"]),
                want.deletion_due_at,
                "{what}"
            );
            assert_eq!(time(&got["createdAt"]), want.created_at, "{what}");
            let site = if deleted_now { None } else { want.site.clone() };
            assert_eq!(got["site"].as_str().map(str::to_owned), site, "{what}");
            assert_eq!(
                got["history"].as_array().map(Vec::len),
                Some(upto.len()),
                "{what}"
            );
            // Before the catalog had heard of the tenant it had not placed it (CONTRACT.md
            // section 8): the state its events made, no placement, not served, and the
            // explanation says why. After, where it placed it.
            if at < first_received {
                assert_eq!(got["region"], Value::Null, "{what}");
                assert_eq!(got["serving"], false, "{what}");
                let summary = got["explanation"]["summary"].as_str().unwrap_or_default();
                assert!(summary.contains("had not placed it"), "{what}");
                assert!(!summary.contains("No open shard"), "{what}");
                if want.lifecycle != "DELETED" && want.lifecycle != "DEACTIVATED" {
                    assert_ne!(got["state"], "PROVISIONING", "{what}");
                }
            } else if want.lifecycle != "DELETED" && !deleted_now {
                assert_eq!(got["region"], "eu-central-1", "{what}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6 * 9, "{checked} instants checked");
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
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

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
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
