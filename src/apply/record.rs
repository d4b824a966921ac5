//! Step 1: storing each delivered event once. A repeat of an id within the batch is a
//! redelivery and another content under the same id a conflict, as if they had come in
//! separate batches; the catalog tells the same of ids stored before.

use super::{Cause, Ingested};
use crate::catalog::events::{self, NewEvent, Recorded, ToRecord};
use crate::catalog::tenants::TenantRow;
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::timers::deletion_is_final;
use crate::lifecycle::{Event, EventType, Outcome};
use std::collections::HashMap;

/// The events of one batch, each id once.
pub(super) struct Batch<'a> {
    events: &'a [NewEvent<'a>],
    /// One answer per event given, filled in as they are known.
    results: Vec<Ingested>,
    /// Index of each distinct event in `events`, with how often the batch delivered it.
    unique: Vec<(usize, i32)>,
}

/// What recording found: the results so far, and which tenants got new events.
pub(super) struct RecordedBatch {
    results: Vec<Ingested>,
    /// Indexes of the events stored for the first time, waiting for their outcome.
    new: Vec<(usize, EventId)>,
    /// The last new event of each live tenant, in delivery order: the cause of its change.
    pub causes: HashMap<TenantId, Cause>,
}

impl<'a> Batch<'a> {
    pub fn of(events: &'a [NewEvent<'a>]) -> Self {
        let mut results = vec![Ingested::Redelivered; events.len()];
        let mut first: HashMap<EventId, usize> = HashMap::new();
        let mut unique: Vec<(usize, i32)> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match first.get(&e.event.id) {
                None => {
                    first.insert(e.event.id, unique.len());
                    unique.push((i, 1));
                }
                Some(&u) => {
                    let original = &events[unique[u].0];
                    if original.same_content(e) {
                        unique[u].1 += 1;
                    } else {
                        let o = original.event;
                        results[i] = conflict(e.event.id, o.kind.event_type(), o.tenant_id);
                    }
                }
            }
        }
        Batch {
            events,
            results,
            unique,
        }
    }

    /// The tenants of the batch's events.
    pub fn tenant_ids(&self) -> Vec<TenantId> {
        self.unique
            .iter()
            .map(|(i, _)| self.events[*i].event.tenant_id)
            .collect()
    }

    /// Stores the batch's events (the tenants locked, their rows in `stored`). An event of a
    /// deleted tenant is stored as rejected for good; the others wait for the fold.
    pub async fn record(
        self,
        tx: &mut Tx,
        stored: &HashMap<TenantId, TenantRow>,
    ) -> Result<RecordedBatch, StoreError> {
        let deleted = |t: &TenantId| stored.get(t).filter(|row| row.is_deleted());
        let to_record: Vec<ToRecord<'_>> = self
            .unique
            .iter()
            .map(|&(i, deliveries)| ToRecord {
                event: &self.events[i],
                deliveries,
                reason: match deleted(&self.events[i].event.tenant_id) {
                    Some(row) => deletion_is_final(row.tenant.deleted_at),
                    None => "not judged yet".to_owned(),
                },
            })
            .collect();
        let recorded = events::record(tx, &to_record).await?;
        let mut results = self.results;
        let mut new = Vec::new();
        let mut causes = HashMap::new();
        for ((i, _), (r, record)) in self.unique.iter().zip(recorded.iter().zip(&to_record)) {
            let e: &Event = self.events[*i].event;
            results[*i] = match r {
                Recorded::Redelivered => Ingested::Redelivered,
                Recorded::Conflict {
                    stored_tenant,
                    stored_type,
                } => Ingested::Conflict {
                    reason: conflict_reason(e.id, stored_type, TenantId::from_uuid(*stored_tenant)),
                },
                Recorded::New => {
                    new.push((*i, e.id));
                    if deleted(&e.tenant_id).is_none() {
                        let event_type = e.kind.event_type();
                        causes.insert(
                            e.tenant_id,
                            Cause::Event {
                                id: e.id,
                                event_type,
                            },
                        );
                    }
                    Ingested::Judged(Outcome::Rejected {
                        reason: record.reason.clone(),
                    })
                }
            };
        }
        // A deleted tenant's personal data is gone for good, also from events that arrive late.
        let late: Vec<TenantId> = new
            .iter()
            .map(|(i, _)| self.events[*i].event.tenant_id)
            .filter(|t| deleted(t).is_some())
            .collect();
        events::purge_personal_data(tx, &late).await?;
        Ok(RecordedBatch {
            results,
            new,
            causes,
        })
    }
}

impl RecordedBatch {
    /// The events stored for the first time: the fold takes them as validated on arrival
    /// rather than reading them back.
    pub fn new_events<'a>(&self, events: &[NewEvent<'a>]) -> HashMap<EventId, &'a Event> {
        self.new
            .iter()
            .map(|(i, id)| (*id, events[*i].event))
            .collect()
    }

    /// The results, with the outcomes the fold gave the new events.
    pub fn results_with(mut self, outcomes: &HashMap<EventId, Outcome>) -> Vec<Ingested> {
        for (i, id) in &self.new {
            if let Some(outcome) = outcomes.get(id) {
                self.results[*i] = Ingested::Judged(outcome.clone());
            }
        }
        self.results
    }
}

fn conflict(id: EventId, stored_type: EventType, stored_tenant: TenantId) -> Ingested {
    Ingested::Conflict {
        reason: conflict_reason(id, stored_type.as_str(), stored_tenant),
    }
}

fn conflict_reason(id: EventId, stored_type: &str, stored_tenant: TenantId) -> String {
    format!(
        "event id {id} was already received with other content (a {stored_type} of tenant {stored_tenant})"
    )
}
