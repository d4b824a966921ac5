//! The exchanges and queues of CONTRACT.md section 3, declared idempotently at start.

use super::{BrokerError, Doing};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

/// Where commerce publishes lifecycle events.
pub const COMMERCE_EXCHANGE: &str = "commerce.lifecycle";
/// The queue this service consumes.
pub const LIFECYCLE_QUEUE: &str = "tenant-catalog.lifecycle";
/// Messages that are not valid events, with the reason in the `x-dlq-reason` header.
pub const DEAD_LETTER_QUEUE: &str = "tenant-catalog.lifecycle.dlq";
/// Where tenant changes are published.
pub const CHANGES_EXCHANGE: &str = "tenant-catalog.changes";
/// The quorum queue's delivery limit: out of reach, so that the broker never dead-letters a
/// valid event by itself. Leaving the argument out is not enough (RabbitMQ 4 then applies a
/// default limit of 20), and the "no limit" value of RabbitMQ 4, -1, makes RabbitMQ 3
/// dead-letter a message the first time it is returned (seen on 3.10). Poison messages are
/// the consumer's business: it isolates them and dead-letters them with a reason
/// (`ingest::batch::handle_alone`).
pub const DELIVERY_LIMIT: i64 = i32::MAX as i64;
/// The limit versions before 2026-12-02 declared; such a queue is upgraded by
/// `tenant-catalog upgrade-queue` (docs/operations.md).
pub const LEGACY_DELIVERY_LIMIT: i64 = 50;

/// What `tenant-catalog.lifecycle` turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleQueue {
    /// Declared with today's arguments.
    Current,
    /// Declared by an earlier version with other arguments (the broker's delivery limit of
    /// 50): it is used as it is, and `tenant-catalog upgrade-queue` replaces it.
    Legacy,
}

/// Declares the whole topology, on a channel of its own (a refused declaration closes the
/// channel). Safe to repeat, from any number of processes.
pub async fn declare(conn: &Connection) -> Result<LifecycleQueue, BrokerError> {
    let channel = conn
        .create_channel()
        .await
        .doing("opening a channel to declare the AMQP topology")?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [COMMERCE_EXCHANGE, CHANGES_EXCHANGE] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .doing("declaring an exchange")?;
    }
    channel
        .queue_declare(
            DEAD_LETTER_QUEUE.into(),
            durable_queue(),
            FieldTable::default(),
        )
        .await
        .doing("declaring tenant-catalog.lifecycle.dlq")?;

    let (channel, kind) = match declare_consumed_queue(&channel, LIFECYCLE_QUEUE).await {
        Ok(()) => (channel, LifecycleQueue::Current),
        Err(e) if is_precondition_failed(&e) => {
            tracing::warn!(
                "tenant-catalog.lifecycle was declared by an earlier version, with the broker's \
                 delivery limit of {LEGACY_DELIVERY_LIMIT}: a message delivered that often is \
                 dead-lettered by the broker. Stop every serve and run \
                 `tenant-catalog upgrade-queue` (docs/operations.md)."
            );
            let channel = conn
                .create_channel()
                .await
                .doing("opening a channel to declare the AMQP topology")?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            channel
                .queue_declare(LIFECYCLE_QUEUE.into(), passive, FieldTable::default())
                .await
                .doing("checking tenant-catalog.lifecycle")?;
            (channel, LifecycleQueue::Legacy)
        }
        Err(e) => return Err(e).doing("declaring tenant-catalog.lifecycle"),
    };
    bind(&channel, LIFECYCLE_QUEUE).await?;
    let _ = channel.close(200, "topology declared".into()).await;
    Ok(kind)
}

/// Declares a queue with the arguments of `tenant-catalog.lifecycle` (also used for the
/// holding queue of an upgrade).
pub(super) async fn declare_consumed_queue(
    channel: &Channel,
    name: &str,
) -> Result<(), lapin::Error> {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    // Should the limit ever be reached, the message lands in the DLQ (where `dlq list` shows
    // the broker's reason) rather than being dropped.
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        ShortString::from("x-dead-letter-routing-key"),
        AMQPValue::LongString(DEAD_LETTER_QUEUE.into()),
    );
    channel
        .queue_declare(name.into(), durable_queue(), args)
        .await
        .map(|_| ())
}

/// Binds a queue to everything commerce publishes.
pub(super) async fn bind(channel: &Channel, queue: &str) -> Result<(), BrokerError> {
    channel
        .queue_bind(
            queue.into(),
            COMMERCE_EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .doing("binding a queue to commerce.lifecycle")
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// The broker's answer when a queue exists with other arguments (406).
fn is_precondition_failed(error: &lapin::Error) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(e)
        if *e.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED))
}
