//! The outbox relay: publishes committed tenant changes to `tenant-catalog.changes` with
//! publisher confirms, and deletes them only once the broker has confirmed every one.
//! A crash between confirm and delete republishes a message: consumers of the change feed
//! dedupe on (`tenant_id`, `version`). Beside the batches, on a ticker of its own, it publishes
//! heartbeats for replicas (`catalog.heartbeat`, see docs/replica.md).

use crate::amqp::topology::CHANGES_EXCHANGE;
use crate::amqp::{BrokerError, Doing as _, confirm_channel, confirmed};
use crate::catalog::{Db, Doing as _, outbox};
use crate::feed::wire::{HEARTBEAT_KEY, Heartbeat, MAX_WAITING, Waiting, WireShard, shards_digest};
use crate::metrics::Metrics;
use crate::supervise::{self, Supervisor};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};
use prometheus::{IntCounter, IntGauge};
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Messages published per transaction.
const BATCH: i64 = 500;
/// How often to look for changes committed by other processes.
const POLL: Duration = Duration::from_millis(250);
/// How often one relay publishes a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct Relay {
    pub db: Db,
    pub amqp_url: String,
    pub metrics: RelayMetrics,
    pub changes: Arc<Notify>,
}

/// What the relay counts.
#[derive(Clone)]
pub struct RelayMetrics {
    /// Change messages confirmed by the broker.
    pub published: IntCounter,
    /// Change messages committed but not yet confirmed by the broker.
    pub backlog: IntGauge,
    /// Seconds one heartbeat takes, from reading the outbox to its publication.
    pub heartbeat: prometheus::Histogram,
}

impl RelayMetrics {
    pub fn new(m: &Metrics) -> Self {
        RelayMetrics {
            published: m.counter(
                "tenant_catalog_changes_published_total",
                "Change messages confirmed by the broker on tenant-catalog.changes.",
            ),
            backlog: m.gauge(
                "tenant_catalog_outbox_backlog",
                "Change messages waiting to be published (about: the span of their ids, an upper bound).",
            ),
            heartbeat: m
                .histograms(
                    "tenant_catalog_relay_heartbeat_seconds",
                    "Seconds one heartbeat took, from reading the outbox to handing it to the broker.",
                    vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                    &[],
                )
                .with_label_values::<&str>(&[]),
        }
    }
}

const SUPERVISOR: Supervisor = Supervisor {
    lost: "The outbox relay failed; retrying.",
    stopped: "The outbox relay stopped.",
    first_retry: Duration::from_millis(200),
    max_retry: Duration::from_secs(10),
};

const HEARTBEATS: Supervisor = Supervisor {
    lost: "The relay's heartbeats failed; retrying.",
    stopped: "The relay's heartbeats stopped.",
    ..SUPERVISOR
};

/// Relays until `shutdown`, reconnecting with backoff. The heartbeats run beside the batches
/// on a thread, a runtime, a database connection and a broker connection of their own, each
/// retried on its own: neither a batch the broker refuses (nacked again and again) nor a
/// process whose tasks keep its runtime busy holds them back, so replicas keep learning what
/// waits and go on answering every other tenant. Each loop stops at its own waiting points,
/// never inside a transaction (sqlx #4385).
pub async fn run_relay(r: Relay, shutdown: CancellationToken) {
    let beats = match start_heartbeats(r.clone(), shutdown.clone()) {
        Ok(thread) => Some(thread),
        Err(error) => {
            tracing::error!(%error, "The relay could not start its heartbeat thread; no replica can stay fresh.");
            None
        }
    };
    let (r, stop) = (&r, &shutdown);
    SUPERVISOR
        .run(stop, move |up| async move {
            let (_conn, channel) = confirm_channel(&r.amqp_url, "relay").await?;
            up.set();
            publish_loop(r, &channel, stop).await
        })
        .await;
    if let Some(thread) = beats {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// The heartbeat loop on a thread of its own until `shutdown`, with a pool of one connection
/// opened on that thread's runtime.
fn start_heartbeats(
    r: Relay,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    supervise::on_own_thread("relay-heartbeats", async move {
        let db = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*r.db.connect_options()).clone());
        let r = Relay { db, ..r };
        let (r, stop) = (&r, &shutdown);
        HEARTBEATS
            .run(stop, move |up| async move {
                let (_conn, channel) = confirm_channel(&r.amqp_url, "relay heartbeats").await?;
                up.set();
                heartbeats(r, &channel, stop).await
            })
            .await;
        r.db.close().await;
    })
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Store(#[from] crate::catalog::StoreError),
}

/// Publishes waiting changes, a batch at a time, whenever this process committed some or
/// every `POLL` (for other processes').
async fn publish_loop(
    r: &Relay,
    channel: &Channel,
    stop: &CancellationToken,
) -> Result<(), RelayError> {
    loop {
        let published = publish_batch(r, channel).await?;
        if published == BATCH as usize {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = r.changes.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Heartbeats on a ticker and a connection of their own, beside the batches: a relay kept busy
/// (a flood of changes, or a machine whose cores are saturated) still tells replicas how fresh
/// they are every `HEARTBEAT_EVERY`. Sound whenever it is sent: every change committed before
/// a heartbeat's watermark was confirmed into every queue before the watermark was read.
async fn heartbeats(
    r: &Relay,
    channel: &Channel,
    stop: &CancellationToken,
) -> Result<(), RelayError> {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tick.tick() => heartbeat(r, channel).await?,
        }
    }
}

/// Publishes a heartbeat ([`Heartbeat`]): replicas learn how fresh they are from it, and
/// whether the shard list changed.
#[tracing::instrument(level = "debug", name = "Publishing a heartbeat", skip_all)]
async fn heartbeat(r: &Relay, channel: &Channel) -> Result<(), RelayError> {
    let took = r.metrics.heartbeat.start_timer();
    let looked = outbox::watermark(&r.db, MAX_WAITING).await?;
    let watermark = looked.at;
    let list: Vec<WireShard> = looked
        .shards
        .into_iter()
        .map(|(id, region, endpoint)| WireShard {
            id,
            region,
            endpoint,
        })
        .collect();
    let beat = Heartbeat {
        watermark,
        shards: shards_digest(&list),
        waiting: looked.waiting.map(|(tenants, hosts)| Waiting {
            as_of: looked.as_of,
            tenants,
            hosts,
        }),
    };
    let body = serde_json::to_vec(&beat).unwrap_or_default();
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(format!("heartbeat/{}", watermark.timestamp_micros()).into());
    // Not waiting for the broker's confirm: a heartbeat lost changes nothing (the next one
    // says as much), and on a saturated machine the wait would space them out.
    channel
        .basic_publish(
            CHANGES_EXCHANGE.into(),
            HEARTBEAT_KEY.into(),
            BasicPublishOptions::default(),
            &body,
            properties,
        )
        .await
        .doing("publishing a heartbeat")?;
    took.observe_duration();
    Ok(())
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
#[tracing::instrument(level = "debug", name = "Publishing a batch of changes", skip_all)]
async fn publish_batch(r: &Relay, channel: &Channel) -> Result<usize, RelayError> {
    let mut tx =
        r.db.begin()
            .await
            .doing(|| "starting a relay transaction".into())?;
    let pending = outbox::claim(&mut tx, BATCH).await?;
    if pending.is_empty() {
        tx.commit()
            .await
            .doing(|| "ending an empty relay transaction".into())?;
        r.metrics.backlog.set(0);
        return Ok(0);
    }
    let mut confirms = Vec::with_capacity(pending.len());
    for message in &pending {
        let body = serde_json::to_vec(&message.payload).unwrap_or_default();
        let message_id = change_id(&message.payload);
        tracing::debug!(%message_id, routing_key = %message.routing_key, "Publishing a change.");
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(message_id.into());
        let confirm = channel
            .basic_publish(
                CHANGES_EXCHANGE.into(),
                message.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await
            .doing("publishing a change")?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        confirmed(confirm).await?;
    }
    let ids: Vec<i64> = pending.iter().map(|m| m.id).collect();
    outbox::remove(&mut tx, &ids).await?;
    tx.commit()
        .await
        .doing(|| "committing published changes".into())?;
    r.metrics.published.inc_by(ids.len() as u64);
    if let Ok(backlog) = outbox::backlog(&r.db).await {
        r.metrics.backlog.set(backlog);
    }
    Ok(ids.len())
}
