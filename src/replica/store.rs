//! The replica's memory: every tenant's route by id and by site, and the shards' endpoints, in
//! lock-free maps (papaya). Lookups take no lock and allocate nothing (a route is two shared
//! pointers: the tenant's destination and its shard's endpoint); one writer (the
//! follower, [`super::follow`]) applies snapshot entries and changes, each only if its version
//! is newer than the one held, so a late or repeated message never rolls an answer back.

use super::entry::Entry;
use super::fresh::Freshness;
pub use super::fresh::NotReady;
pub use super::stats::Stats;
use super::stats::delay_histogram;
use crate::domain::{BaseDomain, Endpoint, ShardId, Site, TenantId};
use crate::snapshot::{Destination, Route};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A tenant as the replica holds it, deleted and withdrawn tenants included, so that a late
/// message of an older version cannot bring them back. Held inline in the map's entry: one
/// allocation (the entry) for the tenant, one for its destination.
#[derive(Debug)]
struct Held {
    version: i64,
    epoch: i64,
    /// The snapshot (or resync) that last touched it.
    generation: u64,
    to: Option<Arc<Destination>>,
    /// The keys this tenant has in the site map: its current site (most tenants have no
    /// other) and the old ones.
    site: Option<Site>,
    old_sites: Box<[Site]>,
}

impl Held {
    fn sites(&self) -> impl Iterator<Item = &Site> {
        self.site.iter().chain(self.old_sites.iter())
    }
}

/// The maps' hasher: fast on 16-byte ids, seeded at random per map.
type Hasher = foldhash::fast::RandomState;

/// What applying an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Newer than what was held (or the first seen of the tenant). `skipped`: versions between
    /// the held one and this one never arrived.
    Newer { skipped: bool },
    /// Not newer than what is held: dropped.
    Older,
}

/// The routes of every tenant, in memory; cheap to clone, shared by every thread.
///
/// A lookup answers only while the replica is fresh: its snapshot is loaded, and the catalog
/// told it (by a heartbeat) that every change committed up to at most `max_staleness` ago has
/// reached it. Otherwise it returns [`NotReady`], and the caller asks `serve` instead.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    tenants: papaya::HashMap<TenantId, Held, Hasher>,
    sites: papaya::HashMap<Site, TenantId, Hasher>,
    shards: papaya::HashMap<ShardId, Endpoint, Hasher>,
    base_domain: OnceLock<BaseDomain>,
    freshness: Freshness,
    applied: AtomicU64,
    dropped_older: AtomicU64,
    gaps_healed: AtomicU64,
    resyncs: AtomicU64,
    failures: AtomicU64,
    refused: AtomicU64,
    /// Seconds from a change (its `changed_at`) to its arrival here.
    delay: prometheus::Histogram,
    /// Seconds from a heartbeat's watermark to its arrival here: how far behind the feed runs.
    heartbeat_delay: prometheus::Histogram,
}

impl Replica {
    /// An empty replica that answers nothing until it is loaded and fresh; see
    /// [`super::follow::start`] to have it follow a catalog.
    pub fn empty(max_staleness: Duration) -> Self {
        Replica {
            inner: Arc::new(Inner {
                tenants: papaya::HashMap::with_hasher(Hasher::default()),
                sites: papaya::HashMap::with_hasher(Hasher::default()),
                shards: papaya::HashMap::with_hasher(Hasher::default()),
                base_domain: OnceLock::new(),
                freshness: Freshness::new(max_staleness),
                applied: AtomicU64::new(0),
                dropped_older: AtomicU64::new(0),
                gaps_healed: AtomicU64::new(0),
                resyncs: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                delay: delay_histogram(
                    "tenant_catalog_replica_change_delay_seconds",
                    "Seconds from a change in the catalog (its changed_at) to its arrival at the replica.",
                ),
                heartbeat_delay: delay_histogram(
                    "tenant_catalog_replica_heartbeat_delay_seconds",
                    "Seconds from a heartbeat's watermark (catalog time) to its arrival at the replica.",
                ),
            }),
        }
    }

    /// `Ok` while lookups answer (all but those of tenants whose changes were still waiting
    /// in the catalog at the last heartbeat, if its watermark is past the bound); an `Err`
    /// counts as a refused lookup (see [`Replica::freshness`] for a check that is not one).
    pub fn ready(&self) -> Result<(), NotReady> {
        self.counted(self.freshness())
    }

    /// What [`Replica::ready`] answers, without counting a refusal: for `/readyz` and gauges.
    pub fn freshness(&self) -> Result<(), NotReady> {
        self.inner.freshness.fresh().map(|_| ())
    }

    fn counted<T>(&self, answer: Result<T, NotReady>) -> Result<T, NotReady> {
        answer.inspect_err(|_| self.count_refusal())
    }

    /// Counts a lookup refused with [`NotReady`], for a caller that asks through the
    /// uncounted lookups (the GraphQL side, whose prepared path may ask twice).
    pub(crate) fn count_refusal(&self) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// How old the replica's knowledge may be: now less the last watermark (`None` before
    /// the first).
    pub fn staleness(&self) -> Option<Duration> {
        self.inner.freshness.staleness()
    }

    /// How old its knowledge of every tenant may be but of those the last heartbeat named as
    /// waiting in the catalog: never more than [`Replica::staleness`].
    pub fn staleness_but_waiting(&self) -> Option<Duration> {
        self.inner.freshness.staleness_but_waiting()
    }

    /// How many tenants the last heartbeat named as waiting (their changes committed in the
    /// catalog, not yet published): lookups of them are refused while the watermark is past
    /// the bound.
    pub fn waiting(&self) -> usize {
        self.inner.freshness.waiting()
    }

    /// The bound past which the replica refuses to answer.
    pub fn max_staleness(&self) -> Duration {
        self.inner.freshness.max_staleness()
    }

    /// The route of one tenant: `Ok(None)` for unknown, PROVISIONING, DELETED and withdrawn
    /// tenants, as `serve` answers.
    pub fn route(&self, id: TenantId) -> Result<Option<Route>, NotReady> {
        let fresh = self.inner.freshness.fresh();
        self.counted(fresh.and_then(|f| self.inner.freshness.judge(f, &[id], None)))?;
        Ok(self.held_route(&id))
    }

    /// The routes of `ids`, in the order asked, all read at one readiness check.
    pub fn routes(&self, ids: &[TenantId]) -> Result<Vec<Option<Route>>, NotReady> {
        self.counted(self.routes_uncounted(ids))
    }

    /// [`Replica::routes`] without counting a refusal ([`Replica::count_refusal`]).
    pub(crate) fn routes_uncounted(
        &self,
        ids: &[TenantId],
    ) -> Result<Vec<Option<Route>>, NotReady> {
        let fresh = self.inner.freshness.fresh()?;
        self.inner.freshness.judge(fresh, ids, None)?;
        Ok(ids.iter().map(|id| self.held_route(id)).collect())
    }

    /// The tenant that holds `site`, as its current or an old site.
    pub fn tenant_of_site(&self, site: &Site) -> Result<Option<TenantId>, NotReady> {
        self.counted(self.tenant_of_site_uncounted(site))
    }

    /// Whom `site` names, if what the replica holds of the site and its tenant is fresh.
    fn tenant_of_site_uncounted(&self, site: &Site) -> Result<Option<TenantId>, NotReady> {
        let fresh = self.inner.freshness.fresh()?;
        let id = self.inner.sites.pin().get(site).copied();
        self.inner
            .freshness
            .judge(fresh, id.as_slice(), Some(site))?;
        Ok(id)
    }

    /// The route of the tenant whose host (current or old) is `host`; `Ok(None)` also for a
    /// host that is not `<site>.<base domain>`.
    pub fn route_by_host(&self, host: &str) -> Result<Option<Route>, NotReady> {
        self.ready()?;
        let site = self
            .base_domain()
            .and_then(|b| b.site_of(host))
            .and_then(|s| Site::try_from(s.as_str()).ok());
        match site {
            Some(site) => self.route_by_site(&site),
            None => Ok(None),
        }
    }

    /// The route of the tenant whose current or old site is `site`.
    pub fn route_by_site(&self, site: &Site) -> Result<Option<Route>, NotReady> {
        self.counted(self.route_by_site_uncounted(site))
    }

    /// [`Replica::route_by_site`] without counting a refusal ([`Replica::count_refusal`]).
    pub(crate) fn route_by_site_uncounted(&self, site: &Site) -> Result<Option<Route>, NotReady> {
        let id = self.tenant_of_site_uncounted(site)?;
        Ok(id.and_then(|id| self.held_route(&id)))
    }

    /// A tenant's route: its destination, with its shard's endpoint (none while the shard is
    /// unknown).
    fn held_route(&self, id: &TenantId) -> Option<Route> {
        let tenants = self.inner.tenants.pin();
        let to = tenants.get(id)?.to.as_ref()?;
        let endpoint = self.inner.shards.pin().get(&to.placement.shard)?.clone();
        Some(Route {
            to: to.clone(),
            endpoint,
        })
    }

    /// The base domain hosts are under, once the catalog told it.
    pub fn base_domain(&self) -> Option<&BaseDomain> {
        self.inner.base_domain.get()
    }

    /// The version held of a tenant, if any.
    pub fn version(&self, id: TenantId) -> Option<i64> {
        self.inner.tenants.pin().get(&id).map(|h| h.version)
    }

    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        let tenants = i.tenants.pin();
        Stats {
            entries: tenants.len(),
            routes: tenants.values().filter(|h| h.to.is_some()).count(),
            applied: i.applied.load(Ordering::Relaxed),
            dropped_older: i.dropped_older.load(Ordering::Relaxed),
            gaps_healed: i.gaps_healed.load(Ordering::Relaxed),
            resyncs: i.resyncs.load(Ordering::Relaxed),
            failures: i.failures.load(Ordering::Relaxed),
            refused: i.refused.load(Ordering::Relaxed),
        }
    }

    // What follows is the writer's side: one follower at a time calls it.

    pub(crate) fn set_base_domain(&self, base: BaseDomain) -> Result<(), BaseDomain> {
        match self.inner.base_domain.get() {
            Some(held) if *held != base => Err(held.clone()),
            Some(_) => Ok(()),
            None => {
                let _ = self.inner.base_domain.set(base);
                Ok(())
            }
        }
    }

    /// Applies one tenant's entry if it is newer than the one held.
    pub(crate) fn apply(&self, entry: Entry, generation: u64) -> Applied {
        let i = &self.inner;
        let tenants = i.tenants.pin();
        let held = tenants.get(&entry.id);
        if let Some(h) = held
            && (entry.version < h.version
                || entry.epoch < h.epoch
                || (entry.version == h.version && h.generation >= generation))
        {
            i.dropped_older.fetch_add(1, Ordering::Relaxed);
            return Applied::Older;
        }
        // The same version seen again by a newer snapshot only marks it as seen.
        let skipped = held.is_some_and(|h| entry.version > h.version + 1);
        let sites = i.sites.pin();
        if let Some(h) = held {
            for site in h.sites().filter(|s| !entry.sites.contains(s)) {
                let _ = sites.remove_if(site, |_, holder| *holder == entry.id);
            }
        }
        for site in &entry.sites {
            sites.insert(site.clone(), entry.id);
        }
        let to = entry.to.map(|mut to| {
            // One id per shard, shared by all its routes, rather than one copy per tenant.
            if let Some((shared, _)) = i.shards.pin().get_key_value(&to.placement.shard) {
                to.placement.shard = shared.clone();
            }
            Arc::new(to)
        });
        let mut held_sites = entry.sites.into_iter();
        tenants.insert(
            entry.id,
            Held {
                version: entry.version,
                epoch: entry.epoch,
                generation,
                to,
                site: held_sites.next(),
                old_sites: held_sites.collect(),
            },
        );
        i.applied.fetch_add(1, Ordering::Relaxed);
        Applied::Newer { skipped }
    }

    /// Whether a shard is known (a route to an unknown one waits for the shard list).
    pub(crate) fn knows_shard(&self, id: &ShardId) -> bool {
        self.inner.shards.pin().contains_key(id)
    }

    /// Replaces the shard list: every route to a shard has its new endpoint at once.
    pub(crate) fn set_shards(&self, shards: Vec<(ShardId, Endpoint)>) {
        let map = self.inner.shards.pin();
        let ids: Vec<ShardId> = shards.iter().map(|(id, _)| id.clone()).collect();
        for (id, endpoint) in shards {
            if map.get(&id) != Some(&endpoint) {
                map.insert(id, endpoint);
            }
        }
        let gone: Vec<ShardId> = map.keys().filter(|k| !ids.contains(k)).cloned().collect();
        for id in &gone {
            map.remove(id);
        }
    }

    /// Forgets tenants no snapshot since `generation` named: they are not in the catalog any
    /// more (a restore, say). Called once a full snapshot is loaded.
    pub(crate) fn sweep(&self, generation: u64) -> usize {
        let i = &self.inner;
        let tenants = i.tenants.pin();
        let sites = i.sites.pin();
        let gone: Vec<(TenantId, Vec<Site>)> = tenants
            .iter()
            .filter(|(_, h)| h.generation < generation)
            .map(|(id, h)| (*id, h.sites().cloned().collect()))
            .collect();
        for (id, held_sites) in &gone {
            tenants.remove(id);
            for site in held_sites {
                let _ = sites.remove_if(site, |_, holder| holder == id);
            }
        }
        gone.len()
    }

    /// The catalog says every change committed before `at_ms` has been applied.
    pub(crate) fn advance_watermark(&self, at_ms: i64) {
        self.inner.freshness.advance_watermark(at_ms);
    }

    /// The catalog says every change committed before `as_of_ms` has been applied but those
    /// of `tenants`, which name `sites` (see `Freshness::advance_but_waiting`).
    pub(crate) fn advance_but_waiting(&self, as_of_ms: i64, tenants: &[TenantId], sites: &[Site]) {
        self.inner
            .freshness
            .advance_but_waiting(as_of_ms, tenants, sites);
    }

    pub(crate) fn set_loaded(&self) {
        self.inner.freshness.set_loaded();
    }
}

mod counting;
#[cfg(test)]
mod tests;
