//! The kept change log (`tenant_changes`): every change message of a tenant, as the catalog
//! announced it. A trigger on the outbox writes it; this module only reads it.

use super::Db;
use super::error::{Doing, StoreError};
use crate::domain::{Placement, Region, RouteStatus, ShardId, TenantId};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// How the catalog routed a tenant from one change on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedAt {
    pub version: i64,
    pub changed_at: DateTime<Utc>,
    pub placement: Option<Placement>,
    pub epoch: i64,
    pub route_status: RouteStatus,
}

/// The tenant's routing in force at `at`: its last change at or before `at` (`before: true`),
/// else, for an instant before the catalog heard of it, its first change (`before: false`).
/// `None` when the log holds no change of the tenant.
pub async fn routed_at(
    db: &Db,
    tenant: TenantId,
    at: DateTime<Utc>,
) -> Result<Option<(RoutedAt, bool)>, StoreError> {
    let row = sqlx::query!(
        r#"select version, changed_at, payload, changed_at <= $2 as "before!"
           from tenant_changes where tenant_id = $1
           order by changed_at <= $2 desc,
                    case when changed_at <= $2 then changed_at end desc nulls last,
                    changed_at, version desc
           limit 1"#,
        tenant.as_uuid(),
        at
    )
    .fetch_optional(db)
    .await
    .doing(|| format!("reading the change log of tenant {tenant}"))?;
    Ok(row.map(|r| (decode(r.version, r.changed_at, &r.payload), r.before)))
}

/// The routing a change message states. A field this version cannot read routes nowhere,
/// which shows as no route rather than a wrong one.
fn decode(version: i64, changed_at: DateTime<Utc>, payload: &Value) -> RoutedAt {
    let text = |k: &str| payload.get(k).and_then(Value::as_str);
    let placement = match (text("region"), text("shard")) {
        (Some(region), Some(shard)) => region
            .parse::<Region>()
            .ok()
            .zip(ShardId::try_from(shard).ok())
            .map(|(region, shard)| Placement { region, shard }),
        _ => None,
    };
    RoutedAt {
        version,
        changed_at,
        placement,
        epoch: payload.get("epoch").and_then(Value::as_i64).unwrap_or(0),
        route_status: text("route_status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(RouteStatus::Online),
    }
}
