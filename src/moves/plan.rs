//! Rebalancing: which moves bring the fills of a region's shards closest together. Pure; the
//! admin API loads the shards and names the tenants, and carries nothing out.

use crate::domain::{Region, ShardId};
use crate::placement::cmp_fill;
use std::cmp::Ordering;

/// A shard as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub id: ShardId,
    pub region: Region,
    pub capacity: i32,
    /// Slots taken (tenants and running moves in).
    pub taken: i32,
    /// Tenants that could move off it now (live, not moving).
    pub movable: i32,
}

/// Up to `max_moves` moves, as (from, to) pairs in the order to make them, each within one
/// region, each from the fullest shard that has a tenant to move to the emptiest one with
/// room, as long as the source stays at least as full as the target: the plan ends with every
/// region within one tenant's share of even, and proposes no move that would not help.
/// `shards` are the open shards; they are updated to the fills after the plan.
pub fn rebalance(shards: &mut [Fill], max_moves: usize) -> Vec<(ShardId, ShardId)> {
    let mut moves = Vec::new();
    while moves.len() < max_moves {
        let mut best: Option<(usize, usize)> = None;
        for region in Region::ALL {
            let in_region: Vec<usize> = (0..shards.len())
                .filter(|i| shards[*i].region == region)
                .collect();
            let src = in_region
                .iter()
                .copied()
                .filter(|i| shards[*i].movable > 0)
                .max_by(|a, b| {
                    let (x, y) = (&shards[*a], &shards[*b]);
                    cmp_fill(x.taken, x.capacity, y.taken, y.capacity).then(y.id.cmp(&x.id))
                });
            let dst = in_region
                .iter()
                .copied()
                .filter(|i| shards[*i].taken < shards[*i].capacity)
                .min_by(|a, b| {
                    let (x, y) = (&shards[*a], &shards[*b]);
                    cmp_fill(x.taken, x.capacity, y.taken, y.capacity).then(x.id.cmp(&y.id))
                });
            let (Some(s), Some(d)) = (src, dst) else {
                continue;
            };
            let (from, to) = (&shards[s], &shards[d]);
            // The source must stay at least as full as the target: both fills then stay within
            // the region's before, so its spread never grows, and sum(taken² / capacity)
            // falls with every move, so the plan ends.
            if s != d
                && cmp_fill(from.taken - 1, from.capacity, to.taken + 1, to.capacity)
                    != Ordering::Less
            {
                // Of all regions, the move from the fullest source goes first.
                let better = best.is_none_or(|(bs, _)| {
                    let b = &shards[bs];
                    cmp_fill(from.taken, from.capacity, b.taken, b.capacity) == Ordering::Greater
                });
                if better {
                    best = Some((s, d));
                }
            }
        }
        let Some((s, d)) = best else {
            break;
        };
        shards[s].taken -= 1;
        shards[s].movable -= 1;
        shards[d].taken += 1;
        moves.push((shards[s].id.clone(), shards[d].id.clone()));
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fill(id: &str, region: Region, capacity: i32, taken: i32) -> Fill {
        Fill {
            id: ShardId::try_from(id).expect("valid id"),
            region,
            capacity,
            taken,
            movable: taken,
        }
    }

    #[test]
    fn a_full_shard_and_an_empty_one_end_even() {
        let mut shards = [
            fill("a", Region::EuWest1, 100, 90),
            fill("b", Region::EuWest1, 100, 10),
        ];
        let moves = rebalance(&mut shards, 1000);
        assert_eq!(moves.len(), 40);
        assert_eq!((shards[0].taken, shards[1].taken), (50, 50));
    }

    #[test]
    fn fills_count_by_capacity_and_regions_stay_apart() {
        let mut shards = [
            fill("big", Region::UsEast1, 1000, 100),
            fill("small", Region::UsEast1, 10, 9),
            fill("eu", Region::EuWest1, 10, 0),
        ];
        let moves = rebalance(&mut shards, 1000);
        assert!(
            moves
                .iter()
                .all(|(f, t)| f.as_str() == "small" && t.as_str() == "big"),
            "{moves:?}"
        );
        assert_eq!(shards[2].taken, 0, "no tenant leaves its region");
        assert_eq!(
            shards[1].taken, 2,
            "small ends at 20%, within a tenant of big: {shards:?}"
        );
    }

    #[test]
    fn max_moves_bounds_the_plan_and_a_balanced_region_needs_none() {
        let mut shards = [
            fill("a", Region::EuWest1, 10, 9),
            fill("b", Region::EuWest1, 10, 1),
        ];
        assert_eq!(rebalance(&mut shards, 2).len(), 2);
        let mut even = [
            fill("a", Region::EuWest1, 10, 5),
            fill("b", Region::EuWest1, 10, 5),
        ];
        assert!(rebalance(&mut even, 10).is_empty());
    }

    proptest! {
        #[test]
        fn the_spread_never_grows_and_the_plan_ends_with_no_move_left(
            specs in proptest::collection::vec((0usize..2, 1i32..50, 0i32..50), 1..8),
        ) {
            let mut shards: Vec<Fill> = specs.iter().enumerate().map(|(i, (r, cap, taken))| {
                fill(&format!("s{i}"), Region::ALL[*r], *cap, (*taken).min(*cap))
            }).collect();
            let spread = |s: &[Fill], region: Region| {
                let fills: Vec<f64> = s.iter().filter(|f| f.region == region).map(|f| f64::from(f.taken) / f64::from(f.capacity)).collect();
                fills.iter().cloned().fold(f64::MIN, f64::max) - fills.iter().cloned().fold(f64::MAX, f64::min)
            };
            let before: Vec<f64> = Region::ALL[..2].iter().map(|r| spread(&shards, *r)).collect();
            let total: i32 = shards.iter().map(|s| s.taken).sum();
            let moves = rebalance(&mut shards, 10_000);
            prop_assert_eq!(total, shards.iter().map(|s| s.taken).sum::<i32>());
            for s in &shards {
                prop_assert!(s.taken <= s.capacity && s.taken >= 0);
            }
            for (i, r) in Region::ALL[..2].iter().enumerate() {
                if shards.iter().any(|s| s.region == *r) {
                    prop_assert!(spread(&shards, *r) <= before[i] + 1e-9);
                }
            }
            // Ends: no improving move is left.
            prop_assert!(rebalance(&mut shards, 1).is_empty() || moves.len() == 10_000);
        }
    }
}
