//! The tenant as every reader sees it: one snapshot derived from the stored row, so the admin
//! API, GraphQL, the router and the change feed show the same host, the same `serving` and
//! the same placement, computed here once.

use crate::catalog::routes::RouteRow;
use crate::catalog::tenants::TenantRow;
use crate::domain::{
    BaseDomain, Cycle, Endpoint, Placement, Products, Region, Residency, RouteStatus, ShardId,
    Site, TenantId,
};
use crate::lifecycle::cause::Because;
use crate::lifecycle::{LegalHold, Lifecycle, ShownState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// A tenant, as the admin API, GraphQL and `tenant-catalog show` present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TenantSnapshot {
    #[schema(value_type = Uuid)]
    pub id: TenantId,
    /// The shown state: PROVISIONING, TRIAL, ACTIVE, CANCELLING, SUSPENDED, DEACTIVATED or DELETED.
    #[schema(value_type = String)]
    pub state: ShownState,
    /// Whether product services may serve the tenant.
    pub serving: bool,
    /// The lifecycle state: TRIAL, ACTIVE, CANCELLING, DEACTIVATED or DELETED.
    #[schema(value_type = String)]
    pub lifecycle: Lifecycle,
    pub suspended: bool,
    /// Null once deleted.
    #[schema(value_type = Option<String>)]
    pub site: Option<Site>,
    /// Null once deleted.
    pub host: Option<String>,
    /// Hosts of earlier sites that still resolve to this tenant.
    pub old_hosts: Vec<String>,
    /// Null once deleted.
    #[schema(value_type = Option<Vec<String>>)]
    pub products: Option<Products>,
    #[schema(value_type = String)]
    pub residency: Residency,
    /// Null while PROVISIONING.
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    /// Null while PROVISIONING.
    #[schema(value_type = Option<String>)]
    pub shard: Option<ShardId>,
    pub plan: Option<String>,
    #[schema(value_type = Option<String>)]
    pub cycle: Option<Cycle>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    /// When the deletion is due (DEACTIVATED tenants).
    pub deletion_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Goes up by one with every change.
    pub version: i64,
    /// Raised by every change of placement or routing status; a route with a lower epoch is
    /// stale.
    pub epoch: i64,
    /// ONLINE, MOVING (a move copies the tenant's data) or READ_ONLY (a move cuts over).
    #[schema(value_type = String)]
    pub route_status: RouteStatus,
    /// The legal hold that stands, if any: no deletion is carried out while it does.
    pub legal_hold: Option<LegalHoldView>,
    /// The event (or timer) behind the last change.
    #[serde(skip)]
    pub caused_by: Option<Uuid>,
}

/// A legal hold as readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LegalHoldView {
    /// When it was placed.
    pub since: DateTime<Utc>,
    /// The `sub` of the admin token that placed it.
    pub by: String,
    pub reason: String,
}

/// An event or timer as readers see it: what an explanation names as a cause, and what a
/// deletion receipt names as the request and the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CauseView {
    /// An event type (`subscription.suspended`, `admin.deletion_requested`, ...) or a timer
    /// (`timer.trial_ended`, `timer.cancellation_effective`, `timer.deletion_due`).
    #[serde(rename = "type")]
    pub cause_type: String,
    pub event_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// For admin actions, the token's `sub`.
    pub by: Option<String>,
    pub reason: Option<String>,
}

impl From<&Because> for CauseView {
    fn from(b: &Because) -> Self {
        CauseView {
            cause_type: b.what.clone(),
            event_id: b.event_id.map(|id| id.as_uuid()),
            at: b.at,
            by: b.by.clone(),
            reason: b.reason.clone(),
        }
    }
}

impl From<LegalHold> for LegalHoldView {
    fn from(h: LegalHold) -> Self {
        LegalHoldView {
            since: h.since,
            by: h.by,
            reason: h.reason,
        }
    }
}

impl TenantSnapshot {
    pub fn new(row: TenantRow, base: &BaseDomain) -> Self {
        let (region, shard) = match row.placement {
            Some(Placement { region, shard }) => (Some(region), Some(shard)),
            None => (None, None),
        };
        let t = row.tenant;
        TenantSnapshot {
            id: t.id,
            state: row.state,
            serving: row.state.serving(),
            lifecycle: t.lifecycle,
            suspended: t.suspended,
            host: t.site.as_ref().map(|s| base.host(s)),
            site: t.site,
            old_hosts: t.old_sites.iter().map(|s| base.host(s)).collect(),
            products: t.products,
            residency: t.residency,
            region,
            shard,
            plan: t.plan,
            cycle: t.cycle,
            trial_ends_at: t.trial_ends_at,
            current_period_end: t.current_period_end,
            cancellation_effective_at: t.cancellation_effective_at,
            deletion_due_at: t.deletion_due_at,
            created_at: t.created_at,
            deleted_at: t.deleted_at,
            version: row.version,
            epoch: row.epoch,
            route_status: row.route_status,
            legal_hold: t.legal_hold.map(LegalHoldView::from),
            caused_by: row.caused_by,
        }
    }

    /// Where product services send the tenant's requests; `None` for tenants without a route
    /// (PROVISIONING or DELETED).
    pub fn destination(&self) -> Option<Destination> {
        let placement = Placement {
            region: self.region?,
            shard: self.shard.clone()?,
        };
        Destination::new(
            self.id,
            self.host.clone()?,
            self.state,
            placement,
            (self.epoch, self.route_status),
        )
    }
}

/// What a route needs of a tenant: the part of its snapshot that the router keeps per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub tenant_id: TenantId,
    /// Held inline up to 24 bytes (most hosts): no allocation of its own.
    pub host: compact_str::CompactString,
    pub state: ShownState,
    pub serving: bool,
    pub placement: Placement,
    pub epoch: i64,
    pub status: RouteStatus,
}

impl Destination {
    /// The destination of a tenant in `state` at `host`; `None` for states without a route.
    /// `routing` is the route's epoch and status.
    pub fn new(
        tenant_id: TenantId,
        host: String,
        state: ShownState,
        placement: Placement,
        routing: (i64, RouteStatus),
    ) -> Option<Self> {
        if matches!(state, ShownState::Provisioning | ShownState::Deleted) {
            return None;
        }
        Some(Destination {
            tenant_id,
            host: host.into(),
            state,
            serving: state.serving(),
            placement,
            epoch: routing.0,
            status: routing.1,
        })
    }

    /// The destination of a route row, the router's narrow read of the same tenant row.
    pub fn of_route(row: RouteRow, base: &BaseDomain) -> Option<Self> {
        let host = base.host(row.site.as_ref()?);
        Destination::new(
            row.id,
            host,
            row.state,
            row.placement?,
            (row.epoch, row.route_status),
        )
    }
}

/// Where a tenant's requests go: its destination and its shard's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub to: Arc<Destination>,
    pub endpoint: Endpoint,
}
