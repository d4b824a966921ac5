//! The Prometheus registry of one process, rendered in the text format at `GET /metrics`.
//! Each module registers the metrics it owns (the consumer its deliveries, the router its
//! cache, ...) through the constructors here; docs/operations.md lists them all.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The registry every metric of the process is registered in. Clones share it.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a collector built from a static definition. The definitions of this crate are
    /// fixed and their names distinct, and each owner registers once per process, so neither
    /// building nor registering can fail.
    pub fn register<C>(&self, built: prometheus::Result<C>) -> C
    where
        C: Collector + Clone + 'static,
    {
        let collector = built.expect("static metric definition is valid");
        self.registry
            .register(Box::new(collector.clone()))
            .expect("metric names are unique");
        collector
    }

    /// Registers a collector built elsewhere (a replica's delay histogram).
    pub fn add<C>(&self, collector: C) -> C
    where
        C: Collector + Clone + 'static,
    {
        self.register(Ok(collector))
    }

    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::new(name, help))
    }

    /// A counter with one label, every value of which shows from the start, at zero, so rates
    /// work before the first event.
    pub fn counters(&self, name: &str, help: &str, label: &str, values: &[&str]) -> IntCounterVec {
        let vec = self.register(IntCounterVec::new(Opts::new(name, help), &[label]));
        for value in values {
            vec.with_label_values(&[*value]);
        }
        vec
    }

    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help))
    }

    pub fn gauges(&self, name: &str, help: &str, label: &str) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), &[label]))
    }

    pub fn float_gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(Gauge::new(name, help))
    }

    pub fn histograms(
        &self,
        name: &str,
        help: &str,
        buckets: Vec<f64>,
        labels: &[&str],
    ) -> HistogramVec {
        self.register(HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets),
            labels,
        ))
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
