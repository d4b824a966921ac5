//! `tenant-catalog upgrade-queue`: replaces a `tenant-catalog.lifecycle` declared by an earlier
//! version (with the broker's delivery limit of 50) by one declared as today, losing nothing.
//!
//! RabbitMQ cannot change a queue's arguments, and a policy can only lower a delivery limit,
//! so the queue is recreated. A holding queue, declared and bound like it, receives every
//! event published meanwhile; each move is publish, confirm, then acknowledge, so a message is
//! always in at least one queue, and a copy in both is recognised by the catalog as a
//! redelivery of the same event id. Every step can be repeated: an interrupted upgrade is
//! finished by running the command again.

use super::topology::{self, COMMERCE_EXCHANGE, LIFECYCLE_QUEUE, LifecycleQueue};
use super::{BrokerError, Doing, confirm_channel, confirmed};
use lapin::Channel;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;

/// Holds lifecycle events while `tenant-catalog.lifecycle` is recreated.
pub const HOLDING_QUEUE: &str = "tenant-catalog.lifecycle.upgrading";

/// What an upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgrade {
    /// The queue had an earlier version's arguments and was recreated.
    pub recreated: bool,
    /// Messages carried over into the recreated queue.
    pub messages: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(
        "tenant-catalog.lifecycle has {0} consumers: stop every `serve` first (their unacknowledged \
         deliveries would be lost with the old queue), then run the upgrade again"
    )]
    InUse(u32),
}

/// Upgrades the queue if it needs it, and finishes an interrupted upgrade.
pub async fn upgrade_queue(amqp_url: &str) -> Result<Upgrade, UpgradeError> {
    let (conn, channel) = confirm_channel(amqp_url, "upgrade-queue").await?;
    let legacy = topology::declare(&conn).await? == LifecycleQueue::Legacy;
    if legacy {
        let consumers = consumers(&channel, LIFECYCLE_QUEUE).await?;
        if consumers > 0 {
            return Err(UpgradeError::InUse(consumers));
        }
        topology::declare_consumed_queue(&channel, HOLDING_QUEUE)
            .await
            .doing("declaring the holding queue")?;
        topology::bind(&channel, HOLDING_QUEUE).await?;
        // From here every new event reaches both queues, so what the old queue still holds
        // after the move is also in the holding queue, and it can go.
        move_all(&channel, LIFECYCLE_QUEUE, HOLDING_QUEUE).await?;
        channel
            .queue_delete(LIFECYCLE_QUEUE.into(), QueueDeleteOptions::default())
            .await
            .doing("deleting the old tenant-catalog.lifecycle")?;
        if topology::declare(&conn).await? != LifecycleQueue::Current {
            return Err(UpgradeError::Broker(BrokerError {
                doing: "recreating tenant-catalog.lifecycle".into(),
                source: lapin::Error::from(std::io::Error::other(
                    "another process declared it again with the old arguments; stop it and retry",
                )),
            }));
        }
    }
    // Finish with the holding queue, whether this run or an interrupted one filled it. It is
    // declared rather than probed: the broker closes a channel that asks for a queue that is
    // not there, which lapin logs as an error.
    topology::declare_consumed_queue(&channel, HOLDING_QUEUE)
        .await
        .doing("declaring the holding queue")?;
    // Both are bound now: the holding queue can stop receiving before it is emptied.
    channel
        .queue_unbind(
            HOLDING_QUEUE.into(),
            COMMERCE_EXCHANGE.into(),
            "#".into(),
            FieldTable::default(),
        )
        .await
        .doing("unbinding the holding queue")?;
    let messages = move_all(&channel, HOLDING_QUEUE, LIFECYCLE_QUEUE).await?;
    channel
        .queue_delete(HOLDING_QUEUE.into(), QueueDeleteOptions::default())
        .await
        .doing("deleting the holding queue")?;
    let _ = conn.close(200, "upgrade-queue done".into()).await;
    Ok(Upgrade {
        recreated: legacy,
        messages,
    })
}

/// The consumer count of a queue that exists.
async fn consumers(channel: &Channel, queue: &str) -> Result<u32, BrokerError> {
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .doing("counting the consumers of tenant-catalog.lifecycle")?;
    Ok(queue.consumer_count())
}

/// Moves every message of `from` to `to` through the default exchange, one at a time:
/// published, confirmed, then acknowledged in `from`.
async fn move_all(channel: &Channel, from: &str, to: &str) -> Result<u32, BrokerError> {
    let mut moved = 0;
    while let Some(message) = channel
        .basic_get(from.into(), BasicGetOptions { no_ack: false })
        .await
        .doing("reading a queue being upgraded")?
    {
        let delivery = message.delivery;
        let mut properties = delivery.properties.clone();
        if let Some(old) = delivery.properties.headers() {
            // The broker's count of the old queue; the new one counts afresh.
            let mut headers = FieldTable::default();
            for (key, value) in old.inner() {
                if key.as_str() != "x-delivery-count" {
                    headers.insert(key.clone(), value.clone());
                }
            }
            properties = properties.with_headers(headers);
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                to.into(),
                BasicPublishOptions::default(),
                &delivery.data,
                properties,
            )
            .await
            .doing("copying a message to the new queue")?;
        confirmed(confirm).await?;
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .doing("removing a copied message from the old queue")?;
        moved += 1;
    }
    Ok(moved)
}
