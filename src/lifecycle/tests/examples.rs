//! The life of `examples/01..09` and the direct purchase of `examples/10`, step by step, with
//! the outcome the examples' README gives for each.

use super::*;
use crate::domain::Region;
use crate::lifecycle::{Lifecycle, Outcome, ShownState, Timer};

fn example(name: &str) -> Event {
    let path = format!(
        "{}/tests/fixtures/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).expect("example file");
    Event::parse(&body).expect("examples are valid events")
}

fn life() -> Vec<Event> {
    [
        "01-trial.started.json",
        "02-subscription.activated.json",
        "03-subscription.renewed.json",
        "04-site.renamed.json",
        "05-subscription.suspended.json",
        "06-subscription.unsuspended.json",
        "07-subscription.cancelled.json",
        "08-subscription.reactivated.json",
        "09-data.deletion_requested.json",
    ]
    .map(example)
    .to_vec()
}

fn state_after(steps: usize, now: &str) -> (crate::lifecycle::Tenant, ShownState) {
    let folded = fold_at(&life()[..steps], now);
    assert!(
        folded.outcomes.iter().all(|(_, o)| *o == Outcome::Applied),
        "{folded:?}"
    );
    let tenant = folded.tenant.expect("tenant exists");
    let shown = tenant.shown_state(true);
    (tenant, shown)
}

#[test]
fn a_trial_ends_on_the_first_billing_day_after_thirty_days() {
    let (t, shown) = state_after(1, "2026-09-01T11:00:00Z");
    assert_eq!(shown, ShownState::Trial);
    assert_eq!(t.trial_ends_at, Some(at("2026-10-05T00:00:00Z")));
    assert_eq!(t.site.as_ref().map(|s| s.as_str()), Some("acme"));
}

#[test]
fn activation_renewal_and_rename_keep_the_tenant_active() {
    let (t, shown) = state_after(2, "2026-09-21T00:00:00Z");
    assert_eq!(
        (shown, t.current_period_end),
        (ShownState::Active, Some(at("2026-10-20T08:00:00Z")))
    );
    assert_eq!(t.plan.as_deref(), Some("standard"));
    // The trial is over: its end counts down to nothing any more.
    assert_eq!(t.trial_ends_at, None);

    let (t, _) = state_after(3, "2026-10-21T00:00:00Z");
    assert_eq!(t.current_period_end, Some(at("2026-11-20T08:00:00Z")));

    let (t, shown) = state_after(4, "2026-10-26T00:00:00Z");
    assert_eq!(shown, ShownState::Active);
    assert_eq!(
        t.site
            .as_ref()
            .map(|s| crate::domain::BaseDomain::try_from("example.net")
                .expect("valid")
                .host(s))
            .as_deref(),
        Some("acme-corp.example.net")
    );
    assert_eq!(
        t.old_sites.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["acme"]
    );
}

#[test]
fn suspension_hides_the_tenant_and_unsuspension_restores_it() {
    let (_, shown) = state_after(5, "2026-11-02T00:00:00Z");
    assert_eq!(shown, ShownState::Suspended);
    assert!(!shown.serving());
    let (_, shown) = state_after(6, "2026-11-04T00:00:00Z");
    assert_eq!(shown, ShownState::Active);
}

#[test]
fn a_cancelled_tenant_is_served_until_the_period_ends_then_deactivated() {
    let (t, shown) = state_after(7, "2026-11-11T00:00:00Z");
    assert_eq!(shown, ShownState::Cancelling);
    assert!(shown.serving());
    assert_eq!(
        t.cancellation_effective_at,
        Some(at("2026-11-20T08:00:00Z"))
    );

    let (t, shown) = state_after(7, "2026-11-21T00:00:00Z");
    assert_eq!(shown, ShownState::Deactivated);
    assert_eq!(t.deletion_due_at, Some(at("2026-12-05T08:00:00Z")));
}

#[test]
fn reactivation_clears_the_pending_deletion() {
    let (t, shown) = state_after(8, "2026-11-26T00:00:00Z");
    assert_eq!(shown, ShownState::Active);
    assert_eq!(
        (t.cancellation_effective_at, t.deletion_due_at),
        (None, None)
    );
    assert_eq!(t.current_period_end, Some(at("2026-12-25T10:00:00Z")));
}

#[test]
fn a_deletion_request_deactivates_at_once_and_deletes_when_due() {
    let folded = fold_at(&life(), "2026-12-01T00:00:00Z");
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deleted);
    assert_eq!(
        folded.fired.last(),
        Some(&(Timer::DeletionDue, at("2026-12-01T00:00:00Z")))
    );
    assert_eq!((t.site, t.old_sites.len(), t.products), (None, 0, None));

    // Before its own time comes (the wall clock is behind the event), it waits deactivated.
    let early = fold_at(&life(), "2026-11-30T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(early.lifecycle, Lifecycle::Deactivated);
    assert_eq!(early.deletion_due_at, Some(at("2026-12-01T00:00:00Z")));
}

#[test]
fn a_direct_purchase_creates_an_active_tenant() {
    let folded = fold_at(
        &[example("10-direct-purchase.json")],
        "2026-11-03T00:00:00Z",
    );
    let t = folded.tenant.expect("tenant");
    assert_eq!(t.shown_state(true), ShownState::Active);
    assert_eq!(t.residency.allowed_regions(), [Region::ApSoutheast2]);
    assert_eq!(t.plan.as_deref(), Some("premium"));
}

#[test]
fn the_examples_in_any_order_end_the_same() {
    let events = life();
    let expected = fold_at(&events, "2026-11-23T00:00:00Z");
    let mut reversed = events.clone();
    reversed.reverse();
    reversed.extend(events.iter().cloned());
    assert_eq!(fold_at(&reversed, "2026-11-23T00:00:00Z"), expected);
}
