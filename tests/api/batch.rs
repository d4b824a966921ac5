//! One consumer batch stored by `catalog::ingest` directly: however many tenants and events it
//! holds, the result is what storing them one after another would give.

use crate::helpers::*;
use chrono::Utc;
use serde_json::{Value, json};
use tenant_catalog::apply::{Ingested, apply_events};
use tenant_catalog::catalog::events::NewEvent;
use tenant_catalog::catalog::tenants::lock_key;
use tenant_catalog::lifecycle::{Event, Outcome};

/// Stores `events` as one batch in one transaction.
async fn store(app: &TestApp, events: &[Value]) -> Vec<Ingested> {
    let data: Vec<Value> = events.iter().map(|e| e["data"].clone()).collect();
    let parsed: Vec<Event> = events
        .iter()
        .map(|e| Event::parse(e.to_string().as_bytes()).unwrap())
        .collect();
    let news: Vec<NewEvent<'_>> = parsed
        .iter()
        .zip(&data)
        .map(|(event, data)| NewEvent { event, data })
        .collect();
    let mut tx = app.db.begin().await.unwrap();
    let report = apply_events(&mut tx, &news, Utc::now(), &app.settings.rules())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    report.results
}

#[tokio::test]
async fn one_batch_is_judged_in_contract_order_whatever_the_lock_order() {
    one_batch_in_lock_order(true).await;
    one_batch_in_lock_order(false).await;
}

/// Two tenants claim one site in one batch; A renames away from it. `a_first`: whether A comes
/// first in lock order (which must not matter).
async fn one_batch_in_lock_order(a_first: bool) {
    let app = spawn_app().await;
    let site = unique_site("same");
    let (mut a, mut b) = (Commerce::new(), Commerce::new());
    let key = |c: &Commerce| lock_key(c.tenant_id.parse().unwrap());
    if (key(&a) < key(&b)) != a_first {
        std::mem::swap(&mut a.tenant_id, &mut b.tenant_id);
    }
    let a_trial = a.trial(days_ago(2), &site, "eu");
    let mut b_trial = b.trial(days_ago(2), &site, "eu");
    // At the same instant, so that the ids break the tie.
    b_trial["occurred_at"] = a_trial["occurred_at"].clone();
    let mut reused_id = b_trial.clone();
    reused_id["data"]["billing_day"] = json!(6);
    let a_renamed = a.event(
        "site.renamed",
        days_ago(1),
        json!({"site": unique_site("moved")}),
    );

    let results = store(
        &app,
        &[
            a_trial.clone(),
            b_trial.clone(),
            a_trial.clone(),
            reused_id,
            a_renamed,
        ],
    )
    .await;

    // Whatever the lock order, the claims are judged in contract order: both trials happened
    // at the same time with the same sequence, so the lower event id claims the site first and
    // keeps it, current or old (A's rename away from it frees nothing).
    let judged = |i: usize| match &results[i] {
        Ingested::Judged(outcome) => (outcome.as_str(), outcome.reason().unwrap_or_default()),
        other => panic!("event {i} judged: {other:?}"),
    };
    let a_wins = a_trial["id"].as_str() < b_trial["id"].as_str();
    if a_wins {
        let a_row = app.tenant(&a.tenant_id).await.expect("A stored");
        assert_eq!(a_row.old_sites, std::slice::from_ref(&site));
        let b_row = app.tenant(&b.tenant_id).await.expect("B stored");
        assert_eq!(
            (b_row.state.as_str(), &b_row.site),
            ("PROVISIONING", &None),
            "A holds the site as an old one; B has none"
        );
        assert_eq!((judged(0).0, judged(4).0), ("applied", "applied"));
        assert_eq!(judged(1).0, "applied", "B is created, without the site");
    } else {
        let b_row = app.tenant(&b.tenant_id).await.expect("B stored");
        assert_eq!(b_row.site.as_deref(), Some(site.as_str()));
        let a_row = app.tenant(&a.tenant_id).await.expect("A stored");
        assert_eq!(
            a_row.old_sites,
            Vec::<String>::new(),
            "A never held the site"
        );
        assert_ne!(a_row.site.as_deref(), Some(site.as_str()));
        assert!(a_row.site.is_some(), "its rename gave it a free site");
        assert_eq!((judged(0).0, judged(1).0), ("applied", "applied"));
    }

    // The same event twice in one batch is one event delivered twice; the same id with other
    // content is a conflict.
    assert_eq!(results[2], Ingested::Redelivered);
    assert!(
        matches!(&results[3], Ingested::Conflict { reason } if reason.contains("other content")),
        "{results:?}"
    );
    let history = app.history(&a.tenant_id).await;
    assert_eq!(history[0].deliveries, 2);
}

#[tokio::test]
async fn a_batch_of_many_tenants_places_each_on_the_emptiest_shard_in_turn() {
    let app = spawn_app().await;
    sqlx::query("insert into shards (id, region, endpoint, capacity) values ('eu-central-1-2', 'eu-central-1', 'https://x', 10)")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update shards set capacity = 10 where id = 'eu-central-1-1'")
        .execute(&app.db)
        .await
        .unwrap();
    let events: Vec<Value> = (0..30)
        .map(|_| Commerce::new().trial(days_ago(1), &unique_site("de"), "de"))
        .collect();
    let results = store(&app, &events).await;
    let applied = results
        .iter()
        .filter(|r| matches!(r, Ingested::Judged(Outcome::Applied)))
        .count();
    assert_eq!(applied, 30);

    let fill: Vec<(String, i32)> = sqlx::query_as(
        "select id, tenant_count from shards where region = 'eu-central-1' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        fill,
        [
            ("eu-central-1-1".to_owned(), 10),
            ("eu-central-1-2".to_owned(), 10)
        ],
        "both shards filled evenly up to their capacity"
    );
    let waiting: i64 =
        sqlx::query_scalar("select count(*) from tenants where state = 'PROVISIONING'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(waiting, 10, "the rest wait for room");
}
