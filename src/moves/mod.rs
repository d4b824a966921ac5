//! Moving tenants between shards (CONTRACT.md section 7, "Routing epochs and moves").
//!
//! A move is `copying` → `cutover` → `done`, or `cancelled` before `done`. The data plane copies
//! and cuts over; it tells the catalog each time its step is finished (`advance`). Every step
//! is one transaction, in the caller's hands: the tenant locked, the step recorded in the
//! tenant's history (an admin event with `sub` and reason, folded like the others), the move's
//! row, the shard slots, the tenant row with its routing status and a raised epoch, and the
//! change message. Nothing lives in a process, so any `serve` takes any step, and a restart
//! between two steps loses nothing.
//!
//! | phase       | route status | served from | slots held       |
//! |-------------|--------------|-------------|------------------|
//! | `copying`   | `MOVING`     | source      | source and target |
//! | `cutover`   | `READ_ONLY`  | source      | source and target |
//! | `done`      | `ONLINE`     | target      | target           |
//! | `cancelled` | `ONLINE`     | source      | source           |

pub mod plan;
mod rounds;
pub mod rules;

use crate::apply::admin::record_admin_event;
use crate::catalog::moves::{self as store, Move};
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx, outbox, shards};
use crate::domain::{EventId, MoveId, MoveOrigin, MovePhase, Placement, Rules, ShardId, TenantId};
use crate::feed::change::{ChangeMessage, MoveNote};
use crate::lifecycle::{EventKind, MoveStep, MoveStepKind};
use crate::metrics::Metrics;
use crate::snapshot::TenantSnapshot;
use chrono::{DateTime, SubsecRound, Utc};
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec};
pub use rounds::{Drained, cancel_overdue, drain_round, residency_round};
pub use rules::Refusal;
use uuid::Uuid;

/// What moves count, whoever takes their steps (the scheduler or an admin).
#[derive(Clone)]
pub struct MoveMetrics {
    /// Move steps carried out, by the phase they entered.
    pub steps: IntCounterVec,
    /// Moves cancelled because their deadline passed.
    pub expired: IntCounter,
    /// Live tenants still on each draining shard.
    pub drain_remaining: IntGaugeVec,
}

impl MoveMetrics {
    pub fn new(m: &Metrics) -> Self {
        MoveMetrics {
            steps: m.counters(
                "tenant_catalog_move_steps_total",
                "Move steps carried out, by the phase they entered.",
                "phase",
                &["copying", "cutover", "done", "cancelled"],
            ),
            expired: m.counter(
                "tenant_catalog_moves_expired_total",
                "Moves cancelled by the scheduler because their deadline passed.",
            ),
            drain_remaining: m.gauges(
                "tenant_catalog_drain_remaining_tenants",
                "Live tenants still on a shard an admin asked to drain (moving ones included).",
                "shard",
            ),
        }
    }

    pub fn stepped(&self, phase: MovePhase, n: u64) {
        self.steps.with_label_values(&[phase.as_str()]).inc_by(n);
    }
}

/// Who takes the steps the service takes by itself (deadlines, drains, residency).
pub const SERVICE: &str = "tenant-catalog";

/// A move asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub tenant: TenantId,
    pub to: ShardId,
    pub reason: String,
    /// The token's `sub`, or [`SERVICE`].
    pub by: String,
    pub origin: MoveOrigin,
    pub deadline: Option<DateTime<Utc>>,
}

/// A step taken: the move after it, and whether it changed anything (a retried `advance` to
/// the phase the move is in changes nothing).
#[derive(Debug, Clone)]
pub struct Stepped {
    pub moved: Move,
    pub changed: bool,
}

/// Starts a move: checks it, takes the slot on the target, records it, and puts the tenant's
/// route in `MOVING` under a new epoch. A refusal of a tenant that exists is recorded in its
/// history too.
pub async fn start(
    tx: &mut Tx,
    req: &Request,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    // Kept to the microsecond, as stored, so the fold sees exactly what a refold will read.
    let now = now.trunc_subsecs(6);
    tenants::lock(tx, &[req.tenant]).await?;
    let Some(row) = load(tx, req.tenant).await? else {
        return Ok(Err(Refusal::NotFound(format!(
            "no tenant {}: the catalog has no tenant with this id",
            req.tenant
        ))));
    };
    let target = shards::get(tx, &req.to).await?;
    let running = store::running_of(&mut **tx, req.tenant).await?;
    let mut refusal = rules::refuse_start(&row, &req.to, target.as_ref(), running.as_ref());
    if refusal.is_none() && !store::reserve_slot(tx, &req.to).await? {
        refusal = Some(Refusal::Conflict(format!(
            "shard {} has no room left (taken meanwhile): choose another shard",
            req.to
        )));
    }
    let m = Move {
        id: MoveId::from_uuid(Uuid::new_v4()),
        tenant_id: req.tenant,
        from: row
            .placement
            .as_ref()
            .map(|p| p.shard.clone())
            .unwrap_or_else(|| req.to.clone()),
        to: req.to.clone(),
        phase: MovePhase::Copying,
        requested_by: req.by.clone(),
        reason: req.reason.clone(),
        origin: req.origin,
        deadline_at: req.deadline.map(|d| d.trunc_subsecs(6)),
        cancelled_by: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let step = MoveStep {
        step: MoveStepKind::Requested,
        by: req.by.clone(),
        reason: req.reason.clone(),
        move_id: m.id,
        from: row.placement.as_ref().map(|p| p.shard.clone()),
        to: req.to.clone(),
        phase: MovePhase::Copying,
        refused: None,
    };
    // Refused steps are history too, a deleted tenant's included (CONTRACT.md section 8).
    if let Some(refusal) = refusal {
        return refuse(tx, req.tenant, step, refusal, now, rules).await;
    }
    store::insert(tx, &m).await?;
    let event = record(tx, req.tenant, &step, now, rules).await?;
    reroute(tx, &m, MovePhase::Copying, None, event, &step, now, rules).await?;
    Ok(Ok(Stepped {
        moved: m,
        changed: true,
    }))
}

/// Advances a move one phase (to `wanted`, when the caller says which): `cutover` makes the
/// route `READ_ONLY` on the source; `done` makes it `ONLINE` on the target and frees the
/// source's slot.
pub async fn advance(
    tx: &mut Tx,
    id: MoveId,
    wanted: Option<MovePhase>,
    by: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let now = now.trunc_subsecs(6);
    let m = match locked(tx, id, by, now).await? {
        Ok(m) => m,
        Err((Some(m), refusal)) => {
            let would = m.phase.next().unwrap_or(m.phase);
            let step = rules::step_of(&m, MoveStepKind::Advanced, by, &m.reason, would);
            return refuse(tx, m.tenant_id, step, refusal, now, rules).await;
        }
        Err((None, refusal)) => return Ok(Err(refusal)),
    };
    let running = matches!(m.phase, MovePhase::Copying | MovePhase::Cutover);
    if running && let Some(why) = no_longer_allowed(tx, &m).await? {
        let step = rules::step_of(
            &m,
            MoveStepKind::Cancelled,
            SERVICE,
            &why,
            MovePhase::Cancelled,
        );
        cancel_locked(tx, m, &step, now, rules).await?;
        return Ok(Err(Refusal::Conflict(format!(
            "move {id} is cancelled: {why}"
        ))));
    }
    let next = match rules::advance_to(&m, wanted) {
        Ok(Some(next)) => next,
        Ok(None) => {
            return Ok(Ok(Stepped {
                moved: m,
                changed: false,
            }));
        }
        Err(refusal) => {
            let would = m.phase.next().unwrap_or(m.phase);
            let step = rules::step_of(&m, MoveStepKind::Advanced, by, &m.reason, would);
            return refuse(tx, m.tenant_id, step, refusal, now, rules).await;
        }
    };
    let step = rules::step_of(&m, MoveStepKind::Advanced, by, &m.reason, next);
    let event = record(tx, m.tenant_id, &step, now, rules).await?;
    let placement = if next == MovePhase::Done {
        let Some(target) = shards::get(tx, &m.to).await? else {
            return Err(StoreError::new(
                format!("reading shard {} of move {}", m.to, m.id),
                sqlx::Error::RowNotFound,
            ));
        };
        // The target's slot was taken when the move started; the source's is free now.
        shards::release_slots(tx, std::slice::from_ref(&m.from)).await?;
        Some(Placement {
            region: target.region,
            shard: m.to.clone(),
        })
    } else {
        None
    };
    let moved = store::set_phase(tx, m.id, next, None, now).await?;
    reroute(tx, &moved, next, placement, event, &step, now, rules).await?;
    Ok(Ok(Stepped {
        moved,
        changed: true,
    }))
}

/// Cancels a running move: the tenant stays on the source, `ONLINE`, and the target's slot is
/// freed.
pub async fn cancel(
    tx: &mut Tx,
    id: MoveId,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let now = now.trunc_subsecs(6);
    let (m, refused) = match locked(tx, id, by, now).await? {
        Ok(m) => (m, None),
        Err((Some(m), refusal)) => (m, Some(refusal)),
        Err((None, refusal)) => return Ok(Err(refusal)),
    };
    let step = rules::step_of(
        &m,
        MoveStepKind::Cancelled,
        by,
        reason,
        MovePhase::Cancelled,
    );
    if let Some(refusal) = refused.or_else(|| rules::refuse_cancel(&m)) {
        return refuse(tx, m.tenant_id, step, refusal, now, rules).await;
    }
    cancel_locked(tx, m, &step, now, rules).await.map(Ok)
}

/// Why a running move may not go on, if it may not ([`rules::refuse_going_on`]).
async fn no_longer_allowed(tx: &mut Tx, m: &Move) -> Result<Option<String>, StoreError> {
    let Some(row) = load(tx, m.tenant_id).await? else {
        return Ok(None);
    };
    let target = shards::get(tx, &m.to).await?;
    Ok(rules::refuse_going_on(
        m,
        row.tenant.residency,
        target.as_ref(),
    ))
}

/// Cancels a running move whose tenant is locked, by its `step`: the step recorded, the
/// target's slot freed, the route `ONLINE` on the source.
async fn cancel_locked(
    tx: &mut Tx,
    m: Move,
    step: &MoveStep,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Stepped, StoreError> {
    let event = record(tx, m.tenant_id, step, now, rules).await?;
    shards::release_slots(tx, std::slice::from_ref(&m.to)).await?;
    let by_why = Some((step.by.as_str(), step.reason.as_str()));
    let moved = store::set_phase(tx, m.id, MovePhase::Cancelled, by_why, now).await?;
    reroute(
        tx,
        &moved,
        MovePhase::Cancelled,
        None,
        event,
        step,
        now,
        rules,
    )
    .await?;
    Ok(Stepped {
        moved,
        changed: true,
    })
}

/// The move, its tenant locked first (the order every writer locks in) and the move read
/// again under the lock. A move whose tenant was deleted meanwhile is cancelled, and the step
/// refused (with the move, so that the refusal is recorded in the tenant's history).
async fn locked(
    tx: &mut Tx,
    id: MoveId,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<Move, (Option<Move>, Refusal)>, StoreError> {
    let not_found = || (None, Refusal::NotFound(format!("no move {id}")));
    let Some(m) = store::get(&mut **tx, id).await? else {
        return Ok(Err(not_found()));
    };
    tenants::lock(tx, &[m.tenant_id]).await?;
    let Some(m) = store::get(&mut **tx, id).await? else {
        return Ok(Err(not_found()));
    };
    match load(tx, m.tenant_id).await? {
        Some(row) if !row.is_deleted() => Ok(Ok(m)),
        _ => {
            let why = "the tenant was deleted before the move ended";
            store::cancel_running(tx, &[m.tenant_id], by, why, now).await?;
            let refusal = Refusal::Conflict(format!(
                "tenant {} is deleted: move {id} is cancelled",
                m.tenant_id
            ));
            Ok(Err((Some(m), refusal)))
        }
    }
}

async fn load(tx: &mut Tx, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
    Ok(tenants::load_many(&mut **tx, &[id]).await?.remove(&id))
}

/// Records a refused step in the tenant's history, with why, and answers the refusal.
async fn refuse(
    tx: &mut Tx,
    tenant: TenantId,
    step: MoveStep,
    refusal: Refusal,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let step = MoveStep {
        refused: Some(refusal.message().to_owned()),
        ..step
    };
    record(tx, tenant, &step, now, rules).await?;
    Ok(Err(refusal))
}

/// Records a step as an event of the tenant's history, judged and folded with the others.
async fn record(
    tx: &mut Tx,
    tenant: TenantId,
    step: &MoveStep,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<EventId, StoreError> {
    let data = step.data();
    let kind = EventKind::AdminMove(step.clone());
    let (id, _) = record_admin_event(tx, tenant, kind, &data, now, rules).await?;
    Ok(id)
}

/// Writes the tenant's new routing (status for `phase`, and the target's placement once
/// done) under a raised epoch and a new version, and queues its change message.
#[allow(clippy::too_many_arguments)]
async fn reroute(
    tx: &mut Tx,
    m: &Move,
    phase: MovePhase,
    placement: Option<Placement>,
    caused_by: EventId,
    step: &MoveStep,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let Some(mut row) = load(tx, m.tenant_id).await? else {
        return Err(StoreError::new(
            format!("reading tenant {} of move {}", m.tenant_id, m.id),
            sqlx::Error::RowNotFound,
        ));
    };
    if let Some(p) = placement {
        row.placement = Some(p);
    }
    row.route_status = phase.route_status();
    row.epoch += 1;
    row.version += 1;
    row.caused_by = Some(caused_by.as_uuid());
    tenants::save(tx, [&row]).await?;
    let note = MoveNote {
        id: m.id,
        phase,
        from_shard: m.from.clone(),
        to_shard: m.to.clone(),
        origin: m.origin,
        by: step.by.clone(),
        reason: step.reason.clone(),
    };
    let snapshot = TenantSnapshot::new(row, &rules.base);
    tracing::info!(
        tenant_id = %m.tenant_id,
        move_id = %m.id,
        %phase,
        epoch = snapshot.epoch,
        from = %m.from,
        to = %m.to,
        "A move took a step."
    );
    let previous = Some(snapshot.state);
    let message = ChangeMessage::step(&snapshot, previous, &note, now);
    outbox::enqueue(tx, &[message.queued()]).await
}
