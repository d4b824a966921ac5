//! The query root: tenants, routes and shards.

use super::lookup::{self, parse_host, parse_id};
use super::states::TenantState;
use super::types::{Route, Shard, Tenant};
use super::{Context, bad_input, internal, past};
use crate::catalog::tenants::TenantRow;
use crate::catalog::{shards, tenants};
use crate::domain::{Region, TenantId};
use crate::lifecycle::ShownState;
use crate::snapshot::TenantSnapshot;
use crate::untrusted::quoted;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{ID, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Page size of `tenants` when `first` is not given, and the most it may ask for.
pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

pub struct Query;

fn ctx<'a>(ctx: &async_graphql::Context<'a>) -> &'a Context {
    ctx.data_unchecked::<Context>()
}

impl Context {
    fn tenant(&self, row: TenantRow) -> Tenant {
        Tenant::now(TenantSnapshot::new(row, &self.rules.base))
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>> {
        let row = tenants::get(&self.db, id).await.map_err(internal)?;
        Ok(row.map(|r| self.tenant(r)))
    }
}

#[Object]
impl Query {
    /// A tenant by id; null when unknown. With `asOf`, the tenant as its events made it at
    /// that instant (events that occurred by then, timers due by then); with `knownAt`, as the
    /// catalog knew it then (events received by then). Give at most one; each costs a history
    /// read (docs/graphql.md, "The past").
    async fn tenant(
        &self,
        c: &async_graphql::Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Tenant>> {
        let id = parse_id(&id, "id")?;
        match past::when(as_of, known_at)? {
            Some(when) => past::tenant(ctx(c), id, when).await,
            None => ctx(c).tenant_by_id(id).await,
        }
    }

    /// A tenant by host: its current host, or the old host of a renamed tenant.
    async fn tenant_by_host(
        &self,
        c: &async_graphql::Context<'_>,
        host: String,
    ) -> Result<Option<Tenant>> {
        let cx = ctx(c);
        let site = parse_host(&cx.rules.base, &host)?;
        match cx.router.tenant_of_site(&site).await.map_err(internal)? {
            Some(id) => cx.tenant_by_id(id).await,
            None => Ok(None),
        }
    }

    /// Where to send a tenant's requests, by tenant id or by host (give exactly one). Null for
    /// unknown, PROVISIONING and DELETED tenants. Answered from an in-process cache kept fresh
    /// by change notifications.
    /// With `asOf` or `knownAt`, where they went at that instant, as `tenant` tells it (a
    /// host is found by today's hosts and old hosts); not cached, a history read each.
    async fn route(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_id: Option<ID>,
        host: Option<String>,
        as_of: Option<DateTime<Utc>>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Route>> {
        let cx = ctx(c);
        let router = &cx.router;
        if let Some(when) = past::when(as_of, known_at)? {
            let id = match (tenant_id, host) {
                (Some(id), None) => Some(parse_id(&id, "tenantId")?),
                (None, Some(host)) => {
                    let site = parse_host(&cx.rules.base, &host)?;
                    router.tenant_of_site(&site).await.map_err(internal)?
                }
                _ => return Err(bad_input("give exactly one of `tenantId` and `host`")),
            };
            return match id {
                Some(id) => past::route(cx, id, when).await,
                None => Ok(None),
            };
        }
        lookup::route(router, tenant_id, host).await
    }

    /// The routes of many tenants in one round trip, in the order asked (null where `route`
    /// would be null). At most `GRAPHQL_MAX_ROUTE_IDS` ids (default 100).
    async fn routes(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
    ) -> Result<Vec<Option<Route>>> {
        let cx = ctx(c);
        lookup::routes(&cx.router, &tenant_ids, cx.max_route_ids).await
    }

    /// Tenants in id order, a page at a time (Relay connection; `first` at most 100).
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
        let region = region
            .map(|r| r.parse::<Region>())
            .transpose()
            .map_err(|e| bad_input(format!("region: {}", e.0)))?;
        let after = after.as_deref().map(decode_cursor).transpose()?;
        let filter = tenants::Filter {
            state: state.map(ShownState::from),
            region,
            shard_id: shard,
        };
        let cx = ctx(c);
        let mut rows = tenants::page(&cx.db, &filter, after, i64::from(first) + 1)
            .await
            .map_err(internal)?;
        let has_next = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(encode_cursor(row.id().as_uuid()), cx.tenant(row))),
        );
        Ok(connection)
    }

    /// Shards with their fill, by id; optionally of one region.
    async fn shards(
        &self,
        c: &async_graphql::Context<'_>,
        region: Option<String>,
    ) -> Result<Vec<Shard>> {
        let region = match region.map(|r| r.parse::<Region>()) {
            // No shard is in a region the contract does not name.
            Some(Err(_)) => return Ok(Vec::new()),
            parsed => parsed.and_then(Result::ok),
        };
        let rows = shards::list(&ctx(c).db, region).await.map_err(internal)?;
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
        .ok_or_else(|| {
            bad_input(format!(
                "`after` is not a cursor from this API: {}",
                quoted(cursor, 64)
            ))
        })
}
