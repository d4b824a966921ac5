//! Where a new tenant goes: a region its residency allows and, there, the open shard with the
//! lowest fill that still has room. Pure: the catalog loads the candidates and claims the slot.

use crate::domain::{Region, Residency, ShardId};
use std::cmp::Ordering;

/// A shard as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: ShardId,
    pub region: Region,
    pub capacity: i32,
    pub tenant_count: i32,
    pub open: bool,
}

impl Candidate {
    fn has_room(&self) -> bool {
        self.open && self.tenant_count < self.capacity
    }
}

/// The shard to place a tenant of this residency on, if any has room. Lowest fill
/// (tenants / capacity) first; ties go to the residency's preferred region, then the shard id,
/// so that every instance makes the same choice.
pub fn choose(residency: Residency, shards: &[Candidate]) -> Option<&Candidate> {
    let allowed = residency.allowed_regions();
    shards
        .iter()
        .filter(|s| s.has_room())
        .filter_map(|s| {
            allowed
                .iter()
                .position(|r| *r == s.region)
                .map(|rank| (s, rank))
        })
        .min_by(|(a, ra), (b, rb)| {
            cmp_fill(a.tenant_count, a.capacity, b.tenant_count, b.capacity)
                .then(ra.cmp(rb))
                .then(a.id.cmp(&b.id))
        })
        .map(|(s, _)| s)
}

/// `a_taken / a_capacity` against `b_taken / b_capacity`, without division; a shard of
/// capacity 0 counts as full.
pub fn cmp_fill(a_taken: i32, a_capacity: i32, b_taken: i32, b_capacity: i32) -> Ordering {
    let (a_cap, b_cap) = (i64::from(a_capacity.max(0)), i64::from(b_capacity.max(0)));
    match (a_cap, b_cap) {
        (0, 0) => Ordering::Equal,
        (0, _) => Ordering::Greater,
        (_, 0) => Ordering::Less,
        _ => (i64::from(a_taken) * b_cap).cmp(&(i64::from(b_taken) * a_cap)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shard(id: &str, region: Region, capacity: i32, tenant_count: i32) -> Candidate {
        Candidate {
            id: ShardId::try_from(id).expect("valid shard id"),
            region,
            capacity,
            tenant_count,
            open: true,
        }
    }

    #[test]
    fn the_tenant_goes_to_an_allowed_region_only() {
        let shards = [
            shard("us-1", Region::UsEast1, 10, 0),
            shard("de-1", Region::EuCentral1, 10, 9),
        ];
        assert_eq!(
            choose(Residency::De, &shards).map(|s| s.id.as_str()),
            Some("de-1")
        );
        assert_eq!(choose(Residency::Au, &shards), None);
    }

    #[test]
    fn the_lowest_fill_wins_not_the_lowest_count() {
        let shards = [
            shard("small", Region::EuWest1, 10, 5),
            shard("big", Region::EuCentral1, 1000, 100),
        ];
        assert_eq!(
            choose(Residency::Eu, &shards).map(|s| s.id.as_str()),
            Some("big")
        );
    }

    #[test]
    fn full_and_draining_shards_take_no_one() {
        let mut draining = shard("draining", Region::UsEast1, 10, 0);
        draining.open = false;
        let full = shard("full", Region::UsEast1, 3, 3);
        assert_eq!(
            choose(Residency::Us, &[draining.clone(), full.clone()]),
            None
        );
        let zero = shard("zero", Region::UsEast1, 0, 0);
        assert_eq!(choose(Residency::Global, &[draining, full, zero]), None);
    }

    #[test]
    fn ties_go_to_the_preferred_region() {
        let shards = [
            shard("b", Region::EuWest1, 10, 1),
            shard("a", Region::EuCentral1, 10, 1),
        ];
        assert_eq!(
            choose(Residency::Eu, &shards).map(|s| s.region),
            Some(Region::EuCentral1)
        );
    }

    proptest! {
        #[test]
        fn the_chosen_shard_has_room_is_allowed_and_no_allowed_shard_is_emptier(
            specs in proptest::collection::vec((0usize..5, 0i32..20, 0i32..20, any::<bool>()), 0..12),
            res in 0usize..7,
        ) {
            let shards: Vec<Candidate> = specs.iter().enumerate().map(|(i, (r, cap, count, open))| Candidate {
                id: ShardId::try_from(format!("s{i}").as_str()).expect("valid shard id"), region: Region::ALL[*r], capacity: *cap, tenant_count: (*count).min(*cap), open: *open,
            }).collect();
            let residency = Residency::ALL[res];
            let allowed = |s: &Candidate| residency.allowed_regions().contains(&s.region);
            match choose(residency, &shards) {
                Some(c) => {
                    prop_assert!(c.has_room() && allowed(c));
                    let fill = |s: &Candidate| s.tenant_count as f64 / s.capacity as f64;
                    for s in shards.iter().filter(|s| s.has_room() && allowed(s)) {
                        prop_assert!(fill(c) <= fill(s));
                    }
                }
                None => prop_assert!(!shards.iter().any(|s| s.has_room() && allowed(s))),
            }
        }
    }
}
