//! The query root: tenants, routes and shards.

use super::types::{Route, Shard, Tenant, TenantState};
use super::{Context, bad_input, internal};
use crate::catalog::{shards, tenants};
use crate::domain::{Region, TenantId};
use crate::lifecycle::ShownState;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{ID, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Page size of `tenants` when `first` is not given, and the most it may ask for.
pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

pub struct Query;

fn uuid(id: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| bad_input(format!("{what} must be a UUID, got `{id}`")))
}

fn ctx<'a>(ctx: &async_graphql::Context<'a>) -> &'a Context {
    ctx.data_unchecked::<Context>()
}

#[Object]
impl Query {
    /// A tenant by id; null when unknown.
    async fn tenant(&self, c: &async_graphql::Context<'_>, id: ID) -> Result<Option<Tenant>> {
        let id = TenantId::from_uuid(uuid(&id, "id")?);
        let row = tenants::get(&ctx(c).db, id).await.map_err(internal)?;
        Ok(row.map(Tenant))
    }

    /// A tenant by host: its current host, or the old host of a renamed tenant.
    async fn tenant_by_host(
        &self,
        c: &async_graphql::Context<'_>,
        host: String,
    ) -> Result<Option<Tenant>> {
        let cx = ctx(c);
        let Some(id) = cx.router.tenant_of_host(&host).await.map_err(internal)? else {
            return Ok(None);
        };
        let row = tenants::get(&cx.db, TenantId::from_uuid(id))
            .await
            .map_err(internal)?;
        Ok(row.map(Tenant))
    }

    /// Where to send a tenant's requests, by tenant id or by host (give exactly one). Null for
    /// unknown, PROVISIONING and DELETED tenants. Answered from an in-process cache kept fresh
    /// by change notifications.
    async fn route(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_id: Option<ID>,
        host: Option<String>,
    ) -> Result<Option<Route>> {
        let router = &ctx(c).router;
        let route = match (tenant_id, host) {
            (Some(id), None) => router.route(uuid(&id, "tenantId")?).await,
            (None, Some(host)) => router.route_by_host(&host).await,
            _ => return Err(bad_input("give exactly one of `tenantId` and `host`")),
        };
        Ok(route.map_err(internal)?.map(Route))
    }

    /// The routes of many tenants in one round trip, in the order asked (null where `route`
    /// would be null). At most `GRAPHQL_MAX_ROUTE_IDS` ids (default 100).
    async fn routes(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
    ) -> Result<Vec<Option<Route>>> {
        let cx = ctx(c);
        if tenant_ids.len() > cx.max_route_ids {
            return Err(bad_input(format!(
                "at most {} tenantIds per request, got {}",
                cx.max_route_ids,
                tenant_ids.len()
            )));
        }
        let ids = tenant_ids
            .iter()
            .map(|id| uuid(id, "every tenantId"))
            .collect::<Result<Vec<_>>>()?;
        let routes = cx.router.routes(&ids).await.map_err(internal)?;
        Ok(routes.into_iter().map(|r| r.map(Route)).collect())
    }

    /// Tenants in id order, a page at a time (Relay connection; `first` at most 100).
    #[graphql(
        complexity = "first.unwrap_or(DEFAULT_PAGE).clamp(0, MAX_PAGE) as usize * child_complexity"
    )]
    async fn tenants(
        &self,
        c: &async_graphql::Context<'_>,
        state: Option<TenantState>,
        region: Option<String>,
        shard: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Tenant>> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(bad_input(format!(
                "`first` must be from 0 to {MAX_PAGE}, got {first}"
            )));
        }
        if let Some(region) = &region {
            region
                .parse::<Region>()
                .map_err(|e| bad_input(format!("region: {}", e.0)))?;
        }
        let after = after.as_deref().map(decode_cursor).transpose()?;
        let filter = tenants::Filter {
            state: state.map(|s| ShownState::from(s).as_str().to_owned()),
            region,
            shard_id: shard,
        };
        let mut rows = tenants::page(&ctx(c).db, &filter, after, i64::from(first) + 1)
            .await
            .map_err(internal)?;
        let has_next = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(encode_cursor(row.id), Tenant(row))),
        );
        Ok(connection)
    }

    /// Shards with their fill, by id; optionally of one region.
    async fn shards(
        &self,
        c: &async_graphql::Context<'_>,
        region: Option<String>,
    ) -> Result<Vec<Shard>> {
        let rows = shards::list(&ctx(c).db, region.as_deref())
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(Shard).collect())
    }
}

/// Cursors are opaque to callers: the tenant id, base64url-encoded.
fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| bad_input(format!("`after` is not a cursor from this API: `{cursor}`")))
}
