//! A concurrent map whose entries are filled from the database without ever keeping a value
//! that a change made stale while it was being read.
//!
//! A reader that misses takes a lease (a placeholder with a unique token) before it reads the
//! database, and may store its result only if its lease is still there. Any invalidation of
//! the key removes the lease, so a value read before a change commits, but stored after the
//! change's notification was handled, is dropped rather than cached (the "lease" technique of
//! memcached at Facebook, NSDI 2013).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 16;

enum Slot<V> {
    Pending(u64),
    Ready(V),
}

/// What a lookup found.
pub enum Found<V> {
    Hit(V),
    /// Not cached: read the database, then `fill` with this token.
    Miss(u64),
}

pub struct LeaseMap<K, V> {
    shards: Vec<RwLock<HashMap<K, Slot<V>>>>,
    hasher: RandomState,
    next_token: AtomicU64,
    len: AtomicUsize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> LeaseMap<K, V> {
    /// A map that starts over once it holds `capacity` entries (0: caches nothing).
    pub fn new(capacity: usize) -> Self {
        LeaseMap {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_token: AtomicU64::new(1),
            len: AtomicUsize::new(0),
            capacity,
        }
    }

    fn shard(&self, key: &K) -> &RwLock<HashMap<K, Slot<V>>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// The cached value, or a lease to fill it.
    pub fn get(&self, key: &K) -> Found<V> {
        if let Ok(map) = self.shard(key).read()
            && let Some(Slot::Ready(v)) = map.get(key)
        {
            return Found::Hit(v.clone());
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        if self.capacity == 0 {
            return Found::Miss(token);
        }
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            // Bounded memory, simply: start over rather than track recency on the hot path.
            self.clear();
        }
        if let Ok(mut map) = self.shard(key).write() {
            match map.get(key) {
                Some(Slot::Ready(v)) => return Found::Hit(v.clone()),
                Some(Slot::Pending(_)) => {}
                None => {
                    self.len.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A later reader takes the lease over; the earlier one's fill is then dropped.
            map.insert(key.clone(), Slot::Pending(token));
        }
        Found::Miss(token)
    }

    /// Stores `value` if the lease `token` is still held: nothing invalidated the key since.
    pub fn fill(&self, key: K, token: u64, value: V) {
        if let Ok(mut map) = self.shard(&key).write()
            && let Some(slot) = map.get_mut(&key)
            && matches!(slot, Slot::Pending(t) if *t == token)
        {
            *slot = Slot::Ready(value);
        }
    }

    /// Forgets the key, and any lease on it.
    pub fn invalidate(&self, key: &K) {
        if let Ok(mut map) = self.shard(key).write()
            && map.remove(key).is_some()
        {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Forgets everything, leases included.
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut map) = shard.write() {
                self.len.fetch_sub(map.len(), Ordering::Relaxed);
                map.clear();
            }
        }
    }

    /// Entries held, leases included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(found: Found<&'static str>) -> u64 {
        match found {
            Found::Miss(token) => token,
            Found::Hit(v) => panic!("expected a miss, got {v}"),
        }
    }

    #[test]
    fn a_filled_lease_is_a_hit() {
        let map = LeaseMap::new(10);
        let token = miss(map.get(&1));
        map.fill(1, token, "one");
        assert!(matches!(map.get(&1), Found::Hit("one")));
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_kept() {
        let map = LeaseMap::new(10);
        let token = miss(map.get(&1));
        // A change commits and is announced while the reader is still at the database.
        map.invalidate(&1);
        map.fill(1, token, "stale");
        let _ = miss(map.get(&1));
    }

    #[test]
    fn clearing_drops_leases_too() {
        let map = LeaseMap::new(10);
        let token = miss(map.get(&1));
        map.clear();
        map.fill(1, token, "stale");
        let _ = miss(map.get(&1));
        assert_eq!(map.len(), 1, "only the new lease");
    }

    #[test]
    fn the_latest_lease_wins() {
        let map = LeaseMap::new(10);
        let first = miss(map.get(&1));
        let second = miss(map.get(&1));
        map.fill(1, first, "first");
        map.fill(1, second, "second");
        assert!(matches!(map.get(&1), Found::Hit("second")));
    }

    #[test]
    fn it_starts_over_at_capacity_and_caches_nothing_at_zero() {
        let map = LeaseMap::new(2);
        for k in 0..5 {
            let token = miss(map.get(&k));
            map.fill(k, token, "v");
            assert!(map.len() <= 2);
        }
        let none = LeaseMap::new(0);
        let token = miss(none.get(&1));
        none.fill(1, token, "v");
        let _ = miss(none.get(&1));
    }
}
