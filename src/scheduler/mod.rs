//! The scheduler: fires due timers, places tenants that wait for a shard, cancels moves past
//! their deadline, and starts the moves of draining shards.
//!
//! Each tick refolds the tenants whose next timer is due. A refold re-reads the tenant's
//! events and state inside its transaction, so firing twice (two instances, a retry) changes
//! nothing the second time, and publishes nothing twice.

mod rounds;

use crate::apply;
use crate::catalog::{Db, Doing, StoreError, tenants};
use crate::domain::MovePhase;
use crate::domain::Rules;
use crate::lifecycle::ShownState;
use crate::metrics::Metrics;
use crate::moves::MoveMetrics;
use chrono::Utc;
use prometheus::{Gauge, IntCounter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Tenants refolded per transaction.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct Scheduler {
    pub db: Db,
    pub rules: Rules,
    pub interval: Duration,
    pub metrics: SchedulerMetrics,
    pub changes: Arc<Notify>,
}

/// What the scheduler counts.
#[derive(Clone)]
pub struct SchedulerMetrics {
    /// How late the most overdue timer is, as last seen (0 when none is due).
    pub lag: Gauge,
    pub timers_fired: IntCounter,
    pub tenants_placed: IntCounter,
    /// Rounds finished: how an operator (or a test) sees that the scheduler went round.
    pub rounds: IntCounter,
    pub moves: MoveMetrics,
}

impl SchedulerMetrics {
    pub fn new(m: &Metrics, moves: MoveMetrics) -> Self {
        SchedulerMetrics {
            lag: m.float_gauge(
                "tenant_catalog_scheduler_lag_seconds",
                "How long the most overdue timer has been due, at the scheduler's last tick (0 when none is).",
            ),
            timers_fired: m.counter(
                "tenant_catalog_timers_fired_total",
                "Tenants changed by a timed transition.",
            ),
            tenants_placed: m.counter(
                "tenant_catalog_tenants_placed_total",
                "Waiting tenants placed by the scheduler.",
            ),
            rounds: m.counter(
                "tenant_catalog_scheduler_rounds_total",
                "Scheduler rounds finished (timers, placements, moves), on this process.",
            ),
            moves,
        }
    }
}

/// Ticks every `interval` until `shutdown`. A tick in progress always finishes.
pub async fn run_scheduler(s: Scheduler, shutdown: CancellationToken) {
    loop {
        if let Err(error) = tick(&s).await {
            tracing::warn!(%error, "A scheduler tick failed; trying again next tick.");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(s.interval) => {}
        }
    }
    tracing::info!("The scheduler stopped.");
}

/// Fires every due timer and places every waiting tenant that now fits.
#[tracing::instrument(level = "debug", name = "Scheduler round", skip_all)]
pub async fn tick(s: &Scheduler) -> Result<(), StoreError> {
    s.metrics.lag.set(tenants::timer_lag(&s.db).await?);
    loop {
        let (claimed, changed) = refold_batch(s, Work::DueTimers).await?;
        s.metrics.timers_fired.inc_by(changed);
        if claimed < BATCH as usize {
            break;
        }
    }
    place_waiting(s).await?;
    let cancelled = rounds::cancel_overdue(&s.db, &s.rules, BATCH).await?;
    s.metrics.moves.expired.inc_by(cancelled);
    let drained = rounds::drain_round(&s.db, &s.rules).await?;
    let resided = rounds::residency_round(&s.db, &s.rules, BATCH).await?;
    s.metrics
        .moves
        .stepped(MovePhase::Copying, drained.started + resided);
    for (shard, remaining) in &drained.remaining {
        s.metrics
            .moves
            .drain_remaining
            .with_label_values(&[shard.as_str()])
            .set(*remaining);
    }
    if drained.stuck > 0 {
        tracing::warn!(
            tenants = drained.stuck,
            "Tenants of a draining shard found no shard with room in a region their residency allows; add capacity."
        );
    }
    s.metrics.rounds.inc();
    Ok(())
}

/// Places tenants waiting for a shard, as long as some shard has room for them. Returns how
/// many were placed. Run every tick, and at once when an admin adds room.
#[tracing::instrument(level = "debug", name = "Placing waiting tenants", skip_all)]
pub async fn place_waiting(s: &Scheduler) -> Result<u64, StoreError> {
    let mut placed = 0;
    // Stop once a batch places nobody (no room left).
    loop {
        let (claimed, changed) = refold_batch(s, Work::Waiting).await?;
        s.metrics.tenants_placed.inc_by(changed);
        placed += changed;
        if claimed < BATCH as usize || changed == 0 {
            return Ok(placed);
        }
    }
}

#[derive(Clone, Copy)]
enum Work {
    DueTimers,
    Waiting,
}

/// Refolds one batch in one transaction. Returns how many tenants it claimed and changed.
async fn refold_batch(s: &Scheduler, work: Work) -> Result<(usize, u64), StoreError> {
    let now = Utc::now();
    let mut tx =
        s.db.begin()
            .await
            .doing(|| "starting a scheduler transaction".into())?;
    let ids = match work {
        Work::DueTimers => tenants::claim_due(&mut tx, now, BATCH).await?,
        Work::Waiting => tenants::claim_waiting(&mut tx, BATCH).await?,
    };
    // `refold` takes the tenant locks in the consumer's order. The rows claimed above are
    // locked before these, the opposite of the consumer, so a deadlock is possible: PostgreSQL
    // aborts one side and it retries (the consumer at once, the scheduler next tick).
    let changes = apply::refold(&mut tx, &ids, now, &s.rules).await?;
    let changed = changes
        .iter()
        .filter(|c| match work {
            Work::DueTimers => true,
            Work::Waiting => {
                let waiting = ShownState::Provisioning;
                c.previous_state == Some(waiting) && c.state != Some(waiting)
            }
        })
        .count() as u64;
    tx.commit()
        .await
        .doing(|| "committing fired timers".into())?;
    if changed > 0 {
        s.changes.notify_one();
        tracing::info!(changed, kind = ?std::mem::discriminant(&work), "The scheduler changed tenants.");
    }
    Ok((ids.len(), changed))
}
