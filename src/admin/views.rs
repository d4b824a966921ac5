//! The JSON the admin API reads and writes, described for the OpenAPI document.

use crate::catalog::events::HistoryEntry;
use crate::catalog::moves::Move;
use crate::catalog::shards::ShardRow;
use crate::domain::{
    Endpoint, MoveId, MoveOrigin, MovePhase, Region, RouteStatus, ShardId, ShardStatus, TenantId,
};
use crate::history::Explanation;
use crate::snapshot::TenantSnapshot;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /admin/v1/tenants/{id}/deletion`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionRequest {
    /// Why: 1 to 500 characters; kept in the tenant's history with the token's `sub`.
    pub reason: String,
    /// Make the deletion due now (it is carried out at once) instead of in 15 days.
    #[serde(default)]
    pub immediate: bool,
    /// Needed to delete a tenant that is not DEACTIVATED (served, suspended or provisioning).
    #[serde(default)]
    pub force: bool,
}

/// The body of `DELETE /admin/v1/tenants/{id}/deletion`, which is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionCancel {
    /// Why: 1 to 500 characters; "no reason given" when absent.
    pub reason: Option<String>,
}

/// The body of `PUT` and `DELETE /admin/v1/tenants/{id}/hold`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why (a case or ticket reference, say): 1 to 500 characters; kept in the tenant's
    /// history with the token's `sub`.
    pub reason: String,
}

/// The body of `PUT /admin/v1/shards/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardRequest {
    /// One of the contract's regions; an existing shard's region cannot change.
    #[schema(example = "eu-west-1")]
    pub region: String,
    /// Where product services reach the shard: an http:// or https:// URL.
    #[schema(example = "https://eu-west-1-2.shards.example.net")]
    pub endpoint: String,
    /// Most tenants the shard may hold: 0 to 2147483647, never below its current fill.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub capacity: i64,
    /// `open` (takes new tenants) or `draining` (keeps its tenants, takes no new ones).
    /// Absent: `open` for a new shard, unchanged for an existing one.
    #[schema(example = "open")]
    pub status: Option<String>,
}

/// A tenant as the admin API shows it: its snapshot and, for `GET` of the tenant, its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    #[serde(flatten)]
    pub tenant: TenantSnapshot,
    /// Why the tenant is or is not served and what comes next (`GET` of the tenant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// Every event in contract order, admin actions included (`GET` of the tenant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

/// `GET /admin/v1/tenants/{id}` of an id the catalog holds events of but no tenant (CONTRACT.md
/// section 8): none of its events created one, say a rename of a tenant never created. Every
/// event is there with its judgement.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsOnlyView {
    #[schema(value_type = uuid::Uuid)]
    pub id: TenantId,
    /// Always null: no tenant exists under this id.
    #[schema(value_type = Option<String>)]
    pub state: Option<String>,
    pub serving: bool,
    /// Why there is no tenant, in a sentence.
    pub summary: String,
    /// Every event stored under this id, in contract order, each with its judgement.
    pub history: Vec<HistoryEntry>,
}

/// A shard with its fill.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShardView {
    #[schema(value_type = String)]
    pub id: ShardId,
    #[schema(value_type = String)]
    pub region: Region,
    #[schema(value_type = String)]
    pub endpoint: Endpoint,
    pub capacity: i32,
    /// Tenants placed here and not deleted.
    pub tenants: i32,
    /// `tenants / capacity` (1 for a shard of capacity 0).
    pub fill: f64,
    /// `open` or `draining`.
    #[schema(value_type = String)]
    pub status: ShardStatus,
    /// Running moves out of this shard.
    pub moving_out: i64,
    /// Running moves to this shard (their slots are counted in `tenants`).
    pub moving_in: i64,
    /// The drain an admin asked for, while the shard is draining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainView>,
}

/// A drain's progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DrainView {
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    /// Most moves out of the shard running at once.
    pub batch: i32,
    /// Live tenants still on the shard, moving ones included; 0 once drained.
    pub remaining: i64,
}

/// The body of `POST /admin/v1/shards/{id}/drain`, which is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Most moves out of the shard running at once: 1 to 1000; 10 when absent.
    #[schema(minimum = 1, maximum = 1000)]
    pub batch: Option<i64>,
}

/// One move a rebalance plan proposes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedMove {
    #[schema(value_type = uuid::Uuid)]
    pub tenant_id: TenantId,
    #[schema(value_type = String)]
    pub from_shard: ShardId,
    #[schema(value_type = String)]
    pub to_shard: ShardId,
}

/// A shard's fill before and after a rebalance plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedFill {
    #[schema(value_type = String)]
    pub id: ShardId,
    #[schema(value_type = String)]
    pub region: Region,
    pub capacity: i32,
    pub tenants_before: i32,
    pub tenants_after: i32,
}

/// The answer of `GET /admin/v1/rebalance`: moves proposed, not carried out.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RebalancePlan {
    pub moves: Vec<PlannedMove>,
    /// The open shards considered, by id.
    pub shards: Vec<PlannedFill>,
}

/// The answer of `GET /admin/v1/moves`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoveList {
    pub moves: Vec<MoveView>,
}

impl From<ShardRow> for ShardView {
    fn from(r: ShardRow) -> Self {
        let fill = if r.capacity > 0 {
            f64::from(r.tenant_count) / f64::from(r.capacity)
        } else {
            1.0
        };
        ShardView {
            id: r.id,
            region: r.region,
            endpoint: r.endpoint,
            capacity: r.capacity,
            tenants: r.tenant_count,
            fill,
            status: r.status,
            moving_out: 0,
            moving_in: 0,
            drain: None,
        }
    }
}

/// The answer of `GET /admin/v1/shards`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShardList {
    pub shards: Vec<ShardView>,
    /// Live tenants waiting for a shard with room (shown as PROVISIONING).
    pub waiting: i64,
}

/// The body of `POST /admin/v1/tenants/{id}/moves`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The shard to move the tenant to: open, with room, in a region the residency allows.
    #[schema(example = "eu-west-1-2")]
    pub to_shard: String,
    /// Why: 1 to 500 characters; kept in the tenant's history with the token's `sub`.
    pub reason: String,
    /// Cancel the move if it is not done this many seconds from now (1 to 2592000, 30 days).
    /// Absent: no deadline.
    #[schema(minimum = 1, maximum = 2592000)]
    pub deadline_seconds: Option<i64>,
}

/// The body of `POST /admin/v1/moves/{id}/advance`, which is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAdvance {
    /// The phase the data plane finished its step for: `cutover` (the copy is done) or `done`
    /// (the cutover is done). A repeat of a call that was carried out answers 200 and changes
    /// nothing. Absent: one phase on, whatever the move is in (not safe to retry).
    #[schema(example = "cutover")]
    pub phase: Option<String>,
}

/// The body of `POST /admin/v1/moves/{id}/cancel`, which is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveCancel {
    /// Why: 1 to 500 characters; "no reason given" when absent.
    pub reason: Option<String>,
}

/// A move of a tenant between shards.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoveView {
    #[schema(value_type = uuid::Uuid)]
    pub id: MoveId,
    #[schema(value_type = uuid::Uuid)]
    pub tenant_id: TenantId,
    #[schema(value_type = String)]
    pub from_shard: ShardId,
    #[schema(value_type = String)]
    pub to_shard: ShardId,
    /// `copying`, `cutover`, `done` or `cancelled`.
    #[schema(value_type = String)]
    pub phase: MovePhase,
    /// `admin`, `drain` or `residency`.
    #[schema(value_type = String)]
    pub origin: MoveOrigin,
    /// The token's `sub` of who asked, or `tenant-catalog` for moves the service started.
    pub requested_by: String,
    pub reason: String,
    /// When the move is cancelled if it is not done by then.
    pub deadline_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The tenant's routing epoch now.
    pub epoch: i64,
    /// The tenant's routing status now: ONLINE, MOVING or READ_ONLY.
    #[schema(value_type = String)]
    pub route_status: RouteStatus,
}

impl MoveView {
    pub fn new(m: Move, epoch: i64, route_status: RouteStatus) -> Self {
        MoveView {
            id: m.id,
            tenant_id: m.tenant_id,
            from_shard: m.from,
            to_shard: m.to,
            phase: m.phase,
            origin: m.origin,
            requested_by: m.requested_by,
            reason: m.reason,
            deadline_at: m.deadline_at,
            cancelled_by: m.cancelled_by,
            cancel_reason: m.cancel_reason,
            created_at: m.created_at,
            updated_at: m.updated_at,
            finished_at: m.finished_at,
            epoch,
            route_status,
        }
    }
}

/// The error body of every refusal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthenticated`, `token_replayed`,
    /// `forbidden`, `not_found`, `force_required`, `already_deleted`, `nothing_to_cancel`,
    /// `legal_hold`, `no_hold`, `shard_conflict`, `move_conflict`, `payload_too_large`,
    /// `method_not_allowed`, `catalog_unavailable`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
}
