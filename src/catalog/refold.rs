//! Refolding a tenant: the one procedure behind every change to a tenant, whether an event
//! arrived, a timer came due or a shard got room. All of it runs in the caller's transaction:
//! the events' judgements, the tenant row, its old hosts, its shard slot and its change message
//! commit together or not at all.

use super::db::StoreError;
use super::events::{self, NewEvent, Recorded};
use super::tenants::{self, Placement, TenantRow};
use super::{Tx, outbox, shards};
use crate::domain::{EventId, Site, TenantId};
use crate::lifecycle::rules::SiteRegistry;
use crate::lifecycle::timers::deletion_is_final;
use crate::lifecycle::{EventKind, Lifecycle, Outcome, ShownState, fold};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashSet;
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

/// Records delivered events and refolds each of their tenants once. Every tenant of the batch
/// is locked first, in ascending key order, before any shard row is claimed: a batch that
/// holds a shard row then waits for no tenant, so two batches cannot deadlock.
pub async fn ingest(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<IngestReport, StoreError> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (tenants::lock_key(events[i].tenant_id), events[i].tenant_id));
    let mut results = vec![Ingested::Redelivered; events.len()];
    let mut changes = Vec::new();
    let groups: Vec<&[usize]> = order
        .chunk_by(|a, b| events[*a].tenant_id == events[*b].tenant_id)
        .collect();
    for group in &groups {
        tenants::lock(tx, events[group[0]].tenant_id).await?;
    }
    for group in groups {
        let tenant_id = events[group[0]].tenant_id;
        let stored = tenants::load(&mut **tx, tenant_id).await?;
        let deleted = stored.as_ref().filter(|row| row.is_deleted());
        let first_judgement = match deleted {
            Some(row) => deletion_is_final(row.deleted_at),
            None => "not judged yet".to_owned(),
        };
        let mut new = Vec::new();
        for &i in group {
            let event = &events[i];
            results[i] = match events::record(tx, event, "rejected", &first_judgement).await? {
                Recorded::Redelivered => Ingested::Redelivered,
                Recorded::Conflict {
                    stored_tenant,
                    stored_type,
                } => Ingested::Conflict {
                    reason: format!(
                        "event id {} was already received with other content (a {stored_type} of tenant {stored_tenant})",
                        event.id
                    ),
                },
                Recorded::New => {
                    new.push(i);
                    Ingested::Judged {
                        outcome: "rejected",
                        reason: Some(first_judgement.clone()),
                    }
                }
            };
        }
        let Some(&last) = new.last() else { continue };
        if deleted.is_some() {
            continue;
        }
        let cause = Cause::Event {
            id: events[last].id,
            event_type: events[last].event_type.to_owned(),
        };
        let (change, outcomes) =
            refold_locked(tx, tenant_id, stored, now, &cause, base_domain).await?;
        for i in new {
            if let Some((_, outcome)) = outcomes.iter().find(|(id, _)| *id == events[i].id) {
                results[i] = Ingested::Judged {
                    outcome: outcome.as_str(),
                    reason: outcome.reason(),
                };
            }
        }
        changes.extend(change);
    }
    Ok(IngestReport { results, changes })
}

/// Refolds a tenant at `now`: fires due timers and places it if it waits for a shard.
pub async fn refold(
    tx: &mut Tx,
    tenant_id: TenantId,
    now: DateTime<Utc>,
    base_domain: &str,
) -> Result<Option<Change>, StoreError> {
    tenants::lock(tx, tenant_id).await?;
    let stored = tenants::load(&mut **tx, tenant_id).await?;
    if stored.as_ref().is_some_and(TenantRow::is_deleted) {
        return Ok(None);
    }
    let (change, _) =
        refold_locked(tx, tenant_id, stored, now, &Cause::Scheduler, base_domain).await?;
    Ok(change)
}

async fn refold_locked(
    tx: &mut Tx,
    tenant_id: TenantId,
    stored: Option<TenantRow>,
    now: DateTime<Utc>,
    cause: &Cause,
    base_domain: &str,
) -> Result<(Option<Change>, Vec<(EventId, Outcome)>), StoreError> {
    let history = events::load(tx, tenant_id).await?;
    let valid: Vec<_> = history
        .iter()
        .filter_map(|s| s.event.as_ref().ok().cloned())
        .collect();
    let claimed: Vec<&Site> = valid.iter().filter_map(|e| claimed_site(&e.kind)).collect();
    let sites = CatalogSites {
        taken: tenants::sites_taken(tx, tenant_id, &claimed).await?,
        granted: history
            .iter()
            .filter(|s| s.outcome == Outcome::Applied.as_str())
            .map(|s| s.id)
            .collect(),
    };
    let folded = fold(&valid, now, &sites);

    let mut outcomes = folded.outcomes.clone();
    outcomes.extend(history.iter().filter_map(|s| {
        s.event.as_ref().err().map(|reason| {
            (
                s.id,
                Outcome::Rejected {
                    reason: reason.clone(),
                },
            )
        })
    }));
    events::save_outcomes(tx, &history, &outcomes).await?;

    let Some(tenant) = folded.tenant else {
        return Ok((None, outcomes));
    };
    let mut placement: Option<Placement> = stored.as_ref().and_then(TenantRow::placement);
    let deleted = tenant.lifecycle == Lifecycle::Deleted;
    match &placement {
        None if !deleted => placement = shards::claim_slot(tx, tenant.residency).await?,
        Some(p) if deleted => shards::release_slot(tx, &p.shard_id).await?,
        _ => {}
    }
    if deleted {
        // Only now: a deleted tenant is never refolded, so its events are not read again.
        events::purge_personal_data(tx, tenant_id).await?;
    }

    let mut next = TenantRow::project(&tenant, placement.as_ref());
    if stored.as_ref().is_some_and(|s| s.same_content(&next)) {
        return Ok((None, outcomes));
    }
    let (caused_by, cause_name) = match (cause, folded.fired.last()) {
        (Cause::Event { id, event_type }, _) => (Some(id.as_uuid()), event_type.clone()),
        (Cause::Scheduler, Some((timer, at))) => {
            let name = format!("{tenant_id}/{timer}/{}", at.to_rfc3339());
            (
                Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())),
                timer.as_str().to_owned(),
            )
        }
        (Cause::Scheduler, None) => (None, "placement".to_owned()),
    };
    next.version = stored.as_ref().map_or(1, |s| s.version + 1);
    next.caused_by = caused_by;
    tenants::save(tx, &next).await?;

    let previous_state = stored.map(|s| s.state);
    let host = next.site.as_ref().map(|s| format!("{s}.{base_domain}"));
    let serving = ShownState::parse(&next.state).is_some_and(ShownState::serving);
    let payload = json!({
        "tenant_id": tenant_id.to_string(),
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
        "caused_by": caused_by,
        "cause": cause_name,
        "changed_at": now,
    });
    let routing_key = format!("tenant.{}", next.state.to_lowercase());
    outbox::enqueue(tx, tenant_id.as_uuid(), &routing_key, &payload).await?;
    let change = Change {
        tenant_id,
        previous_state,
        state: next.state,
        version: next.version,
    };
    Ok((Some(change), outcomes))
}

/// Which sites other tenants hold now. The catalog knows only who holds a site today, not who
/// held it when an event occurred; so a claim that was granted before (its event is stored as
/// applied) stays granted: when this tenant renamed away from a site and another tenant took
/// it since, the refold must not reject this tenant's own creation under that site.
struct CatalogSites {
    taken: HashSet<String>,
    granted: HashSet<EventId>,
}

impl SiteRegistry for CatalogSites {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool {
        self.taken.contains(site.as_str()) && !self.granted.contains(&claimed_by)
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
