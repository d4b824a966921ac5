//! Routing lookups ("where does tenant X / host Y live, and may I serve it?") from an
//! in-process cache that PostgreSQL notifications keep fresh.
//!
//! Every change to a tenant row or a shard is announced at commit on `catalog_changes`
//! (migration `..._route_notifications.sql`); [`listener`] drops what the cache holds about
//! it, so the next lookup reads the committed row. While the listener is not connected the
//! cache is bypassed and emptied, so a missed notification can never leave a stale answer.

pub mod lease;
pub mod listener;

use crate::catalog::shards::{self, ShardRow};
use crate::catalog::{Db, StoreError, routes};
use crate::domain::{BaseDomain, Endpoint, ShardId, Site, TenantId};
use crate::metrics::Metrics;
use crate::snapshot::{Destination, Route};
use lease::{Found, LeaseMap};
use prometheus::{IntCounter, IntGauge};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

type Shards = Arc<HashMap<ShardId, ShardRow>>;

/// The routing cache of one process; cheap to clone.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    base_domain: BaseDomain,
    metrics: CacheMetrics,
    /// `None`: no such tenant, or one without a route.
    by_id: LeaseMap<TenantId, Arc<Destination>>,
    /// Site (the host without the base domain) to tenant; `None`: no tenant has it.
    by_site: LeaseMap<Site, TenantId>,
    shards: RwLock<Option<Shards>>,
    shards_generation: AtomicU64,
    /// Whether notifications are flowing; without them nothing is served from the cache.
    live: AtomicBool,
    /// The same notifications, for subscribers (GraphQL subscriptions).
    notes: broadcast::Sender<Note>,
}

/// A subscriber's notes. Counted in `tenant_catalog_route_subscribers` from when it says it
/// listens (its subscription in place) until it is dropped.
pub struct Notes {
    rx: broadcast::Receiver<Note>,
    listening: IntGauge,
    counted: bool,
}

impl Notes {
    pub async fn recv(&mut self) -> Result<Note, broadcast::error::RecvError> {
        self.rx.recv().await
    }

    /// The subscriber is in place: everything it is told from now on reaches it.
    pub fn listening(&mut self) {
        if !self.counted {
            self.listening.inc();
            self.counted = true;
        }
    }
}

impl Drop for Notes {
    fn drop(&mut self) {
        if self.counted {
            self.listening.dec();
        }
    }
}

/// What the routing cache counts.
struct CacheMetrics {
    /// Lookups answered from the cache, and lookups that read the database.
    hits: IntCounter,
    misses: IntCounter,
    /// Whether the cache receives change notifications (1) or is bypassed (0).
    live: IntGauge,
    /// Subscribers in place (GraphQL subscriptions).
    subscribers: IntGauge,
}

impl CacheMetrics {
    fn new(m: &Metrics) -> Self {
        let lookups = m.counters(
            "tenant_catalog_route_cache_lookups_total",
            "Routing cache lookups by result: hit or miss (a miss reads the database).",
            "result",
            &["hit", "miss"],
        );
        CacheMetrics {
            hits: lookups.with_label_values(&["hit"]),
            misses: lookups.with_label_values(&["miss"]),
            live: m.gauge(
                "tenant_catalog_route_cache_live",
                "1 while the routing cache receives change notifications; 0 while it is bypassed.",
            ),
            subscribers: m.gauge(
                "tenant_catalog_route_subscribers",
                "GraphQL subscriptions in place, hearing the change notes of this process.",
            ),
        }
    }
}

/// What a subscriber hears: a tenant changed, or notifications may have been missed (the
/// listener reconnected) and every subscriber should read what it follows again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    Tenant(TenantId),
    Resync,
}

/// Notes a slow subscriber may fall behind by before it is told to read everything again.
const NOTES_BUFFER: usize = 4096;

impl Router {
    /// A router caching up to `capacity` routes (and as many sites), and up to
    /// `negative_bytes` of answers that no such tenant or site exists, per map.
    pub fn new(
        db: Db,
        base_domain: BaseDomain,
        capacity: usize,
        negative_bytes: usize,
        metrics: &Metrics,
    ) -> Self {
        let metrics = CacheMetrics::new(metrics);
        Router {
            inner: Arc::new(Inner {
                db,
                base_domain,
                metrics,
                by_id: LeaseMap::new(capacity, negative_bytes),
                by_site: LeaseMap::new(capacity, negative_bytes),
                shards: RwLock::new(None),
                shards_generation: AtomicU64::new(0),
                live: AtomicBool::new(false),
                notes: broadcast::channel(NOTES_BUFFER).0,
            }),
        }
    }

    /// The route of one tenant; `None` for unknown, `PROVISIONING` and `DELETED` tenants.
    pub async fn route(&self, id: TenantId) -> Result<Option<Route>, StoreError> {
        Ok(self.routes(&[id]).await?.pop().flatten())
    }

    /// The routes of `ids`, in the order asked, with one database round trip for all misses.
    pub async fn routes(&self, ids: &[TenantId]) -> Result<Vec<Option<Route>>, StoreError> {
        let destinations = self.destinations(ids).await?;
        let shards = self.shards().await?;
        Ok(destinations
            .into_iter()
            .map(|to| {
                let to = to?;
                let endpoint = shards.get(&to.placement.shard)?.endpoint.clone();
                Some(Route { to, endpoint })
            })
            .collect())
    }

    /// The tenant that holds `site`: as its current site, or as the old site of a renamed
    /// tenant.
    pub async fn tenant_of_site(&self, site: &Site) -> Result<Option<TenantId>, StoreError> {
        let i = &self.inner;
        let token = match self.live().then(|| i.by_site.get(site)) {
            Some(Found::Hit(id)) => {
                i.metrics.hits.inc();
                return Ok(id);
            }
            Some(Found::Miss(token)) => Some(token),
            None => None,
        };
        i.metrics.misses.inc();
        let id = routes::tenant_of_site(&i.db, site.as_str()).await?;
        if let Some(token) = token {
            i.by_site.fill(site.clone(), token, id);
        }
        Ok(id)
    }

    /// The route of the tenant that holds `site`.
    pub async fn route_by_site(&self, site: &Site) -> Result<Option<Route>, StoreError> {
        match self.tenant_of_site(site).await? {
            Some(id) => self.route(id).await,
            None => Ok(None),
        }
    }

    /// Hears every tenant change this process is notified of, from now on.
    pub fn subscribe(&self) -> Notes {
        Notes {
            rx: self.inner.notes.subscribe(),
            listening: self.inner.metrics.subscribers.clone(),
            counted: false,
        }
    }

    /// The endpoint of a shard, from the cache while notifications flow.
    pub async fn endpoint(&self, shard: &ShardId) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.shards().await?.get(shard).map(|s| s.endpoint.clone()))
    }

    /// The base domain hosts are under.
    pub fn base_domain(&self) -> &BaseDomain {
        &self.inner.base_domain
    }

    /// Where each tenant's requests go, from the cache or, for all misses at once, from the
    /// catalog.
    async fn destinations(
        &self,
        ids: &[TenantId],
    ) -> Result<Vec<Option<Arc<Destination>>>, StoreError> {
        let i = &self.inner;
        let live = self.live();
        let mut found: Vec<Option<Arc<Destination>>> = vec![None; ids.len()];
        let mut missing: Vec<(usize, Option<u64>)> = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            match live.then(|| i.by_id.get(id)) {
                Some(Found::Hit(row)) => found[n] = row,
                Some(Found::Miss(token)) => missing.push((n, Some(token))),
                None => missing.push((n, None)),
            }
        }
        let hits = (ids.len() - missing.len()) as u64;
        i.metrics.hits.inc_by(hits);
        if missing.is_empty() {
            return Ok(found);
        }
        i.metrics.misses.inc_by(missing.len() as u64);
        let wanted: Vec<TenantId> = missing.iter().map(|(n, _)| ids[*n]).collect();
        let read: HashMap<TenantId, Arc<Destination>> = routes::by_ids(&i.db, &wanted)
            .await?
            .into_iter()
            .filter_map(|row| {
                let to = Destination::of_route(row, &i.base_domain)?;
                Some((to.tenant_id, Arc::new(to)))
            })
            .collect();
        for (n, token) in missing {
            let to = read.get(&ids[n]).cloned();
            if let Some(token) = token {
                i.by_id.fill(ids[n], token, to.clone());
            }
            found[n] = to;
        }
        Ok(found)
    }

    async fn shards(&self) -> Result<Shards, StoreError> {
        let i = &self.inner;
        if self.live()
            && let Ok(cached) = i.shards.read()
            && let Some(shards) = cached.as_ref()
        {
            return Ok(shards.clone());
        }
        let generation = i.shards_generation.load(Ordering::SeqCst);
        let shards: Shards = Arc::new(
            shards::list(&i.db, None)
                .await?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
        );
        if let Ok(mut cached) = i.shards.write()
            && self.live()
            && i.shards_generation.load(Ordering::SeqCst) == generation
        {
            *cached = Some(shards.clone());
        }
        Ok(shards)
    }

    fn live(&self) -> bool {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Called by the listener: notifications flow (`true`) or may have been missed (`false`).
    /// Either way the cache starts empty.
    pub(crate) fn set_live(&self, live: bool) {
        self.inner.live.store(live, Ordering::SeqCst);
        self.inner.metrics.live.set(i64::from(live));
        self.clear();
        if live {
            // Nobody may be listening: a send without receivers is not an error here.
            let _ = self.inner.notes.send(Note::Resync);
        }
    }

    /// Forgets everything cached.
    pub fn clear(&self) {
        let i = &self.inner;
        i.by_id.clear();
        i.by_site.clear();
        self.forget_shards();
    }

    pub(crate) fn forget_tenant(&self, id: TenantId, sites: &[&str]) {
        self.inner.by_id.invalidate(&id);
        let _ = self.inner.notes.send(Note::Tenant(id));
        if sites.contains(&"*") {
            self.inner.by_site.clear();
        } else {
            // A notification names sites the catalog stored, so they parse; one that does
            // not names nothing this cache can hold.
            for site in sites.iter().filter_map(|s| Site::try_from(*s).ok()) {
                self.inner.by_site.invalidate(&site);
            }
        }
    }

    pub(crate) fn forget_shards(&self) {
        let i = &self.inner;
        i.shards_generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cached) = i.shards.write() {
            *cached = None;
        }
    }
}
