//! Legal holds in the fold: no deletion is carried out while one stands, and one that fell
//! due meanwhile is carried out when the hold is lifted.

use super::*;
use crate::lifecycle::{Lifecycle, Outcome};
use serde_json::json;

fn hold(n: u32, event_type: &str, occurred_at: &str) -> Event {
    admin(
        n,
        event_type,
        occurred_at,
        json!({"by": "legal", "reason": "litigation 2026-17"}),
    )
}

/// A trial that commerce asked to delete on 2026-06-10, with a hold placed on 2026-06-05.
fn held_deletion() -> Vec<Event> {
    vec![
        trial(1, "2026-06-01T00:00:00Z", "acme"),
        hold(2, "admin.hold_placed", "2026-06-05T00:00:00Z"),
        event(
            3,
            "data.deletion_requested",
            "2026-06-10T00:00:00Z",
            json!({"reason": "customer request"}),
        ),
    ]
}

fn outcome(folded: &Folded, n: u32) -> Outcome {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    folded
        .outcomes
        .iter()
        .find(|(e, _)| e.to_string() == id)
        .map(|(_, o)| o.clone())
        .expect("the event has an outcome")
}

#[test]
fn a_deletion_waits_while_a_hold_stands() {
    let folded = fold_at(&held_deletion(), "2027-01-01T00:00:00Z");
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deactivated);
    assert_eq!(t.deletion_due_at, Some(at("2026-06-10T00:00:00Z")));
    let h = t.legal_hold.expect("the hold stands");
    assert_eq!(
        (h.by.as_str(), h.since),
        ("legal", at("2026-06-05T00:00:00Z"))
    );
    assert!(folded.fired.is_empty(), "{:?}", folded.fired);
    assert!(t.site.is_some(), "nothing is purged while held");
}

#[test]
fn lifting_a_hold_over_an_overdue_deletion_carries_it_out_then() {
    let mut events = held_deletion();
    events.push(hold(4, "admin.hold_lifted", "2026-08-01T00:00:00Z"));
    let folded = fold_at(&events, "2026-08-01T00:00:00Z");
    let t = folded.tenant.clone().expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deleted);
    assert_eq!(t.deleted_at, Some(at("2026-08-01T00:00:00Z")));
    assert_eq!(t.deletion_due_at, Some(at("2026-06-10T00:00:00Z")));
    assert_eq!(outcome(&folded, 4), Outcome::Applied);
}

#[test]
fn lifting_a_hold_before_the_deletion_is_due_leaves_the_due_date() {
    let events = vec![
        trial(1, "2026-06-01T00:00:00Z", "acme"),
        hold(2, "admin.hold_placed", "2026-06-02T00:00:00Z"),
        hold(3, "admin.hold_lifted", "2026-06-03T00:00:00Z"),
    ];
    // The trial ends on 2026-07-05 (30 days, then the next 5th); deletion 15 days later.
    let before = fold_at(&events, "2026-07-19T00:00:00Z");
    assert_eq!(
        before.tenant.as_ref().map(|t| t.lifecycle),
        Some(Lifecycle::Deactivated)
    );
    let after = fold_at(&events, "2026-07-21T00:00:00Z");
    let t = after.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deleted);
    assert_eq!(t.deleted_at, t.deletion_due_at);
}

#[test]
fn an_admin_deletion_is_refused_while_a_hold_stands_and_says_why() {
    let mut events = held_deletion();
    events.push(admin(
        4,
        "admin.deletion_requested",
        "2026-06-11T00:00:00Z",
        json!({"by": "ops", "reason": "cleanup", "immediate": true, "force": true}),
    ));
    let folded = fold_at(&events, "2026-06-12T00:00:00Z");
    let Outcome::Rejected { reason } = outcome(&folded, 4) else {
        panic!("refused while held")
    };
    assert!(
        reason.contains("legal hold stands since 2026-06-05"),
        "{reason}"
    );
    assert!(
        reason.contains("legal") && reason.contains("litigation 2026-17"),
        "{reason}"
    );
    assert_eq!(
        folded.tenant.as_ref().map(|t| t.lifecycle),
        Some(Lifecycle::Deactivated)
    );
}

#[test]
fn a_second_hold_or_a_lift_without_one_is_refused() {
    let mut events = held_deletion();
    events.push(hold(4, "admin.hold_placed", "2026-06-06T00:00:00Z"));
    events.push(hold(5, "admin.hold_lifted", "2026-06-07T00:00:00Z"));
    events.push(hold(6, "admin.hold_lifted", "2026-06-08T00:00:00Z"));
    let folded = fold_at(&events, "2026-06-09T00:00:00Z");
    assert!(matches!(outcome(&folded, 4), Outcome::Rejected { .. }));
    assert_eq!(outcome(&folded, 5), Outcome::Applied);
    let Outcome::Rejected { reason } = outcome(&folded, 6) else {
        panic!("nothing to lift")
    };
    assert!(reason.starts_with("no legal hold stands"), "{reason}");
}

#[test]
fn a_hold_comes_too_late_for_a_deletion_carried_out_before_it() {
    // By the timeline, the deletion (due 2026-06-03) was carried out before the hold: the
    // hold is refused, however late the deletion request arrived.
    let events = vec![
        trial(1, "2026-06-01T00:00:00Z", "acme"),
        event(
            2,
            "data.deletion_requested",
            "2026-06-03T00:00:00Z",
            json!({"reason": "customer request"}),
        ),
        hold(3, "admin.hold_placed", "2026-06-05T00:00:00Z"),
    ];
    let folded = fold_at(&events, "2026-06-06T00:00:00Z");
    assert_eq!(
        folded.tenant.as_ref().map(|t| t.lifecycle),
        Some(Lifecycle::Deleted)
    );
    assert!(matches!(outcome(&folded, 3), Outcome::Rejected { .. }));
}

#[test]
fn a_deletion_names_its_request_the_lift_that_released_it_and_the_sites_it_purged() {
    use crate::lifecycle::cause::deletion;
    let mut events = held_deletion();
    events.push(event(
        4,
        "site.renamed",
        "2026-06-06T00:00:00Z",
        json!({"site": "acme-two"}),
    ));
    events.push(hold(5, "admin.hold_lifted", "2026-08-01T00:00:00Z"));
    let folded = fold_at(&events, "2026-08-02T00:00:00Z");
    let applied: Vec<&Event> = events
        .iter()
        .filter(|e| {
            folded
                .outcomes
                .iter()
                .any(|(id, o)| id == &e.id && *o == Outcome::Applied)
        })
        .collect();
    let d = deletion(&folded.steps, &applied).expect("deleted");
    assert_eq!(d.carried_out.what, "timer.deletion_due");
    assert_eq!(d.carried_out.at, at("2026-08-01T00:00:00Z"));
    let requested = d.requested.expect("requested");
    assert_eq!(
        (requested.what.as_str(), requested.reason.as_deref()),
        ("data.deletion_requested", Some("customer request"))
    );
    let released = d.released.expect("released by the lift");
    assert_eq!(
        (released.what.as_str(), released.by.as_deref()),
        ("admin.hold_lifted", Some("legal"))
    );
    let sites: Vec<&str> = d.sites.iter().map(|s| s.as_str()).collect();
    assert_eq!(sites, ["acme", "acme-two"]);
    assert_eq!(d.products, ["jira"]);

    // A trial nobody converted is deleted by its own timers.
    let lapsed = fold_at(
        &[trial(1, "2026-06-01T00:00:00Z", "acme")],
        "2026-08-01T00:00:00Z",
    );
    let first = [&events[0]];
    let d = deletion(&lapsed.steps, &first).expect("deleted");
    assert_eq!(
        d.requested.map(|r| r.what),
        Some("timer.trial_ended".to_owned())
    );
    assert_eq!(d.released, None);
}
