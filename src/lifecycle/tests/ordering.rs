//! Order independence: the outcome depends on the set of distinct events, never on how many
//! times or in which order they were delivered.

use super::*;
use crate::lifecycle::{Lifecycle, Outcome};
use chrono::Duration;
use proptest::prelude::*;
use serde_json::json;

const TYPES: [&str; 13] = [
    "trial.started",
    "subscription.activated",
    "subscription.renewed",
    "subscription.cancelled",
    "subscription.reactivated",
    "subscription.suspended",
    "subscription.unsuspended",
    "site.renamed",
    "data.deletion_requested",
    "admin.deletion_requested",
    "admin.deletion_cancelled",
    "admin.hold_placed",
    "admin.hold_lifted",
];
const SITES: [&str; 3] = ["alpha", "bravo", "charlie"];

/// One random event: coarse times (so that ties on `occurred_at` happen) and a small pool of
/// sites (so that renames collide), with data valid for its type.
fn arb_event(n: u32) -> impl Strategy<Value = Event> {
    (0..TYPES.len(), 0i64..120, 0i64..3, proptest::option::of(0u32..4), 0..SITES.len(), 0i64..40, any::<bool>())
        .prop_map(move |(t, day, hour, seq, site, later, direct)| {
            let when = at("2026-01-01T00:00:00Z") + Duration::days(day) + Duration::hours(hour);
            let then = (when + Duration::days(later)).to_rfc3339();
            let site = SITES[site];
            let data = match TYPES[t] {
                "trial.started" => json!({"site": site, "products": ["jira"], "residency": "eu", "billing_day": 1 + day % 28}),
                "subscription.activated" if direct => json!({"plan": "p", "cycle": "annual", "current_period_end": then,
                    "site": site, "products": ["jira"], "residency": "us"}),
                "subscription.activated" => json!({"plan": "p", "cycle": "monthly", "current_period_end": then}),
                "subscription.renewed" | "subscription.reactivated" => json!({"current_period_end": then}),
                "subscription.cancelled" => json!({"effective_at": then}),
                "site.renamed" => json!({"site": site}),
                "subscription.unsuspended" => json!({}),
                "admin.deletion_requested" => json!({"by": "ops", "reason": "r", "immediate": direct, "force": hour > 0}),
                "admin.deletion_cancelled" => json!({"by": "ops", "reason": "undo"}),
                "admin.hold_placed" | "admin.hold_lifted" => json!({"by": "legal", "reason": "case"}),
                _ => json!({"reason": "because"}),
            };
            let mut body = json!({
                "id": format!("00000000-0000-4000-8000-{n:012}"),
                "type": TYPES[t], "tenant_id": TENANT, "occurred_at": when.to_rfc3339(), "data": data,
            });
            if let Some(seq) = seq {
                body["sequence"] = json!(seq);
            }
            stored(&body)
        })
}

fn arb_history() -> impl Strategy<Value = Vec<Event>> {
    (1usize..16).prop_flat_map(|len| (0..len as u32).map(arb_event).collect::<Vec<_>>())
}

/// A delivery of the history: every event at least once, some many times, in any order.
fn arb_delivery(history: Vec<Event>) -> impl Strategy<Value = Vec<Event>> {
    let len = history.len();
    proptest::collection::vec(0..len, 0..2 * len).prop_flat_map(move |extra| {
        let mut delivered = history.clone();
        delivered.extend(extra.into_iter().map(|i| history[i].clone()));
        Just(delivered).prop_shuffle()
    })
}

fn arb_now() -> impl Strategy<Value = chrono::DateTime<Utc>> {
    (0i64..300).prop_map(|d| at("2026-01-01T00:00:00Z") + Duration::days(d))
}

fn deleted(f: &Folded) -> bool {
    f.tenant
        .as_ref()
        .is_some_and(|t| t.lifecycle == Lifecycle::Deleted)
}

/// When each event was stored: an admin action when it was taken (an act in catalog time),
/// a commerce event up to 60 days after it occurred.
fn arb_arrivals(history: Vec<Event>) -> impl Strategy<Value = (Vec<Event>, Arrivals)> {
    let len = history.len();
    proptest::collection::vec(0i64..60 * 24, len).prop_map(move |delays| {
        let mut arrivals = Arrivals::new(Duration::hours(1));
        for (e, hours) in history.iter().zip(delays) {
            let late = !e.kind.event_type().is_admin();
            let delay = if late {
                Duration::hours(hours)
            } else {
                Duration::zero()
            };
            arrivals.insert(e.id, e.occurred_at + delay);
        }
        (history.clone(), arrivals)
    })
}

/// Long after every event of [`arb_event`] occurred.
fn late() -> chrono::DateTime<Utc> {
    at("2027-01-01T00:00:00Z")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn duplicates_and_shuffles_give_the_same_fold(
        ((history, arrivals), delivered) in arb_history()
            .prop_flat_map(arb_arrivals)
            .prop_flat_map(|(h, a)| (Just((h.clone(), a)), arb_delivery(h))),
        now in arb_now(),
    ) {
        let expected = fold(&history, &arrivals, now, &no_sites_taken);
        prop_assert_eq!(fold(&delivered, &arrivals, now, &no_sites_taken), expected);
    }

    /// What the catalog does: refold at every arrival, and freeze once a refold carried the
    /// deletion out. Whatever the arrivals and holds, a frozen tenant is what the fold of every
    /// stored event with its arrival instant says, and events stored after it change nothing.
    #[test]
    fn refolding_at_each_arrival_ends_as_the_fold_of_the_events_and_their_arrivals(
        (history, arrivals) in arb_history().prop_flat_map(arb_arrivals),
    ) {
        let mut instants: Vec<_> = history.iter().map(|e| arrivals.of(e)).collect();
        instants.sort();
        instants.dedup();
        let end = instants.last().copied().unwrap_or_else(late) + Duration::days(400);
        let all = fold(&history, &arrivals, end, &no_sites_taken);
        let mut frozen = None;
        for r in instants {
            let known: Vec<Event> = history.iter().filter(|e| arrivals.of(e) <= r).cloned().collect();
            let f = fold(&known, &arrivals, r, &no_sites_taken);
            if deleted(&f) {
                frozen = Some(f);
                break;
            }
        }
        if let Some(f) = frozen {
            prop_assert_eq!(&f.tenant, &all.tenant);
        }
    }

    /// CONTRACT.md section 8: a whole history of commerce events delivered late, in any order,
    /// each within the grace of the one before, ends as its in-order fold: every event known at
    /// once. No prefix of what arrived is carried out to DELETED before the rest is read.
    #[test]
    fn a_whole_history_delivered_late_within_the_grace_ends_as_its_in_order_fold(
        (history, delivered) in arb_history()
            .prop_map(|h| h.into_iter().filter(|e| !e.kind.event_type().is_admin()).collect::<Vec<_>>())
            .prop_flat_map(|h| (Just(h.clone()), Just(h).prop_shuffle())),
    ) {
        let grace = Duration::hours(1);
        let mut arrivals = Arrivals::new(grace);
        for (k, e) in delivered.iter().enumerate() {
            arrivals.insert(e.id, late() + Duration::minutes(k as i64 * 50));
        }
        let last = late() + Duration::minutes(delivered.len().saturating_sub(1) as i64 * 50);
        let now = last + Duration::days(400);
        let in_order = fold(&history, &Arrivals::all_at(&history, last, grace), now, &no_sites_taken);
        for k in 0..delivered.len() {
            let known = &delivered[..=k];
            let at = late() + Duration::minutes(k as i64 * 50);
            let f = fold(known, &arrivals, at, &no_sites_taken);
            prop_assert!(!deleted(&f), "carried out after {} of {} arrivals", k + 1, delivered.len());
        }
        let f = fold(&delivered, &arrivals, now, &no_sites_taken);
        prop_assert_eq!(f.tenant, in_order.tenant);
        prop_assert_eq!(f.outcomes, in_order.outcomes);
    }

    #[test]
    fn every_distinct_event_gets_one_outcome(
        history in arb_history(),
        pick in any::<prop::sample::Index>(),
        now in arb_now(),
    ) {
        // A copy under a new id is another fact, never folded away as a duplicate.
        let mut copy = pick.get(&history).clone();
        copy.id = format!("ffffffff-0000-4000-8000-{:012}", 1).parse().expect("uuid");
        let mut with_copy = history.clone();
        with_copy.push(copy.clone());
        with_copy.push(copy.clone());
        let folded = fold(&with_copy, &on_time(), now, &no_sites_taken);
        let ids: std::collections::HashSet<_> = with_copy.iter().map(|e| e.id).collect();
        prop_assert_eq!(folded.outcomes.len(), ids.len());
        prop_assert_eq!(folded.outcomes.iter().filter(|(id, _)| *id == copy.id).count(), 1);
    }
}

/// Three events that differ only in their id are three facts (CONTRACT.md section 7): a
/// suspension, its end, and a second suspension in the same second leave the tenant suspended.
#[test]
fn events_with_other_ids_are_other_facts_even_when_all_else_is_equal() {
    let trial = stored(
        &json!({"id": "00000000-0000-4000-8000-000000000001", "type": "trial.started",
        "tenant_id": TENANT, "occurred_at": "2026-11-01T00:00:00Z",
        "data": {"site": "alpha", "products": ["jira"], "residency": "eu", "billing_day": 1}}),
    );
    let suspension = |id: &str, kind: &str, data: serde_json::Value| {
        stored(&json!({"id": id, "type": kind, "tenant_id": TENANT,
            "occurred_at": "2026-11-02T00:00:00Z", "sequence": 2, "data": data}))
    };
    let events = [
        trial,
        suspension(
            "00000000-0000-4000-8000-00000000000a",
            "subscription.suspended",
            json!({"reason": "overdue"}),
        ),
        suspension(
            "00000000-0000-4000-8000-00000000000b",
            "subscription.unsuspended",
            json!({}),
        ),
        suspension(
            "00000000-0000-4000-8000-00000000000c",
            "subscription.suspended",
            json!({"reason": "overdue"}),
        ),
    ];
    let folded = fold(
        &events,
        &on_time(),
        at("2026-11-03T00:00:00Z"),
        &no_sites_taken,
    );
    assert!(folded.tenant.expect("created").suspended);
    assert!(
        folded.outcomes.iter().all(|(_, o)| *o == Outcome::Applied),
        "{:?}",
        folded.outcomes
    );
}

/// An absent `sequence` counts as 0: it sorts with `sequence: 0`, by id, not before it.
#[test]
fn an_absent_sequence_counts_as_zero() {
    let event = |id: &str, kind: &str, sequence: Option<u32>, data: serde_json::Value| {
        let mut body = json!({"id": id, "type": kind, "tenant_id": TENANT,
            "occurred_at": "2026-11-01T00:00:00Z", "data": data});
        if let Some(n) = sequence {
            body["sequence"] = json!(n);
        }
        stored(&body)
    };
    let trial = event(
        "00000000-0000-4000-8000-000000000001",
        "trial.started",
        Some(0),
        json!({"site": "alpha", "products": ["jira"], "residency": "eu", "billing_day": 1}),
    );
    // Without a sequence, this rename sorts after the trial (same time, 0, a larger id); were
    // an absent sequence to sort first, it would come before its tenant exists.
    let rename = event(
        "00000000-0000-4000-8000-000000000002",
        "site.renamed",
        None,
        json!({"site": "bravo"}),
    );
    let folded = fold(
        &[rename, trial],
        &on_time(),
        at("2026-11-02T00:00:00Z"),
        &no_sites_taken,
    );
    let site = folded.tenant.expect("created").site.expect("live");
    assert_eq!(site.as_str(), "bravo");
}
