//! Admin actions on a tenant. An admin action is an event of the tenant's history, applied
//! with commerce's events by the same steps; the lifecycle rules judge it, nothing here
//! re-implements them.

use super::{IngestReport, Ingested, Routing, apply_events, apply_loaded};
use crate::catalog::events::NewEvent;
use crate::catalog::tenants::TenantRow;
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, Rules, TenantId};
use crate::lifecycle::{Event, EventKind, Outcome};
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// What an admin asks of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    RequestDeletion {
        reason: String,
        immediate: bool,
        force: bool,
    },
    CancelDeletion {
        reason: String,
    },
    PlaceHold {
        reason: String,
    },
    LiftHold {
        reason: String,
    },
}

impl AdminAction {
    /// The event that records the action, by `by` (the token's `sub`).
    fn event(&self, by: &str) -> EventKind {
        let by = by.to_owned();
        match self.clone() {
            AdminAction::RequestDeletion {
                reason,
                immediate,
                force,
            } => EventKind::AdminDeletionRequested {
                by,
                reason,
                immediate,
                force,
            },
            AdminAction::CancelDeletion { reason } => {
                EventKind::AdminDeletionCancelled { by, reason }
            }
            AdminAction::PlaceHold { reason } => EventKind::AdminHoldPlaced { by, reason },
            AdminAction::LiftHold { reason } => EventKind::AdminHoldLifted { by, reason },
        }
    }
}

/// An event the service makes itself (an admin action, a hold, a move step) of `tenant` at
/// `now`, already kept to the microsecond.
pub(super) fn own_event(tenant: TenantId, kind: EventKind, now: DateTime<Utc>) -> Event {
    Event {
        id: EventId::from_uuid(Uuid::new_v4()),
        tenant_id: tenant,
        occurred_at: now,
        sequence: None,
        kind,
    }
}

/// Records an event the service made (its `data` serialised from it) and refolds its tenant,
/// in the caller's transaction: `stored` is the tenant's row when the caller has locked and
/// loaded it (else it is locked and loaded here), `routing` a move step's.
pub(super) async fn record_own(
    tx: &mut Tx,
    event: &Event,
    stored: Option<TenantRow>,
    routing: Option<Routing>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<IngestReport, StoreError> {
    let data = event.kind.own_data().unwrap_or_default();
    let events = [NewEvent { event, data: &data }];
    let Some(row) = stored else {
        return apply_events(tx, &events, now, rules).await;
    };
    let tenant = event.tenant_id;
    let stored = HashMap::from([(tenant, row)]);
    let routed = routing.map(|g| (tenant, g)).into_iter().collect();
    apply_loaded(tx, &events, stored, &routed, now, rules).await
}

/// What an admin action did. Whatever it did, the action stays in the tenant's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Applied and the tenant changed.
    Changed,
    /// Applied, but the tenant is already so (a repeated request).
    Unchanged,
    /// The lifecycle rules refuse it, for this reason.
    Refused(String),
}

/// Records an admin action at `now` and refolds the tenant, in the caller's transaction.
#[tracing::instrument(name = "Applying an admin action", skip_all, fields(tenant_id = %tenant, by = %by))]
pub async fn act(
    tx: &mut Tx,
    tenant: TenantId,
    by: &str,
    action: &AdminAction,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Acted, StoreError> {
    // Kept to the microsecond, as stored, so the fold sees exactly what a refold will read.
    let now = now.trunc_subsecs(6);
    let event = own_event(tenant, action.event(by), now);
    let report = record_own(tx, &event, None, None, now, rules).await?;
    Ok(match report.results.first() {
        Some(Ingested::Judged(Outcome::Applied)) if report.changes.is_empty() => Acted::Unchanged,
        Some(Ingested::Judged(Outcome::Applied)) => Acted::Changed,
        Some(Ingested::Judged(other)) => {
            Acted::Refused(other.reason().unwrap_or_else(|| "refused".into()))
        }
        other => Acted::Refused(format!("the action could not be recorded: {other:?}")),
    })
}
