//! Rebalance plans: the moves that would even out each region's shards, proposed and not
//! carried out (the plan itself is `moves::plan`).

use super::AdminState;
use super::input::{bounded, field, json_text, query};
use super::reply::Reply;
use super::views::{self, PlannedFill, PlannedMove, RebalancePlan};
use crate::catalog::moves as moves_store;
use crate::catalog::shards;
use crate::domain::{Region, ShardId, ShardStatus, TenantId};
use crate::error::ApiError;
use crate::moves::plan;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use std::collections::HashMap;

/// The query of `GET /admin/v1/rebalance`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RebalanceQuery {
    /// Only this region's shards; every region when absent.
    pub region: Option<String>,
    /// At most this many moves: 1 to 10000, default 100.
    pub max_moves: Option<i64>,
}

/// A rebalance plan: the moves that bring the fills of each region's open shards closest
/// together. Nothing is carried out; start the moves you agree with.
#[utoipa::path(
    get,
    path = "/admin/v1/rebalance",
    tag = "moves",
    params(RebalanceQuery),
    responses(
        (status = 200, description = "The moves proposed, in order, with every open shard's fill before and after", body = RebalancePlan),
        (status = 400, description = "An unknown region or parameter, or max_moves out of range", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "admin: plan a rebalance", skip_all)]
pub async fn rebalance(state: web::Data<AdminState>, req: HttpRequest) -> Result<Reply, ApiError> {
    let q: RebalanceQuery = query(&req)?;
    let region: Option<Region> = q
        .region
        .as_deref()
        .map(|r| field("region", r.parse()))
        .transpose()?;
    let max_moves = bounded("max_moves", q.max_moves.unwrap_or(100), 1, 10_000)?;
    let open: Vec<_> = shards::list(&state.db, region)
        .await?
        .into_iter()
        .filter(|s| s.status == ShardStatus::Open)
        .collect();
    let live = moves_store::live_tenants_by_shard(&state.db).await?;
    let running = moves_store::running_by_shard(&state.db).await?;
    let mut fills: Vec<plan::Fill> = open
        .iter()
        .map(|s| {
            let out = running.get(s.id.as_str()).map_or(0, |r| r.0);
            let on = live.get(s.id.as_str()).copied().unwrap_or(0);
            plan::Fill {
                id: s.id.clone(),
                region: s.region,
                capacity: s.capacity,
                taken: s.tenant_count,
                movable: i32::try_from(on - out).unwrap_or(0).max(0),
            }
        })
        .collect();
    let planned = plan::rebalance(&mut fills, usize::try_from(max_moves).unwrap_or(100));
    // Name the tenants: the first movable ones of each source, by id.
    let mut wanted: HashMap<ShardId, i64> = HashMap::new();
    for (from, _) in &planned {
        *wanted.entry(from.clone()).or_default() += 1;
    }
    let mut named: HashMap<ShardId, std::vec::IntoIter<TenantId>> = HashMap::new();
    for (shard, n) in &wanted {
        let ids: Vec<TenantId> = moves_store::movable_tenants(&state.db, shard, *n)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        named.insert(shard.clone(), ids.into_iter());
    }
    let moves = planned
        .into_iter()
        .filter_map(|(from, to)| {
            let tenant_id = named.get_mut(&from)?.next()?;
            Some(PlannedMove {
                tenant_id,
                from_shard: from,
                to_shard: to,
            })
        })
        .collect();
    let shards = open
        .iter()
        .zip(&fills)
        .map(|(s, f)| PlannedFill {
            id: s.id.clone(),
            region: s.region,
            capacity: s.capacity,
            tenants_before: s.tenant_count,
            tenants_after: f.taken,
        })
        .collect();
    Ok(Reply {
        status: StatusCode::OK,
        outcome: "read".into(),
        body: json_text(&RebalancePlan { moves, shards }),
    })
}
