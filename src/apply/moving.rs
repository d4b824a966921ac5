//! The steps of a move (CONTRACT.md section 7, "Routing epochs and moves"), written by the one
//! writer. A step is one transaction in the caller's hands: the tenant locked and loaded once,
//! the step judged by the pure rules of `crate::moves::rules`, the move's bookkeeping (its row,
//! the shard slots), and then the step's event through the write path, which folds it with the
//! tenant's history and writes the one new version of the tenant with its routing (status,
//! placement once done, a raised epoch) and the one change message. A refused step is recorded
//! in the history too, and changes no routing.

use super::Routing;
use super::admin::{own_event, record_own};
use crate::catalog::moves::{self as store, Move};
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx, shards};
use crate::domain::{MoveId, MovePhase, Placement, Rules, TenantId};
use crate::feed::change::MoveNote;
use crate::lifecycle::{EventKind, MoveStep, MoveStepKind};
use crate::moves::{Refusal, Request, SERVICE, Stepped, rules};
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

/// Starts a move: checks it, takes the slot on the target, records it, and puts the tenant's
/// route in `MOVING` under a new epoch. A refusal of a tenant that exists is recorded in its
/// history too.
#[tracing::instrument(name = "Starting a move", skip_all, fields(tenant_id = %req.tenant, to = %req.to, by = %req.by))]
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
    let from = row.placement.as_ref().map(|p| p.shard.clone());
    let m = Move {
        id: MoveId::from_uuid(Uuid::new_v4()),
        tenant_id: req.tenant,
        from: from.clone().unwrap_or_else(|| req.to.clone()),
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
        from,
        to: req.to.clone(),
        phase: MovePhase::Copying,
        refused: None,
    };
    // Refused steps are history too, a deleted tenant's included (CONTRACT.md section 8).
    if let Some(refusal) = refusal {
        return refuse(tx, row, step, refusal, now, rules).await;
    }
    store::insert(tx, &m).await?;
    write_step(tx, row, &m, step, None, now, rules).await?;
    Ok(Ok(Stepped {
        moved: m,
        changed: true,
    }))
}

/// Advances a move one phase (to `wanted`, when the caller says which): `cutover` makes the
/// route `READ_ONLY` on the source; `done` makes it `ONLINE` on the target, and the writer
/// frees the source's slot as for any tenant placed elsewhere.
#[tracing::instrument(name = "Advancing a move", skip_all, fields(move_id = %id, by = %by))]
pub async fn advance(
    tx: &mut Tx,
    id: MoveId,
    wanted: Option<MovePhase>,
    by: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let now = now.trunc_subsecs(6);
    let (m, row) = match locked(tx, id, by, now).await? {
        Locked::Live(m, row) => (m, row),
        Locked::Gone(m, row, refusal) => {
            let would = m.phase.next().unwrap_or(m.phase);
            let step = rules::step_of(&m, MoveStepKind::Advanced, by, &m.reason, would);
            return refuse(tx, row, step, refusal, now, rules).await;
        }
        Locked::NotFound(refusal) => return Ok(Err(refusal)),
    };
    let running = matches!(m.phase, MovePhase::Copying | MovePhase::Cutover);
    let target = shards::get(tx, &m.to).await?;
    if running && let Some(why) = rules::refuse_going_on(&m, row.tenant.residency, target.as_ref())
    {
        let step = rules::step_of(
            &m,
            MoveStepKind::Cancelled,
            SERVICE,
            &why,
            MovePhase::Cancelled,
        );
        cancel_locked(tx, m, row, step, now, rules).await?;
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
            return refuse(tx, row, step, refusal, now, rules).await;
        }
    };
    let step = rules::step_of(&m, MoveStepKind::Advanced, by, &m.reason, next);
    let placement = match (next, target) {
        (MovePhase::Done, Some(target)) => Some(Placement {
            region: target.region,
            shard: m.to.clone(),
        }),
        (MovePhase::Done, None) => {
            return Err(StoreError::new(
                format!("reading shard {} of move {}", m.to, m.id),
                sqlx::Error::RowNotFound,
            ));
        }
        _ => None,
    };
    let moved = store::set_phase(tx, m.id, next, None, now).await?;
    write_step(tx, row, &moved, step, placement, now, rules).await?;
    Ok(Ok(Stepped {
        moved,
        changed: true,
    }))
}

/// Cancels a running move: the tenant stays on the source, `ONLINE`, and the target's slot is
/// freed.
#[tracing::instrument(name = "Cancelling a move", skip_all, fields(move_id = %id, by = %by))]
pub async fn cancel(
    tx: &mut Tx,
    id: MoveId,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let now = now.trunc_subsecs(6);
    let (m, row, refused) = match locked(tx, id, by, now).await? {
        Locked::Live(m, row) => (m, row, None),
        Locked::Gone(m, row, refusal) => (m, row, Some(refusal)),
        Locked::NotFound(refusal) => return Ok(Err(refusal)),
    };
    let step = rules::step_of(
        &m,
        MoveStepKind::Cancelled,
        by,
        reason,
        MovePhase::Cancelled,
    );
    if let Some(refusal) = refused.or_else(|| rules::refuse_cancel(&m)) {
        return refuse(tx, row, step, refusal, now, rules).await;
    }
    cancel_locked(tx, m, row, step, now, rules).await.map(Ok)
}

/// Cancels a running move whose tenant is locked, by its `step`: the target's slot freed, the
/// step written, the route `ONLINE` on the source.
async fn cancel_locked(
    tx: &mut Tx,
    m: Move,
    row: TenantRow,
    step: MoveStep,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Stepped, StoreError> {
    shards::release_slots(tx, std::slice::from_ref(&m.to)).await?;
    let by_why = Some((step.by.as_str(), step.reason.as_str()));
    let moved = store::set_phase(tx, m.id, MovePhase::Cancelled, by_why, now).await?;
    write_step(tx, row, &moved, step, None, now, rules).await?;
    Ok(Stepped {
        moved,
        changed: true,
    })
}

/// A move and its tenant, locked.
enum Locked {
    Live(Move, TenantRow),
    /// The tenant was deleted meanwhile: the move is cancelled, the step refused.
    Gone(Move, TenantRow, Refusal),
    NotFound(Refusal),
}

/// The move, its tenant locked first (the order every writer locks in), the move read again
/// under the lock and the tenant loaded. A move whose tenant was deleted meanwhile is
/// cancelled, and the step refused (with the move and the row, so that the refusal is
/// recorded in the tenant's history).
async fn locked(
    tx: &mut Tx,
    id: MoveId,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Locked, StoreError> {
    let not_found = || Locked::NotFound(Refusal::NotFound(format!("no move {id}")));
    let Some(m) = store::get(&mut **tx, id).await? else {
        return Ok(not_found());
    };
    tenants::lock(tx, &[m.tenant_id]).await?;
    let Some(m) = store::get(&mut **tx, id).await? else {
        return Ok(not_found());
    };
    let Some(row) = load(tx, m.tenant_id).await? else {
        return Ok(Locked::NotFound(Refusal::NotFound(format!(
            "move {id} is of tenant {}, which the catalog has no row of: run `tenant-catalog verify`",
            m.tenant_id
        ))));
    };
    if !row.is_deleted() {
        return Ok(Locked::Live(m, row));
    }
    let why = "the tenant was deleted before the move ended";
    store::cancel_running(tx, &[m.tenant_id], by, why, now).await?;
    let refusal = Refusal::Conflict(format!(
        "tenant {} is deleted: move {id} is cancelled",
        m.tenant_id
    ));
    Ok(Locked::Gone(m, row, refusal))
}

async fn load(tx: &mut Tx, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
    Ok(tenants::load_many(&mut **tx, &[id]).await?.remove(&id))
}

/// Records a refused step in the tenant's history, with why, and answers the refusal.
async fn refuse(
    tx: &mut Tx,
    row: TenantRow,
    step: MoveStep,
    refusal: Refusal,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Result<Stepped, Refusal>, StoreError> {
    let step = MoveStep {
        refused: Some(refusal.to_string()),
        ..step
    };
    let event = own_event(row.id(), EventKind::AdminMove(step), now);
    record_own(tx, &event, Some(row), None, now, rules).await?;
    Ok(Err(refusal))
}

/// Writes a step carried out: its event, folded with the tenant's history, and the tenant's
/// new routing (the status of the move's phase; `placement` once done) in the same version.
async fn write_step(
    tx: &mut Tx,
    row: TenantRow,
    m: &Move,
    step: MoveStep,
    placement: Option<Placement>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let note = MoveNote::of(m, &step.by, &step.reason);
    tracing::info!(
        tenant_id = %m.tenant_id,
        move_id = %m.id,
        phase = %m.phase,
        from = %m.from,
        to = %m.to,
        "A move took a step."
    );
    let event = own_event(row.id(), EventKind::AdminMove(step), now);
    let routing = Routing { note, placement };
    record_own(tx, &event, Some(row), Some(routing), now, rules).await?;
    Ok(())
}
