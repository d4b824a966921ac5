//! A tenant as it stood at a past instant, refolded from its stored events.
//!
//! Two readings of "at T" (docs/graphql.md, "The past"):
//! - **as of** T, by the events' own timeline: every stored event with `occurred_at` up to T,
//!   and the timers due by T, whenever the catalog received them. A late event dated before T
//!   changes what "as of T" says, as it changed the tenant.
//! - **known at** T, by what the catalog had received: the events received by T, folded at T.
//!   That is what the catalog answered at T, give or take a refold in flight.
//!
//! Placement is not a function of the events (it depends on the shards' fill), so both read the
//! region, shard, epoch and routing status in force at T from the kept change log
//! ([`crate::catalog::changes`]). Site claims are taken as the catalog judged them: a claim's
//! judgement depends only on claims before it in contract order, so it is the same at T.

use crate::catalog::events::{self, HistoryEntry};
use crate::catalog::{Db, StoreError, changes, claims, shards, tenants};
use crate::domain::{EventId, RouteStatus, Rules, Site, TenantId};
use crate::lifecycle::events::claimed_site;
use crate::lifecycle::parse::parse_kind;
use crate::lifecycle::rules::SiteRegistry;
use crate::lifecycle::timers::scheduled;
use crate::lifecycle::{Arrivals, Event, Folded, Lifecycle, Step, fold};
use crate::snapshot::{Route, TenantSnapshot};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Which past a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// By the events' timeline: events that occurred by then, timers due by then.
    AsOf(DateTime<Utc>),
    /// By the catalog's: events it had received by then, folded then.
    KnownAt(DateTime<Utc>),
}

impl When {
    pub fn instant(self) -> DateTime<Utc> {
        match self {
            When::AsOf(t) | When::KnownAt(t) => t,
        }
    }

    fn includes(self, e: &HistoryEntry) -> bool {
        match self {
            When::AsOf(t) => e.occurred_at <= t,
            When::KnownAt(t) => e.received_at <= t,
        }
    }
}

/// A tenant at a past instant, with the history that made it so.
#[derive(Debug, Clone)]
pub struct PastTenant {
    pub snapshot: TenantSnapshot,
    /// The events counted, in contract order, each with the outcome it had at that instant.
    pub history: Vec<HistoryEntry>,
    /// The fold's changes of state, and the events it read, for [`super::explain`].
    pub steps: Vec<Step>,
    pub events: Vec<Event>,
    /// When its deletion fell due by the events, if it waits to be carried out.
    pub fell_due: Option<DateTime<Utc>>,
    /// The site it claimed and lost, while it had none of its own.
    pub site_conflict: Option<super::explain::SiteConflict>,
    /// When the catalog first stored an event of the tenant, if it had not placed it by then.
    pub unplaced_until: Option<DateTime<Utc>>,
}

/// A tenant's history refolded at an instant: what the past and explanations share.
pub struct Refolded {
    /// The events counted, each with the outcome it had at that instant.
    pub history: Vec<HistoryEntry>,
    pub events: Vec<Event>,
    pub folded: Folded,
    /// Some event's site name was purged (the tenant was deleted since).
    pub purged: bool,
    /// When the catalog first stored an event of the tenant, counted or not.
    pub first_received: Option<DateTime<Utc>>,
}

/// Answers "is this site taken?" as the catalog judged each claim.
struct AsJudged(HashMap<EventId, bool>);

impl SiteRegistry for AsJudged {
    fn is_taken(&self, _site: &Site, claimed_by: EventId) -> bool {
        self.0.get(&claimed_by) == Some(&false)
    }
}

/// Answers "is this site taken?" as the catalog knew the claims at an instant: another tenant's
/// granted claim of the site, earlier in contract order, that the catalog had received by then,
/// its tenant not deleted by then (CONTRACT.md section 8, "History answers").
struct KnownThen {
    tenant: TenantId,
    at: DateTime<Utc>,
    keys: HashMap<EventId, (DateTime<Utc>, i64, EventId)>,
    claims: Vec<claims::KnownClaim>,
}

impl SiteRegistry for KnownThen {
    fn is_taken(&self, site: &Site, claimed_by: EventId) -> bool {
        let Some(key) = self.keys.get(&claimed_by) else {
            return false;
        };
        self.claims.iter().any(|k| {
            let c = &k.stored.claim;
            &c.site == site
                && c.tenant_id != self.tenant
                && c.granted
                && c.key() < *key
                && k.received_at <= self.at
                && k.stored.deleted_at.is_none_or(|d| d > key.0 || d > self.at)
        })
    }
}

/// Refolds the history counted at `when`; `None` when it has no event yet.
pub async fn refold(
    db: &Db,
    id: TenantId,
    when: When,
    grace: Duration,
) -> Result<Option<Refolded>, StoreError> {
    let (history, granted) = tokio::try_join!(events::history(db, id), claims::granted_of(db, id))?;
    let first_received = history.iter().map(|e| e.received_at).min();
    let mut history: Vec<HistoryEntry> = history.into_iter().filter(|e| when.includes(e)).collect();
    if history.is_empty() {
        return Ok(None);
    }
    let mut purged = false;
    let events: Vec<Event> = history
        .iter()
        .enumerate()
        .filter_map(|(n, e)| readable(e, id, n, &mut purged))
        .collect();
    // As of T, by the events' own timeline: as if each had arrived when it occurred. Known at T:
    // when each did arrive, and the claims of other tenants the catalog had then.
    let mut arrivals = Arrivals::new(grace);
    let folded = match when {
        When::AsOf(t) => fold(&events, &arrivals, t, &AsJudged(granted)),
        When::KnownAt(t) => {
            for e in &history {
                arrivals.insert(EventId::from_uuid(e.event_id), e.received_at);
            }
            let claimed: Vec<&Site> = events
                .iter()
                .filter_map(|e| claimed_site(&e.kind))
                .collect();
            let known = KnownThen {
                tenant: id,
                at: t,
                keys: events
                    .iter()
                    .map(|e| (e.id, (e.occurred_at, e.sequence.unwrap_or(0), e.id)))
                    .collect(),
                claims: claims::known_of_sites(db, &claimed).await?,
            };
            fold(&events, &arrivals, t, &known)
        }
    };
    let outcomes: HashMap<_, _> = folded.outcomes.iter().cloned().collect();
    for e in &mut history {
        if let Some(o) = outcomes.get(&EventId::from_uuid(e.event_id)) {
            e.outcome = o.kind();
            e.reason = o.reason();
        }
    }
    Ok(Some(Refolded {
        history,
        events,
        folded,
        purged,
        first_received,
    }))
}

/// The tenant at `when`; `None` when no event counted by then creates it.
pub async fn tenant_at(
    db: &Db,
    id: TenantId,
    when: When,
    rules: &Rules,
) -> Result<Option<PastTenant>, StoreError> {
    // Independent reads, at once: the history and the claims' judgements, today's row and the
    // routing in force then.
    let (refolded, today, routed) = tokio::try_join!(
        refold(db, id, when, rules.grace),
        tenants::get(db, id),
        changes::routed_at(db, id, when.instant()),
    )?;
    let Some(Refolded {
        history,
        events,
        mut folded,
        purged,
        first_received,
    }) = refolded
    else {
        return Ok(None);
    };
    let Some(tenant) = folded.tenant.take() else {
        return Ok(None);
    };
    // A tenant deleted since has lost its site names: the past shows none.
    let deleted_now = today.is_some_and(|r| r.tenant.lifecycle == Lifecycle::Deleted);
    // Before its first change the catalog had not placed the tenant (it had not heard of it):
    // the past shows the state its events made, with no placement (CONTRACT.md section 8).
    let (placement, version, epoch, route_status, unplaced_until) = match routed {
        Some((r, true)) => (r.placement, r.version, r.epoch, r.route_status, None),
        Some((_, false)) | None => (None, 0, 0, RouteStatus::Online, first_received),
    };
    let row = tenants::TenantRow {
        state: tenant.shown_state(placement.is_some() || unplaced_until.is_some()),
        next_timer_at: scheduled(&tenant).map(|(_, due)| due),
        tenant,
        placement,
        version,
        caused_by: None,
        epoch,
        route_status,
    };
    let mut snapshot = TenantSnapshot::new(row, &rules.base);
    if unplaced_until.is_some() {
        // Nowhere to serve it from, whatever its state.
        snapshot.serving = false;
    }
    if purged || deleted_now {
        snapshot.site = None;
        snapshot.host = None;
        snapshot.old_hosts.clear();
    }
    let site_conflict = super::site_conflict(db, &snapshot, &folded, &events).await?;
    Ok(Some(PastTenant {
        snapshot,
        history,
        steps: folded.steps,
        events,
        fell_due: folded.fell_due,
        site_conflict,
        unplaced_until,
    }))
}

/// Where the tenant's requests went at that instant: its shard's endpoint as the shard has it
/// now. `None` where `route` would be null then (and for a tenant whose hosts were purged).
pub async fn route_at(db: &Db, past: &TenantSnapshot) -> Result<Option<Route>, StoreError> {
    let Some(to) = past.destination() else {
        return Ok(None);
    };
    let endpoint = shards::list(db, Some(to.placement.region))
        .await?
        .into_iter()
        .find(|s| s.id == to.placement.shard)
        .map(|s| s.endpoint);
    Ok(endpoint.map(|endpoint| Route {
        to: Arc::new(to),
        endpoint,
    }))
}

/// A stored event as the fold reads it. A deleted tenant's events have lost their site names;
/// each gets a stand-in of its own (so that renames stay renames), and `purged` is set.
fn readable(e: &HistoryEntry, tenant: TenantId, n: usize, purged: &mut bool) -> Option<Event> {
    let Value::Object(data) = &e.data else {
        return None;
    };
    let claims_site = match e.event_type.as_str() {
        "trial.started" | "site.renamed" => true,
        "subscription.activated" => data.contains_key("products"),
        _ => false,
    };
    let kind = if claims_site && !data.contains_key("site") {
        *purged = true;
        let mut data = data.clone();
        data.insert("site".into(), json!(format!("purged-{n}")));
        parse_kind(&e.event_type, &data, e.occurred_at)
    } else {
        parse_kind(&e.event_type, data, e.occurred_at)
    }
    .ok()?;
    Some(Event {
        id: EventId::from_uuid(e.event_id),
        tenant_id: tenant,
        occurred_at: e.occurred_at,
        sequence: e.sequence,
        kind,
    })
}
