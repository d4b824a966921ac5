//! The exchanges and queues of CONTRACT.md section 3, declared idempotently at start.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

/// Where commerce publishes lifecycle events.
pub const COMMERCE_EXCHANGE: &str = "commerce.lifecycle";
/// The queue this service consumes.
pub const LIFECYCLE_QUEUE: &str = "tenant-catalog.lifecycle";
/// Messages that are not valid events, with the reason in the `x-dlq-reason` header.
pub const DEAD_LETTER_QUEUE: &str = "tenant-catalog.lifecycle.dlq";
/// Where tenant changes are published.
pub const CHANGES_EXCHANGE: &str = "tenant-catalog.changes";
/// Deliveries of one message before the broker gives up on it and dead-letters it. Far above
/// what reconnects cause; it only stops a message that crashes the process from looping
/// forever. Fixed: a queue's arguments cannot change once it exists.
pub const DELIVERY_LIMIT: i64 = 50;

/// Declares the whole topology. Safe to repeat, from any number of processes.
pub async fn declare(channel: &Channel) -> Result<(), lapin::Error> {
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
            .await?;
    }
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(
            DEAD_LETTER_QUEUE.into(),
            durable_queue,
            FieldTable::default(),
        )
        .await?;

    // A quorum queue, so a crash-looping message is dead-lettered after DELIVERY_LIMIT
    // deliveries (RabbitMQ before 4.0 sets no limit by itself).
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        ShortString::from("x-dead-letter-routing-key"),
        AMQPValue::LongString(DEAD_LETTER_QUEUE.into()),
    );
    channel
        .queue_declare(LIFECYCLE_QUEUE.into(), durable_queue, args)
        .await?;
    channel
        .queue_bind(
            LIFECYCLE_QUEUE.into(),
            COMMERCE_EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}
