//! The tenant's event history: every distinct event once, with its current judgement.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::{Event, parse::parse_kind};
use crate::lifecycle::{Outcome, OutcomeKind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What recording a delivered event found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// First delivery of this event.
    New,
    /// The event was already stored; its delivery count went up.
    Redelivered,
    /// An event with this id was stored with different content.
    Conflict {
        stored_tenant: Uuid,
        stored_type: String,
    },
}

/// A valid event to store, with its `data` as it was sent.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub event: &'a Event,
    pub data: &'a Value,
}

impl NewEvent<'_> {
    /// Whether two deliveries under one id carry the same event.
    pub fn same_content(&self, other: &NewEvent<'_>) -> bool {
        let (a, b) = (self.event, other.event);
        // An absent `sequence` counts as 0 (CONTRACT.md section 8).
        let seq = |e: &Event| e.sequence.unwrap_or(0);
        (a.tenant_id, a.occurred_at, seq(a), self.data)
            == (b.tenant_id, b.occurred_at, seq(b), other.data)
            && a.kind.event_type() == b.kind.event_type()
    }
}

/// A delivered event, with how many times it was delivered in this batch.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    pub event: &'a NewEvent<'a>,
    pub deliveries: i32,
}

/// The columns of delivered events, as the arrays a set-based statement unnests.
struct Columns<'a> {
    ids: Vec<Uuid>,
    tenants: Vec<Uuid>,
    types: Vec<&'a str>,
    times: Vec<DateTime<Utc>>,
    sequences: Vec<Option<i64>>,
    data: Vec<&'a Value>,
    deliveries: Vec<i32>,
}

impl<'a> Columns<'a> {
    fn of(events: impl ExactSizeIterator<Item = &'a Delivered<'a>>) -> Self {
        let mut c = Columns {
            ids: Vec::with_capacity(events.len()),
            tenants: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            times: Vec::with_capacity(events.len()),
            sequences: Vec::with_capacity(events.len()),
            data: Vec::with_capacity(events.len()),
            deliveries: Vec::with_capacity(events.len()),
        };
        for d in events {
            let e = d.event.event;
            c.ids.push(e.id.as_uuid());
            c.tenants.push(e.tenant_id.as_uuid());
            c.types.push(e.kind.event_type().as_str());
            c.times.push(e.occurred_at);
            c.sequences.push(e.sequence);
            c.data.push(d.event.data);
            c.deliveries.push(d.deliveries);
        }
        c
    }
}

/// Tells each event (ids distinct) from what is stored, in one statement: new, a redelivery
/// (same content; its delivery count goes up), or another content under a stored id (a
/// conflict). One answer per event, in order. Nothing new is stored here: new events are
/// inserted once judged ([`insert_judged`]), so their rows are written once. The caller holds
/// the locks of the events' tenants, so no other transaction stores one of their events
/// meanwhile; an id reused by another tenant at the same moment fails the insert's unique
/// key, a data error that is retried and then found here as a conflict.
pub async fn classify(tx: &mut Tx, events: &[Delivered<'_>]) -> Result<Vec<Recorded>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let c = Columns::of(events.iter());
    let found = sqlx::query!(
        r#"with found as (
               select e.event_id, e.tenant_id, e.type, u.deliveries,
                      (e.tenant_id, e.type, e.occurred_at, coalesce(e.sequence, 0))
                          = (u.tenant_id, u.type, u.occurred_at, coalesce(u.sequence, 0))
                      and (e.data = u.data or e.purged_data_md5 = md5(u.data::text)) as same
               from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int8[],
                           $6::jsonb[], $7::int4[])
                    as u(id, tenant_id, type, occurred_at, sequence, data, deliveries)
               join tenant_events e on e.event_id = u.id
           ), counted as (
               update tenant_events e set deliveries = e.deliveries + f.deliveries
               from found f where f.same and e.event_id = f.event_id
           )
           select event_id, tenant_id, type, same as "same!" from found"#,
        &c.ids,
        &c.tenants,
        &c.types as &[&str],
        &c.times,
        &c.sequences as &[Option<i64>],
        &c.data as &[&Value],
        &c.deliveries,
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("looking up {} delivered events", events.len()))?;
    let found: HashMap<Uuid, _> = found.into_iter().map(|r| (r.event_id, r)).collect();
    Ok(c.ids
        .iter()
        .map(|id| match found.get(id) {
            None => Recorded::New,
            Some(r) if r.same => Recorded::Redelivered,
            Some(r) => Recorded::Conflict {
                stored_tenant: r.tenant_id,
                stored_type: r.r#type.clone(),
            },
        })
        .collect())
}

/// Stores new events with their judgement, in one statement.
#[tracing::instrument(level = "debug", name = "store: insert events", skip_all, fields(events = events.len()))]
pub async fn insert_judged(
    tx: &mut Tx,
    events: &[(Delivered<'_>, Outcome)],
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let c = Columns::of(events.iter().map(|(e, _)| e));
    let outcomes: Vec<&str> = events.iter().map(|(_, o)| o.as_str()).collect();
    let reasons: Vec<Option<String>> = events.iter().map(|(_, o)| o.reason()).collect();
    sqlx::query!(
        r#"insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome,
                                      reason, deliveries, judged_at, received_at)
           select e.id, e.tenant_id, e.type, e.occurred_at, e.sequence, e.data, e.outcome, e.reason,
                  e.deliveries, now(), $10
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int8[], $6::jsonb[],
                       $7::text[], $8::text[], $9::int4[])
                as e(id, tenant_id, type, occurred_at, sequence, data, outcome, reason, deliveries)"#,
        &c.ids,
        &c.tenants,
        &c.types as &[&str],
        &c.times,
        &c.sequences as &[Option<i64>],
        &c.data as &[&Value],
        &outcomes as &[&str],
        &reasons as &[Option<String>],
        &c.deliveries,
        received_at,
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("storing {} events", events.len()))?;
    Ok(())
}

/// A stored event with its judgement.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: EventId,
    /// The event, or why it no longer reads as one (validation rules changed since).
    pub event: Result<Event, String>,
    /// `None` for an outcome this version does not know (it is judged again), and for an
    /// event not stored yet.
    pub outcome: Option<OutcomeKind>,
    pub reason: Option<String>,
    /// `false` for a new event of the batch at hand, stored once judged.
    pub stored: bool,
    /// When the event was first stored (for a new event, the batch's instant).
    pub received_at: DateTime<Utc>,
}

/// All events of these tenants, by tenant: the stored ones, read from their `data`, and the
/// new ones of the batch at hand in `known` (validated on arrival, not stored yet, to be
/// stored at `now`), taken as they are, with no judgement yet.
pub async fn load(
    tx: &mut Tx,
    tenants: &[TenantId],
    known: &HashMap<EventId, &Event>,
    now: DateTime<Utc>,
) -> Result<HashMap<TenantId, Vec<StoredEvent>>, StoreError> {
    let ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"select tenant_id, event_id, type, occurred_at, sequence, data, outcome, reason,
                  received_at
           from tenant_events where tenant_id = any($1)"#,
        &ids
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("loading the events of {} tenants", ids.len()))?;
    let mut by_tenant: HashMap<TenantId, Vec<StoredEvent>> = HashMap::new();
    for r in rows {
        let id = EventId::from_uuid(r.event_id);
        let tenant = TenantId::from_uuid(r.tenant_id);
        let event = match &r.data {
            Value::Object(data) => parse_kind(&r.r#type, data, r.occurred_at)
                .map(|kind| Event {
                    id,
                    tenant_id: tenant,
                    occurred_at: r.occurred_at,
                    sequence: r.sequence,
                    kind,
                })
                .map_err(|e| format!("stored event no longer valid: {e}")),
            _ => Err("stored event has no data object".to_owned()),
        };
        by_tenant.entry(tenant).or_default().push(StoredEvent {
            id,
            event,
            outcome: OutcomeKind::parse(&r.outcome),
            reason: r.reason,
            stored: true,
            received_at: r.received_at,
        });
    }
    let wanted: HashSet<TenantId> = tenants.iter().copied().collect();
    for (id, event) in known {
        if wanted.contains(&event.tenant_id) {
            by_tenant
                .entry(event.tenant_id)
                .or_default()
                .push(StoredEvent {
                    id: *id,
                    event: Ok((*event).clone()),
                    outcome: None,
                    reason: None,
                    stored: false,
                    received_at: now,
                });
        }
    }
    Ok(by_tenant)
}

/// Removes personal data (site names) from a deleted tenant's history. A digest of what was
/// there stays, so that a late redelivery is still told apart from another event reusing the id.
#[tracing::instrument(level = "debug", name = "store: purge personal data", skip_all, fields(tenants = tenants.len()))]
pub async fn purge_personal_data(tx: &mut Tx, tenants: &[TenantId]) -> Result<(), StoreError> {
    if tenants.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    sqlx::query!(
        r#"update tenant_events set purged_data_md5 = md5(data::text), data = data - 'site'
           where tenant_id = any($1) and data ? 'site'"#,
        &ids
    )
    .execute(&mut **tx)
    .await
    .doing(|| "removing personal data from the history of deleted tenants".into())?;
    Ok(())
}

/// Writes the judgements of stored events that changed.
#[tracing::instrument(level = "debug", name = "store: save outcomes", skip_all, fields(outcomes = outcomes.len()))]
pub async fn save_outcomes(
    tx: &mut Tx,
    stored: &[StoredEvent],
    outcomes: &[(EventId, Outcome)],
) -> Result<(), StoreError> {
    let mut ids = Vec::new();
    let mut kinds = Vec::new();
    let mut reasons: Vec<Option<String>> = Vec::new();
    let before: HashMap<EventId, (Option<OutcomeKind>, Option<&str>)> = stored
        .iter()
        .map(|s| (s.id, (s.outcome, s.reason.as_deref())))
        .collect();
    let new: HashSet<EventId> = stored.iter().filter(|s| !s.stored).map(|s| s.id).collect();
    for (id, outcome) in outcomes {
        let reason = outcome.reason();
        let unchanged = before.get(id) == Some(&(Some(outcome.kind()), reason.as_deref()));
        if !unchanged && !new.contains(id) {
            ids.push(id.as_uuid());
            kinds.push(outcome.as_str().to_owned());
            reasons.push(reason);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"update tenant_events e set outcome = u.outcome, reason = u.reason, judged_at = now()
           from unnest($1::uuid[], $2::text[], $3::text[]) as u(event_id, outcome, reason)
           where e.event_id = u.event_id"#,
        &ids,
        &kinds,
        &reasons as &[Option<String>],
    )
    .execute(&mut **tx)
    .await
    .doing(|| "saving event outcomes".into())?;
    Ok(())
}

/// One entry of a tenant's history, as callers see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub sequence: Option<i64>,
    /// `applied`, `duplicate`, `rejected` or `cancelled`.
    #[schema(value_type = String)]
    pub outcome: OutcomeKind,
    pub reason: Option<String>,
    pub deliveries: i32,
    pub received_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    /// The event's `data`; for admin actions, who (`by`) and why (`reason`). Site names are
    /// removed once the tenant is deleted.
    pub data: Value,
}

/// The tenant's history in contract order (a missing sequence counts as 0, as in the fold).
pub async fn history(db: &Db, tenant: TenantId) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows = sqlx::query!(
        r#"select event_id, type as event_type, occurred_at, sequence, outcome, reason, deliveries,
                  received_at, data
           from tenant_events where tenant_id = $1
           order by occurred_at, coalesce(sequence, 0), event_id"#,
        tenant.as_uuid()
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the history of tenant {tenant}"))?;
    rows.into_iter()
        .map(|r| {
            let outcome = OutcomeKind::parse(&r.outcome).ok_or_else(|| {
                StoreError::new(
                    format!("reading the outcome of event {}", r.event_id),
                    sqlx::Error::Decode(format!("`{}` is not an outcome", r.outcome).into()),
                )
            })?;
            Ok(HistoryEntry {
                event_id: r.event_id,
                event_type: r.event_type,
                occurred_at: r.occurred_at,
                sequence: r.sequence,
                outcome,
                reason: r.reason,
                deliveries: r.deliveries,
                received_at: r.received_at,
                data: r.data,
            })
        })
        .collect()
}
