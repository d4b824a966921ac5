//! The one reconnect loop: runs a session (a connection's life: connect, set up, work) again
//! and again until shutdown, waiting with a doubling backoff after each failure. The backoff
//! starts over after a session that got up (connected and set up), so a long-lived
//! connection that drops is retried at once, and a dependency that stays down is not
//! hammered.
//!
//! Used by the lifecycle consumer, the outbox relay and the routing cache's listener.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a component reconnects, and what it says when it has to.
#[derive(Debug, Clone, Copy)]
pub struct Supervisor {
    /// Logged with the error and the wait whenever a session ends in failure.
    pub lost: &'static str,
    /// Logged once the loop ends.
    pub stopped: &'static str,
    pub first_retry: Duration,
    pub max_retry: Duration,
}

/// Handed to a session: it calls [`Up::set`] once it is connected and set up.
#[derive(Debug, Clone, Default)]
pub struct Up(Arc<AtomicBool>);

impl Up {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Supervisor {
    /// Runs `session` until it returns `Ok` (it saw the shutdown) or `shutdown` is cancelled.
    pub async fn run<F, Fut, E>(&self, shutdown: &CancellationToken, mut session: F)
    where
        F: FnMut(Up) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let mut backoff = self.first_retry;
        while !shutdown.is_cancelled() {
            let up = Up::default();
            let Err(error) = session(up.clone()).await else {
                break;
            };
            if up.is_set() {
                backoff = self.first_retry;
            }
            tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "{}", self.lost);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.max_retry);
        }
        tracing::info!("{}", self.stopped);
    }
}

/// Runs `task` to its end on a thread named `name` with a current-thread runtime of its own,
/// so that it never waits behind the tasks of the process's other runtimes (request handlers
/// or ingestion keeping every core busy). What `task` opens (connections, pools) belongs to
/// that runtime.
pub fn on_own_thread(
    name: &str,
    task: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const TEST: Supervisor = Supervisor {
        lost: "lost",
        stopped: "stopped",
        first_retry: Duration::from_millis(1),
        max_retry: Duration::from_millis(8),
    };

    #[tokio::test]
    async fn it_retries_failures_until_a_session_ends_well() {
        let attempts = Mutex::new(0);
        TEST.run(&CancellationToken::new(), |_| {
            let n = {
                let mut a = attempts.lock().unwrap();
                *a += 1;
                *a
            };
            async move { if n < 4 { Err("down") } else { Ok(()) } }
        })
        .await;
        assert_eq!(*attempts.lock().unwrap(), 4);
    }

    #[tokio::test]
    async fn shutdown_stops_the_retries() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let attempts = Mutex::new(0);
        TEST.run(&shutdown, |_| {
            *attempts.lock().unwrap() += 1;
            async { Err::<(), _>("down") }
        })
        .await;
        assert_eq!(*attempts.lock().unwrap(), 0);
    }
}
