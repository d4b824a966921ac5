//! Moves between shards (contract section 7, "Routing epochs and moves"), through the real
//! admin API, GraphQL and change feed: every phase and refusal, a retried advance, deadlines,
//! two admins at once, two instances' routing caches, and `serve` killed with SIGKILL between
//! the steps.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tenant_catalog::apply::replay;

const ROUTE: &str = "query($id: ID) { route(tenantId: $id) { shard region epoch status serving } }";

/// A tenant of residency `eu`, ACTIVE and placed (on eu-central-1-1: ties go to the preferred
/// region).
async fn eu_tenant(app: &TestApp, residency: &str) -> String {
    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(5), &unique_site("mv"), residency))
        .await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    c.tenant_id
}

async fn route(app: &TestApp, id: &str) -> Value {
    app.query(ROUTE, json!({"id": id})).await["route"].clone()
}

fn moves_of(id: &str) -> String {
    format!("/admin/v1/tenants/{id}/moves")
}

async fn start(app: &TestApp, id: &str, to: &str) -> (u16, Value) {
    app.admin(
        Method::POST,
        &moves_of(id),
        Some(json!({"to_shard": to, "reason": "rebalance eu"})),
    )
    .await
}

async fn advance(app: &TestApp, move_id: &str, phase: &str) -> (u16, Value) {
    app.admin(
        Method::POST,
        &format!("/admin/v1/moves/{move_id}/advance"),
        Some(json!({"phase": phase})),
    )
    .await
}

async fn fills(app: &TestApp) -> Value {
    let (status, body) = app.admin(Method::GET, "/admin/v1/shards", None).await;
    assert_eq!(status, 200, "{body}");
    let mut out = serde_json::Map::new();
    for s in body["shards"].as_array().expect("shards") {
        out.insert(
            s["id"].as_str().expect("id").to_owned(),
            s["tenants"].clone(),
        );
    }
    Value::Object(out)
}

/// `verify` as a library call: every tenant's row is its history's fold, and the fills, sites
/// and old hosts hold across tenants.
async fn assert_verified(app: &TestApp) {
    let rules = app.settings.rules();
    let replayed = replay::replay(&app.db, &rules, false, |_| {}, |_| {})
        .await
        .expect("replayed");
    assert_eq!(replayed.differing, 0, "every row is its history's fold");
    let mut findings = Vec::new();
    replay::check_catalog(&app.db, &rules, false, |f| findings.push(f.to_string()))
        .await
        .expect("checked");
    assert!(findings.is_empty(), "{findings:?}");
}

/// Takes change messages until one with this routing key, within 10 s.
async fn next_step(feed: &mut ChangeFeed, phase: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "a {phase} message in time");
        let (k, body) = feed.next(10).await;
        if body["move"]["phase"] == phase {
            // Move steps go out under the tenant's state, like every change (CONTRACT.md
            // section 8), with a cause.
            let state = body["state"].as_str().unwrap_or_default().to_lowercase();
            assert_eq!(k, format!("tenant.{state}"), "{body}");
            assert!(body["caused_by"].is_string(), "{body}");
            return body;
        }
    }
}

#[tokio::test]
async fn a_move_goes_copying_cutover_done_each_step_under_a_new_epoch() {
    let app = spawn_app().await;
    let id = eu_tenant(&app, "eu").await;
    let before = route(&app, &id).await;
    assert_eq!(before["shard"], "eu-central-1-1", "{before}");
    assert_eq!(before["status"], "ONLINE");
    let e0 = before["epoch"].as_i64().expect("epoch");
    assert!(e0 >= 1, "a placed tenant has an epoch: {before}");
    let mut feed = app.listen_changes().await;

    let (status, started) = start(&app, &id, "eu-west-1-1").await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["phase"], "copying");
    assert_eq!(
        (&started["from_shard"], &started["to_shard"]),
        (&json!("eu-central-1-1"), &json!("eu-west-1-1"))
    );
    assert_eq!(started["requested_by"], "tests");
    let move_id = started["id"].as_str().expect("move id").to_owned();
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["status"], r["epoch"].as_i64()),
        (&json!("eu-central-1-1"), &json!("MOVING"), Some(e0 + 1)),
        "copying: still served from the source, MOVING: {r}"
    );
    assert_eq!(r["serving"], true);
    let f = fills(&app).await;
    assert_eq!(
        (&f["eu-central-1-1"], &f["eu-west-1-1"]),
        (&json!(1), &json!(1)),
        "the target's slot is taken while the source keeps its own: {f}"
    );
    let msg = next_step(&mut feed, "copying").await;
    assert_eq!(msg["move"]["from_shard"], "eu-central-1-1");
    assert_eq!(msg["move"]["to_shard"], "eu-west-1-1");
    assert_eq!(msg["epoch"], e0 + 1);
    assert_eq!(msg["route_status"], "MOVING");

    let (status, cut) = advance(&app, &move_id, "cutover").await;
    assert_eq!((status, &cut["phase"]), (200, &json!("cutover")), "{cut}");
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["status"], r["epoch"].as_i64()),
        (&json!("eu-central-1-1"), &json!("READ_ONLY"), Some(e0 + 2)),
        "cutover: read-only on the source: {r}"
    );
    let msg = next_step(&mut feed, "cutover").await;
    assert_eq!(msg["epoch"], json!(e0 + 2));

    // The data plane retries its call: nothing changes.
    let (status, again) = advance(&app, &move_id, "cutover").await;
    assert_eq!(
        (status, &again["phase"], &again["epoch"]),
        (200, &json!("cutover"), &json!(e0 + 2)),
        "{again}"
    );

    let (status, done) = advance(&app, &move_id, "done").await;
    assert_eq!((status, &done["phase"]), (200, &json!("done")), "{done}");
    assert!(done["finished_at"].is_string(), "{done}");
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["region"], &r["status"], r["epoch"].as_i64()),
        (
            &json!("eu-west-1-1"),
            &json!("eu-west-1"),
            &json!("ONLINE"),
            Some(e0 + 3)
        ),
        "done: online on the target: {r}"
    );
    let msg = next_step(&mut feed, "done").await;
    assert_eq!(
        (&msg["shard"], &msg["epoch"]),
        (&json!("eu-west-1-1"), &json!(e0 + 3))
    );
    let f = fills(&app).await;
    assert_eq!(
        (&f["eu-central-1-1"], &f["eu-west-1-1"]),
        (&json!(0), &json!(1)),
        "the source's slot is freed: {f}"
    );

    let (status, read) = app
        .admin(Method::GET, &format!("/admin/v1/moves/{move_id}"), None)
        .await;
    assert_eq!((status, &read["phase"]), (200, &json!("done")), "{read}");
    let steps: Vec<(String, String, Value, Value)> = app
        .history(&id)
        .await
        .into_iter()
        .filter(|e| e.event_type.starts_with("admin.move"))
        .map(|e| {
            (
                e.event_type,
                e.outcome.to_string(),
                e.data["phase"].clone(),
                e.data["by"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "admin.move_requested".into(),
                "applied".into(),
                json!("copying"),
                json!("tests")
            ),
            (
                "admin.move_advanced".into(),
                "applied".into(),
                json!("cutover"),
                json!("tests")
            ),
            (
                "admin.move_advanced".into(),
                "applied".into(),
                json!("done"),
                json!("tests")
            ),
        ],
        "each step is in the history with who did it"
    );
    assert_verified(&app).await;
}

#[tokio::test]
async fn every_refusal_is_a_clear_error_and_refused_steps_stay_in_the_history() {
    let app = spawn_app().await;
    // Placed first, so on eu-central-1-1 (ties go to the preferred region).
    let eu = eu_tenant(&app, "eu").await;
    let de = eu_tenant(&app, "de").await;

    let (status, body) = start(&app, &de, "eu-west-1-1").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("move_conflict")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("residency `de` does not allow"),
        "{body}"
    );

    let (status, body) = start(&app, &eu, "nowhere-1").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = start(&app, &eu, "eu-central-1-1").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already"),
        "{body}"
    );

    for (shard, capacity, shard_status, why) in [
        ("eu-west-1-2", 0, "open", "full (0 of 0)"),
        ("eu-west-1-3", 10, "draining", "draining"),
    ] {
        let (s, b) = app
            .admin(
                Method::PUT,
                &format!("/admin/v1/shards/{shard}"),
                Some(json!({"region": "eu-west-1", "endpoint": "https://x.example", "capacity": capacity, "status": shard_status})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let (status, body) = start(&app, &eu, shard).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }

    for bad in [
        json!({"to_shard": "eu-west-1-1"}),
        json!({"to_shard": "eu-west-1-1", "reason": " "}),
        json!({"to_shard": "Not A Shard", "reason": "x"}),
        json!({"to_shard": "eu-west-1-1", "reason": "x", "deadline_seconds": 0}),
        json!({"to_shard": "eu-west-1-1", "reason": "x", "colour": "red"}),
    ] {
        let (status, body) = app
            .admin(Method::POST, &moves_of(&eu), Some(bad.clone()))
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{bad}: {body}"
        );
    }
    let (status, _) = start(&app, "00000000-0000-4000-8000-000000000001", "eu-west-1-1").await;
    assert_eq!(status, 404);
    let (status, _) = advance(&app, "00000000-0000-4000-8000-000000000001", "cutover").await;
    assert_eq!(status, 404);

    let (status, started) = start(&app, &eu, "eu-west-1-1").await;
    assert_eq!(status, 202, "{started}");
    let move_id = started["id"].as_str().unwrap().to_owned();
    let (status, body) = start(&app, &eu, "eu-west-1-1").await;
    assert_eq!(status, 409, "one move at a time: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{body}"
    );
    let (status, body) = advance(&app, &move_id, "done").await;
    assert_eq!(status, 409, "copying goes to cutover, not done: {body}");
    let (status, body) = advance(&app, &move_id, "sideways").await;
    assert_eq!(status, 400, "{body}");
    advance(&app, &move_id, "cutover").await;
    advance(&app, &move_id, "done").await;
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/moves/{move_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("move it back"),
        "{body}"
    );

    let refused: Vec<(String, Value)> = app
        .history(&eu)
        .await
        .into_iter()
        .filter(|e| e.event_type.starts_with("admin.move") && e.outcome.to_string() == "rejected")
        .map(|e| (e.event_type, e.data["by"].clone()))
        .collect();
    assert_eq!(
        refused.len(),
        7,
        "unknown shard, own shard, full, draining, running, wrong phase, cancel of a done move: {refused:?}"
    );
    assert!(app.history(&de).await.iter().any(|e| {
        e.event_type == "admin.move_requested"
            && e.outcome.to_string() == "rejected"
            && e.reason
                .as_deref()
                .is_some_and(|r| r.contains("does not allow"))
    }));
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_cancelled_or_expired_move_leaves_the_tenant_online_where_it_was() {
    let app = spawn_app().await;
    let id = eu_tenant(&app, "eu").await;
    let e0 = route(&app, &id).await["epoch"].as_i64().unwrap();
    let (_, started) = start(&app, &id, "eu-west-1-1").await;
    let move_id = started["id"].as_str().unwrap().to_owned();
    advance(&app, &move_id, "cutover").await;
    let (status, cancelled) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/moves/{move_id}/cancel"),
            Some(json!({"reason": "copy failed"})),
        )
        .await;
    assert_eq!(
        (status, &cancelled["phase"]),
        (200, &json!("cancelled")),
        "{cancelled}"
    );
    assert_eq!(cancelled["cancel_reason"], "copy failed");
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["status"], r["epoch"].as_i64()),
        (&json!("eu-central-1-1"), &json!("ONLINE"), Some(e0 + 3)),
        "{r}"
    );
    assert_eq!(
        fills(&app).await["eu-west-1-1"],
        0,
        "the target's slot is freed"
    );

    // A move nobody advances is cancelled by the scheduler once its deadline passes.
    let (status, timed) = app
        .admin(
            Method::POST,
            &moves_of(&id),
            Some(json!({"to_shard": "eu-west-1-1", "reason": "try", "deadline_seconds": 1})),
        )
        .await;
    assert_eq!(status, 202, "{timed}");
    let timed_id = timed["id"].as_str().unwrap().to_owned();
    let expired = app
        .wait_for(10, "the overdue move cancelled", || async {
            let (_, m) = app
                .admin(Method::GET, &format!("/admin/v1/moves/{timed_id}"), None)
                .await;
            (m["phase"] == "cancelled").then_some(m)
        })
        .await;
    assert_eq!(expired["cancelled_by"], "tenant-catalog", "{expired}");
    assert_eq!(route(&app, &id).await["status"], "ONLINE");
    assert_eq!(fills(&app).await["eu-west-1-1"], 0);
    assert!(app.metric("tenant_catalog_moves_expired_total").await >= 1.0);
    assert_verified(&app).await;
}

#[tokio::test]
async fn two_admins_moving_one_tenant_at_once_get_one_202_and_one_409() {
    let app = spawn_app().await;
    let other = spawn_second(&app).await;
    for _ in 0..3 {
        let id = eu_tenant(&app, "eu").await;
        let (a, b) = tokio::join!(
            start(&app, &id, "eu-west-1-1"),
            start(&other, &id, "eu-west-1-1")
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    }
    assert_eq!(
        fills(&app).await["eu-west-1-1"],
        3,
        "one slot taken per tenant"
    );
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_route_cached_before_a_move_is_not_served_after_it_by_another_instance() {
    let app = spawn_app().await;
    let other = spawn_second(&app).await;
    let id = eu_tenant(&app, "eu").await;
    // Cached on `other`.
    let cached = route(&other, &id).await;
    assert_eq!(route(&other, &id).await, cached);
    let mut seen = vec![cached["epoch"].as_i64().unwrap()];

    let (_, started) = start(&app, &id, "eu-west-1-1").await;
    let move_id = started["id"].as_str().unwrap().to_owned();
    for (phase, shard, status) in [
        (None, "eu-central-1-1", "MOVING"),
        (Some("cutover"), "eu-central-1-1", "READ_ONLY"),
        (Some("done"), "eu-west-1-1", "ONLINE"),
    ] {
        let (_, step) = match phase {
            Some(p) => advance(&app, &move_id, p).await,
            None => (202, started.clone()),
        };
        let epoch = step["epoch"].as_i64().unwrap();
        // The other instance hears of the commit within moments, and from then on answers
        // this epoch or a later one, never the cached one.
        let deadline = Instant::now() + Duration::from_secs(2);
        let answered = loop {
            let r = route(&other, &id).await;
            seen.push(r["epoch"].as_i64().unwrap());
            if r["epoch"] == epoch {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "the other instance sees the step: {r}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(
            (&answered["shard"], &answered["status"]),
            (&json!(shard), &json!(status))
        );
        for _ in 0..5 {
            assert_eq!(
                route(&other, &id).await["epoch"],
                epoch,
                "never an older epoch again"
            );
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "epochs never go back: {seen:?}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn a_move_survives_kill_9_of_serve_at_every_phase_and_resumes_on_another_instance() {
    let app = spawn_app().await;
    let id = eu_tenant(&app, "eu").await;
    let port = free_port();
    let key = app.settings.auth.signing_key.clone();
    let mut move_id = String::new();
    // Each step is taken by a `serve` process that is killed with SIGKILL right after; the
    // next step goes to a new process, and the in-process instance checks what was left.
    for (step, phase, status) in [
        ("start", "copying", "MOVING"),
        ("cutover", "cutover", "READ_ONLY"),
        ("done", "done", "ONLINE"),
    ] {
        let mut child = serve_process(&app, &format!("127.0.0.1:{port}"), &key);
        let process = TestApp::remote(&app, &format!("http://127.0.0.1:{port}")).await;
        let (code, body) = if step == "start" {
            start(&process, &id, "eu-west-1-1").await
        } else {
            advance(&process, &move_id, step).await
        };
        assert!(code == 202 || code == 200, "{step}: {body}");
        move_id = body["id"].as_str().expect("move id").to_owned();
        child.kill().expect("SIGKILL");
        child.wait().ok();
        let (_, read) = app
            .admin(Method::GET, &format!("/admin/v1/moves/{move_id}"), None)
            .await;
        assert_eq!(read["phase"], phase, "{step} survived the kill: {read}");
        assert_eq!(route(&app, &id).await["status"], status);
    }
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["status"]),
        (&json!("eu-west-1-1"), &json!("ONLINE")),
        "{r}"
    );
    assert_eq!(fills(&app).await["eu-central-1-1"], 0);
    assert_verified(&app).await;
}

/// Plays the data plane for every running move out of `shard`: each is advanced to cutover,
/// then done. Returns how many moves ran at once at the most.
async fn carry_out_moves(app: &TestApp, shard: &str, until_empty_secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(until_empty_secs);
    let mut most = 0;
    loop {
        let (status, body) = app
            .admin(
                Method::GET,
                &format!("/admin/v1/moves?from_shard={shard}&running=true"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let running = body["moves"].as_array().expect("moves").clone();
        most = most.max(running.len());
        for m in &running {
            let id = m["id"].as_str().expect("id");
            let next = if m["phase"] == "copying" {
                "cutover"
            } else {
                "done"
            };
            let (status, b) = advance(app, id, next).await;
            assert_eq!(status, 200, "{b}");
        }
        let (_, shards) = app.admin(Method::GET, "/admin/v1/shards", None).await;
        let drained = shards["shards"]
            .as_array()
            .expect("shards")
            .iter()
            .find(|s| s["id"] == shard)
            .is_some_and(|s| s["drain"]["remaining"] == 0 && s["moving_out"] == 0);
        if drained {
            return most;
        }
        assert!(
            Instant::now() < deadline,
            "shard {shard} drained in time: {shards}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_draining_shard_is_emptied_by_moves_a_batch_at_a_time() {
    let app = spawn_app().await;
    // Two schedulers work on the drain; the batch bounds the moves of both together.
    let _other = spawn_second(&app).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(eu_tenant(&app, "de").await);
    }
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-2",
            Some(json!({"region": "eu-central-1", "endpoint": "https://ec2.example", "capacity": 10})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/shards/eu-central-1-1/drain",
            Some(json!({"batch": 2})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (&body["status"], &body["drain"]["batch"]),
        (&json!("draining"), &json!(2)),
        "{body}"
    );
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/shards/eu-central-1-1/drain",
            Some(json!({"batch": 0})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/shards/nowhere-1/drain", None)
        .await;
    assert_eq!(status, 404);

    let most = carry_out_moves(&app, "eu-central-1-1", 30).await;
    assert!(
        (1..=2).contains(&most),
        "at most a batch of moves at once, saw {most}"
    );
    for id in &ids {
        let r = route(&app, id).await;
        assert_eq!(
            (&r["shard"], &r["status"]),
            (&json!("eu-central-1-2"), &json!("ONLINE")),
            "{r}"
        );
    }
    let f = fills(&app).await;
    assert_eq!(
        (&f["eu-central-1-1"], &f["eu-central-1-2"]),
        (&json!(0), &json!(5)),
        "{f}"
    );
    let steps = app.history(&ids[0]).await;
    let requested = steps
        .iter()
        .find(|e| e.event_type == "admin.move_requested")
        .expect("the drain's move is in the history");
    assert_eq!(
        requested.data["by"], "tests",
        "the admin who asked for the drain"
    );
    assert_eq!(requested.data["reason"], "drain of shard eu-central-1-1");
    // The gauge is set at each scheduler tick.
    app.wait_for(5, "the drain's gauge at 0", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .any(|l| l == "tenant_catalog_drain_remaining_tenants{shard=\"eu-central-1-1\"} 0")
            .then_some(())
    })
    .await;
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_rebalance_plan_evens_a_region_and_carries_nothing_out() {
    let app = spawn_app().await;
    for _ in 0..6 {
        eu_tenant(&app, "de").await;
    }
    app.admin(
        Method::PUT,
        "/admin/v1/shards/eu-central-1-2",
        Some(
            json!({"region": "eu-central-1", "endpoint": "https://ec2.example", "capacity": 10000}),
        ),
    )
    .await;
    let (status, plan) = app
        .admin(
            Method::GET,
            "/admin/v1/rebalance?region=eu-central-1&max_moves=50",
            None,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let moves = plan["moves"].as_array().expect("moves");
    assert_eq!(moves.len(), 3, "{plan}");
    assert!(
        moves
            .iter()
            .all(|m| m["from_shard"] == "eu-central-1-1" && m["to_shard"] == "eu-central-1-2")
    );
    let after: Vec<(Value, Value)> = plan["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].clone(), s["tenants_after"].clone()))
        .collect();
    assert_eq!(
        after,
        [
            (json!("eu-central-1-1"), json!(3)),
            (json!("eu-central-1-2"), json!(3))
        ]
    );
    assert_eq!(
        fills(&app).await["eu-central-1-1"],
        6,
        "a plan moves nobody"
    );

    let (status, limited) = app
        .admin(
            Method::GET,
            "/admin/v1/rebalance?region=eu-central-1&max_moves=1",
            None,
        )
        .await;
    assert_eq!(
        (status, limited["moves"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    for bad in ["max_moves=0", "region=mars-1", "colour=red"] {
        let (status, body) = app
            .admin(Method::GET, &format!("/admin/v1/rebalance?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// The running move of a tenant with origin `residency`, as `GET /admin/v1/moves` lists it.
async fn residency_move(app: &TestApp, from: &str) -> Value {
    let (_, listed) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/moves?from_shard={from}&running=true"),
            None,
        )
        .await;
    let found = listed["moves"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["origin"] == "residency").cloned());
    found.unwrap_or_else(|| panic!("a running residency move: {listed}"))
}

/// A purchase with residency `us` is placed in us-east-1 (with `already`, a move of it to a
/// second us shard runs, in that phase); then the trial that came before it arrives with
/// residency `de`. The tenant must end in eu-central-1, but only once the data plane moved it
/// (CONTRACT.md section 8): until then the route stays on the source, `MOVING`.
async fn residency_learnt_late(already: Option<&str>) {
    let app = spawn_app().await;
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/us-east-1-2",
            Some(json!({"region": "us-east-1", "endpoint": "https://us-east-1-2.shards.example.net", "capacity": 100})),
        )
        .await;
    assert_eq!(status, 201, "a second us shard: {body}");
    let site = unique_site("mvres");
    let mut c = Commerce::new();
    let trial = c.trial(days_ago(5), &site, "de");
    let purchase = c.direct_purchase(days_ago(4), &site, "us");
    app.publish(&purchase).await;
    let placed = app
        .wait_tenant(&c.tenant_id, "placed in us", |t| t.shard_id.is_some())
        .await;
    let source = placed.shard_id.clone().expect("placed");
    let other = if source == "us-east-1-1" {
        "us-east-1-2"
    } else {
        "us-east-1-1"
    };
    let mut admin_move = None;
    if let Some(phase) = already {
        let (status, m) = start(&app, &c.tenant_id, other).await;
        assert_eq!(status, 202, "{m}");
        let id = m["id"].as_str().unwrap().to_owned();
        if phase == "cutover" {
            let (status, cut) = advance(&app, &id, "cutover").await;
            assert_eq!(status, 200, "{cut}");
            assert_eq!(route(&app, &c.tenant_id).await["status"], "READ_ONLY");
        }
        admin_move = Some(id);
    }
    let e0 = route(&app, &c.tenant_id).await["epoch"].as_i64().unwrap();
    let mut feed = app.listen_changes().await;

    app.publish(&trial).await;
    // (The admin move's own steps may still be on their way to the feed.)
    let msg = loop {
        let msg = next_step(&mut feed, "copying").await;
        if msg["move"]["origin"] == "residency" {
            break msg;
        }
    };
    assert_eq!(
        (&msg["move"]["from_shard"], &msg["move"]["to_shard"]),
        (&json!(source), &json!("eu-central-1-1"))
    );
    assert_eq!(msg["state"], "ACTIVE");
    // The route stays on the source until the data plane has copied the tenant.
    let r = app
        .wait_for(5, "the route MOVING on the source", || async {
            let r = route(&app, &c.tenant_id).await;
            (r["status"] == "MOVING").then_some(r)
        })
        .await;
    assert_eq!(r["shard"], json!(source), "{r}");
    assert!(r["epoch"].as_i64().unwrap() > e0, "{r}");
    if let Some(id) = admin_move {
        let (_, m) = app
            .admin(Method::GET, &format!("/admin/v1/moves/{id}"), None)
            .await;
        assert_eq!(
            m["phase"], "cancelled",
            "a move to a forbidden region is cancelled: {m}"
        );
        let (status, refused) = advance(&app, &id, "done").await;
        assert_eq!(status, 409, "{refused}");
    }
    let f = fills(&app).await;
    assert_eq!(
        (&f[source.as_str()], &f["eu-central-1-1"], &f[other]),
        (&json!(1), &json!(1), &json!(0)),
        "the target's slot is taken, the cancelled move's freed: {f}"
    );

    let m = residency_move(&app, &source).await;
    assert_eq!(m["requested_by"], "tenant-catalog", "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (status, cut) = advance(&app, &id, "cutover").await;
    assert_eq!(status, 200, "{cut}");
    assert_eq!(route(&app, &c.tenant_id).await["status"], "READ_ONLY");
    let (status, done) = advance(&app, &id, "done").await;
    assert_eq!(status, 200, "{done}");
    let r = app
        .wait_for(5, "the route on the new shard", || async {
            let r = route(&app, &c.tenant_id).await;
            (r["shard"] == "eu-central-1-1").then_some(r)
        })
        .await;
    assert_eq!(
        (&r["status"], &r["region"]),
        (&json!("ONLINE"), &json!("eu-central-1"))
    );
    let f = fills(&app).await;
    assert_eq!(
        (&f[source.as_str()], &f["eu-central-1-1"]),
        (&json!(0), &json!(1)),
        "{f}"
    );
    let history = app.history(&c.tenant_id).await;
    let started = history
        .iter()
        .find(|e| e.event_type == "admin.move_requested" && e.data["by"] == "tenant-catalog")
        .expect("the residency move is in the history");
    assert_eq!(started.outcome.to_string(), "applied");
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_residency_learnt_late_moves_the_tenant_only_as_the_data_plane_advances_it() {
    residency_learnt_late(None).await;
}

#[tokio::test]
async fn a_residency_learnt_during_a_moves_copying_cancels_it_and_starts_one_to_an_allowed_region()
{
    residency_learnt_late(Some("copying")).await;
}

#[tokio::test]
async fn a_residency_learnt_during_a_moves_cutover_never_leaves_the_route_read_only() {
    residency_learnt_late(Some("cutover")).await;
}

#[tokio::test]
async fn advance_refuses_a_move_whose_target_started_draining_and_cancels_it() {
    let app = spawn_app().await;
    let id = eu_tenant(&app, "eu").await;
    let (_, started) = start(&app, &id, "eu-west-1-1").await;
    let move_id = started["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-west-1-1",
            Some(json!({"region": "eu-west-1", "endpoint": "https://eu-west-1-1.shards.example.net", "capacity": 10000, "status": "draining"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, refused) = advance(&app, &move_id, "cutover").await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("draining")),
        "{refused}"
    );
    let (_, m) = app
        .admin(Method::GET, &format!("/admin/v1/moves/{move_id}"), None)
        .await;
    assert_eq!(m["phase"], "cancelled", "{m}");
    let r = route(&app, &id).await;
    assert_eq!(
        (&r["shard"], &r["status"]),
        (&json!("eu-central-1-1"), &json!("ONLINE"))
    );
    let cancelled = app
        .history(&id)
        .await
        .into_iter()
        .find(|e| e.event_type == "admin.move_cancelled")
        .expect("the cancellation is in the history");
    assert!(
        cancelled.data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("draining")),
        "{cancelled:?}"
    );
}

#[tokio::test]
async fn deleting_a_moving_tenant_cancels_its_move_and_frees_the_target() {
    let app = spawn_app().await;
    let id = eu_tenant(&app, "eu").await;
    let (_, started) = start(&app, &id, "eu-west-1-1").await;
    let move_id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(fills(&app).await["eu-west-1-1"], 1);
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "gone", "immediate": true, "force": true})),
        )
        .await;
    assert_eq!((status, &body["state"]), (202, &json!("DELETED")), "{body}");
    let (_, m) = app
        .admin(Method::GET, &format!("/admin/v1/moves/{move_id}"), None)
        .await;
    assert_eq!(
        (&m["phase"], &m["cancelled_by"]),
        (&json!("cancelled"), &json!("tenant-catalog")),
        "{m}"
    );
    let f = fills(&app).await;
    assert_eq!(
        (&f["eu-central-1-1"], &f["eu-west-1-1"]),
        (&json!(0), &json!(0)),
        "{f}"
    );
    let (status, _) = advance(&app, &move_id, "cutover").await;
    assert_eq!(status, 409, "an ended move does not advance");
    assert_verified(&app).await;
}

#[tokio::test]
async fn a_refused_move_of_a_deleted_tenant_is_in_its_history() {
    let app = spawn_app().await;
    let c = active_tenant(&app, "us").await;
    let id = c.tenant_id.clone();
    let (status, deleted) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/deletion"),
            Some(json!({"reason": "gone", "immediate": true, "force": true})),
        )
        .await;
    assert_eq!(
        (status, &deleted["state"]),
        (202, &json!("DELETED")),
        "{deleted}"
    );
    let (status, refused) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/moves"),
            Some(json!({"to_shard": "us-east-1-1", "reason": "rebalance"})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let moves: Vec<(String, String, Option<String>)> = admin_actions(&app, &id)
        .await
        .into_iter()
        .filter(|(t, ..)| t.starts_with("admin.move"))
        .map(|(t, outcome, _, reason)| (t, outcome, reason.as_str().map(str::to_owned)))
        .collect();
    assert_eq!(
        moves,
        [(
            "admin.move_requested".to_owned(),
            "rejected".to_owned(),
            Some("rebalance".to_owned())
        )]
    );
    let stored = app.history(&id).await;
    let step = stored
        .iter()
        .find(|e| e.event_type == "admin.move_requested")
        .expect("recorded");
    assert!(
        step.reason
            .as_deref()
            .is_some_and(|r| r.contains("is DELETED: it has nothing left to move")),
        "{step:?}"
    );
}

#[tokio::test]
async fn the_databases_table_of_allowed_regions_is_the_contracts() {
    use tenant_catalog::domain::{Region, Residency};
    let app = spawn_app().await;
    for residency in Residency::ALL {
        for region in Region::ALL {
            let allowed = tenant_catalog::catalog::moves::residency_allows(
                &app.db,
                residency.as_str(),
                region.as_str(),
            )
            .await
            .unwrap();
            assert_eq!(
                allowed,
                residency.allowed_regions().contains(&region),
                "{residency} in {region}"
            );
        }
    }
}

#[tokio::test]
async fn a_tenant_a_residency_left_where_no_shard_had_room_moves_once_one_has() {
    let app = spawn_app().await;
    let shard = |capacity: i64| json!({"region": "eu-central-1", "endpoint": "https://eu-central-1-1.shards.example.net", "capacity": capacity});
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-1",
            Some(shard(0)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let site = unique_site("noroom");
    let mut c = Commerce::new();
    let trial = c.trial(days_ago(5), &site, "de");
    app.publish(&c.direct_purchase(days_ago(4), &site, "us"))
        .await;
    app.wait_tenant(&c.tenant_id, "placed in us", |t| t.shard_id.is_some())
        .await;
    app.publish(&trial).await;
    let stuck = app
        .wait_tenant(&c.tenant_id, "residency de learnt", |t| t.residency == "de")
        .await;
    assert_eq!(stuck.shard_id.as_deref(), Some("us-east-1-1"));
    assert_eq!(
        route(&app, &c.tenant_id).await["status"],
        "ONLINE",
        "no shard with room where `de` allows: no move yet"
    );

    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/shards/eu-central-1-1",
            Some(shard(10)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = app
        .wait_for(10, "the scheduler to start a residency move", || async {
            let r = route(&app, &c.tenant_id).await;
            (r["status"] == "MOVING").then_some(r)
        })
        .await;
    assert_eq!(r["shard"], "us-east-1-1", "{r}");
    let m = residency_move(&app, "us-east-1-1").await;
    assert_eq!(m["to_shard"], "eu-central-1-1", "{m}");
}
