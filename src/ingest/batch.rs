//! One batch of deliveries: validate, store in one transaction, dead-letter what is refused,
//! and acknowledge only once everything is safely stored or dead-lettered.

use super::consumer::Consumer;
use crate::amqp::topology::DEAD_LETTER_QUEUE;
use crate::amqp::{BrokerError, Doing, confirmed};
use crate::apply::{IngestReport, Ingested, apply_events};
use crate::catalog::events::NewEvent;
use crate::catalog::{Doing as _, StoreError};
use crate::lifecycle::Envelope;
use crate::lifecycle::Event;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, ShortString};
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A delivery that parsed into a valid event, with its `data` as sent.
struct Valid {
    index: usize,
    event: Event,
    data: Value,
}

#[tracing::instrument(name = "Handling deliveries", skip_all, fields(deliveries = batch.len()))]
pub(super) async fn handle_batch(
    c: &Consumer,
    dlq: &Channel,
    batch: Vec<Delivery>,
    shutdown: &CancellationToken,
) -> Result<(), BrokerError> {
    c.metrics.events_received.inc_by(batch.len() as u64);
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
        c.metrics.count_event("dead_lettered");
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

fn new_event(v: &Valid) -> NewEvent<'_> {
    NewEvent {
        event: &v.event,
        data: &v.data,
    }
}

fn account(
    c: &Consumer,
    valid: &[Valid],
    report: IngestReport,
    refused: &mut Vec<(usize, String)>,
) {
    for (v, result) in valid.iter().zip(report.results) {
        match result {
            Ingested::Judged(outcome) => c.metrics.count_event(outcome.as_str()),
            Ingested::Redelivered => c.metrics.count_event("redelivered"),
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
async fn store(c: &Consumer, events: &[NewEvent<'_>], shutdown: &CancellationToken) -> Stored {
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

async fn store_once(c: &Consumer, events: &[NewEvent<'_>]) -> Result<IngestReport, StoreError> {
    // Never cancelled half-way (sqlx #4385): the transaction runs to commit or error.
    let mut tx =
        c.db.begin()
            .await
            .doing(|| "starting a transaction".into())?;
    let report = apply_events(&mut tx, events, chrono::Utc::now(), &c.base_domain).await?;
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
