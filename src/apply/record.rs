//! Step 2 and its end: telling each delivered event from what is stored, and, once the fold
//! has judged them, storing the new ones once, with their judgement. A repeat of an id within
//! the batch is a redelivery and another content under the same id a conflict, as if they had
//! come in separate batches; the catalog tells the same of ids stored before.

use super::{Cause, Ingested};
use crate::catalog::events::{self, Delivered, NewEvent, Recorded};
use crate::catalog::tenants::TenantRow;
use crate::catalog::{StoreError, Tx};
use crate::domain::{EventId, TenantId};
use crate::lifecycle::timers::deletion_is_final;
use crate::lifecycle::{Event, EventKind, EventType, MoveStep, Outcome};
use chrono::{DateTime, Utc};
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
    /// The events not stored before (index, id, deliveries in the batch), waiting for their
    /// outcome.
    new: Vec<(usize, EventId, i32)>,
    /// Tenants already deleted that got new events: those are rejected for good, and their
    /// site names removed once stored.
    late: HashMap<TenantId, String>,
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

    /// Tells the batch's events from the stored ones (the tenants locked, their rows in
    /// `stored`). Redeliveries are counted; new events wait for the fold, except those of a
    /// deleted tenant, which are rejected for good.
    pub async fn record(
        self,
        tx: &mut Tx,
        stored: &HashMap<TenantId, TenantRow>,
    ) -> Result<RecordedBatch, StoreError> {
        let deleted = |t: &TenantId| stored.get(t).filter(|row| row.is_deleted());
        let delivered: Vec<Delivered<'_>> = self
            .unique
            .iter()
            .map(|&(i, deliveries)| Delivered {
                event: &self.events[i],
                deliveries,
            })
            .collect();
        let recorded = events::classify(tx, &delivered).await?;
        let mut results = self.results;
        let mut new = Vec::new();
        let mut late = HashMap::new();
        let mut causes = HashMap::new();
        for (&(i, deliveries), r) in self.unique.iter().zip(&recorded) {
            let e: &Event = self.events[i].event;
            results[i] = match r {
                Recorded::Redelivered => Ingested::Redelivered,
                Recorded::Conflict {
                    stored_tenant,
                    stored_type,
                } => Ingested::Conflict {
                    reason: conflict_reason(e.id, stored_type, TenantId::from_uuid(*stored_tenant)),
                },
                Recorded::New => {
                    new.push((i, e.id, deliveries));
                    match deleted(&e.tenant_id) {
                        Some(row) => {
                            // A refused move step keeps its own reason, which names the deletion.
                            let reason = match &e.kind {
                                EventKind::AdminMove(MoveStep {
                                    refused: Some(why), ..
                                }) => why.clone(),
                                _ => deletion_is_final(row.tenant.deleted_at),
                            };
                            late.insert(e.tenant_id, reason.clone());
                            Ingested::Judged(Outcome::Rejected { reason })
                        }
                        None => {
                            let event_type = e.kind.event_type();
                            causes.insert(
                                e.tenant_id,
                                Cause::Event {
                                    id: e.id,
                                    event_type,
                                },
                            );
                            Ingested::Judged(Outcome::Rejected {
                                reason: "not judged".to_owned(),
                            })
                        }
                    }
                }
            };
        }
        Ok(RecordedBatch {
            results,
            new,
            late,
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
            .filter(|(i, _, _)| !self.late.contains_key(&events[*i].event.tenant_id))
            .map(|(i, id, _)| (*id, events[*i].event))
            .collect()
    }

    /// Stores the new events with the outcomes the fold gave them (a late event of a deleted
    /// tenant: rejected), removes the site names from those of deleted tenants, and returns
    /// the results.
    pub async fn store(
        mut self,
        tx: &mut Tx,
        events: &[NewEvent<'_>],
        outcomes: &HashMap<EventId, Outcome>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>, StoreError> {
        let mut judged = Vec::with_capacity(self.new.len());
        for &(i, id, deliveries) in &self.new {
            if let Some(outcome) = outcomes.get(&id) {
                self.results[i] = Ingested::Judged(outcome.clone());
            }
            let Ingested::Judged(outcome) = &self.results[i] else {
                continue;
            };
            let event = &events[i];
            judged.push((Delivered { event, deliveries }, outcome.clone()));
        }
        events::insert_judged(tx, &judged, now).await?;
        // A deleted tenant's personal data is gone for good, also from events that arrive late.
        let late: Vec<TenantId> = self.late.keys().copied().collect();
        events::purge_personal_data(tx, &late).await?;
        Ok(self.results)
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
