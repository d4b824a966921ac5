//! Refolding tenants: the one procedure behind every change to a tenant, whether an event
//! arrived, a timer came due or a shard got room. All of it runs in the caller's transaction:
//! the events' judgements, the tenant rows, their old hosts, their shard slots and their change
//! messages commit together or not at all. It works on a whole batch of tenants with one
//! statement of each kind, so its cost hardly grows with the batch.

use super::db::StoreError;
use super::events::{self, NewEvent, Recorded, StoredEvent, ToRecord};
use super::tenants::{self, TenantRow};
use super::{Tx, outbox, shards};
use crate::domain::{EventId, Residency, Site, TenantId};
use crate::lifecycle::rules::SiteRegistry;
use crate::lifecycle::timers::deletion_is_final;
use crate::lifecycle::{EventKind, Lifecycle, Outcome, ShownState, Tenant, Timer, fold};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Why a tenant is refolded.
#[derive(Debug, Clone)]
pub enum Cause {
    Event {
        id: EventId,
        event_type: String,
    },
    /// The scheduler found a timer due, or a shard with room for a waiting tenant.
    Scheduler,
}

/// A committed change of a tenant row (one version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub tenant_id: TenantId,
    pub previous_state: Option<String>,
    pub state: String,
    pub version: i64,
}

/// What became of one delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new event, judged at its place in contract order: applied, duplicate or rejected
    /// (or cancelled), with the reason when it was not applied.
    Judged {
        outcome: &'static str,
        reason: Option<String>,
    },
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

/// Records delivered events and refolds each of their tenants once, set-based: whatever the
/// batch size, it costs about a dozen statements, not a dozen per tenant. Every tenant of the
/// batch is locked first, in ascending key order, before any shard row is claimed: a batch
/// that holds a shard row then waits for no tenant, so two batches cannot deadlock.
pub async fn ingest(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<IngestReport, StoreError> {
    let mut results = vec![Ingested::Redelivered; events.len()];
    // One id once per statement: a repeat within the batch is a redelivery, another content
    // under the same id a conflict, as if they had come in separate batches.
    let mut first: HashMap<EventId, usize> = HashMap::new();
    let mut unique: Vec<(usize, i32)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match first.get(&e.id) {
            None => {
                first.insert(e.id, unique.len());
                unique.push((i, 1));
            }
            Some(&u) => {
                let original = &events[unique[u].0];
                if same_content(original, e) {
                    unique[u].1 += 1;
                } else {
                    results[i] = conflict(e.id, original.event_type, original.tenant_id);
                }
            }
        }
    }

    let mut tenant_ids: Vec<TenantId> = unique.iter().map(|(i, _)| events[*i].tenant_id).collect();
    sort_for_locking(&mut tenant_ids);
    tenants::lock(tx, &tenant_ids).await?;
    let stored = tenants::load_many(&mut **tx, &tenant_ids).await?;
    let deleted = |t: &TenantId| stored.get(t).filter(|row| row.is_deleted());
    let to_record: Vec<ToRecord<'_>> = unique
        .iter()
        .map(|&(i, deliveries)| ToRecord {
            event: &events[i],
            deliveries,
            reason: match deleted(&events[i].tenant_id) {
                Some(row) => deletion_is_final(row.deleted_at),
                None => "not judged yet".to_owned(),
            },
        })
        .collect();
    let recorded = events::record(tx, &to_record).await?;

    // The last new event of each live tenant, in delivery order, is the cause of its change.
    let mut causes: HashMap<TenantId, Cause> = HashMap::new();
    for ((i, _), (r, record)) in unique.iter().zip(recorded.iter().zip(&to_record)) {
        let e = &events[*i];
        results[*i] = match r {
            Recorded::Redelivered => Ingested::Redelivered,
            Recorded::Conflict {
                stored_tenant,
                stored_type,
            } => conflict(e.id, stored_type, TenantId::from_uuid(*stored_tenant)),
            Recorded::New => {
                if deleted(&e.tenant_id).is_none() {
                    causes.insert(
                        e.tenant_id,
                        Cause::Event {
                            id: e.id,
                            event_type: e.event_type.to_owned(),
                        },
                    );
                }
                Ingested::Judged {
                    outcome: "rejected",
                    reason: Some(record.reason.clone()),
                }
            }
        };
    }
    let work: Vec<(TenantId, Cause)> = tenant_ids
        .iter()
        .filter_map(|t| causes.remove(t).map(|c| (*t, c)))
        .collect();
    let (changes, outcomes) = refold_locked(tx, &work, &stored, now, base_domain).await?;
    for (i, _) in &unique {
        if let Ingested::Judged { .. } = results[*i]
            && let Some(outcome) = outcomes.get(&events[*i].id)
        {
            results[*i] = Ingested::Judged {
                outcome: outcome.as_str(),
                reason: outcome.reason(),
            };
        }
    }
    Ok(IngestReport { results, changes })
}

fn same_content(a: &NewEvent<'_>, b: &NewEvent<'_>) -> bool {
    (a.tenant_id, a.event_type, a.occurred_at, a.sequence, a.data)
        == (b.tenant_id, b.event_type, b.occurred_at, b.sequence, b.data)
}

fn conflict(id: EventId, stored_type: &str, stored_tenant: TenantId) -> Ingested {
    Ingested::Conflict {
        reason: format!(
            "event id {id} was already received with other content (a {stored_type} of tenant {stored_tenant})"
        ),
    }
}

/// Ascending lock key, the order every caller locks tenants in, without repeats.
fn sort_for_locking(ids: &mut Vec<TenantId>) {
    ids.sort_by_key(|id| (tenants::lock_key(*id), *id));
    ids.dedup();
}

/// Refolds tenants at `now`: fires due timers and places those waiting for a shard. Deleted
/// tenants are left alone. Returns the changes.
pub async fn refold(
    tx: &mut Tx,
    ids: &[TenantId],
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<Vec<Change>, StoreError> {
    let mut ids = ids.to_vec();
    sort_for_locking(&mut ids);
    tenants::lock(tx, &ids).await?;
    let stored = tenants::load_many(&mut **tx, &ids).await?;
    let work: Vec<(TenantId, Cause)> = ids
        .iter()
        .filter(|id| !stored.get(id).is_some_and(TenantRow::is_deleted))
        .map(|id| (*id, Cause::Scheduler))
        .collect();
    let (changes, _) = refold_locked(tx, &work, &stored, now, base_domain).await?;
    Ok(changes)
}

/// A tenant folded in memory, waiting for its placement to be known.
struct Refolded<'a> {
    id: TenantId,
    cause: &'a Cause,
    tenant: Tenant,
    last_fired: Option<(Timer, DateTime<Utc>)>,
    stored: Option<&'a TenantRow>,
}

/// Refolds locked tenants, in the order given. Each one's sites are judged against the
/// catalog as the tenants before it in the batch left it, exactly as if they were refolded
/// one after another.
async fn refold_locked(
    tx: &mut Tx,
    work: &[(TenantId, Cause)],
    stored: &HashMap<TenantId, TenantRow>,
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<(Vec<Change>, HashMap<EventId, Outcome>), StoreError> {
    let mut all_outcomes = HashMap::new();
    if work.is_empty() {
        return Ok((Vec::new(), all_outcomes));
    }
    let ids: Vec<TenantId> = work.iter().map(|(id, _)| *id).collect();
    let mut histories = events::load(tx, &ids).await?;
    let claimed: Vec<Site> = histories
        .values()
        .flatten()
        .filter_map(|s| s.event.as_ref().ok().and_then(|e| claimed_site(&e.kind)))
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut holders = tenants::site_holders(tx, &claimed.iter().collect::<Vec<_>>()).await?;

    let mut judged: Vec<StoredEvent> = Vec::new();
    let mut new_outcomes: Vec<(EventId, Outcome)> = Vec::new();
    let mut refolded: Vec<Refolded<'_>> = Vec::new();
    for (id, cause) in work {
        let history = histories.remove(id).unwrap_or_default();
        let valid: Vec<_> = history
            .iter()
            .filter_map(|s| s.event.as_ref().ok().cloned())
            .collect();
        let sites = CatalogSites {
            holders: &holders,
            tenant: *id,
            granted: history
                .iter()
                .filter(|s| s.outcome == Outcome::Applied.as_str())
                .map(|s| s.id)
                .collect(),
        };
        let folded = fold(&valid, now, &sites);
        new_outcomes.extend(folded.outcomes.iter().cloned());
        new_outcomes.extend(history.iter().filter_map(|s| {
            s.event.as_ref().err().map(|reason| {
                (
                    s.id,
                    Outcome::Rejected {
                        reason: reason.clone(),
                    },
                )
            })
        }));
        judged.extend(history);
        let Some(tenant) = folded.tenant else {
            continue;
        };
        // The next tenant of the batch sees this one's site as the catalog will hold it.
        holders.retain(|_, holder| holder != id);
        if let Some(site) = &tenant.site {
            holders.insert(site.as_str().to_owned(), *id);
        }
        refolded.push(Refolded {
            id: *id,
            cause,
            tenant,
            last_fired: folded.fired.last().copied(),
            stored: stored.get(id),
        });
    }
    events::save_outcomes(tx, &judged, &new_outcomes).await?;
    all_outcomes.extend(new_outcomes);

    let wanted: Vec<(TenantId, Residency)> = refolded
        .iter()
        .filter(|r| r.tenant.lifecycle != Lifecycle::Deleted)
        .filter(|r| r.stored.and_then(TenantRow::placement).is_none())
        .map(|r| (r.id, r.tenant.residency))
        .collect();
    let mut placed = shards::claim_slots(tx, &wanted).await?;

    let mut rows = Vec::new();
    let mut messages = Vec::new();
    let mut changes = Vec::new();
    let mut freed = Vec::new();
    let mut purged = Vec::new();
    for r in refolded {
        let deleted = r.tenant.lifecycle == Lifecycle::Deleted;
        let placement = r
            .stored
            .and_then(TenantRow::placement)
            .or_else(|| placed.remove(&r.id));
        let mut next = TenantRow::project(&r.tenant, placement.as_ref());
        if r.stored.is_some_and(|s| s.same_content(&next)) {
            continue;
        }
        if deleted {
            // A deleted tenant is never refolded again, so its events are not read again.
            purged.push(r.id);
            freed.extend(placement.map(|p| p.shard_id));
        }
        let (caused_by, cause_name) = match (r.cause, r.last_fired) {
            (Cause::Event { id, event_type }, _) => (Some(id.as_uuid()), event_type.clone()),
            (Cause::Scheduler, Some((timer, at))) => {
                let name = format!("{}/{timer}/{}", r.id, at.to_rfc3339());
                (
                    Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())),
                    timer.as_str().to_owned(),
                )
            }
            (Cause::Scheduler, None) => (None, "placement".to_owned()),
        };
        next.version = r.stored.map_or(1, |s| s.version + 1);
        next.caused_by = caused_by;
        let previous_state = r.stored.map(|s| s.state.clone());
        messages.push(change_message(
            &next,
            previous_state.as_deref(),
            &cause_name,
            now,
            base_domain,
        ));
        changes.push(Change {
            tenant_id: r.id,
            previous_state,
            state: next.state.clone(),
            version: next.version,
        });
        let old_sites_changed = r.stored.map_or(!next.old_sites.is_empty(), |s| {
            s.old_sites != next.old_sites
        });
        rows.push((next, old_sites_changed));
    }
    shards::release_slots(tx, &freed).await?;
    let (rows, old_sites_changed): (Vec<TenantRow>, Vec<bool>) = rows.into_iter().unzip();
    tenants::save(tx, &rows).await?;
    for (row, changed) in rows.iter().zip(old_sites_changed) {
        if changed {
            tenants::save_old_sites(tx, row).await?;
        }
    }
    events::purge_personal_data(tx, &purged).await?;
    outbox::enqueue(tx, &messages).await?;
    Ok((changes, all_outcomes))
}

/// The message that announces a committed change on `tenant-catalog.changes`.
fn change_message(
    next: &TenantRow,
    previous_state: Option<&str>,
    cause_name: &str,
    now: DateTime<Utc>,
    base_domain: &str,
) -> outbox::Message {
    let host = next.site.as_ref().map(|s| format!("{s}.{base_domain}"));
    let serving = ShownState::parse(&next.state).is_some_and(ShownState::serving);
    let payload = json!({
        "tenant_id": next.id.to_string(),
        "state": next.state,
        "previous_state": previous_state,
        "serving": serving,
        "lifecycle": next.lifecycle,
        "suspended": next.suspended,
        "region": next.region,
        "shard": next.shard_id,
        "host": host,
        "old_hosts": next.old_sites.iter().map(|s| format!("{s}.{base_domain}")).collect::<Vec<_>>(),
        "products": next.products,
        "version": next.version,
        "caused_by": next.caused_by,
        "cause": cause_name,
        "changed_at": now,
    });
    outbox::Message {
        tenant_id: next.id,
        routing_key: format!("tenant.{}", next.state.to_lowercase()),
        payload,
    }
}

/// Which sites other tenants hold now. The catalog knows only who holds a site today, not who
/// held it when an event occurred; so a claim that was granted before (its event is stored as
/// applied) stays granted: when this tenant renamed away from a site and another tenant took
/// it since, the refold must not reject this tenant's own creation under that site.
struct CatalogSites<'a> {
    holders: &'a HashMap<String, TenantId>,
    tenant: TenantId,
    granted: HashSet<EventId>,
}

impl SiteRegistry for CatalogSites<'_> {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool {
        self.holders
            .get(site.as_str())
            .is_some_and(|holder| *holder != self.tenant)
            && !self.granted.contains(&claimed_by)
    }
}

/// The site an event would give its tenant, if any.
fn claimed_site(kind: &EventKind) -> Option<&Site> {
    match kind {
        EventKind::TrialStarted { tenant, .. } => Some(&tenant.site),
        EventKind::SubscriptionActivated {
            tenant: Some(tenant),
            ..
        } => Some(&tenant.site),
        EventKind::SiteRenamed { site } => Some(site),
        _ => None,
    }
}
