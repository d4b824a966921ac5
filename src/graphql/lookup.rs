//! The one route lookup: `route` and `routes` over a [`RouteSource`], which `serve`'s router
//! and a replica's memory both are. `serve`'s query root answers its present routes here, a
//! replica's schema is [`RouteQuery`], and the prepared lookups (`super::fast`) read the same
//! source.

use super::types::Route;
use super::{bad_input, internal};
use crate::domain::{BaseDomain, Site, TenantId};
use crate::routing::Router;
use crate::snapshot;
use crate::untrusted::quoted;
use async_graphql::{ID, Object, Result};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// Where routes are read. An error is the answer the caller gets when the source cannot give
/// one now (the catalog unreachable, a replica staler than its bound).
pub trait RouteSource: Send + Sync {
    /// The routes of `ids`, in the order asked.
    fn routes<'a>(
        &'a self,
        ids: &'a [TenantId],
    ) -> BoxFuture<'a, Result<Vec<Option<snapshot::Route>>>>;
    /// The route of the tenant whose current or old site is `site`.
    fn route_by_site<'a>(
        &'a self,
        site: &'a Site,
    ) -> BoxFuture<'a, Result<Option<snapshot::Route>>>;
    /// The base domain hosts are under.
    fn base_domain(&self) -> Result<&BaseDomain>;
    /// Whether lookups would answer now rather than fail for a reason of the source's (a
    /// replica staler than its bound): the prepared path leaves a source that would not to
    /// the executor, so that one refusal is one refusal.
    fn answering(&self) -> bool {
        true
    }
    /// Called once for each lookup the executor answers with the source's error (its
    /// `routes` and `route_by_site` count none, since the prepared path may have asked first).
    fn refused(&self) {}
}

impl RouteSource for Router {
    fn routes<'a>(
        &'a self,
        ids: &'a [TenantId],
    ) -> BoxFuture<'a, Result<Vec<Option<snapshot::Route>>>> {
        Box::pin(async move { Router::routes(self, ids).await.map_err(internal) })
    }
    fn route_by_site<'a>(
        &'a self,
        site: &'a Site,
    ) -> BoxFuture<'a, Result<Option<snapshot::Route>>> {
        Box::pin(async move { Router::route_by_site(self, site).await.map_err(internal) })
    }
    fn base_domain(&self) -> Result<&BaseDomain> {
        Ok(Router::base_domain(self))
    }
}

pub(crate) fn parse_id(id: &str, what: &str) -> Result<TenantId> {
    id.parse()
        .map_err(|_| bad_input(format!("{what} must be a UUID, got {}", quoted(id, 64))))
}

/// The ids of a `routes` request: at most `max` of them, every one a UUID.
pub(crate) fn parse_route_ids(tenant_ids: &[ID], max: usize) -> Result<Vec<TenantId>> {
    if tenant_ids.len() > max {
        return Err(bad_input(format!(
            "at most {max} tenantIds per request, got {}",
            tenant_ids.len()
        )));
    }
    tenant_ids
        .iter()
        .map(|id| parse_id(id, "every tenantId"))
        .collect()
}

/// The longest host name DNS allows.
const MAX_HOST: usize = 253;

/// A host as callers send it: `<site>.<base domain>`, in any letter case, with or without a
/// trailing dot. Anything else names no tenant and is refused before any lookup, so no
/// caller can fill the cache with hosts that cannot exist.
pub(crate) fn parse_host(base: &BaseDomain, host: &str) -> Result<Site> {
    let refuse = || {
        bad_input(format!(
            "`host` must be `<site>.{base}`, the site 3 to 63 characters of a-z, 0-9 and `-`; got {}",
            quoted(host, 80)
        ))
    };
    if host.len() > MAX_HOST {
        return Err(refuse());
    }
    base.site_of(host)
        .and_then(|site| Site::try_from(site.as_str()).ok())
        .ok_or_else(refuse)
}

/// Tells the source that the executor answered with its error.
fn refusal<T>(source: &dyn RouteSource, found: Result<T>) -> Result<T> {
    found.inspect_err(|_| source.refused())
}

/// `route`: by tenant id or by host, exactly one of them.
pub async fn route(
    source: &dyn RouteSource,
    tenant_id: Option<ID>,
    host: Option<String>,
) -> Result<Option<Route>> {
    let found = match (tenant_id, host) {
        (Some(id), None) => {
            let id = parse_id(&id, "tenantId")?;
            refusal(source, source.routes(std::slice::from_ref(&id)).await)?
                .pop()
                .flatten()
        }
        (None, Some(host)) => {
            let site = parse_host(source.base_domain()?, &host)?;
            refusal(source, source.route_by_site(&site).await)?
        }
        _ => return Err(bad_input("give exactly one of `tenantId` and `host`")),
    };
    Ok(found.map(Route))
}

/// `routes`: at most `max` ids, answered in the order asked.
pub async fn routes(
    source: &dyn RouteSource,
    tenant_ids: &[ID],
    max: usize,
) -> Result<Vec<Option<Route>>> {
    let ids = parse_route_ids(tenant_ids, max)?;
    let found = refusal(source, source.routes(&ids).await)?;
    Ok(found.into_iter().map(|r| r.map(Route)).collect())
}

/// What [`RouteQuery`] reads: the source, and `GRAPHQL_MAX_ROUTE_IDS`.
#[derive(Clone)]
pub struct Lookups {
    pub source: Arc<dyn RouteSource>,
    pub max_route_ids: usize,
}

/// The query root of a schema that only looks routes up: a replica's
/// (`graphql/replica.graphql`).
#[derive(Default)]
pub struct RouteQuery;

#[Object(name = "Query")]
impl RouteQuery {
    /// Where to send a tenant's requests, by tenant id or by host (give exactly one), as
    /// `serve` answers it. Null for unknown, PROVISIONING and DELETED tenants. From a replica,
    /// an error with `extensions.code` NOT_READY when it could be staler than its bound.
    async fn route(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_id: Option<ID>,
        host: Option<String>,
    ) -> Result<Option<Route>> {
        let l = c.data_unchecked::<Lookups>();
        route(&*l.source, tenant_id, host).await
    }

    /// The routes of many tenants, in the order asked (null where `route` would be null). At
    /// most `GRAPHQL_MAX_ROUTE_IDS` ids (default 100).
    async fn routes(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
    ) -> Result<Vec<Option<Route>>> {
        let l = c.data_unchecked::<Lookups>();
        routes(&*l.source, &tenant_ids, l.max_route_ids).await
    }
}
