//! The tenant row as the catalog uses it: the fold's tenant, its placement and routing, and
//! which version of it this is.

use crate::domain::{Placement, RouteStatus, TenantId};
use crate::lifecycle::{Lifecycle, ShownState, Tenant, timers};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A row of `tenants`: what the fold makes of the tenant's events, where it is placed, and
/// which version of it this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub tenant: Tenant,
    /// The shown state, derived from the tenant and whether it is placed.
    pub state: ShownState,
    /// `None` while the tenant waits for a shard with room.
    pub placement: Option<Placement>,
    /// When the one timer armed in the tenant's state is due.
    pub next_timer_at: Option<DateTime<Utc>>,
    /// Goes up by one with every change.
    pub version: i64,
    /// The event (or the timer's derived id) behind the last change.
    pub caused_by: Option<Uuid>,
    /// Raised by every change of placement or routing status; never lowered.
    pub epoch: i64,
    pub route_status: RouteStatus,
}

impl TenantRow {
    /// The row for a folded tenant at a placement. `version` and `caused_by` are set by the
    /// caller once it knows the row changed.
    pub fn project(t: &Tenant, placement: Option<Placement>) -> Self {
        TenantRow {
            tenant: t.clone(),
            state: t.shown_state(placement.is_some()),
            placement,
            next_timer_at: timers::scheduled(t).map(|(_, at)| at),
            version: 0,
            caused_by: None,
            epoch: 0,
            route_status: RouteStatus::Online,
        }
    }

    /// The row for a refolded tenant whose stored row is `stored`: the fold gives the tenant,
    /// the stored row its routing status and epoch; a new placement raises the epoch.
    pub fn project_over(
        t: &Tenant,
        placement: Option<Placement>,
        stored: Option<&TenantRow>,
        epoch_floor: i64,
    ) -> Self {
        let mut row = Self::project(t, placement);
        let (epoch, status, before) = match stored {
            Some(s) => (s.epoch, s.route_status, s.placement.as_ref()),
            None => (epoch_floor, RouteStatus::Online, None),
        };
        row.route_status = status;
        row.epoch = if row.placement.as_ref() != before {
            epoch + 1
        } else {
            epoch
        };
        row
    }

    pub fn id(&self) -> TenantId {
        self.tenant.id
    }

    pub fn is_deleted(&self) -> bool {
        self.tenant.lifecycle == Lifecycle::Deleted
    }

    /// Whether two rows say the same about the tenant, whatever their versions.
    pub fn same_content(&self, other: &TenantRow) -> bool {
        let strip = |r: &TenantRow| TenantRow {
            version: 0,
            caused_by: None,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}
