//! `tenant-catalog replica`: a [`Replica`] that follows the catalog, behind `POST /graphql`
//! (`route` and `routes`, the same tokens and limits as `serve`), `/healthz`, `/readyz` (ready
//! once the snapshot is loaded and while the replica is within its staleness bound) and
//! `/metrics`.

use super::follow::{self, Credentials, FollowSettings};
use super::store::{NotReady, Replica};
use crate::auth::KeyError;
use crate::auth::Verifier;
use crate::config::Settings;
use crate::domain::{BaseDomain, Site, TenantId};
use crate::error::Code;
use crate::graphql::lookup::{RouteQuery, RouteSource};
use crate::graphql::{self, GraphqlState};
use crate::http::{self, ServerError};
use crate::metrics::Metrics;
use crate::snapshot::Route;
use actix_web::dev::Server;
use actix_web::{HttpResponse, web};
use async_graphql::ErrorExtensions;
use futures_util::future::BoxFuture;
use prometheus::IntGauge;
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why a replica could not start, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Http(#[from] ServerError),
    #[error("cannot start the replica's follower thread: {0}")]
    Follower(std::io::Error),
}

/// A built, not yet running, replica process.
pub struct ReplicaApp {
    port: u16,
    server: Server,
    replica: Replica,
    follow: FollowSettings,
    shutdown: CancellationToken,
}

#[derive(Clone)]
struct State {
    replica: Replica,
    metrics: Metrics,
    gauges: Gauges,
}

#[derive(Clone)]
struct Gauges {
    entries: IntGauge,
    routes: IntGauge,
    staleness_ms: IntGauge,
    ready: IntGauge,
    gaps_healed: IntGauge,
    resyncs: IntGauge,
    dropped_older: IntGauge,
    failures: IntGauge,
    refused: IntGauge,
    waiting: IntGauge,
}

impl Gauges {
    fn new(m: &Metrics) -> Self {
        Gauges {
            entries: m.gauge(
                "tenant_catalog_replica_entries",
                "Tenants the replica holds, deleted and withdrawn ones included.",
            ),
            routes: m.gauge(
                "tenant_catalog_replica_routes",
                "Tenants the replica has a route for.",
            ),
            staleness_ms: m.gauge(
                "tenant_catalog_replica_staleness_milliseconds",
                "Milliseconds since the catalog time up to which every change has reached the replica (the last heartbeat's watermark); -1 before the first.",
            ),
            ready: m.gauge(
                "tenant_catalog_replica_ready",
                "1 while the replica answers (snapshot loaded, within its bound for every tenant but those named as waiting), else 0.",
            ),
            gaps_healed: m.gauge(
                "tenant_catalog_replica_gaps_healed_total",
                "Tenants fetched again after one of their versions never arrived.",
            ),
            resyncs: m.gauge(
                "tenant_catalog_replica_resyncs_total",
                "Snapshots loaded again after the queue or the broker connection was lost.",
            ),
            dropped_older: m.gauge(
                "tenant_catalog_replica_dropped_older_total",
                "Entries and changes dropped because the replica held the same or a newer version.",
            ),
            failures: m.gauge(
                "tenant_catalog_replica_failures_total",
                "Sessions of the follower that failed (serve or the broker unreachable); each is followed by another after a backoff.",
            ),
            refused: m.gauge(
                "tenant_catalog_replica_refusals_total",
                "Lookups refused with NOT_READY (snapshot not loaded, or staler than the bound).",
            ),
            waiting: m.gauge(
                "tenant_catalog_replica_waiting_tenants",
                "Tenants whose changes the last heartbeat named as still waiting in the catalog's outbox: refused while the watermark is past the bound.",
            ),
        }
    }

    fn update(&self, replica: &Replica) {
        let s = replica.stats();
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.entries.set(n(s.entries as u64));
        self.routes.set(n(s.routes as u64));
        self.staleness_ms.set(
            replica
                .staleness()
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        );
        self.ready.set(i64::from(replica.freshness().is_ok()));
        self.gaps_healed.set(n(s.gaps_healed));
        self.resyncs.set(n(s.resyncs));
        self.dropped_older.set(n(s.dropped_older));
        self.failures.set(n(s.failures));
        self.refused.set(n(s.refused));
        self.waiting.set(n(replica.waiting() as u64));
    }
}

impl ReplicaApp {
    /// Binds `REPLICA_ADDR` and prepares to follow `REPLICA_SOURCE` and `AMQP_URL`.
    pub fn build(settings: &Settings) -> Result<Self, ReplicaError> {
        let verifier = Verifier::new(&settings.auth)?;
        let credentials = Credentials::sign(&settings.auth)?;
        let replica = Replica::empty(settings.replica.max_staleness);
        let metrics = Metrics::new();
        let source: Arc<dyn RouteSource> = Arc::new(replica.clone());
        let graphql = GraphqlState::new(
            graphql::replica_schema(&settings.graphql, source.clone()),
            &settings.graphql,
            verifier,
            &metrics,
            source,
        );
        metrics.add(replica.delay());
        metrics.add(replica.heartbeat_delay());
        let state = State {
            replica: replica.clone(),
            metrics: metrics.clone(),
            gauges: Gauges::new(&metrics),
        };
        let (listener, port) = http::bind(settings.replica.addr, "REPLICA_ADDR")?;
        let server = http::serve(listener, &metrics, move |cfg| {
            cfg.app_data(web::Data::new(state.clone()))
                .app_data(web::Data::new(graphql.clone()))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(render_metrics))
                .configure(graphql::configure_for::<RouteQuery>);
        })?;
        Ok(ReplicaApp {
            port,
            server,
            replica,
            follow: FollowSettings {
                source: settings.replica.source.clone(),
                amqp_url: settings.amqp_url.clone(),
                credentials,
                page_size: settings.replica.page_size,
            },
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves and follows until the shutdown token is cancelled.
    pub async fn run_until_stopped(self) -> Result<(), ReplicaError> {
        let shutdown = self.shutdown.clone();
        let follower = follow::start(self.replica, self.follow, shutdown.clone())
            .map_err(ReplicaError::Follower)?;
        let served = http::serve_until(self.server, &shutdown).await;
        let _ = tokio::task::spawn_blocking(move || follower.join()).await;
        Ok(served?)
    }
}

/// `extensions.code` of an answer the replica will not give: ask `serve` instead.
pub const NOT_READY: &str = "NOT_READY";

fn not_ready(e: NotReady) -> async_graphql::Error {
    async_graphql::Error::new(e.to_string()).extend_with(|_, x| x.set("code", NOT_READY))
}

/// The replica's memory is a route source: a replica staler than its bound answers NOT_READY
/// (and prepared lookups give way to the executor, which says so).
impl RouteSource for Replica {
    fn routes<'a>(
        &'a self,
        ids: &'a [TenantId],
    ) -> BoxFuture<'a, async_graphql::Result<Vec<Option<Route>>>> {
        Box::pin(std::future::ready(
            Replica::routes_uncounted(self, ids).map_err(not_ready),
        ))
    }
    fn route_by_site<'a>(
        &'a self,
        site: &'a Site,
    ) -> BoxFuture<'a, async_graphql::Result<Option<Route>>> {
        Box::pin(std::future::ready(
            Replica::route_by_site_uncounted(self, site).map_err(not_ready),
        ))
    }
    fn base_domain(&self) -> async_graphql::Result<&BaseDomain> {
        Replica::base_domain(self).ok_or_else(|| not_ready(NotReady::Loading))
    }
    fn answering(&self) -> bool {
        self.freshness().is_ok()
    }
    fn refused(&self) {
        self.count_refusal();
    }
}

#[tracing::instrument(name = "replica healthz", skip_all)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

#[tracing::instrument(name = "replica readyz", skip_all)]
async fn readyz(state: web::Data<State>) -> HttpResponse {
    let r = &state.replica;
    let stats = r.stats();
    let details = json!({
        "entries": stats.entries,
        "routes": stats.routes,
        "staleness_ms": r.staleness().map(|d| d.as_millis() as u64),
        "staleness_but_waiting_ms": r.staleness_but_waiting().map(|d| d.as_millis() as u64),
        "waiting": r.waiting(),
        "max_staleness_ms": r.max_staleness().as_millis() as u64,
    });
    match r.freshness() {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "details": details})),
        Err(why) => HttpResponse::ServiceUnavailable().json(json!({
            "error": {"code": Code::NotReady.as_str(), "message": why.to_string()},
            "details": details,
        })),
    }
}

#[tracing::instrument(name = "replica metrics", skip_all)]
async fn render_metrics(state: web::Data<State>) -> HttpResponse {
    state.gauges.update(&state.replica);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
