//! Keeps a [`Replica`] up to date with a catalog: binds its own queue to
//! `tenant-catalog.changes`, then loads the snapshot from a `serve` over HTTP, then applies
//! every change and heartbeat from the queue. The queue is bound before the snapshot is read, so
//! each change is in the snapshot or in the queue (or both: versions sort that out).
//!
//! Gaps heal themselves: a tenant whose versions skipped one is fetched again from `serve`
//! after a grace period (the missing version may only be late); a route to a shard the replica
//! does not know, or a heartbeat whose shard digest differs, fetches the shard list; a lost
//! queue or connection (a broker restart) starts a new session, with a new queue and a new
//! snapshot. Meanwhile the replica answers from what it has only while its watermark is within
//! its bound.

use super::entry::Entry;
pub use super::source::Credentials;
use super::source::{Source, SourceError};
use super::store::{Applied, Replica};
use crate::amqp::topology::CHANGES_EXCHANGE;
use crate::amqp::{BrokerError, Doing as _, connect, topology};
use crate::domain::{BaseDomain, Endpoint, ShardId, TenantId};
use crate::feed::wire::{HEARTBEAT_KEY, ShardList, SnapshotPage, WireRoute};
use crate::supervise::{Supervisor, Up};
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod heartbeat;

/// Where a replica follows a catalog from.
#[derive(Clone)]
pub struct FollowSettings {
    /// The `serve` to load snapshots from, e.g. `http://127.0.0.1:8080`.
    pub source: String,
    pub amqp_url: String,
    pub credentials: Credentials,
    /// Tenants per snapshot page.
    pub page_size: u32,
}

/// How long a skipped version may be late before the tenant is fetched again.
const GAP_GRACE: Duration = Duration::from_secs(1);
/// Unacknowledged deliveries at once.
const PREFETCH: u16 = 2_000;
/// Tries of one snapshot page before the session starts over.
const PAGE_TRIES: u32 = 5;

const SUPERVISOR: Supervisor = Supervisor {
    lost: "The replica lost the catalog's change feed; starting over with a new queue and snapshot.",
    stopped: "The replica stopped following the catalog.",
    first_retry: Duration::from_millis(200),
    max_retry: Duration::from_secs(5),
};

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "the catalog's BASE_DOMAIN is {theirs}, but this replica already holds hosts under {ours}: restart the replica"
    )]
    BaseDomain { ours: String, theirs: String },
}

/// Follows the catalog until `shutdown` on a thread of its own with a runtime of its own, so
/// that the follower never waits behind the tasks of the process that embeds it (request
/// handlers keeping every core busy): changes and heartbeats are taken as they arrive. The
/// thread ends once `shutdown` is cancelled.
pub fn start(
    replica: Replica,
    settings: FollowSettings,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::supervise::on_own_thread("replica-follower", run(replica, settings, shutdown))
}

/// Follows the catalog until `shutdown`, starting over after any failure, as a task of the
/// caller's runtime (see [`start`] for a thread of its own).
pub async fn run(replica: Replica, settings: FollowSettings, shutdown: CancellationToken) {
    let source = match Source::new(&settings.source, &settings.credentials) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "The replica cannot build its HTTP client.");
            return;
        }
    };
    let mut generation = 0u64;
    let (r, s, stop, source) = (&replica, &settings, &shutdown, &source);
    SUPERVISOR
        .run(stop, |up| {
            generation += 1;
            let g = generation;
            async move {
                let mut f = Follower {
                    replica: r,
                    settings: s,
                    source,
                    generation: g,
                    digest: String::new(),
                    late: HashMap::new(),
                };
                let session = f.session(stop, up).await;
                if session.is_err() {
                    r.count_failure();
                }
                session
            }
        })
        .await;
}

struct Follower<'a> {
    replica: &'a Replica,
    settings: &'a FollowSettings,
    source: &'a Source<'a>,
    generation: u64,
    /// The digest of the shard list held.
    digest: String,
    /// Tenants whose versions skipped one, and since when.
    late: HashMap<TenantId, Instant>,
}

/// A queue of the replica's own on `tenant-catalog.changes`, gone with the connection (a
/// replica that comes back starts from a snapshot, so nothing piles up for a replica that is
/// gone), bound to every change and heartbeat, and consumed.
async fn own_queue(channel: &lapin::Channel) -> Result<lapin::Consumer, FollowError> {
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .doing("setting the replica's prefetch")?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .doing("declaring the replica's queue")?;
    for key in ["tenant.#", HEARTBEAT_KEY] {
        channel
            .queue_bind(
                queue.name().clone(),
                CHANGES_EXCHANGE.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .doing("binding the replica's queue to tenant-catalog.changes")?;
    }
    let consumer = channel
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .doing("consuming the replica's queue")?;
    Ok(consumer)
}

impl Follower<'_> {
    async fn session(&mut self, shutdown: &CancellationToken, up: Up) -> Result<(), FollowError> {
        let conn = connect(&self.settings.amqp_url, "replica").await?;
        topology::declare(&conn).await?;
        let channel = conn
            .create_channel()
            .await
            .doing("opening the replica's channel")?;
        let mut deliveries = own_queue(&channel).await?;
        if self.generation > 1 {
            self.replica.count_resync();
        }
        self.load(shutdown).await?;
        up.set();
        let mut tick = tokio::time::interval(GAP_GRACE / 2);
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    self.heal().await;
                    continue;
                }
                next = deliveries.next() => next,
            };
            let first = match first {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(e).doing("receiving a change")?,
                None => {
                    return Err(lapin::Error::from(
                        lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
                    ))
                    .doing("the broker ended the replica's consumer (was its queue deleted?)")?;
                }
            };
            let mut last = first.delivery_tag;
            self.handle(&first.routing_key, &first.data).await;
            // Take what is already here, then acknowledge it all at once.
            while let Some(Some(Ok(d))) = deliveries.next().now_or_never() {
                last = d.delivery_tag;
                self.handle(&d.routing_key, &d.data).await;
            }
            channel
                .basic_ack(last, BasicAckOptions { multiple: true })
                .await
                .doing("acknowledging changes")?;
        }
    }

    async fn fetch_shards(&mut self) -> Result<BaseDomain, FollowError> {
        let list: ShardList = self.source.get("/replica/v1/shards").await?;
        let base = BaseDomain::try_from(list.base_domain.as_str())
            .map_err(|e| self.source.failed(format!("base_domain: {e}")))?;
        if let Err(ours) = self.replica.set_base_domain(base.clone()) {
            return Err(FollowError::BaseDomain {
                ours: ours.to_string(),
                theirs: base.to_string(),
            });
        }
        let shards = list
            .shards
            .iter()
            .filter_map(|s| {
                Some((
                    ShardId::try_from(s.id.as_str()).ok()?,
                    Endpoint::try_from(s.endpoint.as_str()).ok()?,
                ))
            })
            .collect();
        self.replica.set_shards(shards);
        self.digest = list.digest;
        Ok(base)
    }

    /// Loads the whole snapshot, page by page, each page retried where it failed.
    async fn load(&mut self, shutdown: &CancellationToken) -> Result<(), FollowError> {
        let started = Instant::now();
        let base = self.fetch_shards().await?;
        let mut after: Option<uuid::Uuid> = None;
        let mut as_of = None;
        let mut loaded = 0usize;
        loop {
            let path = match after {
                Some(a) => format!(
                    "/replica/v1/snapshot?limit={}&after={a}",
                    self.settings.page_size
                ),
                None => format!("/replica/v1/snapshot?limit={}", self.settings.page_size),
            };
            let mut tries = 0;
            let page: SnapshotPage = loop {
                match self.source.get(&path).await {
                    Ok(page) => break page,
                    Err(error) if tries + 1 < PAGE_TRIES => {
                        tries += 1;
                        tracing::warn!(%error, tries, "A snapshot page failed; trying it again.");
                        tokio::select! {
                            _ = shutdown.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(Duration::from_millis(200 << tries)) => {}
                        }
                    }
                    Err(error) => return Err(error.into()),
                }
            };
            as_of.get_or_insert(page.as_of);
            for wire in &page.entries {
                self.apply(wire, &base, false);
            }
            loaded += page.entries.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let swept = self.replica.sweep(self.generation);
        // Every change committed before the first page was read is in the snapshot.
        if let Some(at) = as_of {
            self.replica.advance_watermark(at.timestamp_millis());
        }
        self.replica.set_loaded();
        tracing::info!(
            tenants = loaded,
            swept,
            took_ms = started.elapsed().as_millis() as u64,
            "The replica loaded the catalog's snapshot."
        );
        Ok(())
    }

    fn apply(&mut self, wire: &WireRoute, base: &BaseDomain, live: bool) -> bool {
        let entry = match Entry::parse(wire, base) {
            Ok(e) => e,
            Err(field) => {
                tracing::warn!(tenant_id = %wire.tenant_id, version = wire.version, %field, "The replica skipped an entry it cannot read.");
                return false;
            }
        };
        let id = entry.id;
        let unknown_shard = entry
            .to
            .as_ref()
            .is_some_and(|to| !self.replica.knows_shard(&to.placement.shard));
        match self.replica.apply(entry, self.generation) {
            Applied::Newer { skipped: true } if live => {
                self.late.entry(id).or_insert_with(Instant::now);
            }
            Applied::Newer { .. } => {
                self.late.remove(&id);
            }
            Applied::Older => {}
        }
        unknown_shard
    }

    async fn handle(&mut self, routing_key: &lapin::types::ShortString, body: &[u8]) {
        if routing_key.as_str() == HEARTBEAT_KEY {
            return self.on_heartbeat(body).await;
        }
        let Ok(wire) = serde_json::from_slice::<WireRoute>(body) else {
            tracing::warn!(%routing_key, "The replica got a change message it cannot read.");
            return;
        };
        let Some(base) = self.replica.base_domain().cloned() else {
            return;
        };
        if let Some(at) = wire.changed_at {
            self.replica.observe_delay(at);
        }
        // Routes to a new shard are built as its list comes in.
        if self.apply(&wire, &base, true)
            && let Err(error) = self.fetch_shards().await
        {
            tracing::warn!(%error, "The replica could not fetch the shard list.");
        }
    }

    /// Fetches again the tenants whose skipped versions stayed missing past the grace period.
    async fn heal(&mut self) {
        let due: Vec<TenantId> = self
            .late
            .iter()
            .filter(|(_, since)| since.elapsed() >= GAP_GRACE)
            .map(|(id, _)| *id)
            .collect();
        let Some(base) = self.replica.base_domain().cloned() else {
            return;
        };
        for chunk in due.chunks(crate::feed::wire::MAX_IDS) {
            let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let path = format!("/replica/v1/snapshot?ids={}", ids.join(","));
            match self.source.get::<SnapshotPage>(&path).await {
                Ok(page) => {
                    for wire in &page.entries {
                        self.apply(wire, &base, false);
                    }
                    for id in chunk {
                        self.late.remove(id);
                    }
                    self.replica.count_gap_healed(chunk.len() as u64);
                }
                Err(error) => {
                    tracing::warn!(%error, "The replica could not fetch tenants it missed versions of; trying again.");
                    return;
                }
            }
        }
    }
}
