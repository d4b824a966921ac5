//! A tenant's lifecycle state and the state shown to callers.

use crate::domain::{BillingDay, Cycle, Products, Residency, Site, TenantId};
use chrono::{DateTime, Utc};
use std::fmt;

/// The lifecycle state `L` of CONTRACT.md section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    Trial,
    Active,
    Cancelling,
    Deactivated,
    Deleted,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 5] = [
        Lifecycle::Trial,
        Lifecycle::Active,
        Lifecycle::Cancelling,
        Lifecycle::Deactivated,
        Lifecycle::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Trial => "TRIAL",
            Lifecycle::Active => "ACTIVE",
            Lifecycle::Cancelling => "CANCELLING",
            Lifecycle::Deactivated => "DEACTIVATED",
            Lifecycle::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state shown to callers, derived from the lifecycle, the suspension and the placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShownState {
    Provisioning,
    Trial,
    Active,
    Cancelling,
    Suspended,
    Deactivated,
    Deleted,
}

impl ShownState {
    pub const ALL: [ShownState; 7] = [
        ShownState::Provisioning,
        ShownState::Trial,
        ShownState::Active,
        ShownState::Cancelling,
        ShownState::Suspended,
        ShownState::Deactivated,
        ShownState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShownState::Provisioning => "PROVISIONING",
            ShownState::Trial => "TRIAL",
            ShownState::Active => "ACTIVE",
            ShownState::Cancelling => "CANCELLING",
            ShownState::Suspended => "SUSPENDED",
            ShownState::Deactivated => "DEACTIVATED",
            ShownState::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Whether product services may serve the tenant.
    pub fn serving(self) -> bool {
        matches!(
            self,
            ShownState::Trial | ShownState::Active | ShownState::Cancelling
        )
    }
}

impl fmt::Display for ShownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::domain::serialize_as_text!(Lifecycle, ShownState);

/// Everything the lifecycle knows of a tenant. Placement (region and shard) is not here: it
/// depends on the shards' fill, not on the tenant's events, and is kept by the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub lifecycle: Lifecycle,
    pub suspended: bool,
    /// Current site; `None` once the tenant is deleted.
    pub site: Option<Site>,
    /// Earlier sites whose hosts still resolve to this tenant, oldest first.
    pub old_sites: Vec<Site>,
    /// Products; `None` once the tenant is deleted.
    pub products: Option<Products>,
    pub residency: Residency,
    pub billing_day: Option<BillingDay>,
    pub plan: Option<String>,
    pub cycle: Option<Cycle>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    pub deletion_due_at: Option<DateTime<Utc>>,
    /// When the tenant was created, by commerce's clock.
    pub created_at: DateTime<Utc>,
    /// When the deletion was carried out, by the contract's timeline.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The legal hold that stands, if any: no deletion is carried out while it does.
    pub legal_hold: Option<LegalHold>,
    /// When the last hold was lifted, as the row and the admin view show it. The fold does not
    /// read it back: a deletion that fell due while the hold stood is carried out by the window
    /// of arrivals that begins with the lift ([`super::carry`]).
    pub hold_lifted_at: Option<DateTime<Utc>>,
}

/// A legal hold (`PUT /admin/v1/tenants/{id}/hold`): who placed it, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub since: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

impl Tenant {
    /// Clears the dates that count down to nothing in the current state, so that every date
    /// shown is true now: `trial_ends_at` only in TRIAL, `cancellation_effective_at` only in
    /// CANCELLING, `deletion_due_at` only in DEACTIVATED (and DELETED, where it is the date the
    /// deletion was due). `current_period_end` stays: it is the end of what was paid for,
    /// whatever happened since.
    pub fn clear_stale_countdowns(&mut self) {
        if self.lifecycle != Lifecycle::Trial {
            self.trial_ends_at = None;
        }
        if self.lifecycle != Lifecycle::Cancelling {
            self.cancellation_effective_at = None;
        }
        if !matches!(self.lifecycle, Lifecycle::Deactivated | Lifecycle::Deleted) {
            self.deletion_due_at = None;
        }
    }

    /// The state shown to callers: first match wins, as in CONTRACT.md section 4.
    pub fn shown_state(&self, placed: bool) -> ShownState {
        match self.lifecycle {
            Lifecycle::Deleted => ShownState::Deleted,
            Lifecycle::Deactivated => ShownState::Deactivated,
            _ if self.suspended => ShownState::Suspended,
            _ if !placed => ShownState::Provisioning,
            Lifecycle::Trial => ShownState::Trial,
            Lifecycle::Active => ShownState::Active,
            Lifecycle::Cancelling => ShownState::Cancelling,
        }
    }
}
