//! Admin actions on a tenant. An admin action is an event of the tenant's history, applied
//! with commerce's events by the same steps; the lifecycle rules judge it, nothing here
//! re-implements them.

use super::{IngestReport, Ingested, apply_events};
use crate::catalog::events::NewEvent;
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, Rules, TenantId};
use crate::lifecycle::{Event, EventKind, Outcome};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
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
    /// The event that records the action, by `by` (the token's `sub`), and its `data` as
    /// stored (what a refold reads back).
    fn event(&self, by: &str) -> (EventKind, Value) {
        match self.clone() {
            AdminAction::RequestDeletion {
                reason,
                immediate,
                force,
            } => (
                EventKind::AdminDeletionRequested {
                    by: by.to_owned(),
                    reason: reason.clone(),
                    immediate,
                    force,
                },
                json!({"reason": reason, "immediate": immediate, "force": force, "by": by}),
            ),
            AdminAction::CancelDeletion { reason } => (
                EventKind::AdminDeletionCancelled {
                    by: by.to_owned(),
                    reason: reason.clone(),
                },
                json!({"reason": reason, "by": by}),
            ),
            AdminAction::PlaceHold { reason } => (
                EventKind::AdminHoldPlaced {
                    by: by.to_owned(),
                    reason: reason.clone(),
                },
                json!({"reason": reason, "by": by}),
            ),
            AdminAction::LiftHold { reason } => (
                EventKind::AdminHoldLifted {
                    by: by.to_owned(),
                    reason: reason.clone(),
                },
                json!({"reason": reason, "by": by}),
            ),
        }
    }
}

/// Records an admin event (`kind`, with its `data` as stored) of `tenant` at `now`, already
/// kept to the microsecond, and refolds the tenant, in the caller's transaction: admin actions
/// and the steps of moves alike.
pub async fn record_admin_event(
    tx: &mut Tx,
    tenant: TenantId,
    kind: EventKind,
    data: &Value,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(EventId, IngestReport), StoreError> {
    let event = Event {
        id: EventId::from_uuid(Uuid::new_v4()),
        tenant_id: tenant,
        occurred_at: now,
        sequence: None,
        kind,
    };
    let report = apply_events(
        tx,
        &[NewEvent {
            event: &event,
            data,
        }],
        now,
        rules,
    )
    .await?;
    Ok((event.id, report))
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
    let (kind, data) = action.event(by);
    let (_, report) = record_admin_event(tx, tenant, kind, &data, now, rules).await?;
    Ok(match report.results.first() {
        Some(Ingested::Judged(Outcome::Applied)) if report.changes.is_empty() => Acted::Unchanged,
        Some(Ingested::Judged(Outcome::Applied)) => Acted::Changed,
        Some(Ingested::Judged(other)) => {
            Acted::Refused(other.reason().unwrap_or_else(|| "refused".into()))
        }
        other => Acted::Refused(format!("the action could not be recorded: {other:?}")),
    })
}
