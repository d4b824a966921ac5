//! The replica's GraphQL: `route` and `routes`, as `serve` answers them, from memory.

use super::store::{NotReady, Replica};
use crate::graphql::bad_input;
use crate::graphql::query::{parse_host, parse_id, parse_route_ids};
use crate::graphql::types::Route;
use crate::snapshot;
use async_graphql::{ErrorExtensions, ID, Object, Result};

pub struct ReplicaContext {
    pub replica: Replica,
    pub max_route_ids: usize,
}

/// `extensions.code` of an answer the replica will not give: ask `serve` instead.
pub const NOT_READY: &str = "NOT_READY";

fn not_ready(e: NotReady) -> async_graphql::Error {
    async_graphql::Error::new(e.to_string()).extend_with(|_, x| x.set("code", NOT_READY))
}

#[derive(Default)]
pub struct ReplicaQuery;

#[Object]
impl ReplicaQuery {
    /// Where to send a tenant's requests, by tenant id or by host (give exactly one), as
    /// `serve` answers it, from the replica's memory. An error with `extensions.code`
    /// NOT_READY when the replica could be staler than its bound.
    async fn route(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_id: Option<async_graphql::ID>,
        host: Option<String>,
    ) -> Result<Option<Route>> {
        let replica = &c.data_unchecked::<ReplicaContext>().replica;
        let found = match (tenant_id, host) {
            (Some(id), None) => replica.route(parse_id(&id, "tenantId")?),
            (None, Some(host)) => {
                let Some(base) = replica.base_domain() else {
                    return Err(not_ready(NotReady::Loading));
                };
                parse_host(base, &host)?;
                replica.route_by_host(&host)
            }
            _ => return Err(bad_input("give exactly one of `tenantId` and `host`")),
        };
        Ok(found.map_err(not_ready)?.map(Route))
    }

    /// The routes of many tenants, in the order asked (null where `route` would be null). At
    /// most `GRAPHQL_MAX_ROUTE_IDS` ids (default 100).
    async fn routes(
        &self,
        c: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
    ) -> Result<Vec<Option<Route>>> {
        let cx = c.data_unchecked::<ReplicaContext>();
        let ids = parse_route_ids(&tenant_ids, cx.max_route_ids)?;
        let found = cx.replica.routes(&ids).map_err(not_ready)?;
        Ok(found.into_iter().map(|r| r.map(Route)).collect())
    }
}

/// Prepared lookups ([`crate::graphql::fast`]) read the replica directly; one that is not
/// ready gives way to the executor, which answers NOT_READY.
impl crate::graphql::fast::Lookups for Replica {
    fn routes<'a>(
        &'a self,
        ids: &'a [crate::domain::TenantId],
    ) -> futures_util::future::BoxFuture<'a, Option<Vec<Option<snapshot::Route>>>> {
        let found = Replica::routes(self, ids).ok();
        Box::pin(std::future::ready(found))
    }

    fn route_by_site<'a>(
        &'a self,
        site: &'a crate::domain::Site,
    ) -> futures_util::future::BoxFuture<'a, Option<Option<snapshot::Route>>> {
        let found = self
            .tenant_of_site(site)
            .ok()
            .map(|id| id.and_then(|id| self.route(id).ok().flatten()));
        Box::pin(std::future::ready(found))
    }

    fn base_domain(&self) -> Option<&crate::domain::BaseDomain> {
        Replica::base_domain(self)
    }
}
