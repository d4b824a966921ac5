//! How fresh a replica is: whether it has loaded its snapshot, and how far behind the catalog
//! its knowledge may be, for every tenant (the watermark of the heartbeats) or for every tenant
//! but those whose changes the catalog had not yet published when it looked (the heartbeat's
//! `waiting`). A lookup answers only while what it reads is within the bound.

use crate::domain::{Site, TenantId};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a replica does not answer: it could be wrong by more than its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error(
        "the replica has not loaded its snapshot yet: ask the catalog (serve) or try again shortly"
    )]
    Loading,
    #[error(
        "the replica's routes may be {age_ms} ms old, over its bound of {bound_ms} ms (no news from the catalog's change feed): ask the catalog (serve) or try again shortly"
    )]
    Stale { age_ms: i64, bound_ms: i64 },
    #[error(
        "a change of this tenant or host may have waited to be published by the catalog for {age_ms} ms, over the replica's bound of {bound_ms} ms: ask the catalog (serve) or try again shortly"
    )]
    Waiting { age_ms: i64, bound_ms: i64 },
}

/// How fresh the replica is at one instant.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fresh {
    /// Every tenant within the bound.
    All,
    /// Every tenant but those the last heartbeat named as waiting (changes the catalog had
    /// committed and not yet published), which may be `age_ms` old.
    ButWaiting { age_ms: i64 },
}

/// The clocks a replica is judged by. Hasher: see `super::store`.
pub(super) struct Freshness {
    loaded: AtomicBool,
    /// Catalog time (ms since the epoch) before which every committed change is applied.
    watermark_ms: AtomicI64,
    /// Catalog time before which every committed change is applied but those of `waiting`.
    but_waiting_ms: AtomicI64,
    /// The tenants and sites the last heartbeat named as waiting, each with the number of the
    /// heartbeat that last named it; read only while the watermark is past the bound.
    tenants: papaya::HashMap<TenantId, u64, foldhash::fast::RandomState>,
    sites: papaya::HashMap<Site, u64, foldhash::fast::RandomState>,
    beats: AtomicU64,
    max_staleness_ms: i64,
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn age(at_ms: &AtomicI64) -> Option<Duration> {
    let at = at_ms.load(Ordering::Acquire);
    (at > 0).then(|| Duration::from_millis(u64::try_from(now_ms() - at).unwrap_or(0)))
}

impl Freshness {
    pub(super) fn new(max_staleness: Duration) -> Self {
        Freshness {
            loaded: AtomicBool::new(false),
            watermark_ms: AtomicI64::new(0),
            but_waiting_ms: AtomicI64::new(0),
            tenants: papaya::HashMap::with_hasher(Default::default()),
            sites: papaya::HashMap::with_hasher(Default::default()),
            beats: AtomicU64::new(0),
            max_staleness_ms: i64::try_from(max_staleness.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Loaded, and within the bound: for every tenant (the watermark), or for every tenant but
    /// the waiting ones (the last heartbeat's `as_of`).
    pub(super) fn fresh(&self) -> Result<Fresh, NotReady> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(NotReady::Loading);
        }
        let now = now_ms();
        let age_ms = now - self.watermark_ms.load(Ordering::Acquire);
        if age_ms <= self.max_staleness_ms {
            return Ok(Fresh::All);
        }
        if now - self.but_waiting_ms.load(Ordering::Acquire) <= self.max_staleness_ms {
            return Ok(Fresh::ButWaiting { age_ms });
        }
        Err(NotReady::Stale {
            age_ms,
            bound_ms: self.max_staleness_ms,
        })
    }

    /// Whether a lookup that reads `ids` and `site` may answer at `fresh`: not if a change of
    /// one of them was named as waiting. Allocates nothing; reads the names only while the
    /// watermark is past the bound.
    pub(super) fn judge(
        &self,
        fresh: Fresh,
        ids: &[TenantId],
        site: Option<&Site>,
    ) -> Result<(), NotReady> {
        let Fresh::ButWaiting { age_ms } = fresh else {
            return Ok(());
        };
        let tenants = self.tenants.pin();
        if ids.iter().any(|id| tenants.contains_key(id))
            || site.is_some_and(|s| self.sites.pin().contains_key(s))
        {
            return Err(NotReady::Waiting {
                age_ms,
                bound_ms: self.max_staleness_ms,
            });
        }
        Ok(())
    }

    /// Now less the last watermark (`None` before the first).
    pub(super) fn staleness(&self) -> Option<Duration> {
        age(&self.watermark_ms)
    }

    /// Now less the later of the watermark and the last `as_of` of a heartbeat that named its
    /// waiting changes: how old the knowledge of every tenant but those may be.
    pub(super) fn staleness_but_waiting(&self) -> Option<Duration> {
        [age(&self.watermark_ms), age(&self.but_waiting_ms)]
            .into_iter()
            .flatten()
            .min()
    }

    pub(super) fn waiting(&self) -> usize {
        self.tenants.len()
    }

    pub(super) fn max_staleness(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.max_staleness_ms).unwrap_or(0))
    }

    pub(super) fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }

    /// Every change committed before `at_ms` has been applied. Never goes back.
    pub(super) fn advance_watermark(&self, at_ms: i64) {
        self.watermark_ms.fetch_max(at_ms, Ordering::AcqRel);
    }

    /// Every change committed before `as_of_ms` has been applied but those of `tenants` (which
    /// name `sites`); a heartbeat older than one taken already changes nothing. The new names
    /// go in before the instant moves and the old ones out after it, so a lookup at any moment
    /// between sees at least the names of the instant it reads: a name dropped here is of a
    /// change published before this heartbeat, so applied before it arrived.
    pub(super) fn advance_but_waiting(&self, as_of_ms: i64, tenants: &[TenantId], sites: &[Site]) {
        if as_of_ms <= self.but_waiting_ms.load(Ordering::Acquire) {
            return;
        }
        let beat = self.beats.fetch_add(1, Ordering::Relaxed) + 1;
        let (named_tenants, named_sites) = (self.tenants.pin(), self.sites.pin());
        for id in tenants {
            named_tenants.insert(*id, beat);
        }
        for site in sites {
            named_sites.insert(site.clone(), beat);
        }
        self.but_waiting_ms.store(as_of_ms, Ordering::Release);
        named_tenants.retain(|_, b| *b == beat);
        named_sites.retain(|_, b| *b == beat);
    }
}
