//! Order independence: the outcome depends on the set of distinct events, never on how many
//! times or in which order they were delivered.

use super::*;
use crate::lifecycle::{Lifecycle, Outcome};
use chrono::Duration;
use proptest::prelude::*;
use serde_json::json;

const TYPES: [&str; 11] = [
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn duplicates_and_shuffles_give_the_same_fold(
        (history, delivered) in arb_history().prop_flat_map(|h| (Just(h.clone()), arb_delivery(h))),
        now in arb_now(),
    ) {
        let expected = fold(&history, now, &no_sites_taken);
        prop_assert_eq!(fold(&delivered, now, &no_sites_taken), expected);
    }

    /// What the catalog does: refold on every arrival, and freeze once a fold says DELETED.
    /// The end state is the in-order fold's, unless some prefix of the arrivals was already
    /// DELETED (the contract's one allowed difference), and then it is DELETED.
    #[test]
    fn arrivals_one_by_one_end_in_the_in_order_state(
        (history, delivered) in arb_history().prop_flat_map(|h| (Just(h.clone()), arb_delivery(h))),
        now in arb_now(),
    ) {
        let in_order = fold(&history, now, &no_sites_taken);
        let mut known: Vec<Event> = Vec::new();
        let mut frozen = None;
        for e in delivered {
            if frozen.is_some() { break; }
            if !known.iter().any(|k| k.id == e.id) { known.push(e); }
            let f = fold(&known, now, &no_sites_taken);
            if deleted(&f) { frozen = Some(f); }
        }
        match frozen {
            Some(f) => prop_assert!(deleted(&f)),
            None => prop_assert_eq!(fold(&known, now, &no_sites_taken), in_order),
        }
    }

    #[test]
    fn the_same_fact_under_a_new_id_is_a_duplicate(
        history in arb_history(),
        pick in any::<prop::sample::Index>(),
        now in arb_now(),
    ) {
        let original = pick.get(&history).clone();
        let mut copy = original.clone();
        copy.id = format!("ffffffff-0000-4000-8000-{:012}", 1).parse().expect("uuid");
        let mut with_copy = history.clone();
        with_copy.push(copy.clone());
        let expected = fold(&history, now, &no_sites_taken);
        let folded = fold(&with_copy, now, &no_sites_taken);
        prop_assert_eq!(&folded.tenant, &expected.tenant);
        let outcome = folded.outcomes.iter().find(|(id, _)| *id == copy.id).map(|(_, o)| o.clone());
        prop_assert!(matches!(outcome, Some(Outcome::Duplicate { .. })), "{:?}", outcome);
    }
}
