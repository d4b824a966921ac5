//! Publishing commerce events the way commerce does (CONTRACT.md section 3): to
//! `commerce.lifecycle`, routing key = event type, persistent, JSON, `message_id` = event id.
//! Used by `tenant-catalog publish`, the tests and the load tools.

use super::topology::COMMERCE_EXCHANGE;
use super::{BrokerError, Doing, confirm_channel};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Connection};

/// A confirm-mode channel for publishing events.
pub struct EventPublisher {
    _conn: Connection,
    channel: Channel,
}

impl EventPublisher {
    pub async fn connect(amqp_url: &str) -> Result<Self, BrokerError> {
        let (conn, channel) = confirm_channel(amqp_url, "publisher").await?;
        Ok(Self {
            _conn: conn,
            channel,
        })
    }

    /// Publishes a raw body and waits for the broker's confirm. The routing key and message id
    /// come from the body's `type` and `id` when it has them, as commerce sets them.
    pub async fn publish(&self, body: &[u8]) -> Result<(), BrokerError> {
        confirmed(self.send(body).await?).await
    }

    /// Publishes many bodies, keeping up to `window` of them unconfirmed at once: as safe as
    /// [`publish`](Self::publish) (every confirm is checked before this returns), and far faster
    /// for long streams.
    pub async fn publish_all<'a>(
        &self,
        bodies: impl IntoIterator<Item = &'a [u8]>,
        window: usize,
    ) -> Result<usize, BrokerError> {
        let mut in_flight = std::collections::VecDeque::new();
        let mut count = 0;
        for body in bodies {
            if in_flight.len() >= window.max(1)
                && let Some(oldest) = in_flight.pop_front()
            {
                confirmed(oldest).await?;
            }
            in_flight.push_back(self.send(body).await?);
            count += 1;
        }
        for confirm in in_flight {
            confirmed(confirm).await?;
        }
        Ok(count)
    }

    async fn send(&self, body: &[u8]) -> Result<lapin::PublisherConfirm, BrokerError> {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let routing_key = field("type").unwrap_or_else(|| "unknown".to_owned());
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        if let Some(id) = field("id") {
            properties = properties.with_message_id(id.into());
        }
        self.channel
            .basic_publish(
                COMMERCE_EXCHANGE.into(),
                routing_key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .doing("publishing an event")
    }
}

/// Waits for a publish's confirm; a nack is an error.
pub async fn confirmed(confirm: lapin::PublisherConfirm) -> Result<(), BrokerError> {
    let confirmation = confirm.await.doing("waiting for the broker's confirm")?;
    if confirmation.is_nack() {
        return Err(lapin::Error::from(
            lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Error),
        ))
        .doing("the broker refused (nacked) a message");
    }
    Ok(())
}
