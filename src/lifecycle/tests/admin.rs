//! Admin actions in the fold: deletion requests (with `force` and `immediate`) and their
//! cancellation, which returns the tenant to what commerce's events alone make it.

use super::*;
use crate::lifecycle::{Lifecycle, Outcome};
use serde_json::json;

const ACTIVE_SINCE: &str = "2026-06-01T00:00:00Z";

/// A trial converted to a subscription: ACTIVE, nothing due.
fn active_tenant() -> Vec<Event> {
    vec![
        trial(1, "2026-05-20T00:00:00Z", "acme"),
        event(
            2,
            "subscription.activated",
            ACTIVE_SINCE,
            json!({"plan": "standard", "cycle": "annual", "current_period_end": "2027-06-01T00:00:00Z"}),
        ),
    ]
}

fn request(n: u32, occurred_at: &str, immediate: bool, force: bool) -> Event {
    admin(
        n,
        "admin.deletion_requested",
        occurred_at,
        json!({"by": "alice", "reason": "abuse report 17", "immediate": immediate, "force": force}),
    )
}

fn cancel(n: u32, occurred_at: &str) -> Event {
    admin(
        n,
        "admin.deletion_cancelled",
        occurred_at,
        json!({"by": "bob", "reason": "report was a mistake"}),
    )
}

fn outcome_of(folded: &Folded, event: &Event) -> Outcome {
    folded
        .outcomes
        .iter()
        .find(|(id, _)| *id == event.id)
        .map(|(_, o)| o.clone())
        .expect("every event has an outcome")
}

fn lifecycle(folded: &Folded) -> Lifecycle {
    folded.tenant.as_ref().expect("tenant").lifecycle
}

#[test]
fn deleting_a_served_tenant_needs_force() {
    let mut events = active_tenant();
    let plain = request(10, "2026-07-01T00:00:00Z", false, false);
    events.push(plain.clone());
    let folded = fold_at(&events, "2026-07-02T00:00:00Z");
    assert_eq!(lifecycle(&folded), Lifecycle::Active);
    assert!(
        matches!(outcome_of(&folded, &plain), Outcome::Rejected { reason } if reason.contains("`force: true`") && reason.contains("ACTIVE")),
    );
}

#[test]
fn a_forced_deletion_deactivates_now_and_deletes_fifteen_days_later() {
    let mut events = active_tenant();
    events.push(event(
        3,
        "subscription.suspended",
        "2026-06-15T00:00:00Z",
        json!({"reason": "payment_overdue"}),
    ));
    events.push(request(10, "2026-07-01T00:00:00Z", false, true));

    let t = fold_at(&events, "2026-07-02T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!((t.lifecycle, t.suspended), (Lifecycle::Deactivated, false));
    assert_eq!(t.deletion_due_at, Some(at("2026-07-16T00:00:00Z")));

    let folded = fold_at(&events, "2026-07-16T00:00:00Z");
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deleted);
    assert_eq!((t.site, t.products), (None, None));
    assert_eq!(t.deleted_at, Some(at("2026-07-16T00:00:00Z")));
}

#[test]
fn an_immediate_forced_deletion_is_carried_out_at_once() {
    let mut events = active_tenant();
    events.push(request(10, "2026-07-01T00:00:00Z", true, true));
    let folded = fold_at(&events, "2026-07-01T00:00:00Z");
    assert_eq!(lifecycle(&folded), Lifecycle::Deleted);
}

#[test]
fn immediate_brings_a_deactivated_tenants_deletion_forward_and_only_that() {
    // The trial ends unconverted on 2026-06-05: deletion due 2026-06-20.
    let mut events = vec![trial(1, "2026-05-01T00:00:00Z", "acme")];
    let later = request(10, "2026-06-10T00:00:00Z", false, false);
    events.push(later.clone());
    let folded = fold_at(&events, "2026-06-11T00:00:00Z");
    assert_eq!(outcome_of(&folded, &later), Outcome::Applied);
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deactivated);
    assert_eq!(
        t.deletion_due_at,
        Some(at("2026-06-20T00:00:00Z")),
        "not immediate: the deletion date stays"
    );

    events.push(request(11, "2026-06-12T00:00:00Z", true, false));
    let folded = fold_at(&events, "2026-06-12T00:00:00Z");
    assert_eq!(lifecycle(&folded), Lifecycle::Deleted);
}

#[test]
fn cancelling_returns_the_tenant_to_what_commerce_alone_makes_it() {
    let mut events = active_tenant();
    let forced = request(10, "2026-07-01T00:00:00Z", false, true);
    let undo = cancel(11, "2026-07-03T00:00:00Z");
    events.extend([forced.clone(), undo.clone()]);

    let folded = fold_at(&events, "2026-08-01T00:00:00Z");
    let commerce_only = fold_at(&active_tenant(), "2026-08-01T00:00:00Z");
    assert_eq!(folded.tenant, commerce_only.tenant);
    assert_eq!(outcome_of(&folded, &undo), Outcome::Applied);
    assert_eq!(
        outcome_of(&folded, &forced),
        Outcome::Cancelled { by: undo.id }
    );
}

#[test]
fn a_cancelled_deletion_leaves_commerces_own_timers_running() {
    // A trial force-deleted and restored: its trial still ends on time.
    let events = [
        trial(1, "2026-05-01T00:00:00Z", "acme"),
        request(10, "2026-05-10T00:00:00Z", false, true),
        cancel(11, "2026-05-11T00:00:00Z"),
    ];
    let t = fold_at(&events, "2026-06-06T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deactivated);
    assert_eq!(t.deletion_due_at, Some(at("2026-06-20T00:00:00Z")));
}

#[test]
fn a_carried_out_deletion_cannot_be_cancelled() {
    let mut events = active_tenant();
    events.push(request(10, "2026-07-01T00:00:00Z", false, true));
    let late = cancel(11, "2026-07-20T00:00:00Z");
    events.push(late.clone());
    let folded = fold_at(&events, "2026-08-01T00:00:00Z");
    assert_eq!(lifecycle(&folded), Lifecycle::Deleted);
    assert!(
        matches!(outcome_of(&folded, &late), Outcome::Rejected { reason } if reason.contains("final")),
    );
}

#[test]
fn a_cancel_with_nothing_pending_is_rejected() {
    let mut events = active_tenant();
    let stray = cancel(11, "2026-07-03T00:00:00Z");
    events.push(stray.clone());
    let folded = fold_at(&events, "2026-07-04T00:00:00Z");
    assert!(
        matches!(outcome_of(&folded, &stray), Outcome::Rejected { reason } if reason.contains("nothing to cancel")),
    );
    assert_eq!(lifecycle(&folded), Lifecycle::Active);
}

#[test]
fn one_cancel_withdraws_every_request_before_it_and_none_after() {
    let mut events = active_tenant();
    let first = request(10, "2026-07-01T00:00:00Z", false, true);
    let second = request(11, "2026-07-02T00:00:00Z", false, false);
    let undo = cancel(12, "2026-07-03T00:00:00Z");
    let again = request(13, "2026-07-04T00:00:00Z", false, true);
    events.extend([first.clone(), second.clone(), undo.clone(), again.clone()]);

    let folded = fold_at(&events, "2026-07-05T00:00:00Z");
    assert_eq!(
        outcome_of(&folded, &first),
        Outcome::Cancelled { by: undo.id }
    );
    assert_eq!(
        outcome_of(&folded, &second),
        Outcome::Cancelled { by: undo.id }
    );
    assert_eq!(outcome_of(&folded, &again), Outcome::Applied);
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deactivated);
    assert_eq!(t.deletion_due_at, Some(at("2026-07-19T00:00:00Z")));
}

#[test]
fn a_commerce_event_after_a_forced_deletion_is_judged_against_it() {
    // Commerce renews after the admin deactivated the tenant: not allowed in DEACTIVATED.
    let mut events = active_tenant();
    events.push(request(10, "2026-07-01T00:00:00Z", false, true));
    let renewal = event(
        3,
        "subscription.renewed",
        "2026-07-02T00:00:00Z",
        json!({"current_period_end": "2028-06-01T00:00:00Z"}),
    );
    events.push(renewal.clone());
    let folded = fold_at(&events, "2026-07-03T00:00:00Z");
    assert!(matches!(
        outcome_of(&folded, &renewal),
        Outcome::Rejected { .. }
    ));

    // Once the deletion is cancelled, the same renewal applies.
    events.push(cancel(11, "2026-07-05T00:00:00Z"));
    let folded = fold_at(&events, "2026-07-06T00:00:00Z");
    assert_eq!(outcome_of(&folded, &renewal), Outcome::Applied);
    let t = folded.tenant.expect("tenant");
    assert_eq!(
        (t.lifecycle, t.current_period_end),
        (Lifecycle::Active, Some(at("2028-06-01T00:00:00Z")))
    );
}

#[test]
fn commerce_cannot_send_admin_actions() {
    let body = json!({
        "id": "00000000-0000-4000-8000-000000000001",
        "type": "admin.deletion_requested",
        "tenant_id": TENANT,
        "occurred_at": "2026-07-01T00:00:00Z",
        "data": {"by": "mallory", "reason": "x", "force": true, "immediate": true},
    });
    let refused = Event::parse(body.to_string().as_bytes()).expect_err("refused");
    assert!(refused.to_string().contains("admin API"), "{refused}");
}
