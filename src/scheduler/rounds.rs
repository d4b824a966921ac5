//! The rounds of moves the scheduler runs on every instance: cancelling moves past their
//! deadline, starting the moves of draining shards, and of tenants a residency left in a
//! forbidden region.

use crate::apply::moving::{cancel, start};
use crate::catalog::moves as store;
use crate::catalog::{Db, Doing, StoreError, drains, shards};
use crate::domain::{MoveOrigin, Residency, Rules, ShardId};
use crate::moves::{Request, SERVICE};
use crate::placement::Candidate;
use chrono::Utc;

/// Cancels the running moves whose deadline has passed, each in its own transaction. Returns
/// how many it cancelled. Any number of instances may run this at once: a move another one
/// cancelled first is found ended and left alone.
#[tracing::instrument(level = "debug", name = "Cancelling overdue moves", skip_all)]
pub async fn cancel_overdue(db: &Db, rules: &Rules, limit: i64) -> Result<u64, StoreError> {
    let now = Utc::now();
    let overdue = store::overdue(db, now, limit).await?;
    let mut cancelled = 0;
    for id in overdue {
        let mut tx = db
            .begin()
            .await
            .doing(|| "starting to cancel an overdue move".into())?;
        let reason = "its deadline passed before the data plane finished it";
        match cancel(&mut tx, id, SERVICE, reason, now, rules).await? {
            Ok(_) => {
                tx.commit()
                    .await
                    .doing(|| format!("committing the cancellation of move {id}"))?;
                tracing::info!(move_id = %id, "A move passed its deadline and was cancelled.");
                cancelled += 1;
            }
            // Ended meanwhile by another instance or an admin.
            Err(_) => tx
                .rollback()
                .await
                .doing(|| "leaving a move another instance ended".into())?,
        }
    }
    Ok(cancelled)
}

/// What one round of draining did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Moves started.
    pub started: u64,
    /// Tenants left on draining shards, moving or not.
    pub remaining: Vec<(ShardId, i64)>,
    /// Tenants that found no shard to go to (no room in a region their residency allows).
    pub stuck: u64,
}

/// Starts moves out of every shard an admin asked to drain, as long as fewer than its batch
/// run, each to the shard placement would choose for the tenant (lowest fill among the open
/// shards with room in a region its residency allows). Each move starts in its own
/// transaction; any number of instances may run this at once (the tenant lock and the unique
/// running move make a second start of one tenant a refusal, which is not recorded).
#[tracing::instrument(level = "debug", name = "Drain round", skip_all)]
pub async fn drain_round(db: &Db, rules: &Rules) -> Result<Drained, StoreError> {
    let mut report = Drained::default();
    let drains = drains::drains(db).await?;
    if drains.is_empty() {
        return Ok(report);
    }
    let live = store::live_tenants_by_shard(db).await?;
    let mut candidates = candidates(db).await?;
    for drain in drains {
        let on_shard = live.get(drain.shard.as_str()).copied().unwrap_or(0);
        report.remaining.push((drain.shard.clone(), on_shard));
        // One instance at a time works on a drain, so that `batch` bounds the moves running
        // out of the shard whatever the number of instances: the guard holds a transaction
        // lock on the drain until the round's starts are done.
        let mut guard = db
            .begin()
            .await
            .doing(|| format!("starting the drain round of shard {}", drain.shard))?;
        if !drains::try_lock_drain(&mut guard, &drain.shard).await? {
            continue;
        }
        let moving_out = store::running_by_shard(db)
            .await?
            .get(drain.shard.as_str())
            .map_or(0, |r| r.0);
        let room = i64::from(drain.batch) - moving_out;
        if room <= 0 {
            continue;
        }
        for (tenant, residency) in store::movable_tenants(db, &drain.shard, room).await? {
            let Ok(residency) = residency.parse() else {
                continue;
            };
            let Some(i) = crate::placement::choose(residency, &candidates)
                .and_then(|c| candidates.iter().position(|x| x.id == c.id))
            else {
                report.stuck += 1;
                continue;
            };
            let request = Request {
                tenant,
                to: candidates[i].id.clone(),
                reason: format!("drain of shard {}", drain.shard),
                by: drain.requested_by.clone(),
                origin: MoveOrigin::Drain,
                deadline: None,
            };
            let mut tx = db.begin().await.doing(|| "starting a drain move".into())?;
            match start(&mut tx, &request, Utc::now(), rules).await? {
                Ok(_) => {
                    tx.commit()
                        .await
                        .doing(|| format!("committing the drain move of tenant {tenant}"))?;
                    candidates[i].tenant_count += 1;
                    report.started += 1;
                }
                // Taken by another instance meanwhile, or the target filled up: next round.
                Err(_) => tx
                    .rollback()
                    .await
                    .doing(|| "leaving a drain move another instance made".into())?,
            }
        }
        guard
            .commit()
            .await
            .doing(|| format!("ending the drain round of shard {}", drain.shard))?;
    }
    Ok(report)
}

/// The shards with room, as placement weighs them.
async fn candidates(db: &Db) -> Result<Vec<Candidate>, StoreError> {
    Ok(shards::list(db, None)
        .await?
        .into_iter()
        .filter(|s| s.has_room())
        .map(|s| Candidate {
            id: s.id,
            region: s.region,
            capacity: s.capacity,
            tenant_count: s.tenant_count,
            open: true,
        })
        .collect())
}

/// Starts a residency move for every tenant a residency learnt later left in a region it does
/// not allow with no move out running (no shard had room when the residency was learnt, or the
/// move was cancelled), up to `limit`, each to the shard placement would choose, each in its own
/// transaction. Returns how many started; a start another instance made first is refused and
/// rolled back.
#[tracing::instrument(level = "debug", name = "Residency round", skip_all)]
pub async fn residency_round(db: &Db, rules: &Rules, limit: i64) -> Result<u64, StoreError> {
    let misplaced = store::misplaced_tenants(db, limit).await?;
    if misplaced.is_empty() {
        return Ok(0);
    }
    let mut candidates = candidates(db).await?;
    let mut started = 0;
    for (tenant, residency) in misplaced {
        let Ok(residency) = residency.parse::<Residency>() else {
            continue;
        };
        let Some(i) = crate::placement::choose(residency, &candidates)
            .and_then(|c| candidates.iter().position(|x| x.id == c.id))
        else {
            continue;
        };
        let request = Request {
            tenant,
            to: candidates[i].id.clone(),
            reason: format!("residency `{residency}` does not allow the tenant's region"),
            by: SERVICE.to_owned(),
            origin: MoveOrigin::Residency,
            deadline: None,
        };
        let mut tx = db
            .begin()
            .await
            .doing(|| "starting a residency move".into())?;
        match start(&mut tx, &request, Utc::now(), rules).await? {
            Ok(_) => {
                tx.commit()
                    .await
                    .doing(|| format!("committing the residency move of tenant {tenant}"))?;
                candidates[i].tenant_count += 1;
                started += 1;
            }
            Err(_) => tx
                .rollback()
                .await
                .doing(|| "leaving a residency move another instance made".into())?,
        }
    }
    Ok(started)
}
