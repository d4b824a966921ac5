//! Step 3: folding each locked tenant's whole history at `now`, with its site claims judged
//! against the claims of every tenant ([`super::sites`]), and storing what became of every
//! event and every claim.
//!
//! When a claim of the batch takes a site from a tenant outside it (a late earlier claim), or
//! frees one that another tenant was refused, that tenant is locked and refolded in the same
//! transaction: it gets a new version and a change message like any other.

use super::Cause;
use super::sites::{self, SiteBook, claimed_site};
use crate::catalog::claims::{self, Claim, StoredClaim};
use crate::catalog::events::{self, StoredEvent};
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, Site, TenantId};
use crate::lifecycle::cause::{self, Deletion};
use crate::lifecycle::{Arrivals, Event, Lifecycle, Outcome, Tenant, Timer};
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};

/// A tenant folded in memory, waiting for its placement to be known.
pub(super) struct Refolded {
    pub id: TenantId,
    pub cause: Cause,
    pub tenant: Tenant,
    pub last_fired: Option<(Timer, DateTime<Utc>)>,
    pub stored: Option<TenantRow>,
    /// For a tenant whose fold ends DELETED: what brought the deletion about, for its receipt.
    pub deletion: Option<Deletion>,
}

/// The folded tenants and every judged event's outcome.
#[derive(Default)]
pub(super) struct Judged {
    pub refolded: Vec<Refolded>,
    pub outcomes: HashMap<EventId, Outcome>,
}

/// The tenants being judged: their causes, stored rows and histories.
struct Work {
    causes: Vec<(TenantId, Cause)>,
    rows: HashMap<TenantId, TenantRow>,
    histories: HashMap<TenantId, Vec<StoredEvent>>,
}

/// Folds locked tenants, and the tenants their claims displace.
#[tracing::instrument(name = "Judging tenants", skip_all, fields(tenants = work.len()))]
pub(super) async fn judge(
    tx: &mut Tx,
    work: &[(TenantId, Cause)],
    stored: &HashMap<TenantId, TenantRow>,
    known: &HashMap<EventId, &Event>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Judged, StoreError> {
    let ids: Vec<TenantId> = work.iter().map(|(id, _)| *id).collect();
    let mut w = Work {
        causes: work.to_vec(),
        rows: ids
            .iter()
            .filter_map(|id| Some((*id, stored.get(id)?.clone())))
            .collect(),
        histories: events::load(tx, &ids, known, now).await?,
    };
    let mut locked: HashSet<Site> = HashSet::new();
    // Each round takes in tenants not judged yet, so a chain of displacements of any length
    // ends, at the latest once every claimant of these sites is in.
    loop {
        let sites = claimed_sites(&w, &locked);
        claims::lock_sites(tx, &sites.iter().collect::<Vec<_>>()).await?;
        locked.extend(sites);
        let all = claims::of_sites(tx, &locked.iter().collect::<Vec<_>>()).await?;
        let (judged, others, before, after) = fold(&w, &all, now, grace);
        let more = sites::displaced(&others, &before, &after);
        if more.is_empty() {
            return finish(tx, w, judged, &all).await;
        }
        take_in(tx, &mut w, &more, now).await?;
    }
}

/// The sites the work's events claim that are not locked yet.
fn claimed_sites(w: &Work, locked: &HashSet<Site>) -> HashSet<Site> {
    w.histories
        .values()
        .flatten()
        .filter_map(|s| s.event.as_ref().ok().and_then(|e| claimed_site(&e.kind)))
        .filter(|site| !locked.contains(*site))
        .cloned()
        .collect()
}

/// Folds the work against the stored claims of everyone else: what each tenant becomes, the
/// other tenants' claims, and the book of claims before and after.
fn fold(
    w: &Work,
    all: &[StoredClaim],
    now: DateTime<Utc>,
    grace: Duration,
) -> (Vec<sites::Judged>, Vec<StoredClaim>, SiteBook, SiteBook) {
    let mine: HashSet<TenantId> = w.causes.iter().map(|(id, _)| *id).collect();
    let others: Vec<StoredClaim> = all
        .iter()
        .filter(|c| !mine.contains(&c.claim.tenant_id))
        .cloned()
        .collect();
    let before = SiteBook::new(all.iter().map(|c| (&c.claim, c.deleted_at)));
    let valid: Vec<Vec<Event>> = w
        .causes
        .iter()
        .map(|(id, _)| {
            w.histories
                .get(id)
                .map(|h| {
                    h.iter()
                        .filter_map(|s| s.event.as_ref().ok().cloned())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let list: Vec<(TenantId, &[Event])> = w
        .causes
        .iter()
        .zip(&valid)
        .map(|((id, _), events)| (*id, events.as_slice()))
        .collect();
    let mut arrivals = Arrivals::new(grace);
    for s in w.histories.values().flatten() {
        arrivals.insert(s.id, s.received_at);
    }
    let (judged, after) = sites::fold_all(&list, &others, &arrivals, now);
    (judged, others, before, after)
}

/// Locks, loads and adds to the work the tenants that claims displaced.
async fn take_in(
    tx: &mut Tx,
    w: &mut Work,
    more: &[TenantId],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // These locks come after the batch's own: two transactions that displace each other's
    // tenants can deadlock, and PostgreSQL then aborts one, which is retried.
    tenants::lock(tx, more).await?;
    w.rows.extend(tenants::load_many(&mut **tx, more).await?);
    w.histories
        .extend(events::load(tx, more, &HashMap::new(), now).await?);
    // The batch's first event stands for the claims that displaced them.
    let by = w.causes.iter().find_map(|(_, c)| match c {
        Cause::Event { id, .. } => Some(*id),
        _ => None,
    });
    w.causes
        .extend(more.iter().map(|id| (*id, Cause::SiteClaim(by))));
    Ok(())
}

/// Stores every outcome and claim of the work, and hands on the tenants that exist.
async fn finish(
    tx: &mut Tx,
    mut w: Work,
    judged: Vec<sites::Judged>,
    stored_claims: &[StoredClaim],
) -> Result<Judged, StoreError> {
    let mut stored_events: Vec<StoredEvent> = Vec::new();
    let mut outcomes: Vec<(EventId, Outcome)> = Vec::new();
    let mut all_claims = Vec::new();
    let mut refolded = Vec::new();
    let mut claims_changed = Vec::new();
    for ((id, cause), j) in w.causes.iter().zip(judged) {
        if !same_claims(id, &j.claims, stored_claims) {
            claims_changed.push(*id);
            all_claims.extend(j.claims.iter().cloned());
        }
        let history = w.histories.remove(id).unwrap_or_default();
        // Stored events that no longer read as events are rejected.
        outcomes.extend(j.folded.outcomes.iter().cloned());
        outcomes.extend(history.iter().filter_map(|s| {
            let reason = s.event.as_ref().err()?.clone();
            Some((s.id, Outcome::Rejected { reason }))
        }));
        let deletion = j
            .folded
            .tenant
            .as_ref()
            .filter(|t| t.lifecycle == Lifecycle::Deleted)
            .and_then(|_| {
                let applied: HashSet<EventId> = j
                    .folded
                    .outcomes
                    .iter()
                    .filter(|(_, o)| *o == Outcome::Applied)
                    .map(|(id, _)| *id)
                    .collect();
                let events: Vec<&Event> = history
                    .iter()
                    .filter_map(|s| s.event.as_ref().ok())
                    .filter(|e| applied.contains(&e.id))
                    .collect();
                cause::deletion(&j.folded.steps, &events)
            });
        stored_events.extend(history);
        match j.folded.tenant {
            Some(tenant) => refolded.push(Refolded {
                id: *id,
                cause: cause.clone(),
                tenant,
                last_fired: j.folded.fired.last().copied(),
                stored: w.rows.remove(id),
                deletion,
            }),
            // A stored tenant's events always create it (a lost site claim leaves it without a
            // site, CONTRACT.md section 8); only an event that no longer reads as one could
            // undo that, and then the row is left as it is for an operator to look at.
            None => {
                if w.rows.contains_key(id) {
                    tracing::warn!(tenant_id = %id, "A stored tenant's events no longer create it; its row is left as it was.");
                }
            }
        }
    }
    events::save_outcomes(tx, &stored_events, &outcomes).await?;
    // Most refolds change no claim: only the tenants whose claims changed are rewritten, and
    // only those that had claims before have any to clear.
    let had: HashSet<TenantId> = stored_claims.iter().map(|c| c.claim.tenant_id).collect();
    let clear: Vec<TenantId> = claims_changed
        .iter()
        .filter(|id| had.contains(id))
        .copied()
        .collect();
    claims::replace(tx, &clear, &all_claims).await?;
    Ok(Judged {
        refolded,
        outcomes: outcomes.into_iter().collect(),
    })
}

/// Whether `claims` are exactly the stored claims of `tenant`.
fn same_claims(tenant: &TenantId, claims: &[Claim], stored: &[StoredClaim]) -> bool {
    let mut before: Vec<&Claim> = stored
        .iter()
        .map(|s| &s.claim)
        .filter(|c| c.tenant_id == *tenant)
        .collect();
    let mut after: Vec<&Claim> = claims.iter().collect();
    before.sort_by_key(|c| c.event_id);
    after.sort_by_key(|c| c.event_id);
    before == after
}
