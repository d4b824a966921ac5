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

/// A kept change message.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub tenant_id: TenantId,
    pub version: i64,
    pub changed_at: DateTime<Utc>,
    pub routing_key: String,
    pub payload: Value,
}

/// How many kept changes one read returns at most; a subscriber reads again for more.
pub const READ_LIMIT: i64 = 500;

/// The kept changes of each tenant after its version, oldest first (by version within a
/// tenant), at most [`READ_LIMIT`].
pub async fn after(db: &Db, wanted: &[(TenantId, i64)]) -> Result<Vec<Kept>, StoreError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = wanted.iter().map(|(id, _)| id.as_uuid()).collect();
    let versions: Vec<i64> = wanted.iter().map(|(_, v)| *v).collect();
    let rows = sqlx::query!(
        r#"select c.tenant_id, c.version, c.changed_at, c.routing_key, c.payload
           from unnest($1::uuid[], $2::bigint[]) as w(tenant_id, version)
           join tenant_changes c on c.tenant_id = w.tenant_id and c.version > w.version
           order by c.changed_at, c.tenant_id, c.version
           limit $3"#,
        &ids,
        &versions,
        READ_LIMIT
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the kept changes of {} tenants", ids.len()))?;
    Ok(rows
        .into_iter()
        .map(|r| Kept {
            tenant_id: TenantId::from_uuid(r.tenant_id),
            version: r.version,
            changed_at: r.changed_at,
            routing_key: r.routing_key,
            payload: r.payload,
        })
        .collect())
}

/// The last kept version of each tenant (0 for one with none).
pub async fn latest(
    db: &Db,
    tenants: &[TenantId],
) -> Result<std::collections::HashMap<TenantId, i64>, StoreError> {
    let ids: Vec<uuid::Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"select w.id as "id!", coalesce(max(c.version), 0) as "version!"
           from unnest($1::uuid[]) as w(id)
           left join tenant_changes c on c.tenant_id = w.id
           group by w.id"#,
        &ids
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the last kept versions of {} tenants", ids.len()))?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), r.version))
        .collect())
}
