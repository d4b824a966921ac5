//! `Application`: the HTTP server, the consumer, the scheduler and the outbox relay of one
//! `serve` process, under one shutdown signal.

use crate::admin::{self, AdminMetrics, AdminState};
use crate::amqp::{self, BrokerError, topology};
use crate::auth::Verifier;
use crate::catalog::{self, Db, StoreError};
use crate::config::Settings;
use crate::export::{self, ExportState};
use crate::graphql::{self, GraphqlState};
use crate::health::Health;
use crate::http::ops::{self, HttpState};
use crate::http::{self, ServerError};
use crate::ingest::{Consumer, IngestMetrics, Intake, run_consumer};
use crate::metrics::Metrics;
use crate::moves::MoveMetrics;
use crate::relay::{Relay, RelayMetrics, run_relay};
use crate::routing::Router;
use crate::routing::listener::run_listener;
use crate::scheduler::{Scheduler, SchedulerMetrics, run_scheduler};
use actix_web::dev::Server;
use actix_web::web;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Http(#[from] ServerError),
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
}

/// A built, not yet running, `serve` process.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    shutdown: CancellationToken,
    consumer: Consumer,
    scheduler: Scheduler,
    relay: Relay,
    router: Router,
}

impl Application {
    /// Connects to the database and the broker (failing at once if either is unreachable),
    /// declares the topology and binds the HTTP listener.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let verifier = Verifier::new(&settings.auth)?;
        if verifier.trusts_dev_key() {
            tracing::warn!(
                signing_key = %settings.auth.signing_key.display(),
                "DEVELOPMENT KEY TRUSTED: AUTH_PUBLIC_KEYS_DIR is not set, so tokens signed with the development signing key are accepted. Never run like this in production: set AUTH_PUBLIC_KEYS_DIR, and AUTH_DEV_KEY=false to refuse to start without it."
            );
        }
        let db = catalog::connect(&settings).await?;
        let probe = amqp::connect(&settings.amqp_url, "startup").await?;
        topology::declare(&probe).await?;
        let _ = probe.close(200, "startup check done".into()).await;

        let (listener, port) = http::bind(settings.http_addr, "HTTP_ADDR")?;
        let metrics = Metrics::new();
        let router = Router::new(
            db.clone(),
            settings.base_domain.clone(),
            settings.graphql.route_cache_capacity,
            settings.graphql.route_cache_negative_bytes,
            &metrics,
        );
        let workers = Workers::new(&settings, &db, &metrics);
        let routes = Routes::new(&settings, &db, &router, verifier, &workers, &metrics);
        let server = routes.serve(listener, &metrics)?;
        Ok(Self {
            port,
            server,
            db,
            shutdown: CancellationToken::new(),
            consumer: workers.consumer,
            scheduler: workers.scheduler,
            relay: workers.relay,
            router,
        })
    }

    /// The HTTP port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancelling this token stops the process gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled or the HTTP server fails, then lets every
    /// task finish its current transaction and returns.
    pub async fn run_until_stopped(self) -> Result<(), StartError> {
        let shutdown = self.shutdown.clone();
        let consumer = tokio::spawn(run_consumer(self.consumer, shutdown.clone()));
        let scheduler = tokio::spawn(run_scheduler(self.scheduler, shutdown.clone()));
        let relay = tokio::spawn(run_relay(self.relay, shutdown.clone()));
        let listener = tokio::spawn(run_listener(self.router, self.db.clone(), shutdown.clone()));
        let served = http::serve_until(self.server, &shutdown)
            .await
            .map_err(StartError::from);
        for task in [consumer, scheduler, relay, listener] {
            let _ = task.await;
        }
        self.db.close().await;
        served
    }
}

/// The tasks of one process beside its HTTP server: they share the wake-up for the relay.
struct Workers {
    consumer: Consumer,
    scheduler: Scheduler,
    relay: Relay,
}

impl Workers {
    fn new(settings: &Settings, db: &Db, metrics: &Metrics) -> Self {
        let changes = Arc::new(Notify::new());
        let scheduler = Scheduler {
            db: db.clone(),
            rules: settings.rules(),
            interval: settings.scheduler_interval,
            metrics: SchedulerMetrics::new(metrics, MoveMetrics::new(metrics)),
            changes: changes.clone(),
        };
        let consumer = Consumer {
            intake: Intake {
                db: db.clone(),
                rules: settings.rules(),
                metrics: IngestMetrics::new(metrics),
                changes: changes.clone(),
            },
            amqp_url: settings.amqp_url.clone(),
            prefetch: settings.amqp_prefetch,
            health: Health::default(),
        };
        let relay = Relay {
            db: db.clone(),
            amqp_url: settings.amqp_url.clone(),
            metrics: RelayMetrics::new(metrics),
            changes,
        };
        Workers {
            consumer,
            scheduler,
            relay,
        }
    }
}

/// What the HTTP server of one process serves: the operational routes, GraphQL, the
/// replicas' export and the admin API.
struct Routes {
    ops: HttpState,
    graphql: GraphqlState,
    admin: AdminState,
    export: ExportState,
}

impl Routes {
    fn new(
        settings: &Settings,
        db: &Db,
        router: &Router,
        verifier: Verifier,
        workers: &Workers,
        metrics: &Metrics,
    ) -> Self {
        let schema = graphql::schema(
            &settings.graphql,
            db.clone(),
            router.clone(),
            settings.rules(),
        );
        Routes {
            ops: HttpState {
                db: db.clone(),
                health: workers.consumer.health.clone(),
                metrics: metrics.clone(),
                trusts_dev_key: verifier.trusts_dev_key(),
            },
            graphql: GraphqlState::new(
                schema,
                &settings.graphql,
                verifier.clone(),
                metrics,
                Arc::new(router.clone()),
            ),
            admin: AdminState {
                db: db.clone(),
                verifier: verifier.clone(),
                rules: settings.rules(),
                scheduler: workers.scheduler.clone(),
                metrics: AdminMetrics::new(metrics, workers.scheduler.metrics.moves.clone()),
            },
            export: ExportState {
                db: db.clone(),
                verifier,
                base_domain: settings.base_domain.clone(),
            },
        }
    }

    fn serve(self, listener: TcpListener, metrics: &Metrics) -> Result<Server, StartError> {
        let server = http::serve(listener, metrics, move |cfg| {
            cfg.app_data(web::Data::new(self.ops.clone()))
                .app_data(web::Data::new(self.graphql.clone()))
                .app_data(web::Data::new(self.admin.clone()))
                .app_data(web::Data::new(self.export.clone()))
                .configure(ops::configure)
                .configure(graphql::configure)
                .configure(export::configure)
                .configure(admin::configure);
        })?;
        Ok(server)
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("Shutting down: finishing work in flight.");
    token.cancel();
}
