//! Nothing destroyed on the strength of late news (CONTRACT.md section 8): a deletion that falls
//! due by the events is carried out only once `DELETION_GRACE_SECS` have passed since the
//! tenant's latest stored commerce event, and a legal hold stops every deletion not carried out
//! when it was placed, whatever the date of the request behind it.

use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tenant_catalog::apply::replay;

/// A paid subscription of a year from now.
fn conversion(c: &mut Commerce, days_ago_: i64) -> Value {
    c.event(
        "subscription.activated",
        days_ago(days_ago_),
        json!({"plan": "premium", "cycle": "annual",
               "current_period_end": (Utc::now() + Duration::days(265)).to_rfc3339()}),
    )
}

/// When the catalog first stored the tenant's only event.
async fn received(app: &TestApp, id: &str) -> chrono::DateTime<Utc> {
    let history = app.history(id).await;
    assert_eq!(history.len(), 1, "{history:?}");
    history[0].received_at
}

/// `verify` as a library call: every row is the fold of its events and their arrival instants.
async fn assert_verified(app: &TestApp) {
    let replayed = replay::replay(&app.db, &app.settings.rules(), false, |_| {}, |_| {})
        .await
        .expect("replayed");
    assert_eq!(replayed.differing, 0, "every row is its history's fold");
}

#[tokio::test]
async fn a_paying_customers_trial_and_conversion_delivered_months_late_end_active() {
    let app = spawn_app_with(&[("DELETION_GRACE_SECS", "3600")]).await;
    let mut c = Commerce::new();
    let site = unique_site("late");
    // The trial began 120 days ago: it ended, and its deletion fell due, long ago. The customer
    // paid 100 days ago, before the trial ended; both messages arrive only now.
    let trial = c.trial(days_ago(120), &site, "eu");
    let paid = conversion(&mut c, 100);
    let id = c.tenant_id.clone();

    app.publish(&trial).await;
    let waiting = app
        .wait_tenant(&id, "the trial stored", |t| t.version >= 1)
        .await;
    let stored_at = received(&app, &id).await;
    assert_eq!(
        (waiting.lifecycle.as_str(), waiting.state.as_str()),
        ("DEACTIVATED", "DEACTIVATED"),
        "the trial alone ended long ago, but its deletion waits for late events: {waiting:?}"
    );
    assert_eq!(
        waiting.site.as_deref(),
        Some(site.as_str()),
        "nothing purged"
    );
    assert_eq!(
        waiting.deletion_due_at,
        Some(stored_at + Duration::seconds(3600)),
        "deletionDueAt is when the deletion will be carried out"
    );
    assert_eq!(waiting.next_timer_at, waiting.deletion_due_at);
    let shown = app
        .query(
            "query($id: ID!) { tenant(id: $id) { state host explanation { summary } } }",
            json!({"id": id}),
        )
        .await;
    let summary = shown["tenant"]["explanation"]["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(
        summary.contains("deletion waits for late events until"),
        "{summary}"
    );
    assert_eq!(shown["tenant"]["host"], format!("{site}.example.net"));

    app.publish(&paid).await;
    let active = app
        .wait_tenant(&id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert_eq!(active.lifecycle, "ACTIVE");
    assert_eq!(active.site.as_deref(), Some(site.as_str()));
    assert_eq!((active.deletion_due_at, active.deleted_at), (None, None));
    assert_eq!(active.next_timer_at, None);
    let outcomes: Vec<String> = app
        .history(&id)
        .await
        .iter()
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["applied", "applied"]);
    assert_verified(&app).await;
}

#[tokio::test]
async fn an_overdue_deletion_is_carried_out_once_the_grace_after_the_last_event_has_passed() {
    let app = spawn_app_with(&[("DELETION_GRACE_SECS", "2")]).await;
    let mut c = Commerce::new();
    let site = unique_site("lapsed");
    let trial = c.trial(days_ago(120), &site, "us");
    let id = c.tenant_id.clone();

    app.publish(&trial).await;
    let waiting = app
        .wait_tenant(&id, "the trial stored", |t| t.version >= 1)
        .await;
    assert_eq!(waiting.state, "DEACTIVATED", "{waiting:?}");
    let due = received(&app, &id).await + Duration::seconds(2);
    assert_eq!(waiting.deletion_due_at, Some(due));

    let deleted = app
        .wait_tenant(&id, "DELETED", |t| t.state == "DELETED")
        .await;
    assert_eq!(
        deleted.deleted_at,
        Some(due),
        "carried out when the grace after the last stored event ended"
    );
    assert_eq!(deleted.site, None);

    // A conversion that arrives after that comes too late: the deletion was carried out.
    let late = conversion(&mut c, 100);
    app.publish(&late).await;
    let judged = app
        .wait_for(10, "the late conversion judged", || async {
            let h = app.history(&id).await;
            (h.len() == 2).then_some(h)
        })
        .await;
    let late_entry = judged
        .iter()
        .find(|e| e.event_type == "subscription.activated")
        .expect("stored");
    assert_eq!(late_entry.outcome.to_string(), "rejected");
    assert!(
        late_entry
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("a carried-out deletion is final")),
        "{late_entry:?}"
    );
    assert_eq!(
        app.tenant(&id).await.map(|t| t.state),
        Some("DELETED".into())
    );
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_hold_placed_before_a_late_earlier_dated_deletion_request_keeps_the_tenant() {
    // No grace: only the hold stands between the request and the purge.
    let app = spawn_app().await;
    let mut c = active_tenant(&app, "de").await;
    let id = c.tenant_id.clone();
    let hold = format!("/admin/v1/tenants/{id}/hold");
    let (status, placed) = app
        .admin(
            Method::PUT,
            &hold,
            Some(json!({"reason": "litigation 2026-31"})),
        )
        .await;
    assert_eq!(status, 200, "{placed}");
    let held_since = time(&placed["legal_hold"]["since"]);

    // Commerce asked for deletion a day before the hold; the message arrives after it.
    let request = c.event(
        "data.deletion_requested",
        held_since - Duration::days(1),
        json!({"reason": "customer request"}),
    );
    app.publish(&request).await;
    let held = app
        .wait_tenant(&id, "DEACTIVATED", |t| t.state == "DEACTIVATED")
        .await;
    assert_eq!(held.lifecycle, "DEACTIVATED", "{held:?}");
    assert!(held.site.is_some(), "nothing purged while held: {held:?}");
    assert_eq!(held.next_timer_at, None, "nothing is scheduled while held");
    let view = app
        .wait_for(10, "the request judged", || async {
            let (_, v) = app
                .admin(Method::GET, &format!("/admin/v1/tenants/{id}"), None)
                .await;
            let judged = v["history"]
                .as_array()
                .is_some_and(|h| h.iter().any(|e| e["type"] == "data.deletion_requested"));
            judged.then_some(v)
        })
        .await;
    assert_eq!(view["state"], "DEACTIVATED", "{view}");
    assert_eq!(view["legal_hold"]["reason"], "litigation 2026-31");
    assert!(view["host"].is_string(), "the host is kept: {view}");
    let route = app
        .query(
            "query($id: ID!) { route(tenantId: $id) { state serving } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(route["route"]["state"], "DEACTIVATED", "{route}");

    let lifted_after = micros(Utc::now());
    let (status, lifted) = app
        .admin(
            Method::DELETE,
            &hold,
            Some(json!({"reason": "case closed"})),
        )
        .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(
        lifted["state"], "DELETED",
        "carried out once lifted: {lifted}"
    );
    assert!(time(&lifted["deleted_at"]) >= lifted_after, "{lifted}");
    assert_verified(&app).await;
}

/// Every tenant with stored events against the fold of its events (`commerce` as sent, since a
/// deleted tenant's stored events lost their site names, and the admin actions as stored) and
/// the instants they were stored, site claims judged across all tenants: the tenants that
/// differ.
async fn differing_from_the_fold_of_arrivals(
    app: &TestApp,
    commerce: &[tenant_catalog::lifecycle::Event],
) -> Vec<String> {
    use std::collections::HashMap;
    use tenant_catalog::apply::GlobalSites;
    use tenant_catalog::catalog::{events, tenants};
    use tenant_catalog::lifecycle::Arrivals;
    let now = Utc::now();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("select distinct tenant_id from tenant_events")
        .fetch_all(&app.db)
        .await
        .unwrap();
    let ids: Vec<tenant_catalog::domain::TenantId> = ids
        .into_iter()
        .map(tenant_catalog::domain::TenantId::from_uuid)
        .collect();
    let mut tx = app.db.begin().await.unwrap();
    let histories = events::load(&mut tx, &ids, &HashMap::new(), now)
        .await
        .unwrap();
    let rows = tenants::load_many(&mut *tx, &ids).await.unwrap();
    tx.rollback().await.unwrap();
    let mut arrivals = Arrivals::new(app.settings.deletion_grace);
    let mut all: Vec<_> = commerce.to_vec();
    for stored in histories.values().flatten() {
        arrivals.insert(stored.id, stored.received_at);
        let admin = stored
            .event
            .as_ref()
            .ok()
            .filter(|e| e.kind.event_type().is_admin());
        all.extend(admin.cloned());
    }
    let mut by_tenant: HashMap<_, Vec<_>> = HashMap::new();
    for e in &all {
        by_tenant.entry(e.tenant_id).or_default().push(e.clone());
    }
    let sites = GlobalSites::of(&all, arrivals, now);
    let mut differing = Vec::new();
    for id in &ids {
        let mine = by_tenant.get(id).cloned().unwrap_or_default();
        let folded = sites.fold(*id, &mine, now).tenant;
        let same = match (folded, rows.get(id)) {
            (None, None) => true,
            (Some(t), Some(r)) => {
                tenants::TenantRow::project_over(&t, r.placement.clone(), Some(r), 0)
                    .same_content(r)
            }
            _ => false,
        };
        if !same {
            let row = rows.get(id).map(|r| {
                (
                    r.tenant.lifecycle,
                    r.state,
                    r.tenant.deletion_due_at,
                    r.tenant.deleted_at,
                    r.tenant.legal_hold.is_some(),
                    r.next_timer_at,
                )
            });
            let want = sites.fold(*id, &mine, now).tenant.map(|t| {
                (
                    t.lifecycle,
                    t.deletion_due_at,
                    t.deleted_at,
                    t.legal_hold.is_some(),
                )
            });
            differing.push(format!("{id}: stored {row:?}, the fold {want:?}"));
        }
    }
    differing
}

/// CONTRACT.md section 8 as a property of the whole catalog: random lifecycles (trials that
/// lapse or convert, cancellations, deletion requests, renames, residencies learnt late) with
/// legal holds placed and lifted and moves made among them, delivered shuffled and duplicated in random batches
/// with random pauses, some longer than the grace (so some deletions are carried out before
/// the rest of their tenant's history arrives), end identical to the fold of the same stored
/// events and the instants they were stored.
#[tokio::test]
async fn random_histories_holds_and_moves_in_random_batches_end_as_the_fold_of_their_arrivals() {
    use crate::load::generate::{Spec, generate};
    let app = spawn_app_with(&[("DELETION_GRACE_SECS", "1")]).await;
    for region in [
        "us-east-1",
        "eu-central-1",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
    ] {
        let shard = json!({"region": region, "endpoint": format!("https://{region}-2.shards.example.net"), "capacity": 10000});
        let (status, body) = app
            .admin(
                Method::PUT,
                &format!("/admin/v1/shards/{region}-2"),
                Some(shard),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let plan = generate(
        &Spec {
            tenants: 120,
            duplicates: 0.3,
            poison: 0,
            contested: 0.0,
            seed: 24,
        },
        Utc::now(),
    );
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut at = 0;
    let mut holds = 0;
    let mut moved = 0;
    while at < plan.deliveries.len() {
        let n = (1 + next(80) as usize).min(plan.deliveries.len() - at);
        for body in &plan.deliveries[at..at + n] {
            app.publish_raw(body).await;
        }
        at += n;
        tokio::time::sleep(std::time::Duration::from_millis(next(1500))).await;
        // A hold placed or lifted on a random tenant as the news arrives (a 409 is an answer
        // like any other: a hold already there, none to lift, a deletion carried out).
        let tenant: Option<uuid::Uuid> =
            sqlx::query_scalar("select id from tenants order by id offset $1 limit 1")
                .bind(next(40) as i64)
                .fetch_optional(&app.db)
                .await
                .unwrap();
        if let Some(tenant) = tenant {
            let placing = next(3) != 0;
            let method = if placing { Method::PUT } else { Method::DELETE };
            let (status, body) = app
                .admin(
                    method,
                    &format!("/admin/v1/tenants/{tenant}/hold"),
                    Some(json!({"reason": "property"})),
                )
                .await;
            assert!([200, 409].contains(&status), "{status}: {body}");
            holds += i32::from(placing && status == 200);
        }
        // And a move of a random placed tenant to the other shard of its region (every other
        // one taken to its end).
        let placed: Option<(uuid::Uuid, String)> = sqlx::query_as(
            "select id, shard_id from tenants where shard_id is not null and lifecycle <> 'DELETED'
             order by id offset $1 limit 1",
        )
        .bind(next(40) as i64)
        .fetch_optional(&app.db)
        .await
        .unwrap();
        if let Some((tenant, shard)) = placed {
            let to = match (shard.strip_suffix("-1"), shard.strip_suffix("-2")) {
                (Some(region), _) => format!("{region}-2"),
                (_, Some(region)) => format!("{region}-1"),
                _ => panic!("a shard of this test: {shard}"),
            };
            let (status, started) = app
                .admin(
                    Method::POST,
                    &format!("/admin/v1/tenants/{tenant}/moves"),
                    Some(json!({"to_shard": to, "reason": "property"})),
                )
                .await;
            assert!([202, 409].contains(&status), "{status}: {started}");
            moved += i32::from(status == 202);
            if status == 202 && next(2) == 0 {
                let id = started["id"].as_str().unwrap_or_default().to_owned();
                for phase in ["cutover", "done"] {
                    let (status, body) = app
                        .admin(
                            Method::POST,
                            &format!("/admin/v1/moves/{id}/advance"),
                            Some(json!({"phase": phase})),
                        )
                        .await;
                    assert!([200, 409].contains(&status), "{status}: {body}");
                }
            }
        }
    }
    let distinct = plan.events.len() as i64;
    let commerce: Vec<_> = plan
        .events
        .iter()
        .map(|e| tenant_catalog::lifecycle::Event::parse(e.to_string().as_bytes()).unwrap())
        .collect();
    app.wait_events_stored(distinct).await;
    app.wait_queue_drained().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let differing = differing_from_the_fold_of_arrivals(&app, &commerce).await;
        if differing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} tenants differ from the fold of their arrivals: {:#?}",
            differing.len(),
            &differing[..differing.len().min(5)]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let carried_out: i64 =
        sqlx::query_scalar("select count(*) from tenants where lifecycle = 'DELETED'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        carried_out > 0,
        "some deletions were carried out on the way"
    );
    assert!(holds > 0, "some holds were placed");
    assert!(moved > 0, "some moves were started");
}
