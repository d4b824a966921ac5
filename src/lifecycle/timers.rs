//! Timed transitions: what fires when its time comes, without any event.

use super::state::{Lifecycle, Tenant};
use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// How long a deactivated tenant's data is kept before it is deleted.
pub const DELETION_GRACE_DAYS: i64 = 15;

/// A timed transition of CONTRACT.md section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// `TRIAL` at `trial_ends_at`: deactivated, deletion due 15 days later.
    TrialEnded,
    /// `CANCELLING` at `cancellation_effective_at`: deactivated, deletion due 15 days later.
    CancellationEffective,
    /// `DEACTIVATED` at `deletion_due_at`: deleted.
    DeletionDue,
}

impl Timer {
    pub fn as_str(self) -> &'static str {
        match self {
            Timer::TrialEnded => "timer.trial_ended",
            Timer::CancellationEffective => "timer.cancellation_effective",
            Timer::DeletionDue => "timer.deletion_due",
        }
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one timer armed in the tenant's state, with when it falls due by the events. Legal
/// holds and the grace for late news do not move it: they decide when a deletion that fell
/// due is *carried out*, in catalog time ([`super::fold`]), not when it falls due.
pub fn next_timer(tenant: &Tenant) -> Option<(Timer, DateTime<Utc>)> {
    match tenant.lifecycle {
        Lifecycle::Trial => tenant.trial_ends_at.map(|at| (Timer::TrialEnded, at)),
        Lifecycle::Cancelling => tenant
            .cancellation_effective_at
            .map(|at| (Timer::CancellationEffective, at)),
        Lifecycle::Deactivated => tenant.deletion_due_at.map(|due| (Timer::DeletionDue, due)),
        Lifecycle::Active | Lifecycle::Deleted => None,
    }
}

/// When the scheduler must look at a folded tenant again: its next timer, except that a held
/// tenant's deletion waits for the lift (which refolds it). The fold has already set a
/// deactivated tenant's `deletion_due_at` to the instant its deletion will be carried out.
pub fn scheduled(tenant: &Tenant) -> Option<(Timer, DateTime<Utc>)> {
    if tenant.lifecycle == Lifecycle::Deactivated && tenant.legal_hold.is_some() {
        return None;
    }
    next_timer(tenant)
}

/// Carries out `timer`, due `at`, on the tenant. A deletion only falls due here: the tenant
/// is `DELETED` by its events from `at`, with nothing purged yet; the fold decides when (and
/// whether) it is carried out and purges it then ([`purge`]).
pub fn fire(tenant: &mut Tenant, timer: Timer, at: DateTime<Utc>) {
    match timer {
        Timer::TrialEnded | Timer::CancellationEffective => {
            tenant.lifecycle = Lifecycle::Deactivated;
            tenant.suspended = false;
            tenant.deletion_due_at = Some(at + Duration::days(DELETION_GRACE_DAYS));
        }
        Timer::DeletionDue => {
            tenant.lifecycle = Lifecycle::Deleted;
            tenant.suspended = false;
            tenant.deleted_at = Some(at);
        }
    }
    tenant.clear_stale_countdowns();
}

/// Carries out a deletion at `at`: the tenant's site, hosts and products are forgotten; its
/// id and dates stay.
pub fn purge(tenant: &mut Tenant, at: DateTime<Utc>) {
    tenant.lifecycle = Lifecycle::Deleted;
    tenant.suspended = false;
    tenant.site = None;
    tenant.old_sites.clear();
    tenant.products = None;
    tenant.deleted_at = Some(at);
}

/// Why a commerce event placed after a deletion's due date changes nothing: the events make
/// the tenant deleted before it, whenever the deletion is carried out.
pub fn deletion_fell_due(due: Option<DateTime<Utc>>) -> String {
    match due {
        Some(at) => format!(
            "tenant's deletion fell due at {} by its events, before this event: a deletion is final once due",
            at.to_rfc3339()
        ),
        None => "tenant's deletion fell due before this event: a deletion is final once due".into(),
    }
}

/// Why nothing more can happen to a deleted tenant.
pub fn deletion_is_final(deleted_at: Option<DateTime<Utc>>) -> String {
    match deleted_at {
        Some(at) => format!(
            "tenant is DELETED since {}: a carried-out deletion is final",
            at.to_rfc3339()
        ),
        None => "tenant is DELETED: a carried-out deletion is final".into(),
    }
}

/// Fires, in order, every timer due at or before `until`. Returns what fired.
pub fn run_due(tenant: &mut Tenant, until: DateTime<Utc>) -> Vec<(Timer, DateTime<Utc>)> {
    let mut fired = Vec::new();
    while let Some((timer, at)) = next_timer(tenant).filter(|(_, at)| *at <= until) {
        fire(tenant, timer, at);
        fired.push((timer, at));
    }
    fired
}
