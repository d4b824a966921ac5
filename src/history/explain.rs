//! Why a tenant is or is not served, since when and because of what (the event, with its
//! `by` and reason for admin actions, or the timer), and what happens next and when: a sentence
//! for people and the same in fields for programs. Computed from the tenant, the steps of the
//! fold of its history and its running move; nothing here reads the database.

use crate::catalog::moves::Move;
use crate::lifecycle::cause;
use crate::lifecycle::timers::DELETION_GRACE_DAYS;
use crate::lifecycle::{Event, Lifecycle, ShownState, Step, StepCause, Timer};
use crate::snapshot::{CauseView, LegalHoldView, TenantSnapshot};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Why the tenant is as it is, and what comes next.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Explanation {
    /// One or two sentences: served or not, since when, because of what, what comes next.
    pub summary: String,
    pub serving: bool,
    #[schema(value_type = String)]
    pub state: ShownState,
    /// When the tenant entered its current state (by the events' timeline).
    pub since: Option<DateTime<Utc>>,
    /// The event or timer that put it there.
    pub cause: Option<Cause>,
    /// What the catalog will do next, in order, and when.
    pub next: Vec<Next>,
    pub legal_hold: Option<LegalHoldView>,
    /// A move between shards in progress.
    pub moving: Option<Moving>,
    /// The site this tenant claimed and another tenant holds by an earlier claim, while the
    /// tenant has no site of its own (CONTRACT.md section 8).
    pub site_conflict: Option<SiteConflict>,
}

/// A site claim that lost to an earlier claim of another tenant.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SiteConflict {
    /// The site claimed.
    pub site: String,
    /// The tenant that holds it.
    pub holder: Uuid,
    /// When the holder claimed it (`occurred_at` of its claim), before this tenant did.
    pub holder_claimed_at: DateTime<Utc>,
}

/// An event of the history or a timer, and which.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cause {
    /// `event`, `timer`, or `deletion` (a deletion carried out, final whatever arrived since).
    pub kind: String,
    #[serde(flatten)]
    pub of: CauseView,
}

/// Something the catalog will do on its own, when its time comes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Next {
    /// The timer: `timer.trial_ended`, `timer.cancellation_effective` or `timer.deletion_due`.
    #[serde(rename = "type")]
    pub next_type: String,
    /// When it is due; `None` while a legal hold stops it.
    pub at: Option<DateTime<Utc>>,
    pub what: String,
}

/// A running move.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Moving {
    pub move_id: Uuid,
    /// `copying` (still served read-write on the source) or `cutover` (read-only).
    pub phase: String,
    pub from_shard: String,
    pub to_shard: String,
    pub since: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// The cause of a step, from the events of the fold.
fn cause_of(step: &Step, events: &[&Event]) -> Cause {
    let kind = match step.cause {
        StepCause::Timer(_) => "timer",
        StepCause::Event(_) => "event",
    };
    Cause {
        kind: kind.into(),
        of: CauseView::from(&cause::of_step(step, events)),
    }
}

/// "subscription.suspended by ops: payment_overdue", as the summary names a cause.
fn named(c: &CauseView) -> String {
    let mut s = c.cause_type.clone();
    if let Some(by) = &c.by {
        s.push_str(&format!(" by {by}"));
    }
    if let Some(reason) = &c.reason {
        s.push_str(&format!(": {reason}"));
    }
    s
}

/// What a refold of the history knows of a tenant beyond its row, for its explanation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The fold's steps, and the events it read.
    pub steps: &'a [Step],
    pub events: &'a [Event],
    /// When its deletion fell due by the events, if it waits to be carried out.
    pub fell_due: Option<DateTime<Utc>>,
    /// The site it claimed and lost, while it has none of its own.
    pub site_conflict: Option<&'a SiteConflict>,
    /// For a past instant at which the catalog had not placed the tenant: when the catalog
    /// first stored an event of it.
    pub unplaced_until: Option<DateTime<Utc>>,
    /// Its running move.
    pub moving: Option<&'a Move>,
}

/// Explains `t` (now or at a past instant) from what the refold of its history knows.
pub fn explain(t: &TenantSnapshot, cx: Context<'_>) -> Explanation {
    let Context {
        steps,
        events,
        fell_due,
        site_conflict,
        unplaced_until,
        moving,
    } = cx;
    let events: Vec<&Event> = events.iter().collect();
    let (since, cause) = since_and_cause(t, steps, &events);
    let next = next_steps(t, fell_due);
    let mut summary = format!(
        "{}: {}",
        if t.serving { "Served" } else { "Not served" },
        t.state
    );
    if let Some(at) = since {
        summary.push_str(&format!(" since {}", rfc(at)));
    }
    if let Some(c) = &cause {
        summary.push_str(&format!(" ({})", named(&c.of)));
    }
    summary.push('.');
    summary.push_str(&what_holds_it(t, site_conflict, unplaced_until));
    for n in &next {
        summary.push_str(&format!(" Next: {}", n.what));
    }
    if let Some(h) = &t.legal_hold {
        summary.push_str(&format!(
            " A legal hold stands since {}, placed by {} ({}): no deletion is carried out while it does.",
            rfc(h.since),
            h.by,
            h.reason
        ));
    }
    let moving = moving.map(|m| Moving {
        move_id: m.id.as_uuid(),
        phase: m.phase.as_str().into(),
        from_shard: m.from.as_str().into(),
        to_shard: m.to.as_str().into(),
        since: m.updated_at,
        by: m.requested_by.clone(),
        reason: m.reason.clone(),
    });
    if let Some(m) = &moving {
        summary.push_str(&format!(
            " Moving from {} to {} ({}, since {}), asked by {}: {}.",
            m.from_shard,
            m.to_shard,
            m.phase,
            rfc(m.since),
            m.by,
            m.reason
        ));
    }
    Explanation {
        summary,
        serving: t.serving,
        state: t.state,
        since,
        cause,
        next,
        legal_hold: t.legal_hold.clone(),
        moving,
        site_conflict: site_conflict.cloned(),
    }
}

/// Since when the tenant is in its state, and the event or timer that put it there.
fn since_and_cause(
    t: &TenantSnapshot,
    steps: &[Step],
    events: &[&Event],
) -> (Option<DateTime<Utc>>, Option<Cause>) {
    let last = steps.last();
    // The fold agrees with the tenant unless a deletion was carried out before an earlier
    // event arrived (contract section 4): then the deletion is the cause, and it is final.
    let agrees = last.is_some_and(|s| s.lifecycle == t.lifecycle && s.suspended == t.suspended);
    match (t.state, last) {
        (ShownState::Provisioning, _) => (
            Some(t.created_at),
            steps.first().map(|s| cause_of(s, events)),
        ),
        (_, Some(step)) if agrees => (Some(step.at), Some(cause_of(step, events))),
        _ => {
            let at = t.deleted_at.unwrap_or(t.created_at);
            let cause = (t.lifecycle == Lifecycle::Deleted).then(|| Cause {
                kind: "deletion".into(),
                of: CauseView {
                    cause_type: Timer::DeletionDue.as_str().into(),
                    event_id: None,
                    at,
                    by: None,
                    reason: Some("the deletion was carried out; it is final".into()),
                },
            });
            (Some(at), cause)
        }
    }
}

/// The sentence on what keeps the tenant in its state, or what it waits for.
fn what_holds_it(
    t: &TenantSnapshot,
    site_conflict: Option<&SiteConflict>,
    unplaced_until: Option<DateTime<Utc>>,
) -> String {
    if let Some(first) = unplaced_until {
        return format!(
            " The catalog had not placed it then: it first stored an event of the tenant at {}.",
            rfc(first)
        );
    }
    match (t.state, site_conflict) {
        (ShownState::Provisioning, Some(c)) => format!(
            " Its site `{}` is held by tenant {}, whose claim of {} came first; it has no host until a site.renamed gives it a free site.",
            c.site,
            c.holder,
            rfc(c.holder_claimed_at)
        ),
        (ShownState::Provisioning, None) if t.site.is_none() => {
            " It has no site: another tenant holds the one it claimed, by an earlier claim; it has no host until a site.renamed gives it a free site.".to_owned()
        }
        (ShownState::Provisioning, None) => format!(
            " No open shard with room in a region its residency ({}) allows; it is placed as soon as one has room.",
            t.residency
        ),
        (ShownState::Suspended, _) => {
            " Served again once commerce sends subscription.unsuspended.".to_owned()
        }
        (ShownState::Active, _) => match t.current_period_end {
            Some(end) => format!(" Paid until {}; nothing is scheduled.", rfc(end)),
            None => " Nothing is scheduled.".to_owned(),
        },
        (ShownState::Deleted, _) => " The deletion is final.".to_owned(),
        _ => String::new(),
    }
}

/// The timers armed in the tenant's state, and the deletion they lead to.
fn next_steps(t: &TenantSnapshot, fell_due: Option<DateTime<Utc>>) -> Vec<Next> {
    let grace = Duration::days(DELETION_GRACE_DAYS);
    let held = t.legal_hold.is_some();
    let deletion = |due: Option<DateTime<Utc>>| Next {
        next_type: Timer::DeletionDue.as_str().into(),
        at: due.filter(|_| !held),
        what: match (due, held, fell_due) {
            (Some(due), true, _) => format!(
                "the deletion (due {}) waits for the legal hold to be lifted.",
                rfc(due)
            ),
            (Some(due), false, Some(fell)) => format!(
                "the deletion waits for late events until {} (it fell due at {} by the events); then site, hosts and products are purged and the shard slot freed, unless an event stored before then undoes it, such as a conversion.",
                rfc(due),
                rfc(fell)
            ),
            (Some(due), false, None) => format!(
                "deleted at {}: site, hosts and products purged, shard slot freed.",
                rfc(due)
            ),
            (None, _, _) => "deleted: site, hosts and products purged, shard slot freed.".into(),
        },
    };
    let deactivation = |timer: Timer, at: DateTime<Utc>, what: &str| {
        vec![
            Next {
                next_type: timer.as_str().into(),
                at: Some(at),
                what: format!("{what} at {}: DEACTIVATED, not served.", rfc(at)),
            },
            deletion(Some(at + grace)),
        ]
    };
    match t.lifecycle {
        Lifecycle::Trial => t.trial_ends_at.map_or_else(Vec::new, |at| {
            deactivation(Timer::TrialEnded, at, "the trial ends")
        }),
        Lifecycle::Cancelling => t.cancellation_effective_at.map_or_else(Vec::new, |at| {
            deactivation(
                Timer::CancellationEffective,
                at,
                "the cancellation takes effect",
            )
        }),
        Lifecycle::Deactivated => vec![deletion(t.deletion_due_at)],
        Lifecycle::Active | Lifecycle::Deleted => Vec::new(),
    }
}
