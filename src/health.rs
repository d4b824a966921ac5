//! What `/readyz` reports about the broker: whether this process's consumer is consuming.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared flags set by the background tasks.
#[derive(Clone, Default)]
pub struct Health {
    consuming: Arc<AtomicBool>,
}

impl Health {
    pub fn set_consuming(&self, up: bool) {
        self.consuming.store(up, Ordering::Relaxed);
    }

    pub fn consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }
}
