//! Parsing and validating raw messages into [`Event`]s, once, at the edge.
//!
//! A message that does not parse into an [`Event`] is refused with a [`RejectedEvent`] that
//! says which field is wrong and why; the consumer sends it to the dead-letter queue.

use super::events::{
    Event, EventKind, EventType, MoveStep, MoveStepKind, NewTenant, RejectedEvent,
};
use crate::domain::{BillingDay, EventId, InvalidValue, Products, ShardId, Site, TenantId};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

fn invalid(field: &'static str) -> impl FnOnce(InvalidValue) -> RejectedEvent {
    move |e| RejectedEvent::Invalid { field, reason: e.0 }
}

/// The envelope fields of a message, before `data` is interpreted. Kept apart so the catalog
/// can store a refused event's identity when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: EventId,
    pub event_type: String,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
    pub sequence: Option<i64>,
    pub data: Map<String, Value>,
}

impl Envelope {
    /// Reads the envelope of a raw message body.
    pub fn parse(body: &[u8]) -> Result<Self, RejectedEvent> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RejectedEvent::NotJson(e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(RejectedEvent::NotJson(
                "the top level is not an object".into(),
            ));
        };
        let id = required_str(&obj, "id")?.parse().map_err(invalid("id"))?;
        let event_type = required_str(&obj, "type")?.to_owned();
        let tenant_id = required_str(&obj, "tenant_id")?
            .parse()
            .map_err(invalid("tenant_id"))?;
        let occurred_at = timestamp(required_str(&obj, "occurred_at")?, "occurred_at")?;
        let sequence =
            match obj.get("sequence") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().and_then(|n| i64::try_from(n).ok()).ok_or_else(
                    || RejectedEvent::Invalid {
                        field: "sequence",
                        reason: format!("must be a whole number >= 0, got {v}"),
                    },
                )?),
            };
        let data = match obj.remove("data") {
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(RejectedEvent::Invalid {
                    field: "data",
                    reason: format!("must be an object, got {other}"),
                });
            }
            None => return Err(RejectedEvent::Missing("data")),
        };
        Ok(Self {
            id,
            event_type,
            tenant_id,
            occurred_at,
            sequence,
            data,
        })
    }

    /// Interprets `type` and `data`, giving a valid commerce event. Admin actions are refused:
    /// a message on the broker must not be able to pose as an admin.
    pub fn event(&self) -> Result<Event, RejectedEvent> {
        if EventType::parse(&self.event_type).is_some_and(EventType::is_admin) {
            return Err(RejectedEvent::AdminOnly(self.event_type.clone()));
        }
        let kind = parse_kind(&self.event_type, &self.data, self.occurred_at)?;
        Ok(Event {
            id: self.id,
            tenant_id: self.tenant_id,
            occurred_at: self.occurred_at,
            sequence: self.sequence,
            kind,
        })
    }

    /// The valid commerce event, and its `data` as sent (what the catalog stores).
    pub fn into_event(self) -> Result<(Event, Map<String, Value>), RejectedEvent> {
        let event = self.event()?;
        Ok((event, self.data))
    }
}

impl Event {
    /// Parses and validates a raw message body.
    pub fn parse(body: &[u8]) -> Result<Self, RejectedEvent> {
        Envelope::parse(body)?.event()
    }
}

/// Interprets an event's `data` for its `type`. Also used to re-read stored events.
pub fn parse_kind(
    event_type: &str,
    data: &Map<String, Value>,
    occurred_at: DateTime<Utc>,
) -> Result<EventKind, RejectedEvent> {
    let Some(t) = EventType::parse(event_type) else {
        return Err(RejectedEvent::UnknownType(event_type.to_owned()));
    };
    let kind = match t {
        EventType::TrialStarted => trial_started(data)?,
        EventType::SubscriptionActivated => activated(data)?,
        EventType::SubscriptionRenewed => EventKind::SubscriptionRenewed {
            current_period_end: data_time(data, "current_period_end", "data.current_period_end")?,
        },
        EventType::SubscriptionCancelled => cancelled(data, occurred_at)?,
        EventType::SubscriptionReactivated => EventKind::SubscriptionReactivated {
            current_period_end: data_time(data, "current_period_end", "data.current_period_end")?,
        },
        EventType::SubscriptionSuspended => EventKind::SubscriptionSuspended {
            reason: text(data, "reason", "data.reason")?,
        },
        EventType::SubscriptionUnsuspended => EventKind::SubscriptionUnsuspended,
        EventType::SiteRenamed => EventKind::SiteRenamed { site: site(data)? },
        EventType::DataDeletionRequested => EventKind::DataDeletionRequested {
            reason: text(data, "reason", "data.reason")?,
        },
        EventType::AdminDeletionRequested => EventKind::AdminDeletionRequested {
            by: by(data)?,
            reason: text(data, "reason", "data.reason")?,
            immediate: flag(data, "immediate", "data.immediate")?,
            force: flag(data, "force", "data.force")?,
        },
        EventType::AdminDeletionCancelled => EventKind::AdminDeletionCancelled {
            by: by(data)?,
            reason: text(data, "reason", "data.reason")?,
        },
        EventType::AdminHoldPlaced => EventKind::AdminHoldPlaced {
            by: by(data)?,
            reason: text(data, "reason", "data.reason")?,
        },
        EventType::AdminHoldLifted => EventKind::AdminHoldLifted {
            by: by(data)?,
            reason: text(data, "reason", "data.reason")?,
        },
        EventType::AdminMoveRequested => move_step(MoveStepKind::Requested, data)?,
        EventType::AdminMoveAdvanced => move_step(MoveStepKind::Advanced, data)?,
        EventType::AdminMoveCancelled => move_step(MoveStepKind::Cancelled, data)?,
    };
    Ok(kind)
}

fn trial_started(data: &Map<String, Value>) -> Result<EventKind, RejectedEvent> {
    let v = data
        .get("billing_day")
        .ok_or(RejectedEvent::Missing("data.billing_day"))?;
    let n = v.as_i64().ok_or_else(|| RejectedEvent::Invalid {
        field: "data.billing_day",
        reason: format!("must be a whole number from 1 to 28, got {v}"),
    })?;
    Ok(EventKind::TrialStarted {
        tenant: new_tenant(data)?,
        billing_day: BillingDay::try_from(n).map_err(invalid("data.billing_day"))?,
    })
}

fn activated(data: &Map<String, Value>) -> Result<EventKind, RejectedEvent> {
    let has_tenant_fields = ["site", "products", "residency"]
        .iter()
        .any(|k| data.get(*k).is_some_and(|v| !v.is_null()));
    Ok(EventKind::SubscriptionActivated {
        plan: text(data, "plan", "data.plan")?,
        cycle: required_str(data, "cycle")
            .map_err(|_| RejectedEvent::Missing("data.cycle"))?
            .parse()
            .map_err(invalid("data.cycle"))?,
        current_period_end: data_time(data, "current_period_end", "data.current_period_end")?,
        // Only a direct purchase needs these; a conversion that repeats some of them is still
        // a conversion, so a problem with them is the fold's to judge, not a refusal here.
        tenant: if has_tenant_fields {
            new_tenant(data).map_err(|e| e.to_string())
        } else {
            Err("it has no site, products or residency".into())
        },
    })
}

fn cancelled(
    data: &Map<String, Value>,
    occurred_at: DateTime<Utc>,
) -> Result<EventKind, RejectedEvent> {
    let effective_at = data_time(data, "effective_at", "data.effective_at")?;
    if effective_at < occurred_at {
        return Err(RejectedEvent::Invalid {
            field: "data.effective_at",
            reason: format!(
                "must not be before occurred_at ({}), got {}",
                occurred_at.to_rfc3339(),
                effective_at.to_rfc3339()
            ),
        });
    }
    Ok(EventKind::SubscriptionCancelled { effective_at })
}

/// Who did an admin action: the token's `sub`.
/// A move step as its history event stores it: `by`, `reason`, `move_id`, `from_shard`,
/// `to_shard`, `phase` and, when refused, `refused`.
fn move_step(step: MoveStepKind, data: &Map<String, Value>) -> Result<EventKind, RejectedEvent> {
    let refused = match data.get("refused") {
        None | Some(Value::Null) => None,
        Some(_) => Some(text(data, "refused", "data.refused")?),
    };
    let field = |key: &'static str, name: &'static str| {
        required_str(data, key).map_err(|e| rename(e, name))
    };
    Ok(EventKind::AdminMove(MoveStep {
        step,
        by: by(data)?,
        reason: text(data, "reason", "data.reason")?,
        move_id: field("move_id", "data.move_id")?
            .parse()
            .map_err(invalid("data.move_id"))?,
        from: match data.get("from_shard") {
            None | Some(Value::Null) => None,
            Some(_) => Some(
                ShardId::try_from(field("from_shard", "data.from_shard")?)
                    .map_err(invalid("data.from_shard"))?,
            ),
        },
        to: ShardId::try_from(field("to_shard", "data.to_shard")?)
            .map_err(invalid("data.to_shard"))?,
        phase: field("phase", "data.phase")?
            .parse()
            .map_err(invalid("data.phase"))?,
        refused,
    }))
}

fn by(data: &Map<String, Value>) -> Result<String, RejectedEvent> {
    required_str(data, "by")
        .map_err(|e| rename(e, "data.by"))
        .map(str::to_owned)
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &'static str,
) -> Result<&'a str, RejectedEvent> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(RejectedEvent::Missing(key)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(RejectedEvent::Invalid {
            field: key,
            reason: format!("must be a string, got {other}"),
        }),
    }
}

/// Parses an RFC 3339 timestamp, kept to the microsecond: the catalog (PostgreSQL) stores no
/// finer, and the fold must see exactly what is stored, or every refold would differ.
fn timestamp(s: &str, field: &'static str) -> Result<DateTime<Utc>, RejectedEvent> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
        .map_err(|e| RejectedEvent::Invalid {
            field,
            reason: format!("must be an RFC 3339 timestamp ({e}), got `{s}`"),
        })
}

fn data_time(
    data: &Map<String, Value>,
    key: &'static str,
    field: &'static str,
) -> Result<DateTime<Utc>, RejectedEvent> {
    let s = required_str(data, key).map_err(|e| rename(e, field))?;
    timestamp(s, field)
}

/// A boolean field; absent means `false`.
fn flag(data: &Map<String, Value>, key: &str, field: &'static str) -> Result<bool, RejectedEvent> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(RejectedEvent::Invalid {
            field,
            reason: format!("must be true or false, got {other}"),
        }),
    }
}

/// A free-text field (a reason, a plan name): required, and recorded as sent, even empty.
fn text(
    data: &Map<String, Value>,
    key: &'static str,
    field: &'static str,
) -> Result<String, RejectedEvent> {
    required_str(data, key)
        .map(str::to_owned)
        .map_err(|e| rename(e, field))
}

fn site(data: &Map<String, Value>) -> Result<Site, RejectedEvent> {
    let s = required_str(data, "site").map_err(|e| rename(e, "data.site"))?;
    Site::try_from(s).map_err(invalid("data.site"))
}

fn new_tenant(data: &Map<String, Value>) -> Result<NewTenant, RejectedEvent> {
    let products = match data.get("products") {
        None | Some(Value::Null) => return Err(RejectedEvent::Missing("data.products")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RejectedEvent::Invalid {
                field: "data.products",
                reason: "must be a list of strings".into(),
            })
            .and_then(|keys| Products::try_from(keys).map_err(invalid("data.products")))?,
        Some(other) => {
            return Err(RejectedEvent::Invalid {
                field: "data.products",
                reason: format!("must be a list of strings, got {other}"),
            });
        }
    };
    let residency = required_str(data, "residency")
        .map_err(|e| rename(e, "data.residency"))?
        .parse()
        .map_err(invalid("data.residency"))?;
    Ok(NewTenant {
        site: site(data)?,
        products,
        residency,
    })
}

fn rename(e: RejectedEvent, field: &'static str) -> RejectedEvent {
    match e {
        RejectedEvent::Missing(_) => RejectedEvent::Missing(field),
        RejectedEvent::Invalid { reason, .. } => RejectedEvent::Invalid { field, reason },
        other => other,
    }
}
