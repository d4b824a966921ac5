//! Step 4: placing the tenants that wait for a shard, writing the rows that changed with a
//! new version, and queueing one change message per new version, all in the caller's
//! transaction.

use super::judge::Refolded;
use super::receipt::receipt;
use super::{Cause, Change, Routing};
use crate::catalog::events::{Delivered, NewEvent};
use crate::catalog::moves::{self, Move};
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx, events, outbox, receipts, shards};
use crate::domain::{
    BaseDomain, EventId, MoveId, MoveOrigin, MovePhase, Placement, Residency, RouteStatus, ShardId,
    TenantId,
};
use crate::feed::change::{ChangeMessage, MoveNote};
use crate::lifecycle::cause::Deletion;
use crate::lifecycle::{Event, EventKind, Lifecycle, MoveStep, MoveStepKind, Outcome};
use crate::moves::SERVICE;
use crate::snapshot::TenantSnapshot;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// A row to write, with what the write must also do.
struct NextRow {
    row: TenantRow,
    cause: String,
    previous: Option<TenantRow>,
    deletion: Option<Deletion>,
}

/// Places, persists and publishes the refolded tenants whose row changed, and those a move
/// step routes anew (`routed`).
pub(super) async fn persist(
    tx: &mut Tx,
    refolded: Vec<Refolded>,
    routed: &HashMap<TenantId, Routing>,
    now: DateTime<Utc>,
    base: &BaseDomain,
) -> Result<Vec<Change>, StoreError> {
    // A tenant without a site (its claim lost to an earlier one) waits for a rename, not a shard.
    let mut waiting: Vec<&Refolded> = refolded
        .iter()
        .filter(|r| r.tenant.lifecycle != Lifecycle::Deleted && r.tenant.site.is_some())
        .filter(|r| kept_placement(r).is_none())
        .collect();
    // Tenants that will be served once placed (shown PROVISIONING) take the free slots before
    // suspended or deactivated ones; otherwise the batch's order stands.
    waiting.sort_by_key(|r| !r.tenant.shown_state(true).serving());
    let wanted: Vec<(TenantId, Residency)> =
        waiting.iter().map(|r| (r.id, r.tenant.residency)).collect();
    let mut placed = shards::claim_slots(tx, &wanted).await?;
    // A tenant created again after it was withdrawn goes on from its last version.
    let created: Vec<TenantId> = refolded
        .iter()
        .filter(|r| r.stored.is_none())
        .map(|r| r.id)
        .collect();
    let earlier = tenants::withdrawn_versions(tx, &created).await?;
    let mut next: Vec<NextRow> = refolded
        .into_iter()
        .filter_map(|r| {
            let routing = routed.get(&r.id);
            let placement = routing
                .and_then(|g| g.placement.clone())
                .or_else(|| kept_placement(&r))
                .or_else(|| placed.remove(&r.id));
            let (last, epoch) = r
                .stored
                .as_ref()
                .map(|s| (s.version, s.epoch))
                .or_else(|| earlier.get(&r.id).copied())
                .unwrap_or((0, 0));
            next_row(r, placement, last, epoch, routing)
        })
        .collect();
    // A move step's note, unless the same version starts a residency move, whose start it
    // then announces.
    let mut moved: HashMap<TenantId, MoveNote> = next
        .iter()
        .filter_map(|n| Some((n.row.id(), routed.get(&n.row.id())?.note.clone())))
        .collect();
    moved.extend(start_residency_moves(tx, &mut next, now).await?);
    let receipts = write(tx, &next, now).await?;
    publish(tx, &next, &moved, &receipts, now, base).await
}

/// Tenants whose residency (learnt later) no longer allows the region they are on (CONTRACT.md
/// section 8): a move with origin `residency` starts to the shard placement would choose, its
/// slot taken there, and the route stays on the source with status `MOVING` until the data
/// plane advances the move like any other. A running move to a region the residency allows is
/// left to finish; one to a forbidden region is cancelled first. Each start is recorded in the
/// tenant's history (`admin.move_requested` by `tenant-catalog`), and the row gets the raised
/// epoch before it is written. With no room anywhere allowed, the tenant stays where it is.
async fn start_residency_moves(
    tx: &mut Tx,
    next: &mut [NextRow],
    now: DateTime<Utc>,
) -> Result<HashMap<TenantId, MoveNote>, StoreError> {
    let mut notes = HashMap::new();
    for n in next.iter_mut() {
        if let Some(note) = residency_move(tx, n, now).await? {
            notes.insert(n.row.id(), note);
        }
    }
    Ok(notes)
}

/// The residency move one row needs, started, with the row routed `MOVING` under a raised
/// epoch; `None` when it needs none (or no shard has room for it).
async fn residency_move(
    tx: &mut Tx,
    n: &mut NextRow,
    now: DateTime<Utc>,
) -> Result<Option<MoveNote>, StoreError> {
    let t = &n.row.tenant;
    let Some(from) = n.row.placement.clone() else {
        return Ok(None);
    };
    let allowed = t.residency.allowed_regions();
    if n.row.is_deleted() || t.site.is_none() || allowed.contains(&from.region) {
        return Ok(None);
    }
    let (tenant, residency) = (n.row.id(), t.residency);
    let reason = format!(
        "residency `{residency}` does not allow region {}",
        from.region
    );
    if let Some(running) = moves::running_of(&mut **tx, tenant).await? {
        let target = shards::get(tx, &running.to).await?;
        if target.is_some_and(|s| allowed.contains(&s.region)) {
            return Ok(None);
        }
        moves::cancel_running(tx, &[tenant], SERVICE, &reason, now).await?;
    }
    let claimed = shards::claim_slots(tx, &[(tenant, residency)]).await?;
    let Some(to) = claimed.get(&tenant) else {
        tracing::warn!(tenant_id = %tenant, %reason, "No shard with room in a region the residency allows: the tenant stays where it is.");
        return Ok(None);
    };
    let (m, event) = begin_move(tx, tenant, &from.shard, &to.shard, &reason, now).await?;
    n.row.route_status = RouteStatus::Moving;
    raise_epoch(&mut n.row, n.previous.as_ref());
    n.row.caused_by = Some(event.as_uuid());
    Ok(Some(MoveNote::of(&m, SERVICE, &reason)))
}

/// Records a residency move from `from` to `to` (its target's slot taken already): the move
/// row, and its start in the tenant's history, judged `applied` as the fold judges any carried
/// out move step. Returns the move and the history event's id.
async fn begin_move(
    tx: &mut Tx,
    tenant: TenantId,
    from: &ShardId,
    to: &ShardId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(Move, EventId), StoreError> {
    let m = Move {
        id: MoveId::from_uuid(Uuid::new_v4()),
        tenant_id: tenant,
        from: from.clone(),
        to: to.clone(),
        phase: MovePhase::Copying,
        requested_by: SERVICE.to_owned(),
        reason: reason.to_owned(),
        origin: MoveOrigin::Residency,
        deadline_at: None,
        cancelled_by: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    moves::insert(tx, &m).await?;
    let step = MoveStep {
        step: MoveStepKind::Requested,
        by: SERVICE.to_owned(),
        reason: reason.to_owned(),
        move_id: m.id,
        from: Some(m.from.clone()),
        to: m.to.clone(),
        phase: MovePhase::Copying,
        refused: None,
    };
    let event = Event {
        id: EventId::from_uuid(Uuid::new_v4()),
        tenant_id: tenant,
        occurred_at: now,
        sequence: None,
        kind: EventKind::AdminMove(step),
    };
    let data = event.kind.own_data().unwrap_or_default();
    let stored = NewEvent {
        event: &event,
        data: &data,
    };
    let delivered = Delivered {
        event: &stored,
        deliveries: 1,
    };
    events::insert_judged(tx, &[(delivered, Outcome::Applied)], now).await?;
    Ok((m, event.id))
}

/// The stored placement, while the tenant holds a site (CONTRACT.md section 8: a tenant whose
/// claim lost to an earlier one gives its slot up). A residency learnt later that forbids the
/// region does not move the tenant here: a move does ([`start_residency_moves`]). A deleted
/// tenant keeps the placement it had.
fn kept_placement(r: &Refolded) -> Option<Placement> {
    let placement = r.stored.as_ref()?.placement.clone()?;
    (r.tenant.lifecycle == Lifecycle::Deleted || r.tenant.site.is_some()).then_some(placement)
}

/// The new version of a tenant's row (after `last`, 0 for a new tenant; its epoch goes on from
/// `epoch`), unless it says what the stored row says and no move step routes it anew. A move
/// step's route status comes under a raised epoch.
fn next_row(
    r: Refolded,
    placement: Option<Placement>,
    last: i64,
    epoch: i64,
    routing: Option<&Routing>,
) -> Option<NextRow> {
    let mut row = TenantRow::project_over(&r.tenant, placement, r.stored.as_ref(), epoch);
    if let Some(g) = routing {
        row.route_status = g.note.phase.route_status();
        raise_epoch(&mut row, r.stored.as_ref());
    }
    // A tenant with no site (deleted, or its claim lost) has no running move: `write` cancels
    // it, so its route is ONLINE again, under a raised epoch (CONTRACT.md section 8).
    if r.tenant.site.is_none() && row.route_status != RouteStatus::Online {
        row.route_status = RouteStatus::Online;
        raise_epoch(&mut row, r.stored.as_ref());
    }
    if routing.is_none() && r.stored.as_ref().is_some_and(|s| s.same_content(&row)) {
        return None;
    }
    let (caused_by, cause) = match (&r.cause, r.last_fired) {
        (Cause::Event { id, event_type }, _) => (Some(id.as_uuid()), event_type.to_string()),
        (Cause::Scheduler, Some((timer, at))) => {
            // A timer has no event id; the same firing always gets the same derived one.
            let name = format!("{}/{timer}/{}", r.id, at.to_rfc3339());
            (
                Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())),
                timer.to_string(),
            )
        }
        (Cause::Scheduler, None) => (None, "placement".to_owned()),
        (Cause::Repair, _) => (None, "rebuild".to_owned()),
        (Cause::SiteClaim(by), _) => (by.map(|e| e.as_uuid()), "site claim".to_owned()),
    };
    row.version = last + 1;
    row.caused_by = caused_by;
    Some(NextRow {
        row,
        cause,
        previous: r.stored,
        deletion: r.deletion,
    })
}

/// Raises the row's epoch over the stored one, once whatever asks for it: a route that changes
/// status or shard is a new epoch (CONTRACT.md section 7).
fn raise_epoch(row: &mut TenantRow, stored: Option<&TenantRow>) {
    if stored.is_none_or(|s| row.epoch <= s.epoch) {
        row.epoch += 1;
    }
}

/// Writes the rows, their old hosts, and what a deletion frees, cancels and purges; returns the
/// receipts of the deletions carried out.
async fn write(
    tx: &mut Tx,
    next: &[NextRow],
    now: DateTime<Utc>,
) -> Result<HashMap<TenantId, Value>, StoreError> {
    // A deletion carried out now frees its slot and purges; a re-placement frees the old slot.
    // A row of a tenant deleted before is only rewritten.
    let newly_deleted =
        |n: &NextRow| n.row.is_deleted() && !n.previous.as_ref().is_some_and(TenantRow::is_deleted);
    let deleted: Vec<&NextRow> = next.iter().filter(|n| newly_deleted(n)).collect();
    let freed: Vec<ShardId> = next
        .iter()
        .filter_map(|n| {
            let before = n.previous.as_ref()?.placement.as_ref()?;
            let moved = n.row.placement.as_ref() != Some(before);
            (newly_deleted(n) || moved).then(|| before.shard.clone())
        })
        .collect();
    shards::release_slots(tx, &freed).await?;
    tenants::save(tx, next.iter().map(|n| &n.row)).await?;
    for n in next {
        let old_sites_changed = n
            .previous
            .as_ref()
            .map_or(!n.row.tenant.old_sites.is_empty(), |s| {
                s.tenant.old_sites != n.row.tenant.old_sites
            });
        if old_sites_changed {
            tenants::save_old_sites(tx, &n.row).await?;
        }
    }
    // A deleted tenant is never refolded again, so its events are not read again.
    let purged: Vec<TenantId> = deleted.iter().map(|n| n.row.id()).collect();
    // A tenant deleted now has nothing left to move; nor has one that lost its site.
    let why = "the tenant was deleted before the move ended";
    moves::cancel_running(tx, &purged, SERVICE, why, now).await?;
    let unsited: Vec<TenantId> = next
        .iter()
        .filter(|n| !n.row.is_deleted() && n.row.tenant.site.is_none())
        .filter(|n| n.previous.as_ref().is_some_and(|p| p.tenant.site.is_some()))
        .map(|n| n.row.id())
        .collect();
    let why = "the tenant lost its site to an earlier claim of another tenant";
    moves::cancel_running(tx, &unsited, SERVICE, why, now).await?;
    // The receipt proves what the history held, so it is taken before the purge.
    let digests = receipts::digest_histories(tx, &purged).await?;
    let written: Vec<(TenantId, DateTime<Utc>, Value)> = deleted
        .iter()
        .map(|n| {
            let id = n.row.id();
            let r = receipt(&n.row, n.deletion.as_ref(), digests.get(&id));
            // A struct of plain fields: serialising it cannot fail.
            (
                id,
                r.deleted_at,
                serde_json::to_value(&r).unwrap_or_default(),
            )
        })
        .collect();
    receipts::insert(tx, &written).await?;
    events::purge_personal_data(tx, &purged).await?;
    Ok(written.into_iter().map(|(id, _, r)| (id, r)).collect())
}

/// Queues one change message per new version; returns the changes.
async fn publish(
    tx: &mut Tx,
    next: &[NextRow],
    moved: &HashMap<TenantId, MoveNote>,
    receipts: &HashMap<TenantId, Value>,
    now: DateTime<Utc>,
    base: &BaseDomain,
) -> Result<Vec<Change>, StoreError> {
    let mut changes = Vec::with_capacity(next.len());
    let mut messages = Vec::with_capacity(next.len());
    for n in next {
        let previous_state = n.previous.as_ref().map(|p| p.state);
        let snapshot = TenantSnapshot::new(n.row.clone(), base);
        tracing::debug!(
            tenant_id = %n.row.id(),
            version = n.row.version,
            state = %n.row.state,
            caused_by = ?n.row.caused_by,
            cause = %n.cause,
            "A tenant changed; its change message is queued."
        );
        let mut message = match moved.get(&n.row.id()) {
            Some(note) => ChangeMessage::step(&snapshot, previous_state, note, now),
            None => ChangeMessage::new(&snapshot, previous_state, &n.cause, now),
        };
        if let Some(receipt) = receipts.get(&n.row.id()) {
            message = message.with_receipt(receipt);
        }
        messages.push(message.queued());
        changes.push(Change {
            tenant_id: n.row.id(),
            previous_state,
            state: Some(n.row.state),
            version: n.row.version,
        });
    }
    outbox::enqueue(tx, &messages).await?;
    Ok(changes)
}
