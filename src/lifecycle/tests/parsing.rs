//! Validation of raw messages: every refusal names the field and the rule.

use crate::lifecycle::events::{Event, EventKind, RejectedEvent};
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a01",
        "type": "trial.started",
        "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11",
        "occurred_at": "2026-09-01T10:15:00Z",
        "sequence": 1,
        "data": {"site": "acme", "products": ["jira"], "residency": "eu", "billing_day": 5}
    })
}

/// The valid trial of [`base`], changed by `change`.
fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut b = base();
    change(&mut b);
    b
}

fn refusal(body: Value) -> String {
    Event::parse(body.to_string().as_bytes())
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn a_valid_trial_parses_with_its_data() {
    let e = Event::parse(base().to_string().as_bytes()).expect("valid");
    assert_eq!(e.sequence, Some(1));
    assert!(
        matches!(e.kind, EventKind::TrialStarted { billing_day, .. } if billing_day.get() == 5)
    );
}

#[test]
fn sequence_is_optional_and_unknown_fields_are_ignored() {
    let mut body = base();
    body.as_object_mut().expect("object").remove("sequence");
    body["extra"] = json!("ignored");
    assert_eq!(
        Event::parse(body.to_string().as_bytes())
            .expect("valid")
            .sequence,
        None
    );
}

#[test]
fn broken_messages_are_refused_with_a_reason_naming_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!("just a string"), "not a JSON object"),
        (json!({"type": "trial.started"}), "missing field `id`"),
        (with(|b| b["id"] = json!("nope")), "field `id`"),
        (
            with(|b| b["type"] = json!("tenant.exploded")),
            "unknown event type `tenant.exploded`",
        ),
        (
            with(|b| b["occurred_at"] = json!("yesterday")),
            "field `occurred_at`",
        ),
        (with(|b| b["sequence"] = json!(-1)), "field `sequence`"),
        (with(|b| b["data"] = json!([])), "field `data`"),
        (
            with(|b| b["data"]["site"] = json!("-bad-")),
            "field `data.site`",
        ),
        (
            with(|b| b["data"]["products"] = json!([])),
            "field `data.products`",
        ),
        (
            with(|b| b["data"]["residency"] = json!("mars")),
            "field `data.residency`",
        ),
        (
            with(|b| b["data"]["billing_day"] = json!(29)),
            "field `data.billing_day`",
        ),
        (
            with(|b| {
                b["data"]
                    .as_object_mut()
                    .expect("obj")
                    .remove("billing_day");
            }),
            "missing field `data.billing_day`",
        ),
        (
            json!({"id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a07", "type": "subscription.cancelled",
                "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11", "occurred_at": "2026-11-10T16:45:00Z",
                "data": {"effective_at": "2026-11-01T00:00:00Z"}}),
            "must not be before occurred_at",
        ),
        (
            json!({"id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a02", "type": "subscription.activated",
                "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11", "occurred_at": "2026-11-10T16:45:00Z",
                "data": {"plan": "p", "cycle": "weekly", "current_period_end": "2026-12-01T00:00:00Z"}}),
            "field `data.cycle`",
        ),
    ];
    for (body, expected) in cases {
        let reason = refusal(body.clone());
        assert!(
            reason.contains(expected),
            "{body} gave `{reason}`, expected `{expected}`"
        );
    }
}

#[test]
fn a_non_json_body_is_refused() {
    let err = Event::parse(b"\xff\x00garbage").expect_err("refused");
    assert!(matches!(err, RejectedEvent::NotJson(_)));
}

#[test]
fn timestamps_are_kept_to_the_microsecond_as_the_catalog_stores_them() {
    let mut body = base();
    body["occurred_at"] = json!("2026-09-01T10:15:00.123456789+02:00");
    let e = Event::parse(body.to_string().as_bytes()).expect("valid");
    assert_eq!(
        e.occurred_at.to_rfc3339(),
        "2026-09-01T08:15:00.123456+00:00"
    );
}

/// CONTRACT.md section 7: a lifecycle fact is never lost to a cosmetic field.
#[test]
fn cosmetic_oddities_are_recorded_as_sent() {
    let suspension = json!({"id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a05", "type": "subscription.suspended",
        "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11", "occurred_at": "2026-11-10T16:45:00Z",
        "data": {"reason": ""}});
    let e = Event::parse(suspension.to_string().as_bytes()).expect("an empty reason is a reason");
    assert!(matches!(e.kind, EventKind::SubscriptionSuspended { reason } if reason.is_empty()));

    let odd_product = with(|b| b["data"]["products"] = json!(["Jira Software"]));
    assert!(Event::parse(odd_product.to_string().as_bytes()).is_ok());

    // A conversion that repeats the site (but not products or residency) is still a conversion.
    let conversion = json!({"id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a02", "type": "subscription.activated",
        "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11", "occurred_at": "2026-09-20T09:00:00Z",
        "data": {"plan": "standard", "cycle": "monthly", "current_period_end": "2026-10-20T09:00:00Z",
                 "site": "acme", "extra": true}});
    let e = Event::parse(conversion.to_string().as_bytes()).expect("valid conversion");
    assert!(matches!(
        e.kind,
        EventKind::SubscriptionActivated { tenant: Err(_), .. }
    ));
}

#[test]
fn a_missing_reason_is_still_refused_naming_the_field() {
    let suspension = json!({"id": "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a05", "type": "subscription.suspended",
        "tenant_id": "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11", "occurred_at": "2026-11-10T16:45:00Z",
        "data": {}});
    assert!(refusal(suspension).contains("missing field `data.reason`"));
}
