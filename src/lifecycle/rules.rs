//! The transition table of CONTRACT.md section 4, one match arm per row.
//!
//! [`apply`] judges one event against the tenant as it stands at the event's place in contract
//! order: it either returns the changed tenant or the reason the event changes nothing.

use super::billing::trial_end;
use super::events::{Event, EventKind, EventType, NewTenant};
use super::state::{LegalHold, Lifecycle, Tenant};
use super::timers::{DELETION_GRACE_DAYS, deletion_fell_due};
use crate::domain::{EventId, Site, TenantId};
use Lifecycle::*;
use chrono::{DateTime, Duration, Utc};

/// Answers whether a site is held by another tenant that is not deleted, for the event that
/// claims it (a registry may know that this event's claim was granted already).
pub trait SiteRegistry {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool;
}

impl<F: Fn(&Site) -> bool> SiteRegistry for F {
    fn is_taken(&self, site: &Site, _claimed_by: EventId) -> bool {
        self(site)
    }
}

/// Why an event changes nothing: each rule of the table that refuses it, with what the caller
/// (or the history's reader) needs to know. Its text is the outcome's reason in the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("tenant already exists; tenant is {0}")]
    AlreadyExists(Lifecycle),
    #[error("{event} {rule}; tenant is {state}")]
    NotAllowed {
        event: EventType,
        rule: &'static str,
        state: Lifecycle,
    },
    #[error("tenant is already suspended")]
    AlreadySuspended,
    #[error("tenant is not suspended; tenant is {0}")]
    NotSuspended(Lifecycle),
    #[error("{}: no deletion is carried out or requested while it stands; lift it first (DELETE /admin/v1/tenants/{tenant}/hold)", held(.hold))]
    Held { hold: LegalHold, tenant: TenantId },
    #[error("{}: lift it first to place another", held(.0))]
    HoldStands(LegalHold),
    #[error("no legal hold stands: nothing to lift; tenant is {0}")]
    NoHold(Lifecycle),
    /// A move step refused by the move workflow, for the reason it recorded.
    #[error("{0}")]
    MoveRefused(String),
    #[error("admin.deletion_cancelled is judged by the fold")]
    JudgedByTheFold,
    #[error("{0} is not a {1} event")]
    NotOfTheTable(EventType, &'static str),
    #[error("site `{0}` is taken by another tenant")]
    SiteTaken(Site),
    #[error("tenant is {state}{}, not DEACTIVATED: deleting it needs `force: true`", if *.suspended { " and suspended" } else { "" })]
    ForceRequired { state: Lifecycle, suspended: bool },
    #[error(
        "tenant unknown: a subscription.activated without a trial needs site, products and residency, and {0}"
    )]
    IncompletePurchase(String),
    #[error("tenant unknown: {0} needs an existing tenant")]
    Unknown(EventType),
    #[error("{}", deletion_fell_due(*.0))]
    DeletionFellDue(Option<DateTime<Utc>>),
}

/// Applies one event to the tenant (`None`: not created yet). `Err` holds why it is rejected.
pub fn apply(
    tenant: Option<&Tenant>,
    event: &Event,
    sites: &dyn SiteRegistry,
) -> Result<Tenant, Rejection> {
    let mut t = match tenant {
        None => create(event, sites)?,
        Some(current) if current.lifecycle == Deleted => return after_due(current, event),
        Some(current) => {
            let mut t = current.clone();
            transition(&mut t, event, sites)?;
            t
        }
    };
    t.clear_stale_countdowns();
    Ok(t)
}

/// An event placed after the tenant's deletion fell due by its events. The deletion may not be
/// carried out yet (the fold decides that, in catalog time): admin actions are acts in catalog
/// time, so a hold may still be placed or lifted, and a deletion requested (which changes
/// nothing, it is due already). Commerce's events and move steps change nothing.
fn after_due(t: &Tenant, event: &Event) -> Result<Tenant, Rejection> {
    match &event.kind {
        EventKind::AdminHoldPlaced { .. } | EventKind::AdminHoldLifted { .. } => {
            let mut t = t.clone();
            transition(&mut t, event, &|_: &Site| false)?;
            Ok(t)
        }
        EventKind::AdminDeletionRequested { .. } => match &t.legal_hold {
            Some(hold) => Err(Rejection::Held {
                hold: hold.clone(),
                tenant: t.id,
            }),
            None => Ok(t.clone()),
        },
        _ => Err(Rejection::DeletionFellDue(t.deleted_at)),
    }
}

/// One row of the transition table: the event applied to a tenant that exists and is not
/// deleted.
fn transition(t: &mut Tenant, event: &Event, sites: &dyn SiteRegistry) -> Result<(), Rejection> {
    match &event.kind {
        EventKind::TrialStarted { .. } => Err(Rejection::AlreadyExists(t.lifecycle)),
        EventKind::SiteRenamed { site } => rename(t, site, event.id, sites),
        EventKind::DataDeletionRequested { .. } => {
            t.lifecycle = Deactivated;
            t.suspended = false;
            t.deletion_due_at = Some(event.occurred_at);
            Ok(())
        }
        EventKind::AdminDeletionRequested { .. }
        | EventKind::AdminDeletionCancelled { .. }
        | EventKind::AdminHoldPlaced { .. }
        | EventKind::AdminHoldLifted { .. }
        | EventKind::AdminMove(_) => admin_transition(t, event),
        _ => subscription_transition(t, event),
    }
}

/// The rows of the subscription's events: activated, renewed, cancelled, reactivated,
/// suspended, unsuspended.
fn subscription_transition(t: &mut Tenant, event: &Event) -> Result<(), Rejection> {
    let l = t.lifecycle;
    let refuse = |rule: &'static str| {
        Err(Rejection::NotAllowed {
            event: event.kind.event_type(),
            rule,
            state: l,
        })
    };
    match &event.kind {
        EventKind::SubscriptionActivated {
            plan,
            cycle,
            current_period_end,
            ..
        } => {
            if l != Trial {
                return refuse("is allowed only in TRIAL or for an unknown tenant");
            }
            t.lifecycle = Active;
            t.plan = Some(plan.clone());
            t.cycle = Some(*cycle);
            t.current_period_end = Some(*current_period_end);
        }
        EventKind::SubscriptionRenewed { current_period_end } => {
            if l != Active {
                return refuse("is allowed only in ACTIVE");
            }
            t.current_period_end = Some(*current_period_end);
        }
        EventKind::SubscriptionCancelled { effective_at } => {
            if !matches!(l, Trial | Active) {
                return refuse("is allowed only in TRIAL or ACTIVE");
            }
            t.lifecycle = Cancelling;
            t.cancellation_effective_at = Some(*effective_at);
        }
        EventKind::SubscriptionReactivated { current_period_end } => {
            if !matches!(l, Cancelling | Deactivated) {
                return refuse("is allowed only in CANCELLING or DEACTIVATED");
            }
            t.lifecycle = Active;
            t.current_period_end = Some(*current_period_end);
            t.cancellation_effective_at = None;
            t.deletion_due_at = None;
        }
        EventKind::SubscriptionSuspended { .. } => {
            if !matches!(l, Trial | Active | Cancelling) {
                return refuse("is allowed only in TRIAL, ACTIVE or CANCELLING");
            }
            if t.suspended {
                return Err(Rejection::AlreadySuspended);
            }
            t.suspended = true;
        }
        EventKind::SubscriptionUnsuspended => {
            if !t.suspended {
                return Err(Rejection::NotSuspended(l));
            }
            t.suspended = false;
        }
        other => {
            return Err(Rejection::NotOfTheTable(other.event_type(), "subscription"));
        }
    }
    Ok(())
}

/// The rows of the admin API's events: deletions, holds and move steps.
fn admin_transition(t: &mut Tenant, event: &Event) -> Result<(), Rejection> {
    match &event.kind {
        EventKind::AdminDeletionRequested {
            immediate, force, ..
        } => {
            if let Some(hold) = &t.legal_hold {
                return Err(Rejection::Held {
                    hold: hold.clone(),
                    tenant: t.id,
                });
            }
            admin_deletion(t, *immediate, *force, event.occurred_at)?
        }
        EventKind::AdminHoldPlaced { by, reason } => {
            if let Some(hold) = &t.legal_hold {
                return Err(Rejection::HoldStands(hold.clone()));
            }
            t.legal_hold = Some(LegalHold {
                since: event.occurred_at,
                by: by.clone(),
                reason: reason.clone(),
            });
        }
        EventKind::AdminHoldLifted { .. } => {
            if t.legal_hold.take().is_none() {
                return Err(Rejection::NoHold(t.lifecycle));
            }
            t.hold_lifted_at = Some(event.occurred_at);
        }
        // The routing a move changes is the move workflow's; the lifecycle is left as it is.
        // Whether the step was refused depended on the shards at the time: it is recorded.
        EventKind::AdminMove(step) => {
            if let Some(why) = &step.refused {
                return Err(Rejection::MoveRefused(why.clone()));
            }
        }
        // Judged by the fold, which knows which admin deletions it cancels.
        EventKind::AdminDeletionCancelled { .. } => {
            return Err(Rejection::JudgedByTheFold);
        }
        other => return Err(Rejection::NotOfTheTable(other.event_type(), "admin")),
    }
    Ok(())
}

/// Says which hold stands, for a refusal.
fn held(hold: &LegalHold) -> String {
    format!(
        "a legal hold stands since {}, placed by {} ({})",
        hold.since.to_rfc3339(),
        hold.by,
        hold.reason
    )
}

/// `site.renamed`: the old site keeps resolving to the tenant; renaming to the current site
/// changes nothing.
fn rename(
    t: &mut Tenant,
    site: &Site,
    claimed_by: EventId,
    sites: &dyn SiteRegistry,
) -> Result<(), Rejection> {
    if t.site.as_ref() == Some(site) {
        return Ok(());
    }
    if sites.is_taken(site, claimed_by) {
        return Err(Rejection::SiteTaken(site.clone()));
    }
    t.old_sites.retain(|old| old != site);
    if let Some(previous) = t.site.replace(site.clone()) {
        t.old_sites.push(previous);
    }
    Ok(())
}

/// `admin.deletion_requested` at `now`: a DEACTIVATED tenant only has its deletion brought
/// forward (`immediate`); any other needs `force` and is deactivated.
fn admin_deletion(
    t: &mut Tenant,
    immediate: bool,
    force: bool,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let l = t.lifecycle;
    if l == Deactivated {
        // Deletion is scheduled already; `immediate` only brings it forward.
        if immediate && t.deletion_due_at.is_none_or(|due| due > now) {
            t.deletion_due_at = Some(now);
        }
    } else if !force {
        return Err(Rejection::ForceRequired {
            state: l,
            suspended: t.suspended,
        });
    } else {
        t.lifecycle = Deactivated;
        t.suspended = false;
        t.deletion_due_at = Some(if immediate {
            now
        } else {
            now + Duration::days(DELETION_GRACE_DAYS)
        });
    }
    Ok(())
}

/// The two events that create a tenant; anything else for an unknown tenant is rejected.
fn create(event: &Event, sites: &dyn SiteRegistry) -> Result<Tenant, Rejection> {
    let (new, lifecycle) = match &event.kind {
        EventKind::TrialStarted { tenant, .. } => (tenant, Trial),
        EventKind::SubscriptionActivated {
            tenant: Ok(tenant), ..
        } => (tenant, Active),
        EventKind::SubscriptionActivated {
            tenant: Err(why), ..
        } => {
            return Err(Rejection::IncompletePurchase(why.to_string()));
        }
        other => {
            return Err(Rejection::Unknown(other.event_type()));
        }
    };
    let NewTenant {
        site,
        products,
        residency,
    } = new;
    // A site another tenant holds by an earlier claim: the tenant exists all the same, with no
    // site (PROVISIONING, no host) until a rename to a free one (CONTRACT.md section 8).
    let site = (!sites.is_taken(site, event.id)).then(|| site.clone());
    let mut t = Tenant {
        id: event.tenant_id,
        lifecycle,
        suspended: false,
        site,
        old_sites: Vec::new(),
        products: Some(products.clone()),
        residency: *residency,
        billing_day: None,
        plan: None,
        cycle: None,
        trial_ends_at: None,
        current_period_end: None,
        cancellation_effective_at: None,
        deletion_due_at: None,
        created_at: event.occurred_at,
        deleted_at: None,
        legal_hold: None,
        hold_lifted_at: None,
    };
    match &event.kind {
        EventKind::TrialStarted { billing_day, .. } => {
            t.billing_day = Some(*billing_day);
            t.trial_ends_at = Some(trial_end(event.occurred_at, *billing_day));
        }
        EventKind::SubscriptionActivated {
            plan,
            cycle,
            current_period_end,
            ..
        } => {
            t.plan = Some(plan.clone());
            t.cycle = Some(*cycle);
            t.current_period_end = Some(*current_period_end);
        }
        _ => {}
    }
    Ok(t)
}
