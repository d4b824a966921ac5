//! Every (state, event type) pair against the contract's transition table, written out here
//! independently of `rules.rs`, plus the effect of each allowed row.

use super::*;
use crate::domain::{Products, Residency, TenantId};
use crate::lifecycle::rules::{Rejection, apply};
use crate::lifecycle::{EventType, Lifecycle, Tenant};
use serde_json::json;

const T0: &str = "2026-06-01T00:00:00Z";

fn tenant_in(lifecycle: Lifecycle, suspended: bool) -> Tenant {
    Tenant {
        id: TENANT.parse::<TenantId>().expect("uuid"),
        lifecycle,
        suspended,
        site: Some(Site::try_from("acme").expect("site")),
        old_sites: vec![],
        products: Some(Products::try_from(vec!["jira".to_owned()]).expect("products")),
        residency: Residency::Eu,
        billing_day: None,
        plan: None,
        cycle: None,
        trial_ends_at: None,
        current_period_end: None,
        cancellation_effective_at: None,
        deletion_due_at: None,
        created_at: at("2026-01-01T00:00:00Z"),
        deleted_at: None,
        legal_hold: None,
        hold_lifted_at: None,
    }
}

/// One valid event of each type, for the tenant of these tests.
fn one_of(t: EventType) -> Event {
    let data = match t {
        EventType::TrialStarted => {
            json!({"site": "other", "products": ["jira"], "residency": "eu", "billing_day": 5})
        }
        EventType::SubscriptionActivated => json!({
            "plan": "standard", "cycle": "monthly", "current_period_end": "2026-07-01T00:00:00Z"
        }),
        EventType::SubscriptionRenewed | EventType::SubscriptionReactivated => {
            json!({"current_period_end": "2026-07-01T00:00:00Z"})
        }
        EventType::SubscriptionCancelled => json!({"effective_at": "2026-06-20T00:00:00Z"}),
        EventType::SubscriptionSuspended => json!({"reason": "payment_overdue"}),
        EventType::SubscriptionUnsuspended => json!({}),
        EventType::SiteRenamed => json!({"site": "renamed"}),
        EventType::DataDeletionRequested => json!({"reason": "customer request"}),
        EventType::AdminDeletionRequested => {
            return admin(1, t.as_str(), T0, json!({"by": "ops", "reason": "abuse"}));
        }
        EventType::AdminDeletionCancelled => unreachable!("judged by the fold, not by `apply`"),
        EventType::AdminHoldPlaced | EventType::AdminHoldLifted => {
            return admin(
                1,
                t.as_str(),
                T0,
                json!({"by": "legal", "reason": "case 42"}),
            );
        }
        EventType::AdminMoveRequested
        | EventType::AdminMoveAdvanced
        | EventType::AdminMoveCancelled => {
            return admin(1, t.as_str(), T0, move_data(None));
        }
    };
    event(1, t.as_str(), T0, data)
}

/// The contract's "allowed when" column, read row by row.
fn allowed(l: Option<Lifecycle>, suspended: bool, t: EventType) -> bool {
    use EventType::*;
    use Lifecycle::*;
    match (t, l) {
        (TrialStarted, None) => true,
        (_, None) => false,
        (SubscriptionActivated, Some(l)) => l == Trial,
        (SubscriptionRenewed, Some(l)) => l == Active,
        (SubscriptionCancelled, Some(l)) => matches!(l, Trial | Active),
        (SubscriptionReactivated, Some(l)) => matches!(l, Cancelling | Deactivated),
        (SubscriptionSuspended, Some(l)) => matches!(l, Trial | Active | Cancelling) && !suspended,
        (SubscriptionUnsuspended, Some(_)) => suspended,
        (SiteRenamed | DataDeletionRequested, Some(l)) => l != Deleted,
        (TrialStarted, Some(_)) => false,
        // Without `force`, an admin may only delete a tenant that is deactivated already. Here
        // DELETED is a deletion fallen due by the events, which the fold carries out in catalog
        // time (CONTRACT.md section 8): until then an admin's request changes nothing and is
        // accepted, and a hold may still be placed.
        (AdminDeletionRequested, Some(l)) => matches!(l, Deactivated | Deleted),
        (AdminDeletionCancelled, _) => unreachable!("judged by the fold, not by `apply`"),
        // These tenants hold no legal hold: one can be placed on any tenant, and none lifted.
        (AdminHoldPlaced, Some(_)) => true,
        (AdminHoldLifted, Some(_)) => false,
        // A move step carried out is recorded for any tenant that is not deleted.
        (AdminMoveRequested | AdminMoveAdvanced | AdminMoveCancelled, Some(l)) => l != Deleted,
    }
}

/// The `data` a move step's history event stores.
fn move_data(refused: Option<&str>) -> serde_json::Value {
    json!({"by": "ops", "reason": "rebalance", "move_id": "5f0c2a8e-7d1b-4c3a-9e6f-0a1b2c3d4e5f",
           "from_shard": "eu-1", "to_shard": "eu-2", "phase": "copying", "refused": refused})
}

#[test]
fn a_move_step_leaves_the_lifecycle_alone_and_a_refused_one_keeps_its_reason() {
    let tenant = tenant_in(Lifecycle::Active, false);
    let step = admin(2, "admin.move_requested", T0, move_data(None));
    let after = apply(Some(&tenant), &step, &no_sites_taken).expect("a carried-out step applies");
    assert_eq!(after, tenant);
    let refused = admin(
        3,
        "admin.move_requested",
        T0,
        move_data(Some("shard eu-2 is full")),
    );
    assert_eq!(
        apply(Some(&tenant), &refused, &no_sites_taken),
        Err(Rejection::MoveRefused("shard eu-2 is full".to_owned()))
    );
}

#[test]
fn every_state_and_event_type_follows_the_transition_table() {
    let mut states: Vec<Option<(Lifecycle, bool)>> = vec![None];
    for l in Lifecycle::ALL {
        states.push(Some((l, false)));
        // Only a served lifecycle can carry the suspended flag.
        if matches!(
            l,
            Lifecycle::Trial | Lifecycle::Active | Lifecycle::Cancelling
        ) {
            states.push(Some((l, true)));
        }
    }
    let mut checked = 0;
    for state in &states {
        for t in EventType::COMMERCE.into_iter().chain([
            EventType::AdminDeletionRequested,
            EventType::AdminMoveRequested,
            EventType::AdminMoveAdvanced,
            EventType::AdminMoveCancelled,
            EventType::AdminHoldPlaced,
            EventType::AdminHoldLifted,
        ]) {
            let tenant = state.map(|(l, s)| tenant_in(l, s));
            let result = apply(tenant.as_ref(), &one_of(t), &no_sites_taken);
            let expect = allowed(state.map(|s| s.0), state.is_some_and(|s| s.1), t);
            assert_eq!(result.is_ok(), expect, "{state:?} + {t}: {result:?}");
            if let Err(reason) = result {
                assert!(!reason.to_string().is_empty());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 9 * 15);
}

#[test]
fn a_direct_purchase_creates_an_unknown_tenant_but_not_without_its_data() {
    let direct = event(
        1,
        "subscription.activated",
        T0,
        json!({"plan": "premium", "cycle": "annual", "current_period_end": "2027-06-01T00:00:00Z",
               "site": "globex", "products": ["jira"], "residency": "au"}),
    );
    let t = apply(None, &direct, &no_sites_taken).expect("direct purchase creates");
    assert_eq!(
        (t.lifecycle, t.residency),
        (Lifecycle::Active, Residency::Au)
    );
    assert_eq!(t.current_period_end, Some(at("2027-06-01T00:00:00Z")));

    let bare = one_of(EventType::SubscriptionActivated);
    let reason = apply(None, &bare, &no_sites_taken).expect_err("needs site");
    assert!(
        matches!(reason, Rejection::IncompletePurchase(_)),
        "{reason}"
    );
    assert!(
        reason.to_string().contains("site, products and residency"),
        "{reason}"
    );
}

#[test]
fn each_allowed_row_has_its_effect() {
    let apply_to =
        |l, s, t| apply(Some(&tenant_in(l, s)), &one_of(t), &no_sites_taken).expect("allowed");
    use EventType::*;
    use Lifecycle::*;

    let t = apply_to(Trial, false, SubscriptionActivated);
    assert_eq!((t.lifecycle, t.plan.as_deref()), (Active, Some("standard")));
    assert_eq!(t.current_period_end, Some(at("2026-07-01T00:00:00Z")));

    let t = apply_to(Active, false, SubscriptionRenewed);
    assert_eq!(t.current_period_end, Some(at("2026-07-01T00:00:00Z")));

    let t = apply_to(Trial, false, SubscriptionCancelled);
    assert_eq!(
        (t.lifecycle, t.cancellation_effective_at),
        (Cancelling, Some(at("2026-06-20T00:00:00Z")))
    );

    let mut deactivated = tenant_in(Deactivated, false);
    deactivated.deletion_due_at = Some(at("2026-06-10T00:00:00Z"));
    deactivated.cancellation_effective_at = Some(at("2026-05-26T00:00:00Z"));
    let t = apply(
        Some(&deactivated),
        &one_of(SubscriptionReactivated),
        &no_sites_taken,
    )
    .expect("allowed");
    assert_eq!(
        (t.lifecycle, t.deletion_due_at, t.cancellation_effective_at),
        (Active, None, None)
    );

    assert!(apply_to(Cancelling, false, SubscriptionSuspended).suspended);
    let t = apply_to(Cancelling, true, SubscriptionUnsuspended);
    assert_eq!((t.lifecycle, t.suspended), (Cancelling, false));

    let t = apply_to(Deactivated, false, SiteRenamed);
    assert_eq!(t.site.as_ref().map(Site::as_str), Some("renamed"));
    assert_eq!(t.old_sites, vec![Site::try_from("acme").expect("site")]);

    let t = apply_to(Active, true, DataDeletionRequested);
    assert_eq!(
        (t.lifecycle, t.suspended, t.deletion_due_at),
        (Deactivated, false, Some(at(T0)))
    );
}

#[test]
fn a_taken_site_leaves_a_creation_without_a_site_and_rejects_a_rename() {
    let taken = |s: &Site| s.as_str() == "other" || s.as_str() == "renamed";
    // CONTRACT.md section 8: the tenant exists, visible, with no site until a rename.
    let created = apply(None, &one_of(EventType::TrialStarted), &taken).expect("created");
    assert_eq!((created.lifecycle, created.site), (Lifecycle::Trial, None));
    let active = tenant_in(Lifecycle::Active, false);
    let reason = apply(Some(&active), &one_of(EventType::SiteRenamed), &taken).expect_err("taken");
    assert_eq!(
        reason,
        Rejection::SiteTaken(Site::try_from("renamed").expect("a site"))
    );
    assert_eq!(
        reason.to_string(),
        "site `renamed` is taken by another tenant"
    );
}

#[test]
fn renaming_back_to_an_old_site_moves_it_out_of_the_old_hosts() {
    let events = [
        trial(1, "2026-06-01T00:00:00Z", "first"),
        event(
            2,
            "site.renamed",
            "2026-06-02T00:00:00Z",
            json!({"site": "second"}),
        ),
        event(
            3,
            "site.renamed",
            "2026-06-03T00:00:00Z",
            json!({"site": "first"}),
        ),
    ];
    let t = fold_at(&events, "2026-06-04T00:00:00Z")
        .tenant
        .expect("tenant");
    assert_eq!(t.site.as_ref().map(Site::as_str), Some("first"));
    assert_eq!(
        t.old_sites.iter().map(Site::as_str).collect::<Vec<_>>(),
        ["second"]
    );
}
