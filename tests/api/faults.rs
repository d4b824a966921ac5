//! The fast subset of the fault scenarios (the full ones: `make chaos`, docs/reliability.md):
//! a real `serve` process killed with SIGKILL three times while it works through about 10,000
//! events with 30% redeliveries, next to a second `serve` whose broker connection is dropped.
//! Nothing may be lost, and every tenant must be what the lifecycle engine makes of its events.

use crate::helpers::*;
use crate::load::generate::{self as loadgen, Spec};
use tenant_catalog::amqp::EventPublisher;

#[tokio::test]
async fn kill_9_and_a_dropped_broker_connection_lose_nothing() {
    // A grace longer than the kills can delay a tenant's deliveries (the broker requeues what a
    // killed process held): each tenant's shuffled history arrives within it, so it ends as
    // its in-order fold.
    let app = spawn_app_with(&[("DELETION_GRACE_SECS", "60")]).await;
    let key = std::env::temp_dir().join(format!("tc-faults-{}.pem", uuid::Uuid::new_v4()));
    let mut child = serve_process(&app, "127.0.0.1:0", &key);

    let plan = loadgen::generate(
        &Spec {
            tenants: 4000,
            duplicates: 0.3,
            poison: 0,
            contested: 0.2,
            seed: 5,
        },
        chrono::Utc::now(),
    );
    let publisher = EventPublisher::connect(&app.settings.amqp_url)
        .await
        .unwrap();
    let sent = publisher
        .publish_all(plan.deliveries.iter().map(Vec::as_slice), 1000)
        .await
        .unwrap();
    assert!(sent >= 10_000, "about 10,000 events sent, got {sent}");

    let mut stored = 0;
    for kill in 0..3 {
        // Each kill comes while the processes are at work: after more events were stored.
        stored = app.wait_stored_at_least(stored + 300 + 200 * kill).await;
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        child = serve_process(&app, "127.0.0.1:0", &key);
        if kill == 1 {
            // The in-process serve loses its broker connection and must reconnect by itself.
            assert!(
                app.close_broker_connections("tenant-catalog consumer")
                    .await
                    > 0
            );
        }
    }

    let report = app.wait_matching(&plan).await;
    child.kill().ok();
    child.wait().ok();
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub.pem"));

    assert_eq!((report.lost, report.mismatched), (0, 0), "{report:?}");
    assert_eq!(report.distinct_events, plan.events.len());
    assert!(
        report.redeliveries_seen >= (sent - plan.events.len()) as i64,
        "every redelivery recognised: {report:?}"
    );
    assert!(app.dead_letters().await.is_empty());
}
