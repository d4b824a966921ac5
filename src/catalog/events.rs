//! The tenant's event history: every distinct event once, with its current judgement.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::{Event, parse::parse_kind};
use crate::lifecycle::{Outcome, OutcomeKind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
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
        (a.tenant_id, a.occurred_at, a.sequence, self.data)
            == (b.tenant_id, b.occurred_at, b.sequence, other.data)
            && a.kind.event_type() == b.kind.event_type()
    }
}

/// An event to store, with how many times it was delivered in this batch and its first
/// judgement, which a refold in the same transaction replaces.
#[derive(Debug, Clone)]
pub struct ToRecord<'a> {
    pub event: &'a NewEvent<'a>,
    pub deliveries: i32,
    pub reason: String,
}

/// Stores events once each, in one statement: ids must be distinct. New events are stored as
/// `rejected` with their first judgement; a stored event with the same content counts the
/// deliveries; another content under a stored id is a conflict. One answer per event, in order.
pub async fn record(tx: &mut Tx, events: &[ToRecord<'_>]) -> Result<Vec<Recorded>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event.event.id.as_uuid()).collect();
    let tenants: Vec<Uuid> = events
        .iter()
        .map(|e| e.event.event.tenant_id.as_uuid())
        .collect();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e.event.event.kind.event_type().as_str())
        .collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.event.event.occurred_at).collect();
    let sequences: Vec<Option<i64>> = events.iter().map(|e| e.event.event.sequence).collect();
    let data: Vec<Value> = events.iter().map(|e| e.event.data.clone()).collect();
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    let deliveries: Vec<i32> = events.iter().map(|e| e.deliveries).collect();
    let stored = sqlx::query!(
        r#"insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome, reason, deliveries)
           select e.id, e.tenant_id, e.type, e.occurred_at, e.sequence, e.data, 'rejected', e.reason, e.deliveries
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int8[], $6::jsonb[],
                       $7::text[], $8::int4[])
                as e(id, tenant_id, type, occurred_at, sequence, data, reason, deliveries)
           on conflict (event_id) do update set deliveries = tenant_events.deliveries + excluded.deliveries
           where (tenant_events.tenant_id, tenant_events.type, tenant_events.occurred_at,
                  tenant_events.sequence)
                 is not distinct from
                 (excluded.tenant_id, excluded.type, excluded.occurred_at, excluded.sequence)
             and (tenant_events.data = excluded.data
                  or tenant_events.purged_data_md5 = md5(excluded.data::text))
           returning event_id, (xmax = 0) as "inserted!""#,
        &ids,
        &tenants,
        &types as &[&str],
        &times,
        &sequences as &[Option<i64>],
        &data,
        &reasons as &[&str],
        &deliveries,
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("recording {} events", events.len()))?;
    let inserted: HashMap<Uuid, bool> = stored
        .into_iter()
        .map(|r| (r.event_id, r.inserted))
        .collect();
    let conflicting: Vec<Uuid> = ids
        .iter()
        .filter(|id| !inserted.contains_key(id))
        .copied()
        .collect();
    let others = owners(tx, &conflicting).await?;
    Ok(ids
        .iter()
        .map(|id| match inserted.get(id) {
            Some(true) => Recorded::New,
            Some(false) => Recorded::Redelivered,
            None => {
                let (stored_tenant, stored_type) = others
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| (Uuid::nil(), "unknown event".to_owned()));
                Recorded::Conflict {
                    stored_tenant,
                    stored_type,
                }
            }
        })
        .collect())
}

/// The tenant and type of stored events, by id: what an id reused with other content named.
async fn owners(tx: &mut Tx, ids: &[Uuid]) -> Result<HashMap<Uuid, (Uuid, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        "select event_id, tenant_id, type from tenant_events where event_id = any($1)",
        ids
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "reading stored events whose ids were reused".into())?;
    Ok(rows
        .into_iter()
        .map(|r| (r.event_id, (r.tenant_id, r.r#type)))
        .collect())
}

/// A stored event with its judgement.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: EventId,
    /// The event, or why it no longer reads as one (validation rules changed since).
    pub event: Result<Event, String>,
    /// `None` for an outcome this version does not know (it is judged again).
    pub outcome: Option<OutcomeKind>,
    pub reason: Option<String>,
}

/// All events of these tenants, by tenant. Events in `known` (those of the batch at hand,
/// validated on arrival) are taken as they are; only older ones are read from their `data`.
pub async fn load(
    tx: &mut Tx,
    tenants: &[TenantId],
    known: &HashMap<EventId, &Event>,
) -> Result<HashMap<TenantId, Vec<StoredEvent>>, StoreError> {
    let ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"select tenant_id, event_id, type, occurred_at, sequence, data, outcome, reason
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
        let event = match (known.get(&id), &r.data) {
            (Some(event), _) => Ok((*event).clone()),
            (None, Value::Object(data)) => parse_kind(&r.r#type, data, r.occurred_at)
                .map(|kind| Event {
                    id,
                    tenant_id: tenant,
                    occurred_at: r.occurred_at,
                    sequence: r.sequence,
                    kind,
                })
                .map_err(|e| format!("stored event no longer valid: {e}")),
            (None, _) => Err("stored event has no data object".to_owned()),
        };
        by_tenant.entry(tenant).or_default().push(StoredEvent {
            id,
            event,
            outcome: OutcomeKind::parse(&r.outcome),
            reason: r.reason,
        });
    }
    Ok(by_tenant)
}

/// Removes personal data (site names) from a deleted tenant's history. A digest of what was
/// there stays, so that a late redelivery is still told apart from another event reusing the id.
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

/// Writes the judgements that changed.
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
    for (id, outcome) in outcomes {
        let reason = outcome.reason();
        let unchanged = before.get(id) == Some(&(Some(outcome.kind()), reason.as_deref()));
        if !unchanged {
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
