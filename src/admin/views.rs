//! The JSON the admin API reads and writes, described for the OpenAPI document.

use crate::catalog::events::HistoryEntry;
use crate::catalog::shards::ShardRow;
use crate::catalog::tenants::TenantRow;
use crate::lifecycle::ShownState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    /// The shown state: PROVISIONING, TRIAL, ACTIVE, CANCELLING, SUSPENDED, DEACTIVATED or DELETED.
    pub state: String,
    /// Whether product services may serve the tenant.
    pub serving: bool,
    /// The lifecycle state: TRIAL, ACTIVE, CANCELLING, DEACTIVATED or DELETED.
    pub lifecycle: String,
    pub suspended: bool,
    /// Null once deleted.
    pub site: Option<String>,
    /// Null once deleted.
    pub host: Option<String>,
    /// Hosts of earlier sites that still resolve to this tenant.
    pub old_hosts: Vec<String>,
    /// Null once deleted.
    pub products: Option<Vec<String>>,
    pub residency: String,
    /// Null while PROVISIONING.
    pub region: Option<String>,
    /// Null while PROVISIONING.
    pub shard: Option<String>,
    pub plan: Option<String>,
    pub cycle: Option<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    /// When the deletion is due (DEACTIVATED tenants).
    pub deletion_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Goes up by one with every change.
    pub version: i64,
    /// Every event in contract order, admin actions included (`GET` of the tenant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

impl TenantView {
    pub fn new(row: &TenantRow, base_domain: &str) -> Self {
        let host = |site: &String| format!("{site}.{base_domain}");
        TenantView {
            id: row.id,
            state: row.state.clone(),
            serving: ShownState::parse(&row.state).is_some_and(ShownState::serving),
            lifecycle: row.lifecycle.clone(),
            suspended: row.suspended,
            site: row.site.clone(),
            host: row.site.as_ref().map(host),
            old_hosts: row.old_sites.iter().map(host).collect(),
            products: row.products.clone(),
            residency: row.residency.clone(),
            region: row.region.clone(),
            shard: row.shard_id.clone(),
            plan: row.plan.clone(),
            cycle: row.cycle.clone(),
            trial_ends_at: row.trial_ends_at,
            current_period_end: row.current_period_end,
            cancellation_effective_at: row.cancellation_effective_at,
            deletion_due_at: row.deletion_due_at,
            created_at: row.created_at,
            deleted_at: row.deleted_at,
            version: row.version,
            history: None,
        }
    }
}

/// A shard with its fill.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShardView {
    pub id: String,
    pub region: String,
    pub endpoint: String,
    pub capacity: i32,
    /// Tenants placed here and not deleted.
    pub tenants: i32,
    /// `tenants / capacity` (1 for a shard of capacity 0).
    pub fill: f64,
    /// `open` or `draining`.
    pub status: String,
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

/// The error body of every refusal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthenticated`, `token_replayed`,
    /// `forbidden`, `not_found`, `force_required`, `already_deleted`, `nothing_to_cancel`,
    /// `shard_conflict`, `payload_too_large`, `method_not_allowed`, `catalog_unavailable`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
}
