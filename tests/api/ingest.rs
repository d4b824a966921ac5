//! Commerce events in, tenants out: every event type, duplicates, shuffles, poison messages
//! and the change feed.

use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::json;

#[tokio::test]
async fn every_event_type_moves_the_tenant_through_its_lifecycle() {
    let app = spawn_app().await;
    let mut feed = app.listen_changes().await;
    let mut c = Commerce::new();
    let id = c.tenant_id.clone();
    let t0 = days_ago(20);
    let day = |n| t0 + Duration::days(n);

    let trial = c.trial(t0, "acme", "eu");
    app.publish(&trial).await;
    let t = app.wait_tenant(&id, "TRIAL", |t| t.state == "TRIAL").await;
    assert!(
        matches!(t.region.as_deref(), Some("eu-central-1" | "eu-west-1")),
        "{:?}",
        t.region
    );
    assert_eq!(
        t.trial_ends_at,
        Some(tenant_catalog::lifecycle::billing::trial_end(
            t0,
            5.try_into().unwrap()
        ))
    );
    assert_eq!(
        t.products.as_deref(),
        Some(&["jira".to_owned(), "confluence".to_owned()][..])
    );

    let cpe = Utc::now() + Duration::days(10);
    app.publish(&c.event(
        "subscription.activated",
        day(1),
        json!({"plan": "standard", "cycle": "monthly", "current_period_end": cpe.to_rfc3339()}),
    ))
    .await;
    let t = app
        .wait_tenant(&id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert_eq!(
        (t.plan.as_deref(), t.cycle.as_deref()),
        (Some("standard"), Some("monthly"))
    );

    let renewed_end = Utc::now() + Duration::days(40);
    app.publish(&c.event(
        "subscription.renewed",
        day(2),
        json!({"current_period_end": renewed_end.to_rfc3339()}),
    ))
    .await;
    app.wait_tenant(&id, "renewed", |t| {
        t.current_period_end.map(|d| d.timestamp()) == Some(renewed_end.timestamp())
    })
    .await;

    app.publish(&c.event("site.renamed", day(3), json!({"site": "acme-corp"})))
        .await;
    let t = app
        .wait_tenant(&id, "renamed", |t| t.site.as_deref() == Some("acme-corp"))
        .await;
    assert_eq!(t.old_sites, ["acme"]);

    app.publish(&c.event(
        "subscription.suspended",
        day(4),
        json!({"reason": "payment_overdue"}),
    ))
    .await;
    app.wait_tenant(&id, "SUSPENDED", |t| t.state == "SUSPENDED" && t.suspended)
        .await;
    app.publish(&c.event("subscription.unsuspended", day(5), json!({})))
        .await;
    app.wait_tenant(&id, "back to ACTIVE", |t| {
        t.state == "ACTIVE" && !t.suspended
    })
    .await;

    let effective = Utc::now() + Duration::days(30);
    app.publish(&c.event(
        "subscription.cancelled",
        day(6),
        json!({"effective_at": effective.to_rfc3339()}),
    ))
    .await;
    let t = app
        .wait_tenant(&id, "CANCELLING", |t| t.state == "CANCELLING")
        .await;
    assert_eq!(
        t.next_timer_at.map(|d| d.timestamp()),
        Some(effective.timestamp())
    );

    app.publish(&c.event(
        "subscription.reactivated",
        day(7),
        json!({"current_period_end": (Utc::now() + Duration::days(60)).to_rfc3339()}),
    ))
    .await;
    let t = app
        .wait_tenant(&id, "reactivated", |t| t.state == "ACTIVE" && t.version > 7)
        .await;
    assert_eq!(
        (t.cancellation_effective_at, t.deletion_due_at),
        (None, None)
    );

    app.publish(&c.event(
        "data.deletion_requested",
        day(8),
        json!({"reason": "customer request"}),
    ))
    .await;
    let t = app
        .wait_tenant(&id, "DELETED", |t| t.state == "DELETED")
        .await;
    assert_eq!((t.site, t.products, t.old_sites.len()), (None, None, 0));
    let fill: i32 = sqlx::query_scalar("select sum(tenant_count)::int from shards")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(fill, 0, "the deleted tenant's slot is freed");

    let history = app.history(&id).await;
    assert_eq!(history.len(), 9);
    assert!(
        history.iter().all(|h| h.outcome.as_str() == "applied"),
        "{history:#?}"
    );

    let mut keys = Vec::new();
    let mut last = json!(null);
    for _ in 0..9 {
        let (key, body) = feed.next(10).await;
        keys.push(key);
        last = body;
    }
    assert_eq!(keys.first().map(String::as_str), Some("tenant.trial"));
    assert_eq!(keys.last().map(String::as_str), Some("tenant.deleted"));
    assert!(
        keys.contains(&"tenant.suspended".to_owned())
            && keys.contains(&"tenant.cancelling".to_owned())
    );
    for field in [
        "tenant_id",
        "state",
        "previous_state",
        "region",
        "shard",
        "host",
        "version",
        "caused_by",
    ] {
        assert!(
            last.get(field).is_some(),
            "change message lacks {field}: {last}"
        );
    }
    assert_eq!(last["previous_state"], "ACTIVE");
    assert_eq!(last["version"], 9);
}

#[tokio::test]
async fn a_redelivered_event_is_stored_once_and_a_copy_under_a_new_id_is_another_fact() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let trial = c.trial(days_ago(1), "acme", "us");
    for _ in 0..3 {
        app.publish(&trial).await;
    }
    let mut copy = trial.clone();
    copy["id"] = json!(uuid::Uuid::new_v4().to_string());
    app.publish(&copy).await;
    app.wait_queue_drained().await;

    let t = app.tenant(&c.tenant_id).await.expect("tenant");
    assert_eq!((t.state.as_str(), t.version), ("TRIAL", 1));
    let history = app.history(&c.tenant_id).await;
    assert_eq!(history.len(), 2);
    let original = history
        .iter()
        .find(|h| h.event_id.to_string() == trial["id"])
        .expect("original");
    let copied = history
        .iter()
        .find(|h| h.event_id.to_string() == copy["id"])
        .expect("copy");
    assert_eq!((original.deliveries, copied.deliveries), (3, 1));
    // Two ids are two facts (CONTRACT.md section 7): the second trial.started of one tenant,
    // in contract order (the lower id first on a tie), finds it existing and is rejected.
    let (first, second) = if original.event_id < copied.event_id {
        (original, copied)
    } else {
        (copied, original)
    };
    assert_eq!(
        (first.outcome.as_str(), second.outcome.as_str()),
        ("applied", "rejected")
    );
    assert!(
        second
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("already exists"),
        "{second:?}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("tenant_catalog_events_total{outcome=\"redelivered\"} 2"),
        "{metrics}"
    );
    // The metric counts each delivery's judgement on arrival: the copy is "applied" there if
    // its id sorts first (and the original is then re-judged "rejected" in the history).
    let copy_first = copied.event_id < original.event_id;
    let (applied, rejected) = if copy_first { (2, 0) } else { (1, 1) };
    for (outcome, n) in [
        ("applied", applied),
        ("rejected", rejected),
        ("duplicate", 0),
    ] {
        let line = format!("tenant_catalog_events_total{{outcome=\"{outcome}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

/// CONTRACT.md section 7: events are the same event only when their ids are; a suspension,
/// its end and a second suspension in one second, equal in all but their ids, leave the
/// tenant suspended and not served.
#[tokio::test]
async fn equal_events_under_other_ids_are_all_applied() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let site = unique_site("same");
    app.publish(&c.trial(days_ago(3), &site, "eu")).await;
    let at = days_ago(1);
    let mut events = [
        c.event("subscription.suspended", at, json!({"reason": "overdue"})),
        c.event("subscription.unsuspended", at, json!({})),
        c.event("subscription.suspended", at, json!({"reason": "overdue"})),
    ];
    // All three at the same time and sequence, ordered by id as the contract breaks the tie.
    let ids = [
        "00000000-0000-4000-8000-00000000000a",
        "00000000-0000-4000-8000-00000000000b",
        "00000000-0000-4000-8000-00000000000c",
    ];
    for (e, id) in events.iter_mut().zip(ids) {
        e["id"] = json!(id.replace("00000000-0000", &c.tenant_id[..13]));
        e["sequence"] = json!(2);
    }
    for e in events.iter().rev() {
        app.publish(e).await;
    }
    app.wait_events_stored(4).await;
    app.wait_queue_drained().await;
    let t = app.tenant(&c.tenant_id).await.expect("tenant");
    assert_eq!((t.state.as_str(), t.suspended), ("SUSPENDED", true));
    let outcomes: Vec<String> = app
        .history(&c.tenant_id)
        .await
        .into_iter()
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["applied"; 4]);
}

/// CONTRACT.md section 7: a lifecycle fact is never lost to a cosmetic field. An empty reason,
/// a product key with a space, and a conversion that repeats the site are recorded as sent.
#[tokio::test]
async fn cosmetic_oddities_do_not_cost_a_lifecycle_fact() {
    let app = spawn_app().await;
    let mut a = Commerce::new();
    let mut trial = a.trial(days_ago(5), &unique_site("odd"), "eu");
    trial["data"]["products"] = json!(["Jira Software", "confluence"]);
    app.publish(&trial).await;
    let site = trial["data"]["site"].clone();
    app.publish(&a.event(
        "subscription.activated",
        days_ago(4),
        json!({"plan": "standard", "cycle": "monthly", "site": site,
               "current_period_end": (Utc::now() + Duration::days(26)).to_rfc3339()}),
    ))
    .await;
    app.publish(&a.event("subscription.suspended", days_ago(3), json!({"reason": ""})))
        .await;
    let t = app
        .wait_tenant(&a.tenant_id, "suspended", |t| t.state == "SUSPENDED")
        .await;
    assert_eq!(t.lifecycle, "ACTIVE", "the conversion was applied");
    assert_eq!(t.trial_ends_at, None, "a converted tenant has no trial end");
    assert_eq!(
        t.products,
        Some(vec!["Jira Software".to_owned(), "confluence".to_owned()])
    );

    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(2), &unique_site("odd"), "us"))
        .await;
    app.publish(&b.event(
        "data.deletion_requested",
        days_ago(1),
        json!({"reason": ""}),
    ))
    .await;
    app.wait_tenant(&b.tenant_id, "deleted", |t| t.state == "DELETED")
        .await;
    assert!(app.dead_letters().await.is_empty());
}

/// An absent `sequence` counts as 0: a rename without one, at the same time as the trial
/// with sequence 0 and a larger id, comes after it, not before the tenant exists.
#[tokio::test]
async fn an_absent_sequence_counts_as_zero() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let at = days_ago(1);
    let mut trial = c.trial(at, &unique_site("seq"), "eu");
    trial["sequence"] = json!(0);
    trial["id"] = json!(format!("{}-0000-4000-8000-000000000001", &c.tenant_id[..8]));
    let new_site = unique_site("seq");
    let mut rename = c.event("site.renamed", at, json!({"site": new_site}));
    rename.as_object_mut().unwrap().remove("sequence");
    rename["id"] = json!(format!("{}-0000-4000-8000-000000000002", &c.tenant_id[..8]));
    app.publish(&rename).await;
    app.publish(&trial).await;
    let t = app
        .wait_tenant(&c.tenant_id, "renamed", |t| {
            t.site.as_deref() == Some(&new_site)
        })
        .await;
    assert_eq!(t.old_sites.len(), 1);
}

/// A whole life whose every prefix is still alive today, so any arrival order must end in
/// exactly the in-order state.
fn a_life(c: &mut Commerce) -> Vec<serde_json::Value> {
    let t0 = days_ago(10);
    let d = |n: i64| t0 + Duration::hours(n);
    let soon = |n: i64| (Utc::now() + Duration::days(n)).to_rfc3339();
    vec![
        c.trial(t0, &unique_site("life"), "global"),
        c.event(
            "subscription.activated",
            d(1),
            json!({"plan": "standard", "cycle": "monthly", "current_period_end": soon(20)}),
        ),
        c.event(
            "subscription.renewed",
            d(2),
            json!({"current_period_end": soon(50)}),
        ),
        c.event(
            "site.renamed",
            d(3),
            json!({"site": unique_site("renamed")}),
        ),
        c.event(
            "subscription.suspended",
            d(4),
            json!({"reason": "payment_overdue"}),
        ),
        c.event("subscription.unsuspended", d(5), json!({})),
        c.event(
            "subscription.cancelled",
            d(6),
            json!({"effective_at": soon(30)}),
        ),
        c.event(
            "subscription.renewed",
            d(7),
            json!({"current_period_end": soon(80)}),
        ),
    ]
}

#[tokio::test]
async fn shuffled_and_repeated_deliveries_end_in_the_in_order_state() {
    use rand_like::shuffle;
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let life = a_life(&mut c);
    let mut delivered: Vec<_> = life.iter().chain(life.iter().step_by(2)).cloned().collect();
    shuffle(&mut delivered, 7);
    for e in &delivered {
        app.publish(e).await;
    }
    app.wait_queue_drained().await;

    let stored = app.tenant(&c.tenant_id).await.expect("tenant");
    // What the life makes of the tenant, in order: renamed, suspended and unsuspended, then
    // cancelled; the renewal after the cancellation does not count.
    let t = |e: &serde_json::Value, field: &str| micros(time(&e["data"][field]));
    assert_eq!(
        (stored.lifecycle.as_str(), stored.state.as_str()),
        ("CANCELLING", "CANCELLING")
    );
    assert!(!stored.suspended);
    assert_eq!(stored.site.as_deref(), life[3]["data"]["site"].as_str());
    assert_eq!(
        stored.old_sites,
        [life[0]["data"]["site"].as_str().unwrap_or_default()]
    );
    assert_eq!(stored.residency, "global");
    assert_eq!(
        (stored.plan.as_deref(), stored.cycle.as_deref()),
        (Some("standard"), Some("monthly"))
    );
    assert_eq!(
        stored.current_period_end,
        Some(t(&life[2], "current_period_end"))
    );
    assert_eq!(
        stored.cancellation_effective_at,
        Some(t(&life[6], "effective_at"))
    );
    assert_eq!((stored.trial_ends_at, stored.deletion_due_at), (None, None));
    assert_eq!(stored.next_timer_at, stored.cancellation_effective_at);
    assert_eq!(stored.created_at, micros(time(&life[0]["occurred_at"])));
    // The renewal after the cancellation is rejected at its place in contract order.
    let history = app.history(&c.tenant_id).await;
    let outcomes: Vec<&str> = history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "applied", "applied", "applied", "applied", "applied", "applied", "applied", "rejected"
        ]
    );
    assert!(
        history[7]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("CANCELLING")
    );
}

#[tokio::test]
async fn an_event_before_its_tenant_exists_is_judged_again_when_the_tenant_arrives() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let trial = c.trial(days_ago(2), "early", "sg");
    let activated = c.event(
        "subscription.activated",
        days_ago(1),
        json!({"plan": "standard", "cycle": "monthly", "current_period_end": (Utc::now() + Duration::days(30)).to_rfc3339()}),
    );
    app.publish(&activated).await;
    app.wait_events_stored(1).await;
    assert!(
        app.tenant(&c.tenant_id).await.is_none(),
        "no tenant from a non-creating event"
    );
    let h = app.history(&c.tenant_id).await;
    assert_eq!(h[0].outcome.as_str(), "rejected");
    assert!(
        h[0].reason
            .as_deref()
            .unwrap_or_default()
            .contains("tenant unknown"),
        "{h:?}"
    );

    app.publish(&trial).await;
    let t = app
        .wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert_eq!(t.region.as_deref(), Some("ap-southeast-1"));
    let h = app.history(&c.tenant_id).await;
    assert!(h.iter().all(|e| e.outcome.as_str() == "applied"), "{h:?}");
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_queue_with_a_reason_and_do_not_block() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let good = c.trial(days_ago(1), "good", "au");
    let mut reused_id = c.event(
        "subscription.suspended",
        days_ago(0),
        json!({"reason": "x"}),
    );
    reused_id["id"] = good["id"].clone();
    let mut bad_site = c.trial(days_ago(1), "ok", "au");
    bad_site["data"]["site"] = json!("-Bad_Site-");

    app.publish_raw(b"this is not json").await;
    app.publish(&json!({"type": "trial.started"})).await;
    app.publish(&json!({"id": uuid::Uuid::new_v4().to_string(), "type": "tenant.exploded", "tenant_id": c.tenant_id,
                        "occurred_at": Utc::now().to_rfc3339(), "data": {}})).await;
    app.publish(&bad_site).await;
    app.publish(&good).await;
    app.wait_tenant(
        &c.tenant_id,
        "the good event applied after the poison",
        |t| t.state == "TRIAL",
    )
    .await;
    app.publish(&reused_id).await;
    app.wait_queue_drained().await;

    let mut reasons: Vec<String> = app
        .dead_letters()
        .await
        .into_iter()
        .map(|(reason, _)| reason)
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    let expect = [
        "not a JSON object",
        "missing field `id`",
        "unknown event type `tenant.exploded`",
        "field `data.site`",
        "already received with other content",
    ];
    for e in expect {
        assert!(
            reasons.iter().any(|r| r.contains(e)),
            "no DLQ reason contains `{e}`: {reasons:?}"
        );
    }
    let t = app.tenant(&c.tenant_id).await.expect("tenant");
    assert!(!t.suspended, "the conflicting event changed nothing");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("tenant_catalog_events_total{outcome=\"dead_lettered\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_site_taken_by_another_tenant_leaves_the_later_claimant_without_one() {
    let app = spawn_app().await;
    let mut first = Commerce::new();
    let mut second = Commerce::new();
    app.publish(&first.trial(days_ago(2), "shared", "us")).await;
    app.wait_tenant(&first.tenant_id, "first", |t| t.state == "TRIAL")
        .await;
    app.publish(&second.trial(days_ago(1), "shared", "us"))
        .await;
    let loser = app
        .wait_tenant(&second.tenant_id, "the second tenant", |_| true)
        .await;
    assert_eq!(
        (loser.state.as_str(), loser.lifecycle.as_str(), &loser.site),
        ("PROVISIONING", "TRIAL", &None),
        "visible, with no site: {loser:?}"
    );
    assert_eq!(loser.shard_id, None, "holds no slot");

    // A renamed tenant's old host keeps resolving to it: it is recorded as an alias.
    app.publish(&first.event("site.renamed", days_ago(0), json!({"site": "moved"})))
        .await;
    app.wait_tenant(&first.tenant_id, "renamed", |t| {
        t.site.as_deref() == Some("moved")
    })
    .await;
    let alias: uuid::Uuid =
        sqlx::query_scalar("select tenant_id from site_aliases where site = 'shared'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(alias.to_string(), first.tenant_id);
}

#[tokio::test]
async fn a_site_given_up_stays_with_its_tenant_which_may_take_it_back() {
    let app = spawn_app().await;
    let (old, new) = (unique_site("given-up"), unique_site("new-name"));
    let mut first = Commerce::new();
    let mut second = Commerce::new();
    app.publish(&first.trial(days_ago(3), &old, "us")).await;
    app.publish(&first.event("site.renamed", days_ago(2), json!({"site": new})))
        .await;
    app.wait_tenant(&first.tenant_id, "renamed", |t| {
        t.site.as_deref() == Some(&new)
    })
    .await;
    // An old site is still held (CONTRACT.md section 7): another tenant cannot claim it.
    app.publish(&second.trial(days_ago(1), &old, "us")).await;
    let loser = app
        .wait_tenant(&second.tenant_id, "the second tenant", |_| true)
        .await;
    assert_eq!((loser.state.as_str(), &loser.site), ("PROVISIONING", &None));

    // The first tenant's next event refolds its whole history, creation under `old` included.
    let activated = first.event(
        "subscription.activated",
        days_ago(0),
        json!({"plan": "standard", "cycle": "monthly",
               "current_period_end": (days_ago(0) + chrono::Duration::days(30)).to_rfc3339()}),
    );
    app.publish(&activated).await;
    let t = app
        .wait_tenant(&first.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert_eq!(t.site.as_deref(), Some(new.as_str()));
    assert_eq!(t.old_sites, std::slice::from_ref(&old));
    let outcomes: Vec<String> = app
        .history(&first.tenant_id)
        .await
        .into_iter()
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["applied", "applied", "applied"]);

    // A tenant may rename back to one of its own old sites.
    let back = first.event("site.renamed", Utc::now(), json!({"site": old}));
    app.publish(&back).await;
    let t = app
        .wait_tenant(&first.tenant_id, "renamed back", |t| {
            t.site.as_deref() == Some(&old)
        })
        .await;
    assert_eq!(t.old_sites, std::slice::from_ref(&new));
}

/// A small deterministic shuffle, so that a failing order can be replayed.
mod rand_like {
    pub fn shuffle<T>(items: &mut [T], seed: u64) {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        for i in (1..items.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let j = (state >> 33) as usize % (i + 1);
            items.swap(i, j);
        }
    }
}

#[tokio::test]
async fn a_direct_purchase_creates_an_active_tenant_in_its_region() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let when = days_ago(1);
    app.publish(&c.direct_purchase(when, "globex", "au")).await;
    let t = app
        .wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert_eq!(
        (t.region.as_deref(), t.shard_id.as_deref()),
        (Some("ap-southeast-2"), Some("ap-southeast-2-1"))
    );
    assert_eq!(
        (t.plan.as_deref(), t.cycle.as_deref()),
        (Some("premium"), Some("annual"))
    );
    assert_eq!(
        t.current_period_end,
        Some(micros(when) + Duration::days(365))
    );
    assert_eq!((t.trial_ends_at, t.next_timer_at), (None, None));
}

/// A deleted tenant's site names are purged from its history, also from events that arrive
/// after the deletion (CONTRACT.md section 4: site, host and old hosts purged).
#[tokio::test]
async fn an_event_arriving_after_the_deletion_keeps_no_site_name() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    // A trial lasts 31 to 61 days and its data goes 15 days after: 90 days ago is deleted on any date.
    app.publish(&c.trial(days_ago(90), &unique_site("late"), "eu"))
        .await;
    app.wait_tenant(&c.tenant_id, "DELETED", |t| t.state == "DELETED")
        .await;
    let late = c.event(
        "site.renamed",
        days_ago(50),
        json!({"site": unique_site("late")}),
    );
    app.publish(&late).await;
    app.wait_events_stored(2).await;
    app.wait_queue_drained().await;
    let history = app.history(&c.tenant_id).await;
    assert_eq!(history.len(), 2);
    assert!(
        history.iter().all(|e| e.data.get("site").is_none()),
        "{history:?}"
    );
    // A redelivery of the purged event is still the same event, not a conflicting id.
    app.publish(&late).await;
    app.wait_queue_drained().await;
    assert!(app.dead_letters().await.is_empty());
}

#[tokio::test]
async fn an_event_sent_without_sequence_and_again_with_sequence_0_is_one_event() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let mut first = c.direct_purchase(days_ago(2), &unique_site("seq"), "us");
    first.as_object_mut().expect("object").remove("sequence");
    let mut again = first.clone();
    again["sequence"] = json!(0);
    app.publish(&first).await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    app.publish(&again).await;
    let history = app
        .wait_for(10, "the second delivery counted", || async {
            let h = app.history(&c.tenant_id).await;
            (h.first().map(|e| e.deliveries) == Some(2)).then_some(h)
        })
        .await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].outcome.to_string(), "applied");
    assert!(
        app.dead_letters().await.is_empty(),
        "a redelivery, not other content"
    );
}
