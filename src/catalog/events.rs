//! The tenant's event history: every distinct event once, with its current judgement.

use super::Tx;
use super::db::{Doing, StoreError};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::events::{Event, parse_kind};
use crate::lifecycle::fold::Outcome;
use chrono::{DateTime, Utc};
use serde_json::Value;
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

/// The stored form of an event, as the consumer received it.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_type: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub sequence: Option<i64>,
    pub data: &'a Value,
}

/// Stores an event once. `outcome` and `reason` are its first judgement, which a refold in
/// the same transaction replaces.
pub async fn record(
    tx: &mut Tx,
    e: &NewEvent<'_>,
    outcome: &str,
    reason: &str,
) -> Result<Recorded, StoreError> {
    let id = e.id.as_uuid();
    let inserted = sqlx::query_scalar!(
        r#"insert into tenant_events (event_id, tenant_id, type, occurred_at, sequence, data, outcome, reason)
           values ($1, $2, $3, $4, $5, $6, $7, $8)
           on conflict (event_id) do update set deliveries = tenant_events.deliveries + 1
           where (tenant_events.tenant_id, tenant_events.type, tenant_events.occurred_at,
                  tenant_events.sequence)
                 is not distinct from
                 (excluded.tenant_id, excluded.type, excluded.occurred_at, excluded.sequence)
             and (tenant_events.data = excluded.data
                  or tenant_events.purged_data_md5 = md5(excluded.data::text))
           returning (xmax = 0) as "inserted!""#,
        id,
        e.tenant_id.as_uuid(),
        e.event_type,
        e.occurred_at,
        e.sequence,
        e.data,
        outcome,
        reason,
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("recording event {}", e.id))?;
    match inserted {
        Some(true) => Ok(Recorded::New),
        Some(false) => Ok(Recorded::Redelivered),
        None => {
            let stored = sqlx::query!(
                "select tenant_id, type from tenant_events where event_id = $1",
                id
            )
            .fetch_one(&mut **tx)
            .await
            .doing(|| format!("reading the stored event {}", e.id))?;
            Ok(Recorded::Conflict {
                stored_tenant: stored.tenant_id,
                stored_type: stored.r#type,
            })
        }
    }
}

/// A stored event with its judgement.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: EventId,
    /// The event, or why it no longer reads as one (validation rules changed since).
    pub event: Result<Event, String>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// All events of a tenant.
pub async fn load(tx: &mut Tx, tenant: TenantId) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query!(
        r#"select event_id, type, occurred_at, sequence, data, outcome, reason
           from tenant_events where tenant_id = $1"#,
        tenant.as_uuid()
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("loading the events of tenant {tenant}"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = EventId::from_uuid(r.event_id);
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
            StoredEvent {
                id,
                event,
                outcome: r.outcome,
                reason: r.reason,
            }
        })
        .collect())
}

/// Removes personal data (site names) from a deleted tenant's history. A digest of what was
/// there stays, so that a late redelivery is still told apart from another event reusing the id.
pub async fn purge_personal_data(tx: &mut Tx, tenant: TenantId) -> Result<(), StoreError> {
    sqlx::query!(
        r#"update tenant_events set purged_data_md5 = md5(data::text), data = data - 'site'
           where tenant_id = $1 and data ? 'site'"#,
        tenant.as_uuid()
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("removing personal data from the history of tenant {tenant}"))?;
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
    for (id, outcome) in outcomes {
        let reason = outcome.reason();
        let unchanged = stored
            .iter()
            .any(|s| s.id == *id && s.outcome == outcome.as_str() && s.reason == reason);
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
    pub outcome: String,
    pub reason: Option<String>,
    pub deliveries: i32,
    pub received_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    /// The event's `data`; for admin actions, who (`by`) and why (`reason`). Site names are
    /// removed once the tenant is deleted.
    pub data: Value,
}

/// The tenant's history in contract order (a missing sequence sorts first, as in the fold).
pub async fn history(db: &super::Db, tenant: TenantId) -> Result<Vec<HistoryEntry>, StoreError> {
    sqlx::query_as!(
        HistoryEntry,
        r#"select event_id, type as event_type, occurred_at, sequence, outcome, reason, deliveries,
                  received_at, data
           from tenant_events where tenant_id = $1
           order by occurred_at, sequence nulls first, event_id"#,
        tenant.as_uuid()
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the history of tenant {tenant}"))
}
