//! What a replica counts, for `/metrics`: the figures of [`super::Replica::stats`] and the
//! histograms of how late changes and heartbeats arrive.

/// Counters of one replica, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tenants held (deleted and withdrawn ones included).
    pub entries: usize,
    /// Tenants with a route.
    pub routes: usize,
    pub applied: u64,
    pub dropped_older: u64,
    /// Tenants refetched after a skipped version, and snapshots reloaded after a lost queue.
    pub gaps_healed: u64,
    pub resyncs: u64,
    /// Sessions of the follower that failed (`serve` or the broker unreachable), each followed
    /// by another after a backoff.
    pub failures: u64,
    /// Lookups refused with [`super::NotReady`] (the caller asked `serve` instead, or should have).
    pub refused: u64,
}

/// A histogram of delays in seconds, from 5 ms to 10 s.
pub(super) fn delay_histogram(name: &str, help: &str) -> prometheus::Histogram {
    let opts = prometheus::HistogramOpts::new(name, help).buckets(vec![
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]);
    // A fixed, valid definition.
    prometheus::Histogram::with_opts(opts).expect("valid histogram")
}
