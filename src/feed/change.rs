//! The change message: one version of a tenant as `tenant-catalog.changes` announces it
//! (CONTRACT.md sections 3 and 8). Every writer of a tenant builds its message here, so a
//! commerce event, a timer, an admin action and a move step read alike on the wire.

use crate::catalog::moves::Move;
use crate::catalog::outbox;
use crate::domain::{
    MoveId, MoveOrigin, MovePhase, Products, Region, RouteStatus, ShardId, TenantId,
};
use crate::lifecycle::{Lifecycle, ShownState};
use crate::snapshot::TenantSnapshot;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// One change of a tenant, ready to be queued in the outbox with the change itself.
#[derive(Debug, Clone)]
pub struct ChangeMessage<'a> {
    tenant: &'a TenantSnapshot,
    previous_state: Option<ShownState>,
    cause: &'a str,
    changed_at: DateTime<Utc>,
    step: Option<&'a MoveNote>,
    receipt: Option<&'a Value>,
}

impl<'a> ChangeMessage<'a> {
    /// The message that announces this version of `tenant`, made by `cause` (an event type,
    /// or the kind of what made it when no event did).
    pub fn new(
        tenant: &'a TenantSnapshot,
        previous_state: Option<ShownState>,
        cause: &'a str,
        changed_at: DateTime<Utc>,
    ) -> Self {
        ChangeMessage {
            tenant,
            previous_state,
            cause,
            changed_at,
            step: None,
            receipt: None,
        }
    }

    /// The message that announces a step of a move: under the tenant's state like every
    /// change (CONTRACT.md section 8), with both shards, the phase and the epoch in `move`.
    pub fn step(
        tenant: &'a TenantSnapshot,
        previous_state: Option<ShownState>,
        step: &'a MoveNote,
        changed_at: DateTime<Utc>,
    ) -> Self {
        ChangeMessage {
            step: Some(step),
            ..ChangeMessage::new(tenant, previous_state, step.cause(), changed_at)
        }
    }

    /// A deletion carried out, with the receipt of what was deleted.
    pub fn with_receipt(mut self, receipt: &'a Value) -> Self {
        self.receipt = Some(receipt);
        self
    }

    /// `tenant.<state>`: subscribers bind by state.
    pub fn routing_key(&self) -> String {
        format!("tenant.{}", self.tenant.state.as_str().to_lowercase())
    }

    fn payload(&self) -> Payload<'_> {
        let t = self.tenant;
        Payload {
            tenant_id: t.id,
            state: t.state,
            previous_state: self.previous_state,
            serving: t.serving,
            lifecycle: t.lifecycle,
            suspended: t.suspended,
            region: t.region,
            shard: t.shard.as_ref(),
            host: t.host.as_deref(),
            old_hosts: &t.old_hosts,
            products: t.products.as_ref(),
            version: t.version,
            epoch: t.epoch,
            route_status: t.route_status,
            // Never null (CONTRACT.md section 8): the event behind the change, or the kind of
            // what made it when no event did (a placement, a rebuild).
            caused_by: t
                .caused_by
                .map_or_else(|| self.cause.to_owned(), |id| id.to_string()),
            cause: self.cause,
            changed_at: self.changed_at,
            r#move: self.step,
            deletion_receipt: self.receipt,
        }
    }

    /// The outbox row that carries this message.
    pub fn queued(&self) -> outbox::Message {
        outbox::Message {
            tenant_id: self.tenant.id.as_uuid(),
            routing_key: self.routing_key(),
            // A struct of plain fields: serialising it cannot fail.
            payload: serde_json::to_value(self.payload()).unwrap_or_default(),
        }
    }
}

/// What a change message says of the move step behind it.
#[derive(Debug, Clone, Serialize)]
pub struct MoveNote {
    pub id: MoveId,
    pub phase: MovePhase,
    pub from_shard: ShardId,
    pub to_shard: ShardId,
    /// `admin`, `drain` or `residency`.
    pub origin: MoveOrigin,
    pub by: String,
    pub reason: String,
}

impl MoveNote {
    /// The note of a step of `m` (in the phase it entered), taken by `by` for `reason`.
    pub fn of(m: &Move, by: &str, reason: &str) -> Self {
        MoveNote {
            id: m.id,
            phase: m.phase,
            from_shard: m.from.clone(),
            to_shard: m.to.clone(),
            origin: m.origin,
            by: by.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn cause(&self) -> &'static str {
        match self.phase {
            MovePhase::Copying => "move started",
            MovePhase::Cutover => "move cutting over",
            MovePhase::Done => "move done",
            MovePhase::Cancelled => "move cancelled",
        }
    }
}

/// The body of a change message (CONTRACT.md section 3, plus `serving`, `lifecycle`,
/// `suspended`, `old_hosts`, `products`, `epoch`, `route_status`, `cause`, `changed_at`, for
/// a move's steps `move`, and for a deletion carried out `deletion_receipt`).
#[derive(Serialize)]
struct Payload<'a> {
    tenant_id: TenantId,
    state: ShownState,
    previous_state: Option<ShownState>,
    serving: bool,
    lifecycle: Lifecycle,
    suspended: bool,
    region: Option<Region>,
    shard: Option<&'a ShardId>,
    host: Option<&'a str>,
    old_hosts: &'a [String],
    products: Option<&'a Products>,
    version: i64,
    epoch: i64,
    route_status: RouteStatus,
    caused_by: String,
    cause: &'a str,
    changed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#move: Option<&'a MoveNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_receipt: Option<&'a Value>,
}
