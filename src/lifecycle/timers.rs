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

/// The one timer armed in the tenant's state, with when it fires. A legal hold disarms the
/// deletion; one that fell due while a hold stood fires when the hold was lifted.
pub fn next_timer(tenant: &Tenant) -> Option<(Timer, DateTime<Utc>)> {
    match tenant.lifecycle {
        Lifecycle::Trial => tenant.trial_ends_at.map(|at| (Timer::TrialEnded, at)),
        Lifecycle::Cancelling => tenant
            .cancellation_effective_at
            .map(|at| (Timer::CancellationEffective, at)),
        Lifecycle::Deactivated if tenant.legal_hold.is_some() => None,
        Lifecycle::Deactivated => tenant.deletion_due_at.map(|due| {
            let at = tenant.hold_lifted_at.map_or(due, |lifted| due.max(lifted));
            (Timer::DeletionDue, at)
        }),
        Lifecycle::Active | Lifecycle::Deleted => None,
    }
}

/// Carries out `timer`, due `at`, on the tenant.
pub fn fire(tenant: &mut Tenant, timer: Timer, at: DateTime<Utc>) {
    match timer {
        Timer::TrialEnded | Timer::CancellationEffective => {
            tenant.lifecycle = Lifecycle::Deactivated;
            tenant.suspended = false;
            tenant.deletion_due_at = Some(at + Duration::days(DELETION_GRACE_DAYS));
        }
        Timer::DeletionDue => purge(tenant, at),
    }
    tenant.clear_stale_countdowns();
}

/// Deletes the tenant: its site, hosts and products are forgotten; its id and dates stay.
pub fn purge(tenant: &mut Tenant, at: DateTime<Utc>) {
    tenant.lifecycle = Lifecycle::Deleted;
    tenant.suspended = false;
    tenant.site = None;
    tenant.old_sites.clear();
    tenant.products = None;
    tenant.deleted_at = Some(at);
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
