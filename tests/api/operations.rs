//! Operations: `verify` and `rebuild` against a tampered catalog, and a graceful shutdown under
//! load that loses nothing.

use crate::helpers::*;
use crate::load::generate::{self as loadgen, Spec};
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

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_work_and_loses_nothing() {
    let app = spawn_app().await;
    // Only the child consumes: stop the in-process serve.
    let mut app = app;
    app.stop().await;
    let key = std::env::temp_dir().join(format!("tc-ops-{}.pem", uuid::Uuid::new_v4()));
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
            .arg("serve")
            .env("DATABASE_URL", &app.settings.database_url)
            .env("AMQP_URL", &app.settings.amqp_url)
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
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stored_before: i64 = sqlx::query_scalar("select count(*) from tenant_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
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
