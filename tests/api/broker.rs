//! The broker never dead-letters a valid event by itself, and a queue declared by an earlier
//! version (with the broker's delivery limit of 50) is upgraded without losing a message.

use crate::helpers::*;
use lapin::options::{BasicGetOptions, BasicRejectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde_json::Value;
use std::process::Command;
use tenant_catalog::amqp::topology::{self, LIFECYCLE_QUEUE, LifecycleQueue};
use tenant_catalog::amqp::{EventPublisher, connect};

/// A message handed back to the broker 60 times (each time a consumer fails while holding it)
/// stays in the queue and is stored once `serve` runs; earlier versions let the broker
/// dead-letter it, without a reason, after 50.
#[tokio::test]
async fn a_message_returned_many_times_is_never_dead_lettered_by_the_broker() {
    let env = TestEnv::new(&[]).await;
    let publisher = EventPublisher::connect(&env.settings.amqp_url)
        .await
        .expect("publisher");
    let mut c = Commerce::new();
    let event = c.trial(days_ago(1), &unique_site("returned"), "eu");
    publisher
        .publish(event.to_string().as_bytes())
        .await
        .expect("published");

    let conn = connect(&env.settings.amqp_url, "test")
        .await
        .expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    for round in 0..60 {
        let message = channel
            .basic_get(LIFECYCLE_QUEUE.into(), BasicGetOptions { no_ack: false })
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("the message left the queue after {round} returns"));
        message
            .delivery
            .acker
            .reject(BasicRejectOptions { requeue: true })
            .await
            .expect("returned");
    }
    let _ = conn.close(200, "done".into()).await;

    let app = spawn_on(env).await;
    app.wait_tenant(&c.tenant_id, "stored", |t| t.state == "TRIAL")
        .await;
    assert!(app.dead_letters().await.is_empty());
}

/// Declares `tenant-catalog.lifecycle` as versions before 2026-12-02 did.
async fn declare_legacy_queue(amqp_url: &str) {
    let conn = connect(amqp_url, "test").await.expect("connect");
    topology::declare(&conn).await.expect("topology");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .queue_delete(LIFECYCLE_QUEUE.into(), Default::default())
        .await
        .expect("deleted");
    let mut args = FieldTable::default();
    for (key, value) in [
        ("x-queue-type", AMQPValue::LongString("quorum".into())),
        ("x-delivery-limit", AMQPValue::LongLongInt(50)),
        ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString("tenant-catalog.lifecycle.dlq".into()),
        ),
    ] {
        args.insert(ShortString::from(key), value);
    }
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(LIFECYCLE_QUEUE.into(), durable, args)
        .await
        .expect("legacy queue");
    let _ = conn.close(200, "done".into()).await;
    let conn = connect(amqp_url, "test").await.expect("connect");
    assert_eq!(
        topology::declare(&conn).await.expect("declared"),
        LifecycleQueue::Legacy
    );
}

fn upgrade_queue(amqp_url: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .arg("upgrade-queue")
        .env("AMQP_URL", amqp_url)
        .env("RUST_LOG", "off")
        .output()
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn delivery_limit(app: &TestApp) -> Option<Value> {
    let q = management_get(&format!("queues/{}/{LIFECYCLE_QUEUE}", app.vhost())).await?;
    q.pointer("/arguments/x-delivery-limit").cloned()
}

/// `serve` still runs on the old queue; `upgrade-queue` refuses while a `serve` consumes,
/// then recreates the queue without the limit and carries every waiting message over.
#[tokio::test]
async fn a_queue_an_earlier_version_declared_is_upgraded_without_losing_a_message() {
    let env = TestEnv::new(&[]).await;
    declare_legacy_queue(&env.settings.amqp_url).await;
    let mut app = spawn_on(env).await;
    assert_eq!(delivery_limit(&app).await, Some(Value::from(50)));
    let mut first = Commerce::new();
    app.publish(&first.trial(days_ago(2), &unique_site("legacy"), "eu"))
        .await;
    app.wait_tenant(&first.tenant_id, "stored from the old queue", |t| {
        t.state == "TRIAL"
    })
    .await;

    let url = app.settings.amqp_url.clone();
    let (code, out) = upgrade_queue(&url);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stop every `serve` first"), "{out}");

    app.stop().await;
    let mut waiting = [Commerce::new(), Commerce::new()];
    for c in &mut waiting {
        let event = c.trial(days_ago(1), &unique_site("waiting"), "us");
        app.publish(&event).await;
    }
    let (code, out) = upgrade_queue(&url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 messages carried over"), "{out}");
    assert_eq!(
        delivery_limit(&app).await,
        Some(Value::from(i64::from(i32::MAX)))
    );
    let (code, out) = upgrade_queue(&url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already current"), "{out}");

    let second = spawn_second(&app).await;
    for c in &waiting {
        second
            .wait_tenant(&c.tenant_id, "stored after the upgrade", |t| {
                t.state == "TRIAL"
            })
            .await;
    }
    assert!(second.dead_letters().await.is_empty());
}
