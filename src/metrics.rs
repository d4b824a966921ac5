//! Prometheus metrics of one process, rendered in the text format at `GET /metrics`.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
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
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let events_received = IntCounter::new(
            "tenant_catalog_events_received_total",
            "Deliveries taken from the tenant-catalog.lifecycle queue.",
        )
        .expect("static metric definition is valid");
        let events = IntCounterVec::new(
            Opts::new(
                "tenant_catalog_events_total",
                "Deliveries by outcome: applied, rejected, duplicate, redelivered, dead_lettered.",
            ),
            &["outcome"],
        )
        .expect("static metric definition is valid");
        let timers_fired = IntCounter::new(
            "tenant_catalog_timers_fired_total",
            "Tenants changed by a timed transition.",
        )
        .expect("static metric definition is valid");
        let tenants_placed = IntCounter::new(
            "tenant_catalog_tenants_placed_total",
            "Waiting tenants placed by the scheduler.",
        )
        .expect("static metric definition is valid");
        let changes_published = IntCounter::new(
            "tenant_catalog_changes_published_total",
            "Change messages confirmed by the broker on tenant-catalog.changes.",
        )
        .expect("static metric definition is valid");
        let consumer_lag = IntGauge::new(
            "tenant_catalog_consumer_lag",
            "Messages ready in the lifecycle queue, last seen.",
        )
        .expect("static metric definition is valid");
        let outbox_backlog = IntGauge::new(
            "tenant_catalog_outbox_backlog",
            "Change messages waiting to be published.",
        )
        .expect("static metric definition is valid");
        let route_cache = IntCounterVec::new(
            Opts::new(
                "tenant_catalog_route_cache_lookups_total",
                "Routing cache lookups by result: hit or miss (a miss reads the database).",
            ),
            &["result"],
        )
        .expect("static metric definition is valid");
        let route_cache_live = IntGauge::new(
            "tenant_catalog_route_cache_live",
            "1 while the routing cache receives change notifications; 0 while it is bypassed.",
        )
        .expect("static metric definition is valid");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "tenant_catalog_http_request_duration_seconds",
                "HTTP request latency, from the request read to the response written, by route pattern, method and status class.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("static metric definition is valid");
        let scheduler_lag = Gauge::new(
            "tenant_catalog_scheduler_lag_seconds",
            "How long the most overdue timer has been due, at the scheduler's last tick (0 when none is).",
        )
        .expect("static metric definition is valid");
        for collector in [
            Box::new(events_received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(events.clone()),
            Box::new(timers_fired.clone()),
            Box::new(tenants_placed.clone()),
            Box::new(changes_published.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(outbox_backlog.clone()),
            Box::new(route_cache.clone()),
            Box::new(route_cache_live.clone()),
            Box::new(http_duration.clone()),
            Box::new(scheduler_lag.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        // Every outcome shows from the start, at zero, so rates work before the first event.
        for outcome in [
            "applied",
            "rejected",
            "duplicate",
            "redelivered",
            "dead_lettered",
        ] {
            events.with_label_values(&[outcome]);
        }
        for result in ["hit", "miss"] {
            route_cache.with_label_values(&[result]);
        }
        Self {
            registry,
            events_received,
            events,
            timers_fired,
            tenants_placed,
            changes_published,
            consumer_lag,
            outbox_backlog,
            route_cache,
            route_cache_live,
            http_duration,
            scheduler_lag,
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
