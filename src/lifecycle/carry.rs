//! Carrying a deletion out in catalog time (CONTRACT.md section 8): the catalog is one
//! function of the stored events, the instant each was first stored, the admin actions and the
//! clock. [`fold`] folds the events in contract order ([`super::fold`]), where a deletion falls
//! due by the events' timeline, and decides when, if ever, it is carried out: never on the
//! strength of news that may still be incomplete.

use super::events::{Event, EventKind};
use super::fold::{Folded, Outcome, contract_order, fold_known};
use super::rules::SiteRegistry;
use super::state::Lifecycle;
use super::timers::{Timer, deletion_is_final, purge};
use crate::domain::EventId;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};

/// When each event was first stored (its `received_at`), and how long a deletion waits for
/// late news after the tenant's most recently stored commerce event (`DELETION_GRACE_SECS`).
/// The catalog is one function of the events, these instants, the admin actions and the
/// clock (CONTRACT.md section 8).
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    received: HashMap<EventId, DateTime<Utc>>,
    grace: Duration,
}

impl Arrivals {
    /// No instants known yet: every event counts as received when it occurred, as if commerce
    /// had delivered it on time.
    pub fn new(grace: Duration) -> Self {
        Arrivals {
            received: HashMap::new(),
            grace,
        }
    }

    /// Every event received at one instant: a whole history arriving at once.
    pub fn all_at(events: &[Event], at: DateTime<Utc>, grace: Duration) -> Self {
        let mut arrivals = Arrivals::new(grace);
        for e in events {
            arrivals.insert(e.id, at);
        }
        arrivals
    }

    pub fn insert(&mut self, id: EventId, received_at: DateTime<Utc>) {
        self.received.insert(id, received_at);
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// When `event` was first stored (when it occurred, if that is not known).
    pub fn of(&self, event: &Event) -> DateTime<Utc> {
        self.received
            .get(&event.id)
            .copied()
            .unwrap_or(event.occurred_at)
    }
}

/// Folds `events` (any order, repeats allowed) into the tenant's state at `now`.
///
/// The events are folded in contract order ([`fold_known`]); a deletion falls due there by
/// the events' timeline. It is *carried out* in catalog time: at the first instant, by `now`,
/// when it has fallen due by the events then stored, the grace after the latest of their
/// commerce events has passed (an admin's immediate deletion waits for no grace) and no legal
/// hold stands. What is stored changes only when an event arrives, so the instants between
/// arrivals are judged window by window. Until it is carried out the tenant is `DEACTIVATED`
/// and `deletion_due_at` says when it will be; once carried out, events stored later change
/// nothing.
pub fn fold(
    events: &[Event],
    arrivals: &Arrivals,
    now: DateTime<Utc>,
    sites: &dyn SiteRegistry,
) -> Folded {
    let mut ordered: Vec<&Event> = events.iter().collect();
    ordered.sort_by(|a, b| contract_order(a, b));
    let mut seen = HashSet::with_capacity(ordered.len());
    ordered.retain(|e| seen.insert(e.id));
    let arrived = |e: &Event| arrivals.of(e).min(now);
    // The events in the order they were stored, taken in as the windows pass, so that a
    // window skipped costs nothing but its own arrivals.
    let mut by_arrival: Vec<(DateTime<Utc>, usize)> = ordered
        .iter()
        .enumerate()
        .map(|(i, e)| (arrived(e), i))
        .collect();
    by_arrival.sort();
    let mut instants: Vec<DateTime<Utc>> = by_arrival.iter().map(|(at, _)| *at).collect();
    instants.dedup();
    let immediate_requests = ordered.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::AdminDeletionRequested {
                immediate: true,
                ..
            }
        )
    });
    let mut stored = vec![false; ordered.len()];
    let (mut taken, mut latest_news, mut may_delete) = (0, None, false);
    for (i, &from) in instants.iter().enumerate() {
        while let Some(&(at, e)) = by_arrival.get(taken).filter(|(at, _)| *at <= from) {
            stored[e] = true;
            let kind = &ordered[e].kind;
            if !kind.event_type().is_admin() {
                latest_news = latest_news.max(Some(at));
            }
            may_delete |= leads_to_deletion(kind);
            taken += 1;
        }
        let until = instants.get(i + 1).copied();
        // Nothing to judge in a window before the last when no deletion can have fallen due in
        // it: none of the events stored by then can lead to one, or a commerce event stored at
        // its start keeps any deletion that needs the grace waiting past the next arrival.
        if let Some(next) = until {
            let within_grace =
                !immediate_requests && latest_news == Some(from) && next - from <= arrivals.grace;
            if !may_delete || within_grace {
                continue;
            }
        }
        let known: Vec<&Event> = ordered
            .iter()
            .zip(&stored)
            .filter_map(|(e, s)| s.then_some(*e))
            .collect();
        let verdict = fold_known(&known, until.unwrap_or(now), sites);
        let window = Window {
            from,
            until,
            now,
            latest_news,
            grace: arrivals.grace,
        };
        match window.carried_out(&verdict) {
            Some(at) => return carried_out(verdict, at, &ordered, &known),
            None if until.is_none() => return pending(verdict, &window),
            None => {}
        }
    }
    fold_known(&ordered, now, sites)
}

/// Whether an event can start the way to a deletion: a trial (which may lapse), a
/// cancellation, or a deletion request. Without one, no timer deactivates the tenant.
fn leads_to_deletion(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::TrialStarted { .. }
            | EventKind::SubscriptionCancelled { .. }
            | EventKind::DataDeletionRequested { .. }
            | EventKind::AdminDeletionRequested { .. }
    )
}

/// The instants from one arrival to the next (or to `now`, for the last), over which what is
/// stored does not change.
struct Window {
    from: DateTime<Utc>,
    /// The next arrival; `None` for the last window, which ends at `now`.
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    /// When the latest commerce event stored by `from` was stored.
    latest_news: Option<DateTime<Utc>>,
    grace: Duration,
}

impl Window {
    /// When the deletion that the verdict has fallen due would be carried out, a hold aside.
    fn due(&self, verdict: &Folded) -> Option<DateTime<Utc>> {
        let t = verdict.tenant.as_ref()?;
        let due = match t.lifecycle {
            Lifecycle::Deleted => t.deleted_at?,
            Lifecycle::Deactivated => t.deletion_due_at?,
            _ => return None,
        };
        if let Some(asked) = verdict.immediate {
            return Some(due.max(asked));
        }
        Some(match self.latest_news {
            Some(news) => due.max(news + self.grace),
            None => due,
        })
    }

    /// The instant in this window at which the verdict's deletion is carried out, if it is.
    fn carried_out(&self, verdict: &Folded) -> Option<DateTime<Utc>> {
        let t = verdict.tenant.as_ref()?;
        if t.lifecycle != Lifecycle::Deleted || t.legal_hold.is_some() {
            return None;
        }
        let at = self.due(verdict)?.max(self.from);
        let inside = match self.until {
            Some(next) => at < next,
            None => at <= self.now,
        };
        inside.then_some(at)
    }
}

/// The verdict of the events stored by `at`, with the deletion carried out then: purged, and
/// every event stored after it rejected as coming after a final deletion.
fn carried_out(
    mut verdict: Folded,
    at: DateTime<Utc>,
    ordered: &[&Event],
    known: &[&Event],
) -> Folded {
    if let Some(t) = verdict.tenant.as_mut() {
        purge(t, at);
    }
    if let Some(last) = verdict.fired.last_mut()
        && last.0 == Timer::DeletionDue
    {
        last.1 = at;
    }
    if let Some(last) = verdict.steps.last_mut()
        && last.lifecycle == Lifecycle::Deleted
    {
        last.at = at;
    }
    let known: HashSet<EventId> = known.iter().map(|e| e.id).collect();
    let mut outcomes: HashMap<EventId, Outcome> = verdict.outcomes.drain(..).collect();
    verdict.outcomes = ordered
        .iter()
        .map(|e| {
            let outcome = match outcomes.remove(&e.id) {
                Some(o) if known.contains(&e.id) => o,
                _ => Outcome::Rejected {
                    reason: deletion_is_final(Some(at)),
                },
            };
            (e.id, outcome)
        })
        .collect();
    verdict
}

/// The verdict of every stored event at `now`, with a deletion that is not carried out yet
/// shown as such: the tenant is `DEACTIVATED`, nothing purged, and `deletion_due_at` is the
/// instant it will be carried out (a hold aside).
fn pending(mut verdict: Folded, window: &Window) -> Folded {
    let due = window.due(&verdict);
    let Some(t) = verdict.tenant.as_mut() else {
        return verdict;
    };
    match t.lifecycle {
        Lifecycle::Deleted => {
            t.lifecycle = Lifecycle::Deactivated;
            verdict.fell_due = t.deleted_at.take();
            if verdict
                .fired
                .last()
                .is_some_and(|f| f.0 == Timer::DeletionDue)
            {
                verdict.fired.pop();
            }
            if verdict
                .steps
                .last()
                .is_some_and(|s| s.lifecycle == Lifecycle::Deleted)
            {
                verdict.steps.pop();
            }
        }
        Lifecycle::Deactivated => {}
        _ => return verdict,
    }
    t.deletion_due_at = due;
    verdict
}
