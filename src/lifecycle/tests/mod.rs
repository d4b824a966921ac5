//! Tests of the lifecycle engine: the contract's examples, every row of the transition table,
//! the timers, and order independence under duplicates and shuffles.

mod admin;
mod examples;
mod hold;
mod ordering;
mod parsing;
mod table;
mod timers;

use super::carry::{Arrivals, fold};
use super::events::Event;
use super::fold::Folded;
use super::parse::{Envelope, parse_kind};
use crate::domain::Site;
use chrono::{DateTime, Utc};
use serde_json::json;

pub const TENANT: &str = "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11";

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 timestamp")
}

/// An event built through the real parser, so tests use the same path as the consumer.
pub fn event(n: u32, event_type: &str, occurred_at: &str, data: serde_json::Value) -> Event {
    let body = json!({
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "type": event_type,
        "tenant_id": TENANT,
        "occurred_at": occurred_at,
        "sequence": n,
        "data": data,
    });
    Event::parse(body.to_string().as_bytes()).expect("valid test event")
}

/// An event of any type, admin actions included (the consumer refuses those; the admin API
/// records them), read the way the catalog reads stored events.
pub fn stored(body: &serde_json::Value) -> Event {
    let envelope = Envelope::parse(body.to_string().as_bytes()).expect("valid envelope");
    let kind =
        parse_kind(&envelope.event_type, &envelope.data, envelope.occurred_at).expect("valid data");
    Event {
        id: envelope.id,
        tenant_id: envelope.tenant_id,
        occurred_at: envelope.occurred_at,
        sequence: envelope.sequence,
        kind,
    }
}

/// An admin action, as the admin API records it: no sequence.
pub fn admin(n: u32, event_type: &str, occurred_at: &str, data: serde_json::Value) -> Event {
    stored(&json!({
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "type": event_type,
        "tenant_id": TENANT,
        "occurred_at": occurred_at,
        "data": data,
    }))
}

pub fn trial(n: u32, occurred_at: &str, site: &str) -> Event {
    event(
        n,
        "trial.started",
        occurred_at,
        json!({"site": site, "products": ["jira"], "residency": "eu", "billing_day": 5}),
    )
}

pub fn no_sites_taken(_: &Site) -> bool {
    false
}

/// Every event delivered on time (stored when it occurred), with no grace: the contract's
/// rules as a live catalog applies them to events that are not late.
pub fn on_time() -> Arrivals {
    Arrivals::new(chrono::Duration::zero())
}

pub fn fold_at(events: &[Event], now: &str) -> Folded {
    fold(events, &on_time(), at(now), &no_sites_taken)
}
