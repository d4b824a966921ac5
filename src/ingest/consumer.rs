//! The lifecycle consumer: under a [`Supervisor`] that (re)builds connection, channels,
//! topology and consumer after any failure, because lapin's own recovery is not dependable
//! (lapin #450, #389, #222). Deliveries are taken in batches, stored in one transaction, and
//! acknowledged only after it commits.

use super::batch::{
    IngestMetrics, Intake, SUSPECT_AFTER, earlier_deliveries, handle_alone, handle_batch,
    panic_text,
};
use crate::amqp::topology::{self, LIFECYCLE_QUEUE};
use crate::amqp::{BrokerError, Doing, connect};
use crate::health::Health;
use crate::supervise::{Supervisor, Up};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
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
    pub intake: Intake,
    pub amqp_url: String,
    pub prefetch: u16,
    pub health: Health,
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

    let lag = tokio::spawn(watch_lag(lag_channel, c.intake.metrics.clone()));
    let result = async {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = deliveries.next() => next,
            };
            let first = match first {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(e).doing("receiving a delivery"),
                None => {
                    return Err(lapin::Error::from(
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
            handle(c, &dlq, &batch, shutdown).await?;
        }
    }
    .await;
    lag.abort();
    // Unacknowledged deliveries go back to the queue when the channel closes.
    let _ = conn
        .close(200, "tenant-catalog consumer stopping".into())
        .await;
    result
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
) -> Result<(), BrokerError> {
    if batch.iter().any(|d| earlier_deliveries(d) >= SUSPECT_AFTER) {
        for delivery in batch {
            handle_alone(&c.intake, dlq, delivery, shutdown).await?;
        }
        return Ok(());
    }
    match AssertUnwindSafe(handle_batch(&c.intake, dlq, batch, shutdown))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            let text = format!("handling a batch panicked: {}", panic_text(panic.as_ref()));
            Err(lapin::Error::from(std::io::Error::other(text))).doing("handling deliveries")
        }
    }
}

/// Keeps the consumer-lag gauge current: messages ready in the queue, every few seconds.
async fn watch_lag(channel: lapin::Channel, metrics: IngestMetrics) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    loop {
        match channel
            .queue_declare(LIFECYCLE_QUEUE.into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => metrics.lag.set(i64::from(q.message_count())),
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
