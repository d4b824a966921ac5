//! One batch of deliveries: validate, store in one transaction, dead-letter what is refused,
//! and acknowledge only once everything is safely stored or dead-lettered.

use crate::amqp::topology::DEAD_LETTER_QUEUE;
use crate::amqp::{BrokerError, Doing, confirmed};
use crate::apply::{IngestReport, Ingested, apply_events};
use crate::catalog::events::NewEvent;
use crate::catalog::{Db, Doing as _, StoreError};
use crate::domain::Rules;
use crate::lifecycle::Envelope;
use crate::lifecycle::Event;
use crate::metrics::Metrics;
use futures_util::FutureExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, ShortString};
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What storing deliveries needs: the consumer's share of the write path.
#[derive(Clone)]
pub struct Intake {
    pub db: Db,
    pub rules: Rules,
    pub metrics: IngestMetrics,
    /// Woken after a commit that queued change messages, so the relay publishes at once.
    pub changes: Arc<Notify>,
}

/// What the consumer counts.
#[derive(Clone)]
pub struct IngestMetrics {
    /// Deliveries taken from the lifecycle queue.
    pub received: IntCounter,
    /// Deliveries by what became of them.
    pub outcomes: IntCounterVec,
    /// Messages ready in the lifecycle queue, as last seen by this process.
    pub lag: IntGauge,
    /// Attempts to store a batch that failed and are tried again (the database away, a
    /// race); the deliveries stay unacknowledged meanwhile.
    pub retries: IntCounter,
}

impl IngestMetrics {
    pub fn new(m: &Metrics) -> Self {
        IngestMetrics {
            received: m.counter(
                "tenant_catalog_events_received_total",
                "Deliveries taken from the tenant-catalog.lifecycle queue.",
            ),
            outcomes: m.counters(
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
            ),
            lag: m.gauge(
                "tenant_catalog_consumer_lag",
                "Messages ready in the lifecycle queue, last seen.",
            ),
            retries: m.counter(
                "tenant_catalog_store_retries_total",
                "Batches of deliveries whose storing failed and is tried again; the deliveries wait unacknowledged.",
            ),
        }
    }

    fn count(&self, outcome: &str) {
        self.outcomes.with_label_values(&[outcome]).inc();
    }
}

/// A delivery that parsed into a valid event, with its `data` as sent.
struct Valid {
    index: usize,
    event: Event,
    data: Value,
}

#[tracing::instrument(name = "Handling deliveries", skip_all, fields(deliveries = batch.len()))]
pub(super) async fn handle_batch(
    c: &Intake,
    dlq: &Channel,
    batch: &[Delivery],
    shutdown: &CancellationToken,
) -> Result<(), BrokerError> {
    c.metrics.received.inc_by(batch.len() as u64);
    let mut refused: Vec<(usize, String)> = Vec::new();
    let mut valid: Vec<Valid> = Vec::new();
    for (index, delivery) in batch.iter().enumerate() {
        match Envelope::parse(&delivery.data).and_then(Envelope::into_event) {
            Ok((event, data)) => valid.push(Valid {
                index,
                event,
                data: Value::Object(data),
            }),
            Err(reason) => refused.push((index, reason.to_string())),
        }
    }

    let news: Vec<NewEvent<'_>> = valid.iter().map(new_event).collect();
    match store(c, &news, shutdown).await {
        Stored::Done(report) => account(c, &valid, report, &mut refused),
        Stored::ShuttingDown => return Ok(()),
        Stored::Failed(error) => {
            // Something in the batch breaks the transaction for good. Store the events one by
            // one so that only the culprit is refused.
            tracing::warn!(%error, size = news.len(), "A batch failed to store; storing its events one by one.");
            for (v, event) in valid.iter().zip(&news) {
                match store(c, std::slice::from_ref(event), shutdown).await {
                    Stored::Done(report) => {
                        account(c, std::slice::from_ref(v), report, &mut refused)
                    }
                    Stored::ShuttingDown => return Ok(()),
                    Stored::Failed(error) => {
                        refused.push((v.index, format!("could not be stored: {error}")))
                    }
                }
            }
        }
    }

    for (index, reason) in &refused {
        dead_letter(dlq, &batch[*index], reason).await?;
        c.metrics.count("dead_lettered");
        let message_id = batch[*index]
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str());
        tracing::warn!(reason = %reason.escape_debug(), event_id = ?message_id, "Sent a message to the dead-letter queue.");
    }
    if let Some(last) = batch.last() {
        // Deliveries arrive in tag order and earlier batches are all acknowledged, so one
        // `multiple` ack covers exactly this batch.
        last.acker
            .ack(BasicAckOptions { multiple: true })
            .await
            .doing("acknowledging a batch")?;
    }
    Ok(())
}

/// Deliveries the broker has handed out this often are handled one at a time: a message that
/// made the consumer fail this many times is most likely the cause, and alone it holds back
/// no other message.
pub(super) const SUSPECT_AFTER: i64 = 3;

/// How often the broker delivered this message before (quorum queues say so in
/// `x-delivery-count`; returns of a message, by a nack or a lost channel, count).
pub(super) fn earlier_deliveries(delivery: &Delivery) -> i64 {
    let headers = delivery.properties.headers().as_ref();
    match headers.and_then(|h| h.inner().get("x-delivery-count")) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(*n),
        _ => 0,
    }
}

/// Handles one suspect delivery alone. Should handling it panic, the panic is the message's
/// doing (it was already delivered [`SUSPECT_AFTER`] times and failed each time), so it is
/// dead-lettered with the panic as its reason instead of crashing the consumer again: the
/// broker itself never dead-letters (see `amqp::topology::DELIVERY_LIMIT`).
#[tracing::instrument(name = "Handling a suspect delivery", skip_all, fields(event_id = ?delivery.properties.message_id()))]
pub(super) async fn handle_alone(
    c: &Intake,
    dlq: &Channel,
    delivery: &Delivery,
    shutdown: &CancellationToken,
) -> Result<(), BrokerError> {
    let deliveries = earlier_deliveries(delivery) + 1;
    let event_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str());
    tracing::warn!(deliveries, event_id = ?event_id, "Handling a message the broker has delivered several times on its own.");
    let alone = std::slice::from_ref(delivery);
    let panic = match AssertUnwindSafe(handle_batch(c, dlq, alone, shutdown))
        .catch_unwind()
        .await
    {
        Ok(result) => return result,
        Err(panic) => panic,
    };
    let reason = format!(
        "handling it panicked on delivery {deliveries}: {}",
        panic_text(panic.as_ref())
    );
    dead_letter(dlq, delivery, &reason).await?;
    c.metrics.count("dead_lettered");
    tracing::error!(reason = %reason.escape_debug(), event_id = ?event_id, "Sent a message to the dead-letter queue.");
    delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .doing("acknowledging a dead-lettered message")?;
    Ok(())
}

/// The message of a panic, when it has one.
pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn new_event(v: &Valid) -> NewEvent<'_> {
    NewEvent {
        event: &v.event,
        data: &v.data,
    }
}

fn account(c: &Intake, valid: &[Valid], report: IngestReport, refused: &mut Vec<(usize, String)>) {
    for (v, result) in valid.iter().zip(report.results) {
        match result {
            Ingested::Judged(outcome) => c.metrics.count(outcome.as_str()),
            Ingested::Redelivered => c.metrics.count("redelivered"),
            Ingested::Conflict { reason } => refused.push((v.index, reason)),
        }
    }
    if !report.changes.is_empty() {
        c.changes.notify_one();
    }
}

enum Stored {
    Done(IngestReport),
    ShuttingDown,
    Failed(StoreError),
}

/// Data errors get this many attempts before the events are refused: a unique-site race
/// between two tenants fails once and succeeds on the next attempt.
const DATA_ERROR_ATTEMPTS: u32 = 3;

/// Stores events in one transaction. Retries until it works unless the failure lies in the
/// data itself; the deliveries stay unacknowledged meanwhile, so nothing is lost while the
/// database is away.
async fn store(c: &Intake, events: &[NewEvent<'_>], shutdown: &CancellationToken) -> Stored {
    let mut backoff = Duration::from_millis(50);
    let mut data_errors = 0;
    loop {
        match store_once(c, events).await {
            Ok(report) => return Stored::Done(report),
            Err(error) => {
                if error.is_data_error() {
                    data_errors += 1;
                    if data_errors >= DATA_ERROR_ATTEMPTS {
                        return Stored::Failed(error);
                    }
                }
                c.metrics.retries.inc();
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "Storing events failed; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => return Stored::ShuttingDown,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn store_once(c: &Intake, events: &[NewEvent<'_>]) -> Result<IngestReport, StoreError> {
    // Never cancelled half-way (sqlx #4385): the transaction runs to commit or error.
    let mut tx =
        c.db.begin()
            .await
            .doing(|| "starting a transaction".into())?;
    let report = apply_events(&mut tx, events, chrono::Utc::now(), &c.rules).await?;
    tx.commit().await.doing(|| "committing events".into())?;
    Ok(report)
}

/// Copies a refused message to the DLQ with the reason, and waits for the broker's confirm.
async fn dead_letter(dlq: &Channel, delivery: &Delivery, reason: &str) -> Result<(), BrokerError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from("x-dlq-reason"),
        AMQPValue::LongString(reason.into()),
    );
    headers.insert(
        ShortString::from("x-original-exchange"),
        AMQPValue::LongString(delivery.exchange.as_str().into()),
    );
    headers.insert(
        ShortString::from("x-dlq-at"),
        AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into()),
    );
    headers.insert(
        ShortString::from("x-original-routing-key"),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    let properties = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirm = dlq
        .basic_publish(
            "".into(),
            DEAD_LETTER_QUEUE.into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await
        .doing("publishing to the dead-letter queue")?;
    confirmed(confirm).await
}
