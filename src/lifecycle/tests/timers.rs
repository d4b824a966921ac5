//! The timed transitions, and how they interleave with events.

use super::*;
use crate::lifecycle::{Lifecycle, Outcome, ShownState, Timer};
use serde_json::json;

#[test]
fn an_unconverted_trial_is_deactivated_then_deleted_fifteen_days_later() {
    let events = [trial(1, "2026-09-01T10:15:00Z", "acme")];
    let t = fold_at(&events, "2026-10-05T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(t.lifecycle, Lifecycle::Deactivated);
    assert_eq!(t.deletion_due_at, Some(at("2026-10-20T00:00:00Z")));

    let folded = fold_at(&events, "2026-10-20T00:00:00Z");
    assert_eq!(folded.tenant.expect("tenant").lifecycle, Lifecycle::Deleted);
    assert_eq!(
        folded.fired,
        [
            (Timer::TrialEnded, at("2026-10-05T00:00:00Z")),
            (Timer::DeletionDue, at("2026-10-20T00:00:00Z"))
        ]
    );
}

#[test]
fn a_timer_due_before_an_event_fires_first() {
    // Trial ended on 2026-10-05, so an activation on 2026-10-05 (same instant) comes too late.
    let events = [
        trial(1, "2026-09-01T10:15:00Z", "acme"),
        event(
            2,
            "subscription.activated",
            "2026-10-05T00:00:00Z",
            json!({"plan": "standard", "cycle": "monthly", "current_period_end": "2026-11-05T00:00:00Z"}),
        ),
    ];
    let folded = fold_at(&events, "2026-10-06T00:00:00Z");
    assert!(
        matches!(&folded.outcomes[1].1, Outcome::Rejected { reason } if reason.contains("DEACTIVATED"))
    );
    // A second earlier, it converts the trial.
    let mut early = events.clone();
    early[1] = event(
        2,
        "subscription.activated",
        "2026-10-04T23:59:59Z",
        json!({"plan": "standard", "cycle": "monthly", "current_period_end": "2026-11-05T00:00:00Z"}),
    );
    let t = fold_at(&early, "2026-10-06T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(t.shown_state(true), ShownState::Active);
}

#[test]
fn deactivation_clears_the_suspension() {
    let events = [
        trial(1, "2026-09-01T10:15:00Z", "acme"),
        event(
            2,
            "subscription.suspended",
            "2026-09-10T00:00:00Z",
            json!({"reason": "fraud check"}),
        ),
    ];
    let t = fold_at(&events, "2026-09-11T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(t.shown_state(true), ShownState::Suspended);
    let t = fold_at(&events, "2026-10-06T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(
        (t.shown_state(true), t.suspended),
        (ShownState::Deactivated, false)
    );
}

#[test]
fn a_cancellation_already_past_when_it_arrives_applies_at_once() {
    let events = [
        trial(1, "2026-01-01T00:00:00Z", "acme"),
        event(
            2,
            "subscription.cancelled",
            "2026-01-02T00:00:00Z",
            json!({"effective_at": "2026-01-03T00:00:00Z"}),
        ),
    ];
    let folded = fold_at(&events, "2026-02-01T00:00:00Z");
    assert_eq!(folded.tenant.expect("tenant").lifecycle, Lifecycle::Deleted);
    assert_eq!(
        folded.fired,
        [
            (Timer::CancellationEffective, at("2026-01-03T00:00:00Z")),
            (Timer::DeletionDue, at("2026-01-18T00:00:00Z"))
        ]
    );
}

#[test]
fn nothing_changes_a_deleted_tenant() {
    let events = [
        trial(1, "2026-01-01T00:00:00Z", "acme"),
        event(
            2,
            "data.deletion_requested",
            "2026-01-02T00:00:00Z",
            json!({"reason": "gdpr"}),
        ),
        event(
            3,
            "subscription.reactivated",
            "2026-01-03T00:00:00Z",
            json!({"current_period_end": "2026-02-03T00:00:00Z"}),
        ),
        event(
            4,
            "site.renamed",
            "2026-01-04T00:00:00Z",
            json!({"site": "back"}),
        ),
    ];
    let folded = fold_at(&events, "2026-01-05T00:00:00Z");
    assert_eq!(folded.tenant.expect("tenant").lifecycle, Lifecycle::Deleted);
    for (_, outcome) in &folded.outcomes[2..] {
        assert!(
            matches!(outcome, Outcome::Rejected { reason } if reason.contains("DELETED")),
            "{outcome:?}"
        );
    }
}

#[test]
fn no_timer_is_armed_for_an_active_tenant() {
    let events = [event(
        1,
        "subscription.activated",
        "2026-01-01T00:00:00Z",
        json!({"plan": "p", "cycle": "monthly", "current_period_end": "2026-02-01T00:00:00Z",
               "site": "acme", "products": ["jira"], "residency": "us"}),
    )];
    let folded = fold_at(&events, "2030-01-01T00:00:00Z");
    let t = folded.tenant.expect("tenant");
    assert_eq!((t.lifecycle, folded.fired.len()), (Lifecycle::Active, 0));
    assert_eq!(crate::lifecycle::timers::next_timer(&t), None);
}

#[test]
fn the_fold_names_what_made_each_change_of_state_events_and_timers_in_order() {
    use crate::lifecycle::{Step, StepCause};
    let events = [
        trial(1, "2026-09-01T10:15:00Z", "acme"),
        event(
            2,
            "subscription.suspended",
            "2026-09-03T00:00:00Z",
            json!({"reason": "payment_overdue"}),
        ),
        // Renames change no state: no step.
        event(
            3,
            "site.renamed",
            "2026-09-04T00:00:00Z",
            json!({"site": "acme-two"}),
        ),
    ];
    let folded = fold_at(&events, "2026-10-21T00:00:00Z");
    let step = |cause, at_: &str, lifecycle, suspended| Step {
        cause,
        at: at(at_),
        lifecycle,
        suspended,
    };
    assert_eq!(
        folded.steps,
        [
            step(
                StepCause::Event(events[0].id),
                "2026-09-01T10:15:00Z",
                Lifecycle::Trial,
                false
            ),
            step(
                StepCause::Event(events[1].id),
                "2026-09-03T00:00:00Z",
                Lifecycle::Trial,
                true
            ),
            step(
                StepCause::Timer(Timer::TrialEnded),
                "2026-10-05T00:00:00Z",
                Lifecycle::Deactivated,
                false
            ),
            step(
                StepCause::Timer(Timer::DeletionDue),
                "2026-10-20T00:00:00Z",
                Lifecycle::Deleted,
                false
            ),
        ]
    );
}
