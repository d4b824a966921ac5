//! The GraphQL API (CONTRACT.md section 5) at `POST /graphql`, with GraphiQL at `GET /graphql`.
//!
//! [`build_schema`] returns the schema with its limits and no data, so that `serve` and
//! `export-schema` share one definition.

pub mod cost;
mod explanation;
pub mod fast;
pub mod guard;
mod live;
pub mod lookup;
pub mod parsed;
mod past;
pub mod query;
mod states;
pub mod subscription;
pub mod types;

use crate::auth::{Scope, Verifier};
use crate::catalog::{Db, StoreError};
use crate::config::GraphqlSettings;
use crate::error::{ApiError, Code};
use crate::http::{authorization, read_body};
use crate::metrics::Metrics;
use crate::routing::Router;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::{
    EmptyMutation, EmptySubscription, ObjectType, SchemaBuilder, SubscriptionType,
};
use std::sync::Arc;
use std::time::Duration;

pub type Schema = async_graphql::Schema<query::Query, EmptyMutation, subscription::Subscription>;

/// What resolvers need.
pub struct Context {
    pub db: Db,
    pub router: Router,
    pub rules: crate::domain::Rules,
    pub max_route_ids: usize,
}

/// Deepest query accepted; the deepest useful one (`tenants.edges.node.history.reason`) is 5.
pub const MAX_DEPTH: usize = 10;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a query may run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The schema with its limits, without data. What a request may cost is the cost model's
/// ([`cost`]), checked by `POST /graphql` before the schema runs; async-graphql's own
/// complexity walk is not used, as it expands every fragment spread afresh.
pub fn build_schema(
    introspection: bool,
) -> SchemaBuilder<query::Query, EmptyMutation, subscription::Subscription> {
    limited(query::Query, subscription::Subscription, introspection)
}

/// A schema of the service (`serve`'s or a replica's) with the limits every one has.
fn limited<Q: ObjectType + 'static, S: SubscriptionType + 'static>(
    query: Q,
    subscription: S,
    introspection: bool,
) -> SchemaBuilder<Q, EmptyMutation, S> {
    let builder = async_graphql::Schema::build(query, EmptyMutation, subscription)
        .limit_depth(MAX_DEPTH)
        .limit_recursive_depth(32)
        .limit_directives(10);
    if introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The SDL that `export-schema` prints and `graphql/schema.graphql` holds.
pub fn sdl() -> String {
    build_schema(true).finish().sdl()
}

/// A replica's schema: `route` and `routes` over a route source.
pub type ReplicaSchema =
    async_graphql::Schema<lookup::RouteQuery, EmptyMutation, EmptySubscription>;

/// The schema a replica answers with: `route` and `routes` over `source`, with the limits of
/// `settings` (the same `GRAPHQL_*` as `serve`'s).
pub fn replica_schema(
    settings: &GraphqlSettings,
    source: Arc<dyn lookup::RouteSource>,
) -> ReplicaSchema {
    limited(
        lookup::RouteQuery,
        EmptySubscription,
        settings.introspection,
    )
    .data(lookup::Lookups {
        source,
        max_route_ids: settings.max_route_ids,
    })
    .finish()
}

/// The SDL of a replica's schema, which `export-schema --replica` prints and
/// `graphql/replica.graphql` holds.
pub fn replica_sdl() -> String {
    limited(lookup::RouteQuery, EmptySubscription, true)
        .finish()
        .sdl()
}

/// The schema `serve` answers with.
pub fn schema(
    settings: &GraphqlSettings,
    db: Db,
    router: Router,
    rules: crate::domain::Rules,
) -> Schema {
    build_schema(settings.introspection)
        .data(Context {
            db,
            router,
            rules,
            max_route_ids: settings.max_route_ids,
        })
        .finish()
}

/// Shared state of the GraphQL handlers: of `serve`'s schema, or of a replica's
/// (`crate::replica::server`), which answers `route` and `routes` from memory behind the same
/// token check and cost model.
pub struct GraphqlState<
    Q: ObjectType + 'static = query::Query,
    S: SubscriptionType + 'static = subscription::Subscription,
> {
    pub schema: async_graphql::Schema<Q, EmptyMutation, S>,
    pub verifier: Verifier,
    pub graphiql: bool,
    /// What one request may cost, checked before the schema sees it.
    pub limits: cost::Limits,
    pub metrics: guard::GraphqlMetrics,
    /// Parsed documents of the query texts callers repeat.
    pub parsed: parsed::ParsedCache,
    /// Where prepared lookups read routes (the router, or a replica).
    pub lookups: Arc<dyn lookup::RouteSource>,
    /// `GRAPHQL_MAX_ROUTE_IDS`, for prepared `routes` lookups.
    pub max_route_ids: usize,
}

impl<Q: ObjectType + 'static, S: SubscriptionType + 'static> GraphqlState<Q, S> {
    /// The state of the handlers of `schema`, with the limits of `settings`; prepared lookups
    /// read `lookups`.
    pub fn new(
        schema: async_graphql::Schema<Q, EmptyMutation, S>,
        settings: &GraphqlSettings,
        verifier: Verifier,
        metrics: &Metrics,
        lookups: Arc<dyn lookup::RouteSource>,
    ) -> Self {
        GraphqlState {
            schema,
            verifier,
            graphiql: settings.introspection,
            limits: cost::Limits::with_max_ids(settings.max_route_ids),
            metrics: guard::GraphqlMetrics::new(metrics),
            parsed: parsed::ParsedCache::default(),
            lookups,
            max_route_ids: settings.max_route_ids,
        }
    }
}

impl<Q: ObjectType + 'static, S: SubscriptionType + 'static> Clone for GraphqlState<Q, S> {
    fn clone(&self) -> Self {
        GraphqlState {
            schema: self.schema.clone(),
            verifier: self.verifier.clone(),
            graphiql: self.graphiql,
            limits: self.limits,
            metrics: self.metrics.clone(),
            parsed: self.parsed.clone(),
            lookups: self.lookups.clone(),
            max_route_ids: self.max_route_ids,
        }
    }
}

/// Registers `/graphql` for `serve`: queries by POST, subscriptions over a websocket at GET,
/// GraphiQL at GET otherwise.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(post::<query::Query, subscription::Subscription>))
            .route(
                web::get()
                    .guard(actix_web::guard::Header("upgrade", "websocket"))
                    .to(live::upgrade),
            )
            .route(web::get().to(graphiql::<query::Query, subscription::Subscription>)),
    );
}

/// Registers `/graphql` for the schema of query root `Q` without subscriptions (its state is
/// `GraphqlState<Q, EmptySubscription>`): a replica's.
pub fn configure_for<Q: ObjectType + 'static>(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(post::<Q, EmptySubscription>))
            .route(web::get().to(graphiql::<Q, EmptySubscription>)),
    );
}

/// An error the caller can fix, with code `BAD_USER_INPUT`.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    ApiError::bad_request(message).graphql()
}

/// A storage failure: logged in full, shown to the caller without internals.
pub fn internal(error: StoreError) -> async_graphql::Error {
    tracing::error!(%error, "A GraphQL query failed on the catalog.");
    ApiError::new(
        Code::CatalogUnavailable,
        "the catalog could not answer; try again",
    )
    .graphql()
}

#[tracing::instrument(level = "debug", name = "graphql", skip_all)]
async fn post<Q: ObjectType + 'static, S: SubscriptionType + 'static>(
    state: web::Data<GraphqlState<Q, S>>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let header = match authorization(req.headers()) {
        Ok(header) => header,
        Err(error) => return error.error_response(),
    };
    if let Err(error) = state.verifier.authorize(header, Scope::Read) {
        return ApiError::from(error).error_response();
    }
    let body = match read_body(payload, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => return ApiError::from(e).error_response(),
    };
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_request(format!(
                "the body must be a GraphQL request in JSON ({{\"query\": \"...\"}}): {e}"
            ))
            .error_response();
        }
    };
    match guard::judge(&mut request, &state.limits, &state.metrics, &state.parsed) {
        guard::Judged::Refused(refused) => return HttpResponse::Ok().json(*refused),
        guard::Judged::Prepared(prepared) => {
            if let Some(plan) = prepared.plan()
                && let Some(body) =
                    fast::answer(plan, &request, &*state.lookups, state.max_route_ids).await
            {
                state.metrics.prepared.inc();
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body);
            }
            guard::Judged::into_request(&prepared, &mut request);
        }
        guard::Judged::Ready => {}
    }
    let response = match tokio::time::timeout(TIMEOUT, state.schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
            format!("the query took longer than {} s", TIMEOUT.as_secs()),
            None,
        )]),
    };
    HttpResponse::Ok().json(response)
}

#[tracing::instrument(name = "graphiql", skip_all)]
async fn graphiql<Q: ObjectType + 'static, S: SubscriptionType + 'static>(
    state: web::Data<GraphqlState<Q, S>>,
) -> HttpResponse {
    if !state.graphiql {
        return ApiError::not_found("GraphiQL is switched off (GRAPHQL_INTROSPECTION=false)")
            .error_response();
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
}
