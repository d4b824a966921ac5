//! Applying events: the one place where events (from commerce, from admins, or a timer that
//! came due) meet the lifecycle fold and the catalog. Every change to a tenant goes through
//! here, in the caller's transaction, in these steps:
//!
//! 1. **lock and load**: lock every tenant concerned, in one order, and read their rows;
//! 2. **record** ([`record`]): tell first deliveries from redeliveries (counted) and from ids
//!    reused with other content;
//! 3. **judge** ([`judge`], [`sites`]): fold each tenant's whole history at `now`, its site
//!    claims judged in contract order against the claims of every tenant (taking in the
//!    tenants a late earlier claim displaces), and store the changed outcomes of stored events
//!    and every claim;
//! 4. **store the new events** ([`record`]), each once, with the judgement the fold gave it;
//! 5. **place, persist, publish** ([`persist`]): claim shard slots for tenants that wait for
//!    one, write the rows that changed with a new version, and queue their change messages.
//!
//! A batch of tenants costs one statement of each kind, whatever its size (and another round
//! of them when its claims displace tenants outside it).

pub mod admin;
pub mod moving;
pub mod replay;

mod judge;
mod persist;
pub mod receipt;
mod record;
mod sites;

pub use sites::{GlobalSites, claimed_site};

use crate::catalog::events::NewEvent;
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, Placement, Rules, TenantId};
use crate::feed::change::MoveNote;
use crate::lifecycle::{EventType, Outcome, ShownState};
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;

/// Why a tenant is refolded.
#[derive(Debug, Clone)]
pub enum Cause {
    Event {
        id: EventId,
        event_type: EventType,
    },
    /// The scheduler found a timer due, or a shard with room for a waiting tenant.
    Scheduler,
    /// A deleted tenant's row said something its stored tenant does not make it (`rebuild`).
    Repair,
    /// Another tenant's claim of a site changed what this tenant's claims are granted: the
    /// event of the batch that made the claim, when the batch had one.
    SiteClaim(Option<EventId>),
}

/// A committed change of a tenant row (one version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub tenant_id: TenantId,
    pub previous_state: Option<ShownState>,
    /// `None` when the tenant is unknown again (its creation's site was taken back).
    pub state: Option<ShownState>,
    pub version: i64,
}

/// What became of one delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new event, judged at its place in contract order.
    Judged(Outcome),
    /// A redelivery of a stored event: nothing to do.
    Redelivered,
    /// An id already used by an event with other content: the message is refused.
    Conflict { reason: String },
}

/// What a batch of delivered events did.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// One entry per event, in the order given.
    pub results: Vec<Ingested>,
    pub changes: Vec<Change>,
}

/// Records events and refolds each of their tenants once. Every tenant of the batch is locked
/// first, in ascending key order, before any shard row is claimed: a batch that holds a shard
/// row then waits for no tenant, so two batches cannot deadlock.
#[tracing::instrument(name = "Applying events", skip_all, fields(events = events.len()))]
pub async fn apply_events(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<IngestReport, StoreError> {
    let mut tenant_ids = record::Batch::of(events).tenant_ids();
    sort_for_locking(&mut tenant_ids);
    tenants::lock(tx, &tenant_ids).await?;
    let stored = tenants::load_many(&mut **tx, &tenant_ids).await?;
    apply_loaded(tx, events, stored, &HashMap::new(), now, rules).await
}

/// A move step's routing (its route status, and the target's placement once done): carried
/// out with the step's event, in the one new version of the tenant that event makes.
#[derive(Debug, Clone)]
pub struct Routing {
    pub note: MoveNote,
    pub placement: Option<Placement>,
}

/// [`apply_events`] for tenants the caller has locked and loaded (`stored`, the rows of every
/// tenant of `events` that has one), with the routing of the move steps among them.
async fn apply_loaded(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    stored: HashMap<TenantId, TenantRow>,
    routed: &HashMap<TenantId, Routing>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<IngestReport, StoreError> {
    // Stored instants are microseconds: the fold must see what a refold will read back.
    let now = now.trunc_subsecs(6);
    let batch = record::Batch::of(events);
    let mut tenant_ids = batch.tenant_ids();
    sort_for_locking(&mut tenant_ids);
    let recorded = batch.record(tx, &stored).await?;
    let work: Vec<(TenantId, Cause)> = tenant_ids
        .iter()
        .filter_map(|t| recorded.causes.get(t).map(|c| (*t, c.clone())))
        .collect();
    let known = recorded.new_events(events);
    let judged = judge_locked(tx, &work, &stored, &known, now, rules.grace).await?;
    // Before the rows are persisted: a tenant this batch deletes has the site names removed
    // from its whole history, these events included.
    let results = recorded.store(tx, events, &judged.outcomes, now).await?;
    let changes = persist::persist(tx, judged.refolded, routed, now, &rules.base).await?;
    for (e, result) in events.iter().zip(&results) {
        let event = e.event;
        tracing::debug!(
            event_id = %event.id,
            tenant_id = %event.tenant_id,
            event_type = %event.kind.event_type(),
            ?result,
            "An event was recorded and judged."
        );
    }
    Ok(IngestReport { results, changes })
}

/// Refolds tenants at `now`: fires due timers and places those waiting for a shard. Deleted
/// tenants are left alone. Returns the changes.
#[tracing::instrument(name = "Refolding tenants", skip_all, fields(tenants = ids.len()))]
pub async fn refold(
    tx: &mut Tx,
    ids: &[TenantId],
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Vec<Change>, StoreError> {
    let now = now.trunc_subsecs(6);
    let base = &rules.base;
    let mut ids = ids.to_vec();
    sort_for_locking(&mut ids);
    tenants::lock(tx, &ids).await?;
    let stored = tenants::load_many(&mut **tx, &ids).await?;
    let work: Vec<(TenantId, Cause)> = ids
        .iter()
        .filter(|id| !stored.get(id).is_some_and(TenantRow::is_deleted))
        .map(|id| (*id, Cause::Scheduler))
        .collect();
    let judged = judge_locked(tx, &work, &stored, &HashMap::new(), now, rules.grace).await?;
    let none = HashMap::new();
    let mut changes = persist::persist(tx, judged.refolded, &none, now, base).await?;
    // A deletion is final, so a deleted tenant is not refolded; but what its row derives from
    // it (the shown state, the timer) must still follow from it.
    let deleted: Vec<judge::Refolded> = ids
        .iter()
        .filter_map(|id| stored.get(id).filter(|row| row.is_deleted()))
        .map(|row| judge::Refolded {
            id: row.id(),
            cause: Cause::Repair,
            tenant: row.tenant.clone(),
            last_fired: None,
            stored: Some(row.clone()),
            deletion: None,
        })
        .collect();
    changes.extend(persist::persist(tx, deleted, &none, now, base).await?);
    Ok(changes)
}

/// Ascending lock key, the order every caller locks tenants in, without repeats.
fn sort_for_locking(ids: &mut Vec<TenantId>) {
    ids.sort_by_key(|id| (tenants::lock_key(*id), *id));
    ids.dedup();
}

/// Judges locked tenants, in the order given.
async fn judge_locked(
    tx: &mut Tx,
    work: &[(TenantId, Cause)],
    stored: &HashMap<TenantId, TenantRow>,
    known: &HashMap<EventId, &crate::lifecycle::Event>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<judge::Judged, StoreError> {
    if work.is_empty() {
        return Ok(judge::Judged::default());
    }
    judge::judge(tx, work, stored, known, now, grace).await
}
