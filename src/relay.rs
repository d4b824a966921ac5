//! The outbox relay: publishes committed tenant changes to `tenant-catalog.changes` with
//! publisher confirms, and deletes them only once the broker has confirmed every one.
//! A crash between confirm and delete republishes a message: consumers of the change feed
//! dedupe on (`tenant_id`, `version`).

use crate::catalog::{Db, Doing as _, outbox};
use crate::ingest::topology::{self, CHANGES_EXCHANGE};
use crate::ingest::{BrokerError, connect};
use crate::metrics::Metrics;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Messages published per transaction.
const BATCH: i64 = 500;
/// How often to look for changes committed by other processes.
const POLL: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Relay {
    pub db: Db,
    pub amqp_url: String,
    pub metrics: Metrics,
    pub changes: Arc<Notify>,
}

/// Relays until `shutdown`, reconnecting with backoff.
pub async fn run_relay(r: Relay, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match session(&r, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "The outbox relay failed; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    tracing::info!("The outbox relay stopped.");
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Store(#[from] crate::catalog::StoreError),
    #[error("the broker refused (nacked) a change message")]
    Nacked,
}

async fn session(r: &Relay, shutdown: &CancellationToken) -> Result<(), RelayError> {
    use crate::ingest::broker_doing as doing;
    let conn = connect(&r.amqp_url, "relay").await?;
    let channel = doing(conn.create_channel().await, "opening the relay channel")?;
    doing(
        topology::declare(&channel).await,
        "declaring the AMQP topology",
    )?;
    doing(
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await,
        "enabling publisher confirms",
    )?;
    loop {
        let published = publish_batch(r, &channel).await?;
        if published == BATCH as usize {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = r.changes.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// A change's message id, `<tenant_id>/v<version>`: the same change always has the same id,
/// so consumers can drop the copies a relay crash may publish.
fn change_id(payload: &serde_json::Value) -> String {
    let tenant = payload
        .get("tenant_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let version = payload
        .get("version")
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    format!("{tenant}/v{version}")
}

/// Publishes one batch of waiting messages; returns how many.
async fn publish_batch(r: &Relay, channel: &Channel) -> Result<usize, RelayError> {
    use crate::ingest::broker_doing as doing;
    let mut tx =
        r.db.begin()
            .await
            .doing(|| "starting a relay transaction".into())?;
    let pending = outbox::claim(&mut tx, BATCH).await?;
    if pending.is_empty() {
        tx.commit()
            .await
            .doing(|| "ending an empty relay transaction".into())?;
        r.metrics.outbox_backlog.set(0);
        return Ok(0);
    }
    let mut confirms = Vec::with_capacity(pending.len());
    for message in &pending {
        let body = serde_json::to_vec(&message.payload).unwrap_or_default();
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(change_id(&message.payload).into());
        let confirm = doing(
            channel
                .basic_publish(
                    CHANGES_EXCHANGE.into(),
                    message.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await,
            "publishing a change",
        )?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        if doing(confirm.await, "waiting for a change confirm")?.is_nack() {
            return Err(RelayError::Nacked);
        }
    }
    let ids: Vec<i64> = pending.iter().map(|m| m.id).collect();
    outbox::remove(&mut tx, &ids).await?;
    tx.commit()
        .await
        .doing(|| "committing published changes".into())?;
    r.metrics.changes_published.inc_by(ids.len() as u64);
    if let Ok(backlog) = outbox::backlog(&r.db).await {
        r.metrics.outbox_backlog.set(backlog);
    }
    Ok(ids.len())
}
