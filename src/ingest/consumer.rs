//! The lifecycle consumer: under a [`Supervisor`] that (re)builds connection, channels,
//! topology and consumer after any failure, because lapin's own recovery is not dependable
//! (lapin #450, #389, #222). Deliveries are taken in batches, stored in one transaction, and
//! acknowledged only after it commits.

use super::batch::{SUSPECT_AFTER, earlier_deliveries, handle_alone, handle_batch, panic_text};
use crate::amqp::topology::{self, LIFECYCLE_QUEUE};
use crate::amqp::{BrokerError, Doing, connect};
use crate::catalog::Db;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::supervise::{Supervisor, Up};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use lapin::Acker;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Most deliveries stored in one transaction: half the prefetch, so that the broker keeps
/// the other half coming while a batch is stored (measured in docs/benchmarks.md: with the
/// batch as large as the prefetch, the consumer waits for each ack's refill).
pub fn max_batch(prefetch: u16) -> usize {
    (usize::from(prefetch) / 2).max(1)
}

/// What the consumer needs.
#[derive(Clone)]
pub struct Consumer {
    pub db: Db,
    pub amqp_url: String,
    pub prefetch: u16,
    pub base_domain: crate::domain::BaseDomain,
    pub metrics: Metrics,
    pub health: Health,
    /// Woken after a commit that queued change messages, so the relay publishes at once.
    pub changes: Arc<Notify>,
}

const SUPERVISOR: Supervisor = Supervisor {
    lost: "The lifecycle consumer lost the broker; reconnecting.",
    stopped: "The lifecycle consumer stopped.",
    first_retry: Duration::from_millis(200),
    max_retry: Duration::from_secs(10),
};

/// Consumes until `shutdown`, reconnecting with backoff after any failure.
pub async fn run_consumer(consumer: Consumer, shutdown: CancellationToken) {
    let (c, stop) = (&consumer, &shutdown);
    SUPERVISOR
        .run(stop, move |up| async move {
            let result = session(c, stop, up).await;
            c.health.set_consuming(false);
            result
        })
        .await;
}

/// One connection's life: set up, then consume until it fails or shutdown.
async fn session(c: &Consumer, shutdown: &CancellationToken, up: Up) -> Result<(), BrokerError> {
    let conn = connect(&c.amqp_url, "consumer").await?;
    topology::declare(&conn).await?;
    let channel = conn
        .create_channel()
        .await
        .doing("opening the consume channel")?;
    channel
        .basic_qos(c.prefetch, BasicQosOptions::default())
        .await
        .doing("setting the prefetch")?;
    // Dead-lettering publishes on its own confirm-mode channel: a refused message is acked
    // only once the broker has confirmed its copy in the DLQ.
    let dlq = conn
        .create_channel()
        .await
        .doing("opening the dead-letter channel")?;
    dlq.confirm_select(ConfirmSelectOptions::default())
        .await
        .doing("enabling publisher confirms")?;
    let lag_channel = conn
        .create_channel()
        .await
        .doing("opening the lag channel")?;
    let mut deliveries = channel
        .basic_consume(
            LIFECYCLE_QUEUE.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .doing("starting to consume tenant-catalog.lifecycle")?;
    c.health.set_consuming(true);
    up.set();
    tracing::info!("The lifecycle consumer is consuming.");

    let lag = tokio::spawn(watch_lag(lag_channel, c.metrics.clone()));
    let result = consume(c, &dlq, &mut deliveries, shutdown).await;
    lag.abort();
    // Unacknowledged deliveries go back to the queue when the channel closes.
    let _ = conn
        .close(200, "tenant-catalog consumer stopping".into())
        .await;
    result
}

/// Batches stored at the same time, each in its own transaction. While one waits for the
/// database (a commit's flush, a page read), the other works: one batch at a time left half of
/// this machine's two cores idle (docs/benchmarks.md). Two batches of one tenant are serialised
/// by its lock, as they would be on two `serve` processes.
pub const BATCHES_IN_FLIGHT: usize = 2;

/// Takes batches from `deliveries` and handles up to [`BATCHES_IN_FLIGHT`] at once, until
/// shutdown or a failure. Batches are acknowledged in delivery order, each with one
/// `multiple` ack once it and every earlier batch are done; a batch in flight is never dropped
/// half-way (sqlx #4385): on shutdown or a failure, the others run to their end first.
async fn consume(
    c: &Consumer,
    dlq: &lapin::Channel,
    deliveries: &mut lapin::Consumer,
    shutdown: &CancellationToken,
) -> Result<(), BrokerError> {
    let mut in_flight = FuturesOrdered::new();
    let mut acking = true;
    let ended: Result<(), BrokerError> = loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                match ack(done, &mut acking).await {
                    Ok(()) => continue,
                    Err(e) => break Err(e),
                }
            }
            next = deliveries.next(), if in_flight.len() < BATCHES_IN_FLIGHT => next,
        };
        let first = match first {
            Some(Ok(d)) => d,
            Some(Err(e)) => break Err(e).doing("receiving a delivery"),
            None => {
                break Err(lapin::Error::from(
                    lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
                ))
                .doing("the broker ended the consumer");
            }
        };
        let mut batch = vec![first];
        // Take what is already here, without waiting for more.
        while batch.len() < max_batch(c.prefetch) {
            match deliveries.next().now_or_never() {
                Some(Some(Ok(d))) => batch.push(d),
                _ => break,
            }
        }
        in_flight.push_back(async move { handle(c, dlq, &batch, shutdown).await });
    };
    // What is in flight finishes: acknowledged if the session is still well, else left to
    // go back to the queue.
    let mut result = ended;
    while let Some(done) = in_flight.next().await {
        if result.is_ok() {
            result = ack(done, &mut acking).await;
        }
    }
    result
}

/// What became of a batch.
enum Handled {
    /// Stored or dead-lettered: acknowledge up to its last delivery.
    Done(Acker),
    /// Each message was acknowledged on its own.
    AckedAlone,
    /// Shutdown came first: nothing more is acknowledged, so that no `multiple` ack of a
    /// later batch covers these deliveries; they go back to the queue.
    Unfinished,
}

/// Acknowledges a handled batch, as long as no earlier batch was left unfinished.
async fn ack(done: Result<Handled, BrokerError>, acking: &mut bool) -> Result<(), BrokerError> {
    match done? {
        // Every earlier batch is done and acknowledged, so one `multiple` ack covers exactly
        // this batch.
        Handled::Done(last) if *acking => {
            last.ack(BasicAckOptions { multiple: true })
                .await
                .doing("acknowledging a batch")?;
        }
        Handled::Unfinished => *acking = false,
        Handled::Done(_) | Handled::AckedAlone => {}
    }
    Ok(())
}

/// Handles a batch. When one of its messages was delivered [`SUSPECT_AFTER`] times or more,
/// every message is handled alone, so that the one at fault is found and the others are
/// stored. A panic ends the session like a lost connection (the deliveries go back to the
/// queue) rather than the consumer task, which would leave the service running but deaf.
async fn handle(
    c: &Consumer,
    dlq: &lapin::Channel,
    batch: &[Delivery],
    shutdown: &CancellationToken,
) -> Result<Handled, BrokerError> {
    if batch.iter().any(|d| earlier_deliveries(d) >= SUSPECT_AFTER) {
        for delivery in batch {
            if !handle_alone(c, dlq, delivery, shutdown).await? {
                return Ok(Handled::Unfinished);
            }
        }
        return Ok(Handled::AckedAlone);
    }
    match AssertUnwindSafe(handle_batch(c, dlq, batch, shutdown))
        .catch_unwind()
        .await
    {
        Ok(Ok(true)) => Ok(batch
            .last()
            .map_or(Handled::AckedAlone, |d| Handled::Done(d.acker.clone()))),
        Ok(Ok(false)) => Ok(Handled::Unfinished),
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            let text = format!("handling a batch panicked: {}", panic_text(panic.as_ref()));
            Err(lapin::Error::from(std::io::Error::other(text))).doing("handling deliveries")
        }
    }
}

/// Keeps the consumer-lag gauge current: messages ready in the queue, every few seconds.
async fn watch_lag(channel: lapin::Channel, metrics: Metrics) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    loop {
        match channel
            .queue_declare(LIFECYCLE_QUEUE.into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => metrics.consumer_lag.set(i64::from(q.message_count())),
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
