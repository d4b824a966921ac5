//! Prometheus metrics of one process, rendered in the text format at `GET /metrics`.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Counters and gauges the service keeps. One instance per process, shared by reference.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Deliveries taken from the lifecycle queue.
    pub events_received: IntCounter,
    /// Deliveries by what became of them: applied, rejected, duplicate, redelivered,
    /// dead_lettered.
    pub events: IntCounterVec,
    pub timers_fired: IntCounter,
    pub tenants_placed: IntCounter,
    pub moves_expired: IntCounter,
    pub drain_remaining: IntGaugeVec,
    pub move_steps: IntCounterVec,
    pub changes_published: IntCounter,
    /// Messages ready in the lifecycle queue, as last seen by this process.
    pub consumer_lag: IntGauge,
    /// Change messages committed but not yet confirmed by the broker.
    pub outbox_backlog: IntGauge,
    /// Routing cache lookups by result: hit or miss.
    pub route_cache: IntCounterVec,
    /// Whether the routing cache receives change notifications (1) or is bypassed (0).
    pub route_cache_live: IntGauge,
    /// HTTP request latency by route pattern, method and status class.
    pub http_duration: HistogramVec,
    /// How late the most overdue timer is, as last seen by the scheduler (0 when none is due).
    pub scheduler_lag: Gauge,
    /// GraphQL requests refused by the cost model before they ran, by `extensions.code`.
    pub graphql_refused: IntCounterVec,
    /// GraphQL lookups answered as prepared lookups, without the executor.
    pub graphql_prepared: IntCounter,
    /// Admin requests refused before routing, by reason: unauthenticated (no valid token),
    /// bad_request (two Authorization headers).
    pub admin_refused: IntCounterVec,
}

/// Registers a collector built from a static definition. The definitions below are fixed and
/// their names distinct, so neither building nor registering can fail.
fn register<C>(registry: &Registry, built: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let collector = built.expect("static metric definition is valid");
    registry
        .register(Box::new(collector.clone()))
        .expect("metric names are unique");
    collector
}

/// A counter with one label, every value of which shows from the start, at zero, so rates
/// work before the first event.
fn labelled(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
) -> IntCounterVec {
    let vec = register(
        registry,
        IntCounterVec::new(Opts::new(name, help), &[label]),
    );
    for value in values {
        vec.with_label_values(&[*value]);
    }
    vec
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let events = labelled(
            r,
            "tenant_catalog_events_total",
            "Deliveries by outcome: applied, rejected, duplicate, redelivered, dead_lettered.",
            "outcome",
            &[
                "applied",
                "rejected",
                "duplicate",
                "redelivered",
                "dead_lettered",
            ],
        );
        let route_cache = labelled(
            r,
            "tenant_catalog_route_cache_lookups_total",
            "Routing cache lookups by result: hit or miss (a miss reads the database).",
            "result",
            &["hit", "miss"],
        );
        let graphql_refused = labelled(
            r,
            "tenant_catalog_graphql_refused_total",
            "GraphQL requests refused by the cost model before any resolver ran, by extensions.code.",
            "code",
            &crate::graphql::cost::Refusal::CODES,
        );
        let admin_refused = labelled(
            r,
            "tenant_catalog_admin_refused_total",
            "Admin requests refused before routing (logged, never written to the audit table), by reason.",
            "reason",
            &["unauthenticated", "bad_request"],
        );
        Self {
            graphql_refused,
            graphql_prepared: register(r, IntCounter::new(
                "tenant_catalog_graphql_prepared_total",
                "GraphQL route and routes lookups answered as prepared lookups, without the executor.",
            )),
            admin_refused,
            events_received: register(r, IntCounter::new(
                "tenant_catalog_events_received_total",
                "Deliveries taken from the tenant-catalog.lifecycle queue.",
            )),
            events,
            timers_fired: register(r, IntCounter::new(
                "tenant_catalog_timers_fired_total",
                "Tenants changed by a timed transition.",
            )),
            tenants_placed: register(r, IntCounter::new(
                "tenant_catalog_tenants_placed_total",
                "Waiting tenants placed by the scheduler.",
            )),
            moves_expired: register(r, IntCounter::new(
                "tenant_catalog_moves_expired_total",
                "Moves cancelled by the scheduler because their deadline passed.",
            )),
            drain_remaining: register(r, IntGaugeVec::new(
                Opts::new(
                    "tenant_catalog_drain_remaining_tenants",
                    "Live tenants still on a shard an admin asked to drain (moving ones included).",
                ),
                &["shard"],
            )),
            move_steps: labelled(
                r,
                "tenant_catalog_move_steps_total",
                "Move steps carried out, by the phase they entered.",
                "phase",
                &["copying", "cutover", "done", "cancelled"],
            ),
            changes_published: register(r, IntCounter::new(
                "tenant_catalog_changes_published_total",
                "Change messages confirmed by the broker on tenant-catalog.changes.",
            )),
            consumer_lag: register(r, IntGauge::new(
                "tenant_catalog_consumer_lag",
                "Messages ready in the lifecycle queue, last seen.",
            )),
            outbox_backlog: register(r, IntGauge::new(
                "tenant_catalog_outbox_backlog",
                "Change messages waiting to be published.",
            )),
            route_cache,
            route_cache_live: register(r, IntGauge::new(
                "tenant_catalog_route_cache_live",
                "1 while the routing cache receives change notifications; 0 while it is bypassed.",
            )),
            http_duration: register(r, HistogramVec::new(
                HistogramOpts::new(
                    "tenant_catalog_http_request_duration_seconds",
                    "HTTP request latency, from the request read to the response written, by route pattern, method and status class.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
                &["route", "method", "status"],
            )),
            scheduler_lag: register(r, Gauge::new(
                "tenant_catalog_scheduler_lag_seconds",
                "How long the most overdue timer has been due, at the scheduler's last tick (0 when none is).",
            )),
            registry,
        }
    }

    pub fn count_event(&self, outcome: &str) {
        self.events.with_label_values(&[outcome]).inc();
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
