//! Folding a tenant's events, in contract order, into its state: the verdict of the events
//! alone, in which a deletion falls due. When it is carried out is [`super::carry`]'s.
//!
//! Delivery is at-least-once and unordered, so the catalog keeps every distinct event of a
//! tenant and refolds them all whenever one arrives or a timer comes due. The result depends
//! only on the set of events, `now`, and which sites other tenants hold: never on the order or
//! number of deliveries.

use super::events::{Event, EventKind};
use super::rules::{SiteRegistry, apply};
use super::state::{Lifecycle, Tenant};
use super::timers::{Timer, deletion_fell_due, run_due};
use crate::domain::EventId;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::HashMap;

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
    /// When an admin's immediate deletion request was applied, if one was: an act in catalog
    /// time, so the deletion it makes due waits for no grace.
    pub immediate: Option<DateTime<Utc>>,
    /// When the deletion fell due by the events, while it is not carried out yet (it waits
    /// for late news, or for a legal hold to be lifted).
    pub fell_due: Option<DateTime<Utc>>,
    /// Creating events that created the tenant without the site they claimed: another tenant
    /// held it by an earlier claim.
    pub refused_claims: Vec<EventId>,
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

/// Folds `events`, in contract order without repeats, into the tenant's state at `now`: the
/// verdict of the events alone, in which a deletion falls due but nothing is purged.
///
/// An `admin.deletion_cancelled` returns the tenant to what the other events alone make it:
/// when one finds admin deletion requests in force before it, those requests are withdrawn
/// and the fold starts again without them. Each restart withdraws at least one more request,
/// so there are at most as many restarts as requests.
pub(super) fn fold_known(
    ordered: &[&Event],
    now: DateTime<Utc>,
    sites: &dyn SiteRegistry,
) -> Folded {
    let mut withdrawn = HashMap::new();
    loop {
        match fold_pass(ordered, &withdrawn, now, sites) {
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
    let mut out = Folded {
        tenant: None,
        outcomes: Vec::with_capacity(ordered.len()),
        fired: Vec::new(),
        steps: Vec::new(),
        immediate: None,
        fell_due: None,
        refused_claims: Vec::new(),
    };
    // Admin deletion requests applied so far in this pass.
    let mut in_force = Vec::new();
    for event in ordered {
        if let Some(&by) = withdrawn.get(&event.id) {
            out.outcomes.push((event.id, Outcome::Cancelled { by }));
            continue;
        }
        out.run_timers(event.occurred_at);
        let outcome = match &event.kind {
            EventKind::AdminDeletionCancelled { .. } => {
                let withdrew = withdrawn.values().any(|c| *c == event.id);
                match judge_cancel(out.tenant.as_ref(), withdrew, &in_force) {
                    Some(outcome) => outcome,
                    None => {
                        return Pass::Withdraw {
                            cancel: event.id,
                            requests: in_force,
                        };
                    }
                }
            }
            _ => out.apply(event, sites, &mut in_force),
        };
        out.outcomes.push((event.id, outcome));
    }
    out.run_timers(now);
    Pass::Done(Box::new(out))
}

/// What an `admin.deletion_cancelled` makes of the tenant: `None` when it withdraws the admin
/// deletion requests in force (the fold starts again without them), else its outcome.
fn judge_cancel(tenant: Option<&Tenant>, withdrew: bool, in_force: &[EventId]) -> Option<Outcome> {
    Some(match tenant {
        None => Outcome::Rejected {
            reason: "tenant unknown: there is no deletion to cancel".into(),
        },
        // A deletion that fell due is not carried out yet here (the fold judges that in
        // catalog time), so an admin's request may still be withdrawn.
        Some(_) if !in_force.is_empty() => return None,
        Some(_) if withdrew => Outcome::Applied,
        Some(t) if t.lifecycle == Lifecycle::Deleted => Outcome::Rejected {
            reason: deletion_fell_due(t.deleted_at),
        },
        Some(_) => Outcome::Rejected {
            reason: "no admin deletion is pending: nothing to cancel".into(),
        },
    })
}

impl Folded {
    /// Fires every timer due at or before `until`, with their steps.
    fn run_timers(&mut self, until: DateTime<Utc>) {
        if let Some(t) = self.tenant.as_mut() {
            let due = run_due(t, until);
            self.steps.extend(timer_steps(&due));
            self.fired.extend(due);
        }
    }

    /// Applies one event by the transition table, recording its step, a creation that did not
    /// get its site, and an admin deletion request now in force.
    fn apply(
        &mut self,
        event: &Event,
        sites: &dyn SiteRegistry,
        in_force: &mut Vec<EventId>,
    ) -> Outcome {
        let next = match apply(self.tenant.as_ref(), event, sites) {
            Ok(next) => next,
            // The rejection's text is what the history keeps.
            Err(rejection) => {
                return Outcome::Rejected {
                    reason: rejection.to_string(),
                };
            }
        };
        if self.tenant.is_none() && next.site.is_none() {
            self.refused_claims.push(event.id);
        }
        let before = self.tenant.as_ref().map(|t| (t.lifecycle, t.suspended));
        if before != Some((next.lifecycle, next.suspended)) {
            self.steps.push(Step {
                cause: StepCause::Event(event.id),
                at: event.occurred_at,
                lifecycle: next.lifecycle,
                suspended: next.suspended,
            });
        }
        self.tenant = Some(next);
        if let EventKind::AdminDeletionRequested { immediate, .. } = event.kind {
            in_force.push(event.id);
            if immediate {
                self.immediate.get_or_insert(event.occurred_at);
            }
        }
        Outcome::Applied
    }
}
