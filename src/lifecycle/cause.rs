//! What made each step of the fold, and what brought a deletion about, read from the fold's
//! steps and the events: for explanations and for the receipt of a deletion carried out.

use super::events::{Event, EventKind};
use super::fold::{Step, StepCause};
use super::state::Lifecycle;
use super::timers::Timer;
use crate::domain::{EventId, Site};
use chrono::{DateTime, Utc};

/// An event or timer, as an explanation or a receipt names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Because {
    /// The event type or timer name.
    pub what: String,
    pub event_id: Option<EventId>,
    pub at: DateTime<Utc>,
    /// The admin's `sub`, for admin actions.
    pub by: Option<String>,
    pub reason: Option<String>,
}

/// Why a deleted tenant was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The step that carried it out (the deletion timer), with its time.
    pub carried_out: Because,
    /// What made the deletion due: the request (commerce's or an admin's), or the timer that
    /// deactivated the tenant. `None` if the steps do not say (a tenant deleted before this
    /// was recorded).
    pub requested: Option<Because>,
    /// The lift of a legal hold that let an overdue deletion go ahead, if that is what
    /// carried it out when it was.
    pub released: Option<Because>,
    /// Every site the tenant held, in contract order (the last one was its site when deleted),
    /// and the products it had: what the deletion purged.
    pub sites: Vec<Site>,
    pub products: Vec<String>,
}

/// An event, with who made it (admin actions) and why (admin actions, suspensions and
/// deletion requests).
pub fn because(event: &Event) -> Because {
    let (by, reason) = match &event.kind {
        EventKind::AdminDeletionRequested { by, reason, .. }
        | EventKind::AdminDeletionCancelled { by, reason }
        | EventKind::AdminHoldPlaced { by, reason }
        | EventKind::AdminHoldLifted { by, reason } => (Some(by.clone()), Some(reason.clone())),
        EventKind::AdminMove(step) => (Some(step.by.clone()), Some(step.reason.clone())),
        EventKind::DataDeletionRequested { reason }
        | EventKind::SubscriptionSuspended { reason } => (None, Some(reason.clone())),
        _ => (None, None),
    };
    Because {
        what: event.kind.event_type().as_str().to_owned(),
        event_id: Some(event.id),
        at: event.occurred_at,
        by,
        reason,
    }
}

fn timer(timer: Timer, at: DateTime<Utc>) -> Because {
    Because {
        what: timer.as_str().to_owned(),
        event_id: None,
        at,
        by: None,
        reason: None,
    }
}

/// What made `step`: its timer, or its event found among `events` (an event not among them is
/// named by its id only).
pub fn of_step(step: &Step, events: &[&Event]) -> Because {
    match step.cause {
        StepCause::Timer(t) => timer(t, step.at),
        StepCause::Event(id) => events.iter().find(|e| e.id == id).map_or_else(
            || Because {
                what: "event".into(),
                event_id: Some(id),
                at: step.at,
                by: None,
                reason: None,
            },
            |e| because(e),
        ),
    }
}

/// The deletion of a tenant whose fold ended `DELETED`: `steps` and the applied `events`
/// (those the fold applied, in any order).
pub fn deletion(steps: &[Step], applied: &[&Event]) -> Option<Deletion> {
    let (last, before) = steps.split_last()?;
    if last.lifecycle != Lifecycle::Deleted {
        return None;
    }
    let carried_out = timer(Timer::DeletionDue, last.at);
    // The deactivation, and any admin request that brought the deletion forward after it.
    let deactivated = before.last();
    let mut requested = deactivated.map(|s| of_step(s, applied));
    let since = deactivated.map_or(DateTime::<Utc>::MIN_UTC, |s| s.at);
    let forward = applied
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AdminDeletionRequested { .. }))
        .filter(|e| e.occurred_at > since && e.occurred_at <= last.at)
        .max_by_key(|e| (e.occurred_at, e.id));
    if let Some(e) = forward {
        requested = Some(because(e));
    }
    let released = applied
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AdminHoldLifted { .. }) && e.occurred_at == last.at)
        .max_by_key(|e| e.id)
        .map(|e| because(e));
    let mut ordered: Vec<&&Event> = applied.iter().collect();
    ordered.sort_by_key(|e| (e.occurred_at, e.sequence.unwrap_or(0), e.id));
    let mut sites: Vec<Site> = Vec::new();
    let mut products = Vec::new();
    for e in ordered {
        let (site, new) = match &e.kind {
            EventKind::TrialStarted { tenant, .. } => (&tenant.site, Some(tenant)),
            EventKind::SubscriptionActivated {
                tenant: Ok(tenant), ..
            } if sites.is_empty() => (&tenant.site, Some(tenant)),
            EventKind::SiteRenamed { site } => (site, None),
            _ => continue,
        };
        if let Some(t) = new {
            products = t.products.as_slice().to_vec();
        }
        sites.retain(|s| s != site);
        sites.push(site.clone());
    }
    Some(Deletion {
        carried_out,
        requested,
        released,
        sites,
        products,
    })
}
