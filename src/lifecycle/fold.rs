//! Folding a tenant's events, in contract order, into its state.
//!
//! Delivery is at-least-once and unordered, so the catalog keeps every distinct event of a
//! tenant and refolds them all whenever one arrives or a timer comes due. The result depends
//! only on the set of events, `now`, and which sites other tenants hold: never on the order or
//! number of deliveries.

use super::events::{Event, EventKind};
use super::rules::{SiteRegistry, apply};
use super::state::{Lifecycle, Tenant};
use super::timers::{Timer, deletion_fell_due, deletion_is_final, purge, run_due};
use crate::domain::EventId;
use chrono::{DateTime, Duration, Utc};
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
    let mut instants: Vec<DateTime<Utc>> = ordered.iter().map(|e| arrived(e)).collect();
    instants.sort();
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
    for (i, &from) in instants.iter().enumerate() {
        let until = instants.get(i + 1).copied();
        let known: Vec<&Event> = ordered
            .iter()
            .copied()
            .filter(|e| arrived(e) <= from)
            .collect();
        let latest_news = known
            .iter()
            .filter(|e| !e.kind.event_type().is_admin())
            .map(|e| arrived(e))
            .max();
        // A commerce event stored at `from` keeps any deletion that needs the grace waiting
        // past a next arrival within it: nothing to judge in this window.
        if let Some(next) = until
            && !immediate_requests
            && latest_news == Some(from)
            && next - from <= arrivals.grace
        {
            continue;
        }
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

/// Folds `events`, in contract order without repeats, into the tenant's state at `now`: the
/// verdict of the events alone, in which a deletion falls due but nothing is purged.
///
/// An `admin.deletion_cancelled` returns the tenant to what the other events alone make it:
/// when one finds admin deletion requests in force before it, those requests are withdrawn
/// and the fold starts again without them. Each restart withdraws at least one more request,
/// so there are at most as many restarts as requests.
fn fold_known(ordered: &[&Event], now: DateTime<Utc>, sites: &dyn SiteRegistry) -> Folded {
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
    let mut tenant: Option<Tenant> = None;
    let mut outcomes = Vec::with_capacity(ordered.len());
    let mut fired = Vec::new();
    let mut steps = Vec::new();
    // Admin deletion requests applied so far in this pass.
    let mut in_force = Vec::new();
    let mut immediate = None;
    let mut refused_claims = Vec::new();
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
                    // A deletion that fell due is not carried out yet here (the fold judges
                    // that in catalog time), so an admin's request may still be withdrawn.
                    Some(_) if !in_force.is_empty() => {
                        return Pass::Withdraw {
                            cancel: event.id,
                            requests: in_force,
                        };
                    }
                    Some(_) if withdrew => Outcome::Applied,
                    Some(t) if t.lifecycle == Lifecycle::Deleted => Outcome::Rejected {
                        reason: deletion_fell_due(t.deleted_at),
                    },
                    Some(_) => Outcome::Rejected {
                        reason: "no admin deletion is pending: nothing to cancel".into(),
                    },
                }
            }
            _ => match apply(tenant.as_ref(), event, sites) {
                Ok(next) => {
                    if tenant.is_none() && next.site.is_none() {
                        refused_claims.push(event.id);
                    }
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
                    if let EventKind::AdminDeletionRequested { immediate: now, .. } = event.kind {
                        in_force.push(event.id);
                        if now {
                            immediate.get_or_insert(event.occurred_at);
                        }
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
        immediate,
        fell_due: None,
        refused_claims,
    }))
}
