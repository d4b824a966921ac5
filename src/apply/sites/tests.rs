//! The catalog as one function of its events across tenants: however the events of many
//! tenants with colliding sites arrive, split into batches, the tenants end as one global
//! fold in contract order makes them.

use super::*;
use crate::domain::{BillingDay, Products, Residency, Site};
use crate::lifecycle::Tenant;
use crate::lifecycle::{EventKind, NewTenant};
use proptest::prelude::*;
use std::collections::BTreeMap;

const SITES: [&str; 3] = ["alpha", "bravo", "charlie"];

fn at(day: i64, hour: i64) -> DateTime<Utc> {
    "2026-01-01T00:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time")
        + chrono::Duration::days(day)
        + chrono::Duration::hours(hour)
}

fn tenant(n: usize) -> TenantId {
    format!("00000000-0000-4000-8000-{n:012}")
        .parse()
        .expect("uuid")
}

fn event(n: u32, t: usize, when: DateTime<Utc>, kind: EventKind) -> Event {
    Event {
        id: format!("10000000-0000-4000-8000-{n:012}")
            .parse()
            .expect("uuid"),
        tenant_id: tenant(t),
        occurred_at: when,
        sequence: None,
        kind,
    }
}

fn site(name: &str) -> Site {
    Site::try_from(name).expect("a site")
}

/// `trial.started` of tenant `t` on `name` (products jira, residency eu, billing day 1).
fn trial(n: u32, t: usize, when: DateTime<Utc>, name: &str) -> Event {
    let kind = EventKind::TrialStarted {
        tenant: NewTenant {
            site: site(name),
            products: Products::try_from(vec!["jira".to_owned()]).expect("products"),
            residency: Residency::Eu,
        },
        billing_day: BillingDay::try_from(1).expect("a billing day"),
    };
    event(n, t, when, kind)
}

/// `site.renamed` of tenant `t` to `name`.
fn rename(n: u32, t: usize, when: DateTime<Utc>, name: &str) -> Event {
    event(n, t, when, EventKind::SiteRenamed { site: site(name) })
}

/// Up to 5 tenants, each a creation and up to two renames, on 3 sites, in 6 days (ties
/// included), folded well before any trial ends.
fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (0usize..5, 0usize..3, 0i64..3, 0i64..2, 0usize..3);
    proptest::collection::vec(one, 1..14).prop_map(|specs| {
        let mut created = HashSet::new();
        specs
            .into_iter()
            .enumerate()
            .map(|(n, (t, site, day, hour, kind))| {
                let site = SITES[site];
                let n = n as u32;
                if created.insert(t) || kind == 0 {
                    trial(n, t, at(day, hour), site)
                } else {
                    rename(n, t, at(day + 3, hour), site)
                }
            })
            .collect()
    })
}

fn by_tenant(events: &[Event]) -> BTreeMap<TenantId, Vec<Event>> {
    let mut out: BTreeMap<TenantId, Vec<Event>> = BTreeMap::new();
    for e in events {
        out.entry(e.tenant_id).or_default().push(e.clone());
    }
    out
}

fn now() -> DateTime<Utc> {
    at(10, 0)
}

/// The truth: every tenant folded together, knowing every event.
fn global(events: &[Event]) -> BTreeMap<TenantId, Option<Tenant>> {
    let tenants = by_tenant(events);
    let list: Vec<(TenantId, &[Event])> = tenants.iter().map(|(t, e)| (*t, e.as_slice())).collect();
    let (judged, _) = fold_all(&list, &[], &Arrivals::default(), now());
    list.iter()
        .zip(judged)
        .map(|((t, _), j)| (*t, j.folded.tenant))
        .collect()
}

/// What the catalog does: batch after batch, each refolding its tenants (and those its claims
/// displace) against the claims stored by the batches before.
fn incremental(batches: &[Vec<Event>]) -> BTreeMap<TenantId, Option<Tenant>> {
    let mut known: Vec<Event> = Vec::new();
    let mut claims: HashMap<TenantId, Vec<Claim>> = HashMap::new();
    let mut state: BTreeMap<TenantId, Option<Tenant>> = BTreeMap::new();
    for batch in batches {
        known.extend(batch.iter().cloned());
        let tenants = by_tenant(&known);
        let mut work: Vec<TenantId> = batch.iter().map(|e| e.tenant_id).collect();
        work.sort();
        work.dedup();
        loop {
            let stored = |t: &TenantId| !work.contains(t);
            let others: Vec<StoredClaim> = claims
                .iter()
                .filter(|(t, _)| stored(t))
                .flat_map(|(_, cs)| {
                    cs.iter().map(|c| StoredClaim {
                        claim: c.clone(),
                        deleted_at: None,
                    })
                })
                .collect();
            let all: Vec<StoredClaim> = claims
                .values()
                .flatten()
                .map(|c| StoredClaim {
                    claim: c.clone(),
                    deleted_at: None,
                })
                .collect();
            let before = SiteBook::new(all.iter().map(|s| (&s.claim, s.deleted_at)));
            let list: Vec<(TenantId, &[Event])> =
                work.iter().map(|t| (*t, tenants[t].as_slice())).collect();
            let (judged, after) = fold_all(&list, &others, &Arrivals::default(), now());
            let more = displaced(&others, &before, &after);
            if more.is_empty() {
                for ((t, _), j) in list.iter().zip(judged) {
                    claims.insert(*t, j.claims);
                    state.insert(*t, j.folded.tenant);
                }
                break;
            }
            work.extend(more);
            work.sort();
            work.dedup();
        }
    }
    state
}

proptest! {
    #[test]
    fn any_arrival_order_and_batching_gives_the_global_fold(
        events in arb_events(),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        cuts in proptest::collection::vec(any::<bool>(), 14),
    ) {
        let mut shuffled = events.clone();
        // A deterministic shuffle from the drawn seed.
        let mut seed = order;
        for i in (1..shuffled.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut batches: Vec<Vec<Event>> = vec![Vec::new()];
        for (i, e) in shuffled.into_iter().enumerate() {
            if cuts[i % cuts.len()] && !batches.last().is_some_and(Vec::is_empty) {
                batches.push(Vec::new());
            }
            batches.last_mut().expect("a batch").push(e);
        }
        prop_assert_eq!(incremental(&batches), global(&events));
    }
}

#[test]
fn the_earlier_claim_wins_whichever_arrived_first() {
    let late_but_earlier = trial(1, 1, at(0, 0), "alpha");
    let first_but_later = trial(2, 2, at(1, 0), "alpha");
    let state = incremental(&[
        vec![first_but_later.clone()],
        vec![late_but_earlier.clone()],
    ]);
    let site = |t: usize| state[&tenant(t)].as_ref().map(|t| t.site.clone());
    assert_eq!(
        site(1),
        Some(Some(Site::try_from("alpha").unwrap())),
        "the earlier claim takes the site"
    );
    assert_eq!(
        site(2),
        Some(None),
        "the later claimant is displaced, and stays without a site: {state:?}"
    );
    assert_eq!(state, global(&[late_but_earlier, first_but_later]));
}

#[test]
fn an_old_site_stays_with_its_tenant() {
    let a = trial(1, 1, at(0, 0), "alpha");
    let renamed = rename(2, 1, at(1, 0), "bravo");
    let b = trial(3, 2, at(2, 0), "alpha");
    let state = incremental(&[vec![a, renamed], vec![b]]);
    assert_eq!(
        state[&tenant(2)].as_ref().map(|t| t.site.clone()),
        Some(None),
        "alpha is still held by tenant 1 as an old site"
    );
}
