//! The dead-letter queue, for operators: list what waits there and why, and replay chosen
//! messages into `commerce.lifecycle` (`tenant-catalog dlq list|replay`).
//!
//! Messages are taken with `basic.get` and not acknowledged, so a listing leaves the queue as
//! it was (they go back when the channel closes). A replayed message is acknowledged, and so
//! removed, only after the broker has confirmed its copy on `commerce.lifecycle`: an
//! interrupted replay loses nothing, and at worst replays a message again, which the catalog
//! recognises as a redelivery of the same event id.

use super::topology::{COMMERCE_EXCHANGE, DEAD_LETTER_QUEUE};
use super::{BrokerError, Doing, confirm_channel, confirmed};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use serde::Serialize;

/// One dead-lettered message, as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The event id, when the message had one.
    pub message_id: Option<String>,
    /// Why it was dead-lettered: the consumer's reason, or the broker's (`x-death`).
    pub reason: String,
    /// When the consumer dead-lettered it (RFC 3339), if it said.
    pub dead_lettered_at: Option<String>,
    /// The routing key it was first published with.
    pub routing_key: Option<String>,
    /// The body: its JSON when it is JSON, else its text.
    pub body: serde_json::Value,
}

/// Which messages a replay takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Ids(Vec<String>),
}

impl Selection {
    fn takes(&self, letter: &DeadLetter) -> bool {
        match self {
            Selection::All => true,
            Selection::Ids(ids) => letter
                .message_id
                .as_ref()
                .is_some_and(|id| ids.contains(id)),
        }
    }
}

/// Every message in the dead-letter queue, oldest first; the queue is left as it was.
pub async fn list(amqp_url: &str) -> Result<Vec<DeadLetter>, BrokerError> {
    let (conn, channel) = confirm_channel(amqp_url, "dlq").await?;
    let letters = take_all(&channel)
        .await?
        .iter()
        .map(describe)
        .collect::<Vec<_>>();
    // Closing without acknowledging puts every message back, in its place.
    let _ = conn.close(200, "dlq list done".into()).await;
    Ok(letters)
}

/// Publishes the selected messages to `commerce.lifecycle`, as commerce would, and removes
/// each from the dead-letter queue once the broker confirmed its copy. Returns what it
/// replayed.
pub async fn replay(amqp_url: &str, which: &Selection) -> Result<Vec<DeadLetter>, BrokerError> {
    let (conn, channel) = confirm_channel(amqp_url, "dlq").await?;
    let mut replayed = Vec::new();
    for delivery in take_all(&channel).await? {
        let letter = describe(&delivery);
        if !which.takes(&letter) {
            continue;
        }
        republish(&channel, &delivery, &letter).await?;
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .doing("removing a replayed message from the dead-letter queue")?;
        replayed.push(letter);
    }
    let _ = conn.close(200, "dlq replay done".into()).await;
    Ok(replayed)
}

/// Takes every message of the queue without acknowledging it.
async fn take_all(channel: &Channel) -> Result<Vec<Delivery>, BrokerError> {
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: false })
        .await
        .doing("reading the dead-letter queue")?
    {
        taken.push(message.delivery);
    }
    Ok(taken)
}

async fn republish(
    channel: &Channel,
    delivery: &Delivery,
    letter: &DeadLetter,
) -> Result<(), BrokerError> {
    let routing_key = letter
        .routing_key
        .clone()
        .or_else(|| letter.body.get("type")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    if let Some(id) = &letter.message_id {
        properties = properties.with_message_id(id.as_str().into());
    }
    let confirm = channel
        .basic_publish(
            COMMERCE_EXCHANGE.into(),
            routing_key.as_str().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await
        .doing("replaying a dead-lettered message")?;
    confirmed(confirm).await
}

fn describe(delivery: &Delivery) -> DeadLetter {
    let headers = delivery.properties.headers().clone().unwrap_or_default();
    let text = |key: &str| header_text(&headers, key);
    let reason = text("x-dlq-reason")
        .or_else(|| broker_reason(&headers))
        .unwrap_or_else(|| "no reason recorded".to_owned());
    let body = serde_json::from_slice(&delivery.data).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&delivery.data).into_owned())
    });
    DeadLetter {
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .or_else(|| body.get("id")?.as_str().map(str::to_owned)),
        reason,
        dead_lettered_at: text("x-dlq-at"),
        routing_key: text("x-original-routing-key"),
        body,
    }
}

fn header_text(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The reason the broker gave when it dead-lettered a message itself (`x-death`).
fn broker_reason(headers: &FieldTable) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(death) = deaths.as_slice().first()? else {
        return None;
    };
    header_text(death, "reason").map(|r| format!("dead-lettered by the broker: {r}"))
}
