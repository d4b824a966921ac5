//! What a replica counts and times as it follows the catalog, for `/metrics`.

use super::Replica;
use std::sync::atomic::Ordering;

/// Seconds from catalog time `at` to now, never below 0 (the clocks may be slightly apart).
fn seconds_since(at: chrono::DateTime<chrono::Utc>) -> f64 {
    let delay = chrono::Utc::now() - at;
    (delay.num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)
}

impl Replica {
    pub(crate) fn count_gap_healed(&self, n: u64) {
        self.inner.gaps_healed.fetch_add(n, Ordering::Relaxed);
    }

    /// A change stamped `at` (catalog time) arrived now.
    pub(crate) fn observe_delay(&self, at: chrono::DateTime<chrono::Utc>) {
        self.inner.delay.observe(seconds_since(at));
    }

    /// How late changes arrive: the histogram `/metrics` shows.
    pub fn delay(&self) -> prometheus::Histogram {
        self.inner.delay.clone()
    }

    /// A heartbeat of watermark `at` (catalog time) arrived now.
    pub(crate) fn observe_heartbeat_delay(&self, at: chrono::DateTime<chrono::Utc>) {
        self.inner.heartbeat_delay.observe(seconds_since(at));
    }

    /// How late heartbeats arrive: the histogram `/metrics` shows.
    pub fn heartbeat_delay(&self) -> prometheus::Histogram {
        self.inner.heartbeat_delay.clone()
    }

    pub(crate) fn count_failure(&self) {
        self.inner.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_resync(&self) {
        self.inner.resyncs.fetch_add(1, Ordering::Relaxed);
    }
}
