//! Operations: `verify` and `rebuild` against a tampered catalog, and a graceful shutdown under
//! load that loses nothing.

use crate::helpers::*;
use crate::load::generate::{self as loadgen, Spec};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tenant_catalog::amqp::EventPublisher;

/// Runs the binary with the app's settings: (exit code, stdout).
fn run(app: &TestApp, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .args(args)
        .env("DATABASE_URL", &app.settings.database_url)
        .env("AMQP_URL", &app.settings.amqp_url)
        .env("RUST_LOG", "off")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn verify_finds_a_tampered_tenant_and_rebuild_rewrites_it_from_its_history() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut c = Commerce::new();
        app.publish(&c.direct_purchase(days_ago(3), &unique_site("ops"), "us"))
            .await;
        app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
            .await;
        ids.push(c.tenant_id);
    }
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 tenants verified, 0 differing"), "{out}");

    let victim = &ids[1];
    let before = app.tenant(victim).await.unwrap();
    sqlx::query("update tenants set suspended = true, state = 'SUSPENDED' where id = $1::uuid")
        .bind(victim)
        .execute(&app.db)
        .await
        .unwrap();
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "differs tenant {victim}: stored SUSPENDED, its history makes it ACTIVE"
        )),
        "{out}"
    );
    assert!(out.contains("1 differing"), "{out}");
    assert_eq!(
        app.tenant(victim).await.unwrap().state,
        "SUSPENDED",
        "verify changes nothing"
    );

    let (code, out) = run(&app, &["rebuild"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("rebuilt tenant {victim}")), "{out}");
    let after = app.tenant(victim).await.unwrap();
    assert_eq!((after.state.as_str(), after.suspended), ("ACTIVE", false));
    assert_eq!(
        after.version,
        before.version + 1,
        "a new version, announced"
    );
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 0, "{out}");
}

/// `verify` sees deleted tenants too: a DELETED row whose state column was set to ACTIVE by
/// hand (so routing would serve it) is reported, and `rebuild` puts it back.
#[tokio::test]
async fn verify_sees_a_tampered_deleted_tenant() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    // A trial lasts 31 to 61 days and its data goes 15 days after: 90 days ago is deleted on any date.
    app.publish(&c.trial(days_ago(90), &unique_site("gone"), "eu"))
        .await;
    app.wait_tenant(&c.tenant_id, "DELETED", |t| t.state == "DELETED")
        .await;
    let victim = &c.tenant_id;
    sqlx::query("update tenants set state = 'ACTIVE' where id = $1::uuid")
        .bind(victim)
        .execute(&app.db)
        .await
        .unwrap();
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "differs tenant {victim}: stored ACTIVE, its history makes it DELETED"
        )),
        "{out}"
    );
    let (code, out) = run(&app, &["rebuild"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(app.tenant(victim).await.unwrap().state, "DELETED");
    let fill: i32 = sqlx::query_scalar("select sum(tenant_count)::int4 from shards")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(fill, 0, "the repair frees no slot a second time");
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 0, "{out}");
}

/// `verify` checks the catalog across tenants too: a shard fill set by hand, an old host given
/// to another tenant by hand; `rebuild` repairs both.
#[tokio::test]
async fn verify_checks_fills_and_old_hosts_across_tenants() {
    let app = spawn_app().await;
    let (old, new) = (unique_site("was"), unique_site("now"));
    let mut a = Commerce::new();
    app.publish(&a.trial(days_ago(3), &old, "us")).await;
    app.publish(&a.event("site.renamed", days_ago(2), json!({"site": new})))
        .await;
    app.wait_tenant(&a.tenant_id, "renamed", |t| t.site.as_deref() == Some(&new))
        .await;
    let mut b = Commerce::new();
    app.publish(&b.trial(days_ago(1), &unique_site("other"), "us"))
        .await;
    app.wait_tenant(&b.tenant_id, "B", |t| t.shard_id.is_some())
        .await;
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 0, "{out}");

    sqlx::query("update shards set tenant_count = 7 where id = 'us-east-1-1'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("insert into site_aliases (site, tenant_id) values ($1, $2::uuid)")
        .bind(&old)
        .bind(&b.tenant_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("differs shard us-east-1-1: fill 7, its live tenants make it 2"),
        "{out}"
    );
    assert!(
        out.contains(&format!("differs site {old} is held by 2 tenants")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "differs tenant {}: its old hosts are not its old sites",
            b.tenant_id
        )),
        "{out}"
    );

    let (code, out) = run(&app, &["rebuild"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&app, &["verify"]);
    assert_eq!(code, 0, "{out}");
    let fill: i32 = sqlx::query_scalar("select tenant_count from shards where id = 'us-east-1-1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(fill, 2);
}

/// `dlq list` shows what waits in the dead-letter queue and why, and changes nothing; `dlq
/// replay --id` puts one message back on commerce.lifecycle and removes it from the queue.
#[tokio::test]
async fn dead_letters_can_be_listed_and_replayed() {
    let app = spawn_app().await;
    let mut c = Commerce::new();
    let mut bad = c.trial(days_ago(1), &unique_site("dlq"), "eu");
    bad["data"]["residency"] = json!("mars");
    app.publish(&bad).await;
    app.publish_raw(b"not json").await;
    let conn = tenant_catalog::amqp::connect(&app.settings.amqp_url, "test")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let depth = || async {
        let q = channel
            .queue_declare(
                tenant_catalog::amqp::topology::DEAD_LETTER_QUEUE.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .unwrap();
        q.message_count()
    };
    app.wait_for(20, "two dead letters", || async {
        (depth().await == 2).then_some(())
    })
    .await;

    let (code, out) = run(&app, &["dlq", "list"]);
    assert_eq!(code, 0, "{out}");
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{out}");
    let id = bad["id"].as_str().unwrap();
    let entry = listed
        .iter()
        .find(|l| l["message_id"] == id)
        .expect("listed");
    assert!(
        entry["reason"].as_str().unwrap().contains("data.residency"),
        "{entry}"
    );
    assert!(entry["dead_lettered_at"].is_string(), "{entry}");
    assert_eq!(depth().await, 2, "listing changes nothing");

    let (code, out) = run(&app, &["dlq", "replay"]);
    assert_ne!(code, 0, "replay without --id or --all is refused: {out}");
    let (code, out) = run(&app, &["dlq", "replay", "--id", id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(id), "{out}");
    // Replayed, it is refused again for the same reason: back in the queue once, as a new
    // copy, while the other message stayed where it was.
    app.wait_for(20, "the replayed message dead-lettered again", || async {
        let (_, out) = run(&app, &["dlq", "list", "--id", id]);
        (out.lines().count() == 1 && depth().await == 2).then_some(())
    })
    .await;
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_work_and_loses_nothing() {
    // Each tenant's shuffled history arrives within the grace: it ends as its in-order fold.
    let app = spawn_app_with(&[("DELETION_GRACE_SECS", "10")]).await;
    // Only the child consumes: stop the in-process serve.
    let mut app = app;
    app.stop().await;
    let key = std::env::temp_dir().join(format!("tc-ops-{}.pem", uuid::Uuid::new_v4()));
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
            .arg("serve")
            .env("DATABASE_URL", &app.settings.database_url)
            .env("AMQP_URL", &app.settings.amqp_url)
            .env("DELETION_GRACE_SECS", "10")
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("AUTH_SIGNING_KEY", &key)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts")
    };
    let plan = loadgen::generate(
        &Spec {
            tenants: 6000,
            duplicates: 0.3,
            poison: 0,
            contested: 0.0,
            seed: 11,
        },
        chrono::Utc::now(),
    );
    let publisher = EventPublisher::connect(&app.settings.amqp_url)
        .await
        .unwrap();
    publisher
        .publish_all(plan.deliveries.iter().map(Vec::as_slice), 1000)
        .await
        .unwrap();

    let mut child = spawn();
    // SIGTERM while it is at work.
    let stored_before = app.wait_stored_at_least(500).await;
    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let took = asked.elapsed();
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit:?}");
    assert!(
        took < Duration::from_secs(15),
        "it exits within 15 s, took {took:?}"
    );
    let stored_after: i64 = sqlx::query_scalar("select count(*) from tenant_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        stored_after >= stored_before,
        "what was stored stays stored"
    );
    assert!(
        stored_after < plan.events.len() as i64,
        "SIGTERM came mid-stream ({stored_after} of {} stored)",
        plan.events.len()
    );

    // A new instance takes over the rest, as in a rolling restart.
    let mut next = spawn();
    let report = app.wait_matching(&plan).await;
    next.kill().ok();
    next.wait().ok();
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub.pem"));
    assert_eq!((report.lost, report.mismatched), (0, 0), "{report:?}");
    assert!(app.dead_letters().await.is_empty());
}

#[tokio::test]
async fn verify_covers_every_tenant_id_with_events_even_one_whose_row_is_gone() {
    let app = spawn_app().await;
    let c = active_tenant(&app, "us").await;
    let id: uuid::Uuid = c.tenant_id.parse().unwrap();
    // The row is lost (a bad manual repair, say); the events are still there.
    sqlx::query("delete from tenants where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let rules = app.settings.rules();
    let mut found = Vec::new();
    let report = tenant_catalog::apply::replay::replay(
        &app.db,
        &rules,
        false,
        |c| found.push(c.tenant_id),
        |_| {},
    )
    .await
    .expect("verified");
    assert_eq!(report.differing, 1, "{found:?}");
    assert_eq!(found, [c.tenant_id.parse().unwrap()]);
    tenant_catalog::apply::replay::replay(&app.db, &rules, true, |_| {}, |_| {})
        .await
        .expect("rebuilt");
    let back = app
        .tenant(&c.tenant_id)
        .await
        .expect("rebuilt from its events");
    assert_eq!(back.state, "ACTIVE");
}
