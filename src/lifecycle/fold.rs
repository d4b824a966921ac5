//! Folding a tenant's events, in contract order, into its state.
//!
//! Delivery is at-least-once and unordered, so the catalog keeps every distinct event of a
//! tenant and refolds them all whenever one arrives or a timer comes due. The result depends
//! only on the set of events, `now`, and which sites other tenants hold: never on the order or
//! number of deliveries.

use super::events::{Event, EventKind};
use super::rules::{SiteRegistry, apply};
use super::state::{Lifecycle, Tenant};
use super::timers::{Timer, deletion_is_final, run_due};
use crate::domain::EventId;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// What became of one event in the fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Rejected {
        reason: String,
    },
    /// An admin deletion request withdrawn by a later `admin.deletion_cancelled`.
    Cancelled {
        by: EventId,
    },
}

/// An outcome without its details, as the history stores and shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Applied,
    /// Given by versions before CONTRACT.md section 7 (two ids are two facts); still read from
    /// stored rows, which the next refold of their tenant judges again.
    Duplicate,
    Rejected,
    Cancelled,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 4] = [
        OutcomeKind::Applied,
        OutcomeKind::Duplicate,
        OutcomeKind::Rejected,
        OutcomeKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Applied => "applied",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::domain::serialize_as_text!(OutcomeKind);

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Applied => OutcomeKind::Applied,
            Outcome::Rejected { .. } => OutcomeKind::Rejected,
            Outcome::Cancelled { .. } => OutcomeKind::Cancelled,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            Outcome::Applied => None,
            Outcome::Rejected { reason } => Some(reason.clone()),
            Outcome::Cancelled { by } => Some(format!("cancelled by admin action {by}")),
        }
    }
}

/// The result of a fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// `None` while no event has created the tenant.
    pub tenant: Option<Tenant>,
    /// Every distinct event with its outcome, in contract order.
    pub outcomes: Vec<(EventId, Outcome)>,
    /// The timers that fired, with when they were due, in order.
    pub fired: Vec<(Timer, DateTime<Utc>)>,
    /// Every change of the lifecycle state or the suspension, in order, with what made it:
    /// what an explanation of the tenant reads.
    pub steps: Vec<Step>,
}

/// One change of a tenant's lifecycle state or suspension in the fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub cause: StepCause,
    pub at: DateTime<Utc>,
    pub lifecycle: Lifecycle,
    pub suspended: bool,
}

/// What made a step: an event of the history, or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepCause {
    Event(EventId),
    Timer(Timer),
}

/// The steps of timers that fired: each leaves the tenant in a state of its own.
fn timer_steps(fired: &[(Timer, DateTime<Utc>)]) -> impl Iterator<Item = Step> + '_ {
    fired.iter().map(|&(timer, at)| Step {
        cause: StepCause::Timer(timer),
        at,
        lifecycle: match timer {
            Timer::TrialEnded | Timer::CancellationEffective => Lifecycle::Deactivated,
            Timer::DeletionDue => Lifecycle::Deleted,
        },
        suspended: false,
    })
}

/// Contract order: `occurred_at`, then `sequence` (absent counts as 0), then `id`.
pub fn contract_order(a: &Event, b: &Event) -> Ordering {
    let key = |e: &Event| (e.occurred_at, e.sequence.unwrap_or(0), e.id);
    key(a).cmp(&key(b))
}

/// Folds `events` (any order, repeats allowed) into the tenant's state at `now`.
///
/// An `admin.deletion_cancelled` returns the tenant to what the other events alone make it:
/// when one finds admin deletion requests in force before it, those requests are withdrawn
/// and the fold starts again without them. Each restart withdraws at least one more request,
/// so there are at most as many restarts as requests.
pub fn fold(events: &[Event], now: DateTime<Utc>, sites: &dyn SiteRegistry) -> Folded {
    let mut ordered: Vec<&Event> = events.iter().collect();
    ordered.sort_by(|a, b| contract_order(a, b));
    let mut seen = HashSet::with_capacity(ordered.len());
    ordered.retain(|e| seen.insert(e.id));

    let mut withdrawn = HashMap::new();
    loop {
        match fold_pass(&ordered, &withdrawn, now, sites) {
            Pass::Done(folded) => return *folded,
            Pass::Withdraw { cancel, requests } => {
                withdrawn.extend(requests.into_iter().map(|r| (r, cancel)));
            }
        }
    }
}

enum Pass {
    Done(Box<Folded>),
    /// `cancel` withdraws `requests`: fold again without them.
    Withdraw {
        cancel: EventId,
        requests: Vec<EventId>,
    },
}

/// One fold over events in contract order; `withdrawn` maps each withdrawn admin deletion
/// request to the cancellation that withdrew it.
fn fold_pass(
    ordered: &[&Event],
    withdrawn: &HashMap<EventId, EventId>,
    now: DateTime<Utc>,
    sites: &dyn SiteRegistry,
) -> Pass {
    let mut tenant: Option<Tenant> = None;
    let mut outcomes = Vec::with_capacity(ordered.len());
    let mut fired = Vec::new();
    let mut steps = Vec::new();
    // Admin deletion requests applied so far in this pass.
    let mut in_force = Vec::new();
    for event in ordered {
        if let Some(&by) = withdrawn.get(&event.id) {
            outcomes.push((event.id, Outcome::Cancelled { by }));
            continue;
        }
        if let Some(t) = tenant.as_mut() {
            let due = run_due(t, event.occurred_at);
            steps.extend(timer_steps(&due));
            fired.extend(due);
        }
        let outcome = match &event.kind {
            EventKind::AdminDeletionCancelled { .. } => {
                let withdrew = withdrawn.values().any(|c| *c == event.id);
                match tenant.as_ref() {
                    None => Outcome::Rejected {
                        reason: "tenant unknown: there is no deletion to cancel".into(),
                    },
                    Some(t) if t.lifecycle == Lifecycle::Deleted && !withdrew => {
                        Outcome::Rejected {
                            reason: deletion_is_final(t.deleted_at),
                        }
                    }
                    Some(t) if t.lifecycle != Lifecycle::Deleted && !in_force.is_empty() => {
                        return Pass::Withdraw {
                            cancel: event.id,
                            requests: in_force,
                        };
                    }
                    Some(_) if withdrew => Outcome::Applied,
                    Some(_) => Outcome::Rejected {
                        reason: "no admin deletion is pending: nothing to cancel".into(),
                    },
                }
            }
            _ => match apply(tenant.as_ref(), event, sites) {
                Ok(next) => {
                    let before = tenant.as_ref().map(|t| (t.lifecycle, t.suspended));
                    if before != Some((next.lifecycle, next.suspended)) {
                        steps.push(Step {
                            cause: StepCause::Event(event.id),
                            at: event.occurred_at,
                            lifecycle: next.lifecycle,
                            suspended: next.suspended,
                        });
                    }
                    tenant = Some(next);
                    if matches!(event.kind, EventKind::AdminDeletionRequested { .. }) {
                        in_force.push(event.id);
                    }
                    Outcome::Applied
                }
                Err(reason) => Outcome::Rejected { reason },
            },
        };
        outcomes.push((event.id, outcome));
    }
    if let Some(t) = tenant.as_mut() {
        let due = run_due(t, now);
        steps.extend(timer_steps(&due));
        fired.extend(due);
    }
    Pass::Done(Box::new(Folded {
        tenant,
        outcomes,
        fired,
        steps,
    }))
}
