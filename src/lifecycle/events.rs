//! Commerce lifecycle events (CONTRACT.md section 3) and admin actions, as the fold takes them.
//! Raw messages become these in [`super::parse`], once, at the edge.

use crate::domain::{
    BillingDay, Cycle, EventId, MoveId, MovePhase, Products, Residency, ShardId, Site, TenantId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// A valid commerce event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
    pub sequence: Option<i64>,
    pub kind: EventKind,
}

/// What a tenant needs to exist: given by `trial.started` and by a direct purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub site: Site,
    pub products: Products,
    pub residency: Residency,
}

/// The event types of the contract, with their validated `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    TrialStarted {
        tenant: NewTenant,
        billing_day: BillingDay,
    },
    SubscriptionActivated {
        plan: String,
        cycle: Cycle,
        current_period_end: DateTime<Utc>,
        /// What a direct purchase (no trial before it) needs: `site`, `products` and
        /// `residency`, or why the event does not give them. A conversion ignores them.
        tenant: Result<NewTenant, String>,
    },
    SubscriptionRenewed {
        current_period_end: DateTime<Utc>,
    },
    SubscriptionCancelled {
        effective_at: DateTime<Utc>,
    },
    SubscriptionReactivated {
        current_period_end: DateTime<Utc>,
    },
    SubscriptionSuspended {
        reason: String,
    },
    SubscriptionUnsuspended,
    SiteRenamed {
        site: Site,
    },
    DataDeletionRequested {
        reason: String,
    },
    /// An admin asked for the tenant's deletion (admin API); `by` is the token's `sub`.
    AdminDeletionRequested {
        by: String,
        reason: String,
        immediate: bool,
        force: bool,
    },
    /// An admin cancelled the admin deletions not carried out yet.
    AdminDeletionCancelled {
        by: String,
        reason: String,
    },
    /// An admin placed a legal hold: no deletion is carried out while it stands.
    AdminHoldPlaced {
        by: String,
        reason: String,
    },
    /// An admin lifted the legal hold; a deletion that fell due meanwhile is carried out now.
    AdminHoldLifted {
        by: String,
        reason: String,
    },
    /// A step of a move between shards (requested, advanced, cancelled). The routing it
    /// changes is the move workflow's; the history keeps who, why and whether it was refused,
    /// which depends on the shards at that instant and so is recorded, not re-judged.
    AdminMove(MoveStep),
}

/// What a step of a move did, as its history event records it (its `data`, serialised from
/// this struct, is what [`super::parse`] reads back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveStep {
    #[serde(skip)]
    pub step: MoveStepKind,
    pub by: String,
    pub reason: String,
    pub move_id: MoveId,
    /// `None` for a refused request of a tenant that is on no shard.
    #[serde(rename = "from_shard")]
    pub from: Option<ShardId>,
    #[serde(rename = "to_shard")]
    pub to: ShardId,
    /// The phase the move entered (or, when refused, would have).
    pub phase: MovePhase,
    /// Why it was refused; `None` when it was carried out.
    pub refused: Option<String>,
}

impl EventKind {
    /// The `data` the history stores for an event the service makes itself (an admin action,
    /// a hold, a move step), serialised from the event; what [`super::parse`] reads back.
    /// `None` for commerce's events, whose `data` is kept as commerce sent it.
    pub fn own_data(&self) -> Option<serde_json::Value> {
        #[derive(Serialize)]
        struct Action<'a> {
            by: &'a str,
            reason: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            immediate: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            force: Option<bool>,
        }
        let action = |by, reason| Action {
            by,
            reason,
            immediate: None,
            force: None,
        };
        let data = match self {
            EventKind::AdminDeletionRequested {
                by,
                reason,
                immediate,
                force,
            } => serde_json::to_value(Action {
                immediate: Some(*immediate),
                force: Some(*force),
                ..action(by, reason)
            }),
            EventKind::AdminDeletionCancelled { by, reason }
            | EventKind::AdminHoldPlaced { by, reason }
            | EventKind::AdminHoldLifted { by, reason } => serde_json::to_value(action(by, reason)),
            EventKind::AdminMove(step) => serde_json::to_value(step),
            _ => return None,
        };
        // Structs of plain fields: serialising them cannot fail.
        data.ok()
    }
}

/// The three steps of a move an admin (or the service) takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveStepKind {
    Requested,
    Advanced,
    Cancelled,
}

impl MoveStepKind {
    pub fn event_type(self) -> EventType {
        match self {
            MoveStepKind::Requested => EventType::AdminMoveRequested,
            MoveStepKind::Advanced => EventType::AdminMoveAdvanced,
            MoveStepKind::Cancelled => EventType::AdminMoveCancelled,
        }
    }
}

/// The `type` names of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    TrialStarted,
    SubscriptionActivated,
    SubscriptionRenewed,
    SubscriptionCancelled,
    SubscriptionReactivated,
    SubscriptionSuspended,
    SubscriptionUnsuspended,
    SiteRenamed,
    DataDeletionRequested,
    AdminDeletionRequested,
    AdminDeletionCancelled,
    AdminMoveRequested,
    AdminMoveAdvanced,
    AdminMoveCancelled,
    AdminHoldPlaced,
    AdminHoldLifted,
}

impl EventType {
    /// The types commerce sends. Admin actions are recorded by the admin API only.
    pub const COMMERCE: [EventType; 9] = [
        EventType::TrialStarted,
        EventType::SubscriptionActivated,
        EventType::SubscriptionRenewed,
        EventType::SubscriptionCancelled,
        EventType::SubscriptionReactivated,
        EventType::SubscriptionSuspended,
        EventType::SubscriptionUnsuspended,
        EventType::SiteRenamed,
        EventType::DataDeletionRequested,
    ];

    pub const ADMIN: [EventType; 7] = [
        EventType::AdminDeletionRequested,
        EventType::AdminDeletionCancelled,
        EventType::AdminMoveRequested,
        EventType::AdminMoveAdvanced,
        EventType::AdminMoveCancelled,
        EventType::AdminHoldPlaced,
        EventType::AdminHoldLifted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TrialStarted => "trial.started",
            EventType::SubscriptionActivated => "subscription.activated",
            EventType::SubscriptionRenewed => "subscription.renewed",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::SubscriptionReactivated => "subscription.reactivated",
            EventType::SubscriptionSuspended => "subscription.suspended",
            EventType::SubscriptionUnsuspended => "subscription.unsuspended",
            EventType::SiteRenamed => "site.renamed",
            EventType::DataDeletionRequested => "data.deletion_requested",
            EventType::AdminDeletionRequested => "admin.deletion_requested",
            EventType::AdminDeletionCancelled => "admin.deletion_cancelled",
            EventType::AdminMoveRequested => "admin.move_requested",
            EventType::AdminMoveAdvanced => "admin.move_advanced",
            EventType::AdminMoveCancelled => "admin.move_cancelled",
            EventType::AdminHoldPlaced => "admin.hold_placed",
            EventType::AdminHoldLifted => "admin.hold_lifted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::COMMERCE
            .into_iter()
            .chain(Self::ADMIN)
            .find(|t| t.as_str() == s)
    }

    pub fn is_admin(self) -> bool {
        Self::ADMIN.contains(&self)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind {
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::TrialStarted { .. } => EventType::TrialStarted,
            EventKind::SubscriptionActivated { .. } => EventType::SubscriptionActivated,
            EventKind::SubscriptionRenewed { .. } => EventType::SubscriptionRenewed,
            EventKind::SubscriptionCancelled { .. } => EventType::SubscriptionCancelled,
            EventKind::SubscriptionReactivated { .. } => EventType::SubscriptionReactivated,
            EventKind::SubscriptionSuspended { .. } => EventType::SubscriptionSuspended,
            EventKind::SubscriptionUnsuspended => EventType::SubscriptionUnsuspended,
            EventKind::SiteRenamed { .. } => EventType::SiteRenamed,
            EventKind::DataDeletionRequested { .. } => EventType::DataDeletionRequested,
            EventKind::AdminDeletionRequested { .. } => EventType::AdminDeletionRequested,
            EventKind::AdminDeletionCancelled { .. } => EventType::AdminDeletionCancelled,
            EventKind::AdminHoldPlaced { .. } => EventType::AdminHoldPlaced,
            EventKind::AdminHoldLifted { .. } => EventType::AdminHoldLifted,
            EventKind::AdminMove(step) => step.step.event_type(),
        }
    }
}

/// The site an event would give its tenant, if any.
pub fn claimed_site(kind: &EventKind) -> Option<&Site> {
    match kind {
        EventKind::TrialStarted { tenant, .. } => Some(&tenant.site),
        EventKind::SubscriptionActivated {
            tenant: Ok(tenant), ..
        } => Some(&tenant.site),
        EventKind::SiteRenamed { site } => Some(site),
        _ => None,
    }
}

/// Why a message is not a valid event. The text names the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectedEvent {
    #[error("message body is not a JSON object: {0}")]
    NotJson(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("event type `{0}` is an admin action: only the admin API records it")]
    AdminOnly(String),
}
