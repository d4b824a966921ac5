//! Step 3: folding each locked tenant's whole history at `now`, with its site claims judged
//! against the catalog, and storing what became of every event.

use super::Cause;
use crate::catalog::events::{self, StoredEvent};
use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, Site, TenantId};
use crate::lifecycle::rules::SiteRegistry;
use crate::lifecycle::{Event, EventKind, Outcome, OutcomeKind, Tenant, Timer, fold};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A tenant folded in memory, waiting for its placement to be known.
pub(super) struct Refolded<'a> {
    pub id: TenantId,
    pub cause: &'a Cause,
    pub tenant: Tenant,
    pub last_fired: Option<(Timer, DateTime<Utc>)>,
    pub stored: Option<&'a TenantRow>,
}

/// The folded tenants and every judged event's outcome.
pub(super) struct Judged<'a> {
    pub refolded: Vec<Refolded<'a>>,
    pub outcomes: HashMap<EventId, Outcome>,
}

/// Folds locked tenants, in the order given. Each one's sites are judged against the catalog
/// as the tenants before it in the batch left it, exactly as if they were refolded one after
/// another.
pub(super) async fn judge<'a>(
    tx: &mut Tx,
    work: &'a [(TenantId, Cause)],
    stored: &'a HashMap<TenantId, TenantRow>,
    known: &HashMap<EventId, &Event>,
    now: DateTime<Utc>,
) -> Result<Judged<'a>, StoreError> {
    let ids: Vec<TenantId> = work.iter().map(|(id, _)| *id).collect();
    let mut histories = events::load(tx, &ids, known).await?;
    let claimed: HashSet<&Site> = histories
        .values()
        .flatten()
        .filter_map(|s| s.event.as_ref().ok().and_then(|e| claimed_site(&e.kind)))
        .collect();
    let claimed: Vec<&Site> = claimed.into_iter().collect();
    let mut holders = tenants::site_holders(tx, &claimed).await?;

    let mut judged: Vec<StoredEvent> = Vec::new();
    let mut outcomes: Vec<(EventId, Outcome)> = Vec::new();
    let mut refolded = Vec::new();
    for (id, cause) in work {
        let history = histories.remove(id).unwrap_or_default();
        let folded = fold_one(*id, &history, &holders, now);
        outcomes.extend(folded.outcomes);
        judged.extend(history);
        let Some(tenant) = folded.tenant else {
            continue;
        };
        // The next tenant of the batch sees this one's site as the catalog will hold it.
        holders.retain(|_, holder| holder != id);
        if let Some(site) = &tenant.site {
            holders.insert(site.clone(), *id);
        }
        refolded.push(Refolded {
            id: *id,
            cause,
            tenant,
            last_fired: folded.last_fired,
            stored: stored.get(id),
        });
    }
    events::save_outcomes(tx, &judged, &outcomes).await?;
    Ok(Judged {
        refolded,
        outcomes: outcomes.into_iter().collect(),
    })
}

struct FoldedOne {
    tenant: Option<Tenant>,
    outcomes: Vec<(EventId, Outcome)>,
    last_fired: Option<(Timer, DateTime<Utc>)>,
}

/// Folds one tenant's history. Stored events that no longer read as events are rejected.
fn fold_one(
    id: TenantId,
    history: &[StoredEvent],
    holders: &HashMap<Site, TenantId>,
    now: DateTime<Utc>,
) -> FoldedOne {
    let valid: Vec<Event> = history
        .iter()
        .filter_map(|s| s.event.as_ref().ok().cloned())
        .collect();
    let sites = CatalogSites {
        holders,
        tenant: id,
        granted: history
            .iter()
            .filter(|s| s.outcome == Some(OutcomeKind::Applied))
            .map(|s| s.id)
            .collect(),
    };
    let folded = fold(&valid, now, &sites);
    let unreadable = history.iter().filter_map(|s| {
        let reason = s.event.as_ref().err()?.clone();
        Some((s.id, Outcome::Rejected { reason }))
    });
    FoldedOne {
        outcomes: folded.outcomes.into_iter().chain(unreadable).collect(),
        last_fired: folded.fired.last().copied(),
        tenant: folded.tenant,
    }
}

/// Which sites other tenants hold now. The catalog knows only who holds a site today, not who
/// held it when an event occurred; so a claim that was granted before (its event is stored as
/// applied) stays granted: when this tenant renamed away from a site and another tenant took
/// it since, the refold must not reject this tenant's own creation under that site.
struct CatalogSites<'a> {
    holders: &'a HashMap<Site, TenantId>,
    tenant: TenantId,
    granted: HashSet<EventId>,
}

impl SiteRegistry for CatalogSites<'_> {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool {
        self.holders
            .get(site)
            .is_some_and(|holder| *holder != self.tenant)
            && !self.granted.contains(&claimed_by)
    }
}

/// The site an event would give its tenant, if any.
fn claimed_site(kind: &EventKind) -> Option<&Site> {
    match kind {
        EventKind::TrialStarted { tenant, .. } => Some(&tenant.site),
        EventKind::SubscriptionActivated {
            tenant: Ok(tenant), ..
        } => Some(&tenant.site),
        EventKind::SiteRenamed { site } => Some(site),
        _ => None,
    }
}
