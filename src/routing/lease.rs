//! A concurrent map whose entries are filled from the database without ever keeping a value
//! that a change made stale while it was being read, and whose memory is bounded without
//! ever emptying it for everyone.
//!
//! A reader that misses takes a lease (a placeholder with a unique token) before it reads the
//! database, and may store its result only if its lease is still there. Any invalidation of
//! the key removes the lease, so a value read before a change commits, but stored after the
//! change's notification was handled, is dropped rather than cached (the "lease" technique of
//! memcached at Facebook, NSDI 2013).
//!
//! Found values (`Some`) and answers that nothing exists (`None`, with the leases) are kept
//! apart: found values up to a number of entries, negative ones up to a number of bytes, each
//! evicting its own oldest entries first. Lookups of random keys, which only ever add negative
//! entries, can therefore never push out the routes every caller uses.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 16;
/// What a negative entry costs besides its key: its table slot, its place in the eviction
/// queue and the entry itself, roughly.
const ENTRY_OVERHEAD: usize = 64;

/// Bytes a key takes.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for crate::domain::TenantId {
    fn weight(&self) -> usize {
        16
    }
}

impl Weigh for crate::domain::Site {
    fn weight(&self) -> usize {
        self.as_str().len() + std::mem::size_of::<String>()
    }
}

impl Weigh for u32 {
    fn weight(&self) -> usize {
        4
    }
}

enum Slot<T> {
    Pending(u64),
    Ready(Option<T>),
}

/// The two kinds of entries, each with its own budget.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Leases and `None` answers: budget in bytes.
    Negative = 0,
    /// `Some` answers: budget in entries.
    Found = 1,
}

struct Entry<T> {
    slot: Slot<T>,
    /// Matches the entry's place in its class's eviction queue.
    seq: u64,
}

impl<T> Entry<T> {
    fn class(&self) -> Class {
        match self.slot {
            Slot::Ready(Some(_)) => Class::Found,
            _ => Class::Negative,
        }
    }
}

struct Shard<K, T> {
    map: HashMap<K, Entry<T>>,
    /// Oldest first; a `(key, seq)` whose entry has another seq is stale and skipped.
    queues: [VecDeque<(K, u64)>; 2],
    used: [usize; 2],
    live: [usize; 2],
}

/// What a lookup found.
pub enum Found<T> {
    Hit(Option<T>),
    /// Not cached: read the database, then `fill` with this token.
    Miss(u64),
}

pub struct LeaseMap<K, T> {
    shards: Vec<RwLock<Shard<K, T>>>,
    hasher: RandomState,
    next: AtomicU64,
    /// Per shard: found entries, negative bytes.
    budget: [usize; 2],
}

impl<K: Hash + Eq + Clone + Weigh, T: Clone> LeaseMap<K, T> {
    /// A map of at most `found` found entries and `negative_bytes` of negative ones (leases
    /// included). `found` 0 caches nothing.
    pub fn new(found: usize, negative_bytes: usize) -> Self {
        let shard = || Shard {
            map: HashMap::new(),
            queues: [VecDeque::new(), VecDeque::new()],
            used: [0, 0],
            live: [0, 0],
        };
        LeaseMap {
            shards: (0..SHARDS).map(|_| RwLock::new(shard())).collect(),
            hasher: RandomState::new(),
            next: AtomicU64::new(1),
            budget: [negative_bytes / SHARDS, found.div_ceil(SHARDS)],
        }
    }

    fn shard(&self, key: &K) -> &RwLock<Shard<K, T>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The cached value, or a lease to fill it.
    pub fn get(&self, key: &K) -> Found<T> {
        if let Ok(shard) = self.shard(key).read()
            && let Some(Entry {
                slot: Slot::Ready(v),
                ..
            }) = shard.map.get(key)
        {
            return Found::Hit(v.clone());
        }
        let token = self.next();
        if self.budget[Class::Found as usize] == 0 {
            return Found::Miss(token);
        }
        if let Ok(mut shard) = self.shard(key).write() {
            match shard.map.get_mut(key) {
                Some(Entry {
                    slot: Slot::Ready(v),
                    ..
                }) => return Found::Hit(v.clone()),
                // A later reader takes the lease over; the earlier one's fill is then dropped.
                Some(entry) => entry.slot = Slot::Pending(token),
                None => {
                    let seq = self.next();
                    shard.map.insert(
                        key.clone(),
                        Entry {
                            slot: Slot::Pending(token),
                            seq,
                        },
                    );
                    self.admit(&mut shard, key, Class::Negative, seq);
                }
            }
        }
        Found::Miss(token)
    }

    /// Stores `value` if the lease `token` is still held: nothing invalidated the key since.
    pub fn fill(&self, key: K, token: u64, value: Option<T>) {
        let Ok(mut shard) = self.shard(&key).write() else {
            return;
        };
        let seq = self.next();
        let Some(entry) = shard.map.get_mut(&key) else {
            return;
        };
        if !matches!(entry.slot, Slot::Pending(t) if t == token) {
            return;
        }
        entry.slot = Slot::Ready(value);
        entry.seq = seq;
        let class = entry.class();
        Self::release(&mut shard, &key, Class::Negative);
        self.admit(&mut shard, &key, class, seq);
    }

    /// Forgets the key, and any lease on it.
    pub fn invalidate(&self, key: &K) {
        if let Ok(mut shard) = self.shard(key).write()
            && let Some(entry) = shard.map.remove(key)
        {
            Self::release(&mut shard, key, entry.class());
        }
    }

    /// Forgets everything, leases included.
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut shard) = shard.write() {
                shard.map.clear();
                shard.queues.iter_mut().for_each(VecDeque::clear);
                shard.used = [0, 0];
                shard.live = [0, 0];
            }
        }
    }

    /// Entries held, leases included.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.read().ok().map(|s| s.map.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Negative entries' bytes, leases included.
    pub fn negative_bytes(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.read().ok().map(|s| s.used[Class::Negative as usize]))
            .sum()
    }

    fn cost(key: &K, class: Class) -> usize {
        match class {
            Class::Found => 1,
            Class::Negative => key.weight() + ENTRY_OVERHEAD,
        }
    }

    /// Counts a key into its class, then evicts that class's oldest entries over budget.
    fn admit(&self, shard: &mut Shard<K, T>, key: &K, class: Class, seq: u64) {
        let c = class as usize;
        shard.used[c] += Self::cost(key, class);
        shard.live[c] += 1;
        shard.queues[c].push_back((key.clone(), seq));
        while shard.used[c] > self.budget[c] {
            let Some((old, old_seq)) = shard.queues[c].pop_front() else {
                break;
            };
            if shard
                .map
                .get(&old)
                .is_some_and(|e| e.seq == old_seq && e.class() == class)
            {
                shard.map.remove(&old);
                Self::release(shard, &old, class);
            }
        }
        // Stale queue places (keys invalidated or moved to the other class) are dropped once
        // they outnumber the live ones, so the queues stay proportional to the map.
        if shard.queues[c].len() > 2 * shard.live[c] + 32 {
            let Shard { map, queues, .. } = shard;
            queues[c].retain(|(k, s)| {
                map.get(k)
                    .is_some_and(|e| e.seq == *s && e.class() == class)
            });
        }
    }

    fn release(shard: &mut Shard<K, T>, key: &K, class: Class) {
        let c = class as usize;
        shard.used[c] = shard.used[c].saturating_sub(Self::cost(key, class));
        shard.live[c] = shard.live[c].saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(found: Found<&'static str>) -> u64 {
        match found {
            Found::Miss(token) => token,
            Found::Hit(v) => panic!("expected a miss, got {v:?}"),
        }
    }

    fn cached(map: &LeaseMap<u32, &'static str>, key: u32, value: Option<&'static str>) {
        let token = miss(map.get(&key));
        map.fill(key, token, value);
    }

    #[test]
    fn a_filled_lease_is_a_hit() {
        let map = LeaseMap::new(10, 10_000);
        cached(&map, 1, Some("one"));
        assert!(matches!(map.get(&1), Found::Hit(Some("one"))));
        cached(&map, 2, None);
        assert!(matches!(map.get(&2), Found::Hit(None)));
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_kept() {
        let map = LeaseMap::new(10, 10_000);
        let token = miss(map.get(&1));
        // A change commits and is announced while the reader is still at the database.
        map.invalidate(&1);
        map.fill(1, token, Some("stale"));
        let _ = miss(map.get(&1));
    }

    #[test]
    fn clearing_drops_leases_too() {
        let map = LeaseMap::new(10, 10_000);
        let token = miss(map.get(&1));
        map.clear();
        map.fill(1, token, Some("stale"));
        let _ = miss(map.get(&1));
        assert_eq!(map.len(), 1, "only the new lease");
    }

    #[test]
    fn the_latest_lease_wins() {
        let map = LeaseMap::new(10, 10_000);
        let first = miss(map.get(&1));
        let second = miss(map.get(&1));
        map.fill(1, first, Some("first"));
        map.fill(1, second, Some("second"));
        assert!(matches!(map.get(&1), Found::Hit(Some("second"))));
    }

    #[test]
    fn random_misses_evict_old_misses_never_found_routes() {
        // One shard's worth of budget for negatives: a few entries.
        let map = LeaseMap::new(SHARDS * 100, SHARDS * 4 * (4 + ENTRY_OVERHEAD));
        for key in 0..50 {
            cached(&map, key, Some("route"));
        }
        for key in 1_000..100_000 {
            cached(&map, key, None);
        }
        for key in 0..50 {
            assert!(
                matches!(map.get(&key), Found::Hit(Some("route"))),
                "found route {key} kept"
            );
        }
        assert!(map.negative_bytes() <= SHARDS * 4 * (4 + ENTRY_OVERHEAD));
        assert!(map.len() < 50 + SHARDS * 5, "{}", map.len());
        // The newest misses are the ones kept.
        assert!(matches!(map.get(&99_999), Found::Hit(None)));
    }

    #[test]
    fn found_entries_are_bounded_oldest_out_first_and_zero_caches_nothing() {
        let map = LeaseMap::new(SHARDS, 1 << 20);
        for key in 0..1_000 {
            cached(&map, key, Some("v"));
            assert!(map.len() <= 2 * SHARDS + 1, "{}", map.len());
        }
        assert!(matches!(map.get(&999), Found::Hit(Some("v"))));
        let none = LeaseMap::new(0, 1 << 20);
        cached(&none, 1, Some("v"));
        let _ = miss(none.get(&1));
    }

    #[test]
    fn invalidated_and_refilled_keys_do_not_grow_the_queues() {
        let map = LeaseMap::new(100, 1 << 20);
        for _ in 0..10_000 {
            cached(&map, 7, Some("v"));
            map.invalidate(&7);
        }
        let queued: usize = map
            .shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap()
                    .queues
                    .iter()
                    .map(VecDeque::len)
                    .sum::<usize>()
            })
            .sum();
        assert!(queued < 200, "{queued}");
    }
}
