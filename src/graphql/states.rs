//! The small types that tenants, routes and explanations share: the shown state, the route
//! status and a legal hold.

use crate::lifecycle::ShownState;
use crate::snapshot;
use async_graphql::{Enum, Object};
use chrono::{DateTime, Utc};

/// The state shown to callers: `DELETED`, `DEACTIVATED`, `SUSPENDED`, `PROVISIONING` (no
/// shard with room yet), else the lifecycle state, first match wins.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "ShownState")]
pub enum TenantState {
    Provisioning,
    Trial,
    Active,
    Cancelling,
    Suspended,
    Deactivated,
    Deleted,
}

/// Whether a route takes writes: `ONLINE`; `MOVING` while a move copies the tenant's data
/// (still served read-write where the route says); `READ_ONLY` on the source while a move cuts
/// over.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::RouteStatus")]
pub enum RouteStatus {
    Online,
    Moving,
    ReadOnly,
}

/// A legal hold: who placed it, when and why.
pub struct LegalHold<'a>(pub(super) &'a snapshot::LegalHoldView);

#[Object]
impl LegalHold<'_> {
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
    /// The `sub` of the admin token that placed it.
    async fn by(&self) -> &str {
        &self.0.by
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
}
