//! Moving tenants between shards (CONTRACT.md section 7, "Routing epochs and moves"): what a
//! move is and may do. The steps themselves are written by the one writer
//! (`crate::apply::moving`); the scheduler's drain, residency and deadline rounds take them
//! too (`crate::scheduler`).
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
pub mod rules;

use crate::catalog::moves::Move;
use crate::domain::{MoveOrigin, MovePhase, ShardId, TenantId};
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec};
pub use rules::Refusal;

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
