//! What a move may do, decided from what the catalog holds: pure, so every refusal is tested
//! without a database.

use crate::catalog::moves::Move;
use crate::catalog::shards::ShardRow;
use crate::catalog::tenants::TenantRow;
use crate::domain::{MovePhase, Residency, ShardId, ShardStatus};
use crate::lifecycle::{MoveStep, MoveStepKind};

/// Why a move step is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such tenant, move or shard.
    #[error("{0}")]
    NotFound(String),
    /// The step conflicts with what the catalog holds: the text says what and what to do.
    #[error("{0}")]
    Conflict(String),
}

/// Why `row` may not start a move to `target` (`None`: no such shard), given the move of the
/// tenant that is running, if any. `None` when it may; the slot on the target is then still to
/// be taken (a concurrent placement may take it first).
pub fn refuse_start(
    row: &TenantRow,
    to: &ShardId,
    target: Option<&ShardRow>,
    running: Option<&Move>,
) -> Option<Refusal> {
    let id = row.id();
    if row.is_deleted() {
        return Some(Refusal::Conflict(format!(
            "tenant {id} is DELETED: it has nothing left to move"
        )));
    }
    let Some(placement) = row.placement.as_ref() else {
        return Some(Refusal::Conflict(format!(
            "tenant {id} is not placed yet (PROVISIONING): it goes to a shard with room as soon as one has"
        )));
    };
    if let Some(m) = running {
        return Some(Refusal::Conflict(format!(
            "move {} of tenant {id} is already running (phase {}, to shard {}): advance or cancel it first",
            m.id, m.phase, m.to
        )));
    }
    let Some(target) = target else {
        return Some(Refusal::NotFound(format!(
            "no shard {to}: see GET /admin/v1/shards"
        )));
    };
    if placement.shard == target.id {
        return Some(Refusal::Conflict(format!(
            "tenant {id} is on shard {to} already"
        )));
    }
    let residency = row.tenant.residency;
    if !residency.allowed_regions().contains(&target.region) {
        let allowed: Vec<&str> = residency
            .allowed_regions()
            .iter()
            .map(|r| r.as_str())
            .collect();
        return Some(Refusal::Conflict(format!(
            "shard {to} is in region {}, which residency `{residency}` does not allow (allowed: {})",
            target.region,
            allowed.join(", ")
        )));
    }
    if target.status == ShardStatus::Draining {
        return Some(Refusal::Conflict(format!(
            "shard {to} is draining: it takes no tenants"
        )));
    }
    if target.tenant_count >= target.capacity {
        return Some(Refusal::Conflict(format!(
            "shard {to} is full ({} of {}): raise its capacity or choose another shard",
            target.tenant_count, target.capacity
        )));
    }
    None
}

/// The phase `advance` takes the move to, when the caller says which phase it expects
/// (`wanted`) or not. `Ok(None)`: the move is in `wanted` already (a retried call), nothing to
/// do.
pub fn advance_to(m: &Move, wanted: Option<MovePhase>) -> Result<Option<MovePhase>, Refusal> {
    let Some(next) = m.phase.next() else {
        return Err(Refusal::Conflict(format!(
            "move {} is {}: it cannot advance",
            m.id, m.phase
        )));
    };
    match wanted {
        None => Ok(Some(next)),
        Some(w) if w == next => Ok(Some(next)),
        Some(w) if w == m.phase => Ok(None),
        Some(w) => Err(Refusal::Conflict(format!(
            "move {} is in phase {}: it can advance to {next}, not to {w}",
            m.id, m.phase
        ))),
    }
}

/// Whether the move may be cancelled: only before `done`.
pub fn refuse_cancel(m: &Move) -> Option<Refusal> {
    match m.phase {
        MovePhase::Copying | MovePhase::Cutover => None,
        MovePhase::Cancelled => Some(Refusal::Conflict(format!(
            "move {} is cancelled already",
            m.id
        ))),
        MovePhase::Done => Some(Refusal::Conflict(format!(
            "move {} is done: the tenant is on shard {}; move it back with a new move",
            m.id, m.to
        ))),
    }
}

/// Why a running move may not go on, if it may not: the tenant's `residency` (learnt since it
/// started) no longer allows the target's region, or the target is draining or gone
/// (CONTRACT.md section 8: `advance` re-checks both).
pub fn refuse_going_on(
    m: &Move,
    residency: Residency,
    target: Option<&ShardRow>,
) -> Option<String> {
    match target {
        None => Some(format!("its target shard {} no longer exists", m.to)),
        Some(s) if !residency.allowed_regions().contains(&s.region) => Some(format!(
            "residency `{residency}` does not allow the target's region {}",
            s.region
        )),
        Some(s) if s.status == ShardStatus::Draining => {
            Some(format!("its target shard {} is draining", m.to))
        }
        Some(_) => None,
    }
}

/// The history record of a step of move `m`, carried out (a refusal is added by the caller).
pub fn step_of(m: &Move, step: MoveStepKind, by: &str, reason: &str, phase: MovePhase) -> MoveStep {
    MoveStep {
        step,
        by: by.to_owned(),
        reason: reason.to_owned(),
        move_id: m.id,
        from: Some(m.from.clone()),
        to: m.to.clone(),
        phase,
        refused: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Endpoint, MoveId, MoveOrigin, Placement, Region, Residency, RouteStatus, TenantId,
    };
    use crate::lifecycle::{Lifecycle, ShownState, Tenant};
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .expect("valid time")
            .with_timezone(&Utc)
    }

    fn shard(id: &str, region: Region, capacity: i32, count: i32) -> ShardRow {
        ShardRow {
            id: ShardId::try_from(id).expect("valid id"),
            region,
            endpoint: Endpoint::try_from("https://shard.example").expect("valid endpoint"),
            capacity,
            tenant_count: count,
            status: ShardStatus::Open,
        }
    }

    fn tenant_on(shard: Option<&str>, residency: Residency, lifecycle: Lifecycle) -> TenantRow {
        let tenant = Tenant {
            id: TenantId::from_uuid(Uuid::from_u128(7)),
            lifecycle,
            suspended: false,
            site: (lifecycle != Lifecycle::Deleted).then(|| "acme".try_into().expect("site")),
            old_sites: Vec::new(),
            products: None,
            residency,
            billing_day: None,
            plan: None,
            cycle: None,
            trial_ends_at: None,
            current_period_end: None,
            cancellation_effective_at: None,
            deletion_due_at: None,
            created_at: at(),
            deleted_at: None,
            legal_hold: None,
            hold_lifted_at: None,
        };
        let placement = shard.map(|s| Placement {
            region: Region::EuCentral1,
            shard: ShardId::try_from(s).expect("valid id"),
        });
        TenantRow {
            state: if placement.is_some() {
                ShownState::Active
            } else {
                ShownState::Provisioning
            },
            tenant,
            placement,
            next_timer_at: None,
            version: 3,
            caused_by: None,
            epoch: 1,
            route_status: RouteStatus::Online,
        }
    }

    fn a_move(phase: MovePhase) -> Move {
        Move {
            id: MoveId::from_uuid(Uuid::from_u128(9)),
            tenant_id: TenantId::from_uuid(Uuid::from_u128(7)),
            from: ShardId::try_from("de-1").expect("id"),
            to: ShardId::try_from("de-2").expect("id"),
            phase,
            requested_by: "ops".into(),
            reason: "rebalance".into(),
            origin: MoveOrigin::Admin,
            deadline_at: None,
            cancelled_by: None,
            cancel_reason: None,
            created_at: at(),
            updated_at: at(),
            finished_at: None,
        }
    }

    fn conflict(r: Option<Refusal>) -> String {
        match r {
            Some(Refusal::Conflict(m)) => m,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_move_to_an_open_allowed_shard_with_room_is_allowed() {
        let row = tenant_on(Some("de-1"), Residency::Eu, Lifecycle::Active);
        let target = shard("ie-1", Region::EuWest1, 10, 9);
        assert_eq!(refuse_start(&row, &target.id, Some(&target), None), None);
    }

    #[test]
    fn every_refusal_says_why() {
        let to = ShardId::try_from("us-1").expect("id");
        let us = shard("us-1", Region::UsEast1, 10, 0);
        let row = tenant_on(Some("de-1"), Residency::Eu, Lifecycle::Active);
        assert!(conflict(refuse_start(&row, &to, Some(&us), None)).contains("does not allow"));

        let mut draining = shard("de-2", Region::EuCentral1, 10, 0);
        draining.status = ShardStatus::Draining;
        assert!(
            conflict(refuse_start(&row, &draining.id, Some(&draining), None)).contains("draining")
        );

        let full = shard("de-2", Region::EuCentral1, 4, 4);
        assert!(
            conflict(refuse_start(&row, &full.id, Some(&full), None)).contains("full (4 of 4)")
        );

        let same = shard("de-1", Region::EuCentral1, 10, 1);
        assert!(conflict(refuse_start(&row, &same.id, Some(&same), None)).contains("already"));

        let open = shard("de-2", Region::EuCentral1, 10, 0);
        let running = a_move(MovePhase::Cutover);
        assert!(
            conflict(refuse_start(&row, &open.id, Some(&open), Some(&running)))
                .contains("already running")
        );

        assert!(matches!(
            refuse_start(&row, &to, None, None),
            Some(Refusal::NotFound(_))
        ));

        let waiting = tenant_on(None, Residency::Eu, Lifecycle::Trial);
        assert!(
            conflict(refuse_start(&waiting, &open.id, Some(&open), None)).contains("not placed")
        );
        let deleted = tenant_on(Some("de-1"), Residency::Eu, Lifecycle::Deleted);
        assert!(conflict(refuse_start(&deleted, &open.id, Some(&open), None)).contains("DELETED"));
    }

    #[test]
    fn advance_goes_one_phase_and_a_retried_advance_changes_nothing() {
        let copying = a_move(MovePhase::Copying);
        assert_eq!(advance_to(&copying, None), Ok(Some(MovePhase::Cutover)));
        assert_eq!(
            advance_to(&copying, Some(MovePhase::Cutover)),
            Ok(Some(MovePhase::Cutover))
        );
        assert!(advance_to(&copying, Some(MovePhase::Done)).is_err());
        let cutover = a_move(MovePhase::Cutover);
        assert_eq!(advance_to(&cutover, Some(MovePhase::Cutover)), Ok(None));
        assert_eq!(advance_to(&cutover, None), Ok(Some(MovePhase::Done)));
        assert!(advance_to(&a_move(MovePhase::Done), None).is_err());
        assert!(advance_to(&a_move(MovePhase::Cancelled), Some(MovePhase::Done)).is_err());
    }

    #[test]
    fn only_a_running_move_can_be_cancelled() {
        assert_eq!(refuse_cancel(&a_move(MovePhase::Copying)), None);
        assert_eq!(refuse_cancel(&a_move(MovePhase::Cutover)), None);
        assert!(conflict(refuse_cancel(&a_move(MovePhase::Done))).contains("move it back"));
        assert!(refuse_cancel(&a_move(MovePhase::Cancelled)).is_some());
    }
}
