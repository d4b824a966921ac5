//! Site claims judged across tenants, in contract order (CONTRACT.md section 7): of two tenants
//! that claim one site, the earlier claim wins, whichever arrived first; a site is held by its
//! tenant, current or old, from its granted claim until that tenant is DELETED.
//!
//! Pure: given the tenants being refolded (their events) and the stored claims of everyone
//! else, [`fold_all`] folds each tenant with a registry that knows every claim, and repeats until
//! no claim's judgement changes. A claim depends only on claims before it in contract order, so
//! this settles after at most one round per claim that changes, usually two rounds in all.

use crate::catalog::claims::{Claim, StoredClaim};
use crate::domain::{EventId, Site, TenantId};
pub use crate::lifecycle::events::claimed_site;
use crate::lifecycle::rules::SiteRegistry;
use crate::lifecycle::{Arrivals, Event, EventKind, Folded, Outcome, fold};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

type Key = (DateTime<Utc>, i64, EventId);

/// A claim, with when its tenant was deleted (`None`: it was not).
type Held = (Claim, Option<DateTime<Utc>>);

/// Every known claim of each site, with when its tenant was deleted.
#[derive(Debug, Clone, Default)]
pub(super) struct SiteBook {
    by_site: HashMap<Site, Vec<Held>>,
}

impl SiteBook {
    pub fn new<'a>(claims: impl IntoIterator<Item = (&'a Claim, Option<DateTime<Utc>>)>) -> Self {
        let mut book = SiteBook::default();
        for (claim, deleted_at) in claims {
            book.by_site
                .entry(claim.site.clone())
                .or_default()
                .push((claim.clone(), deleted_at));
        }
        book
    }

    /// Whether another tenant holds `site` at the place of the claim `key` of `claimant`.
    pub fn taken(&self, site: &Site, claimant: TenantId, key: Key) -> bool {
        self.by_site.get(site).is_some_and(|claims| {
            claims.iter().any(|(c, deleted_at)| {
                c.tenant_id != claimant
                    && c.granted
                    && c.key() < key
                    && deleted_at.is_none_or(|d| d > key.0)
            })
        })
    }
}

/// The registry one tenant's fold asks: the book, and where this tenant's claims stand.
struct Registry<'a> {
    book: &'a SiteBook,
    tenant: TenantId,
    keys: &'a HashMap<EventId, Key>,
}

impl SiteRegistry for Registry<'_> {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool {
        self.keys
            .get(&claimed_by)
            .is_some_and(|key| self.book.taken(site, self.tenant, *key))
    }
}

fn key(e: &Event) -> Key {
    (e.occurred_at, e.sequence.unwrap_or(0), e.id)
}

/// The claims a tenant's events make, judged as its fold judged them: a creating event is
/// granted when it is the one that created the tenant (its first applied event) with its site,
/// a rename when it was applied. A conversion that repeats a site claims nothing.
fn claims_of(tenant: TenantId, events: &[Event], folded: &Folded) -> Vec<Claim> {
    let applied: HashSet<EventId> = folded
        .outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Applied)
        .map(|(id, _)| *id)
        .collect();
    let creation = folded
        .outcomes
        .iter()
        .find(|(_, o)| *o == Outcome::Applied)
        .map(|(id, _)| *id);
    events
        .iter()
        .filter_map(|e| {
            let site = claimed_site(&e.kind)?;
            let renames = matches!(e.kind, EventKind::SiteRenamed { .. });
            let creates = !renames && creation == Some(e.id);
            if !renames && creation.is_some() && !creates && applied.contains(&e.id) {
                // An activation of an existing trial: a conversion, not a claim.
                return None;
            }
            let refused = folded.refused_claims.contains(&e.id);
            Some(Claim {
                event_id: e.id,
                tenant_id: tenant,
                site: site.clone(),
                occurred_at: e.occurred_at,
                sequence: e.sequence.unwrap_or(0),
                granted: applied.contains(&e.id) && (renames || creates) && !refused,
            })
        })
        .collect()
}

/// One tenant's fold, and the claims it makes.
#[derive(Debug, Clone)]
pub(super) struct Judged {
    pub folded: Folded,
    pub claims: Vec<Claim>,
}

/// Folds `tenants` (each with its valid events, stored at `arrivals`) at `now` against
/// `others`, the stored claims of every other tenant, until their claims settle. Also returns
/// the book as it stands after.
pub(super) fn fold_all(
    tenants: &[(TenantId, &[Event])],
    others: &[StoredClaim],
    arrivals: &Arrivals,
    now: DateTime<Utc>,
) -> (Vec<Judged>, SiteBook) {
    let keys: Vec<HashMap<EventId, Key>> = tenants
        .iter()
        .map(|(_, events)| {
            events
                .iter()
                .filter(|e| claimed_site(&e.kind).is_some())
                .map(|e| (e.id, key(e)))
                .collect()
        })
        .collect();
    // Tenants that claim no site in common cannot change each other's judgements: one round
    // is the answer (the usual case: new tenants with sites of their own).
    let mut claimants: HashMap<&Site, TenantId> = HashMap::new();
    let independent = tenants.iter().all(|(id, events)| {
        events
            .iter()
            .filter_map(|e| claimed_site(&e.kind))
            .all(|site| *claimants.entry(site).or_insert(*id) == *id)
    });
    let rounds = if independent { 1 } else { tenants.len() + 2 };
    let mut judged: Vec<Judged> = Vec::new();
    // Each round sees the claims and deletions the previous round gave; the first sees none
    // of these tenants' own claims granted.
    for _ in 0..rounds {
        let book = book_of(others, &judged);
        let round: Vec<Judged> = tenants
            .iter()
            .zip(&keys)
            .map(|((id, events), keys)| {
                let registry = Registry {
                    book: &book,
                    tenant: *id,
                    keys,
                };
                let folded = fold(events, arrivals, now, &registry);
                let claims = claims_of(*id, events, &folded);
                Judged { folded, claims }
            })
            .collect();
        let settled = round.len() == judged.len()
            && round.iter().zip(&judged).all(|(a, b)| {
                a.claims == b.claims && deleted_at(&a.folded) == deleted_at(&b.folded)
            });
        judged = round;
        if settled {
            break;
        }
    }
    let book = book_of(others, &judged);
    (judged, book)
}

fn deleted_at(folded: &Folded) -> Option<DateTime<Utc>> {
    folded.tenant.as_ref().and_then(|t| t.deleted_at)
}

fn book_of(others: &[StoredClaim], judged: &[Judged]) -> SiteBook {
    let stored = others.iter().map(|s| (&s.claim, s.deleted_at));
    let mine = judged
        .iter()
        .flat_map(|j| j.claims.iter().map(|c| (c, deleted_at(&j.folded))));
    SiteBook::new(stored.chain(mine))
}

/// Site ownership as one global fold of every tenant's events in contract order makes it:
/// what the catalog must agree with, whatever the arrival order, batch split or number of
/// consumers. For checking a catalog from outside (the load tool, tests); the write path judges
/// against the stored claims of the other tenants instead.
pub struct GlobalSites {
    book: SiteBook,
    arrivals: Arrivals,
}

impl GlobalSites {
    /// Judges the claims of all `events` (of any tenants), stored at `arrivals`, at `now`.
    pub fn of(events: &[Event], arrivals: Arrivals, now: DateTime<Utc>) -> Self {
        let mut by_tenant: BTreeMap<TenantId, Vec<Event>> = BTreeMap::new();
        for e in events {
            by_tenant.entry(e.tenant_id).or_default().push(e.clone());
        }
        let list: Vec<(TenantId, &[Event])> = by_tenant
            .iter()
            .map(|(t, es)| (*t, es.as_slice()))
            .collect();
        let (_, book) = fold_all(&list, &[], &arrivals, now);
        GlobalSites { book, arrivals }
    }

    /// One tenant's fold at `at`, its claims judged against every other tenant's.
    pub fn fold(&self, tenant: TenantId, events: &[Event], at: DateTime<Utc>) -> Folded {
        let keys: HashMap<EventId, Key> = events
            .iter()
            .filter(|e| claimed_site(&e.kind).is_some())
            .map(|e| (e.id, key(e)))
            .collect();
        let registry = Registry {
            book: &self.book,
            tenant,
            keys: &keys,
        };
        fold(events, &self.arrivals, at, &registry)
    }
}

/// The other tenants whose stored judgement of a claim no longer fits the book: a granted
/// claim that another tenant's earlier claim now takes, or a refused one whose site has come
/// free since `before`. Deleted tenants are left alone: a deletion is final.
pub(super) fn displaced(
    others: &[StoredClaim],
    before: &SiteBook,
    after: &SiteBook,
) -> Vec<TenantId> {
    let mut out: Vec<TenantId> = others
        .iter()
        .filter(|s| s.deleted_at.is_none())
        .filter(|s| {
            let c = &s.claim;
            let now_taken = after.taken(&c.site, c.tenant_id, c.key());
            let was_taken = before.taken(&c.site, c.tenant_id, c.key());
            (c.granted && now_taken) || (!c.granted && was_taken && !now_taken)
        })
        .map(|s| s.claim.tenant_id)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
