//! `spawn_app()`: a fresh database and vhost, migrated and seeded, with a `serve` running on
//! them; and a `TestApp` with one method per thing a test does.

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Instant;
use tenant_catalog::amqp::EventPublisher;
use tenant_catalog::amqp::topology::{CHANGES_EXCHANGE, DEAD_LETTER_QUEUE};
use tenant_catalog::auth::Scope;
use tenant_catalog::catalog::events::{HistoryEntry, history};
use tenant_catalog::catalog::tenants::{TenantRow, get};
use tenant_catalog::config::Settings;
use tenant_catalog::domain::TenantId;
use tenant_catalog::startup::Application;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MANAGEMENT: &str = "http://127.0.0.1:15672/api";

/// Where a test's catalog lives: its database and vhost. Dropping it removes both.
pub struct TestEnv {
    pub name: String,
    pub settings: Settings,
}

impl TestEnv {
    pub async fn new(extra: &[(&str, &str)]) -> TestEnv {
        let name = format!("tc_test_{}", Uuid::new_v4().simple());
        let http = reqwest::Client::new();
        let vhost = http
            .put(format!("{MANAGEMENT}/vhosts/{name}"))
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .expect("RabbitMQ management API reachable (run scripts/services.sh)");
        assert!(
            vhost.status().is_success(),
            "creating vhost: {}",
            vhost.status()
        );
        let perms = http
            .put(format!("{MANAGEMENT}/permissions/{name}/guest"))
            .basic_auth("guest", Some("guest"))
            .json(&json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .expect("permissions set");
        assert!(
            perms.status().is_success(),
            "setting permissions: {}",
            perms.status()
        );

        let mut env: HashMap<String, String> = HashMap::from([
            (
                "DATABASE_URL".into(),
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
            ),
            (
                "AMQP_URL".into(),
                format!("amqp://guest:guest@127.0.0.1:5672/{name}"),
            ),
            ("HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("SCHEDULER_INTERVAL_MS".into(), "200".into()),
            ("DATABASE_MAX_CONNECTIONS".into(), "8".into()),
            // No grace unless a test asks for one: a deletion that is due is carried out as
            // soon as its events are stored (the tests of the grace set their own).
            ("DELETION_GRACE_SECS".into(), "0".into()),
        ]);
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let settings =
            Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings are valid");
        if std::env::var("TEST_LOG").is_ok() {
            tenant_catalog::telemetry::init(tenant_catalog::config::LogFormat::Pretty);
        }
        let db = tenant_catalog::catalog::migrate_and_seed(&settings)
            .await
            .expect("migrated");
        db.close().await;
        TestEnv { name, settings }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code; clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = PgPool::connect(ADMIN_DB).await {
                    // The name is ours (a UUID), so it is safe to splice into DDL, which takes no binds.
                    let ddl = format!("drop database if exists \"{name}\" with (force)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&admin).await;
                }
                let _ = reqwest::Client::new()
                    .delete(format!("{MANAGEMENT}/vhosts/{name}"))
                    .basic_auth("guest", Some("guest"))
                    .send()
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

/// A running `serve` process (in this test process) on a test environment.
pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub settings: Settings,
    pub publisher: EventPublisher,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    // Declared last: dropped after the app above has let go of the database.
    env: Option<TestEnv>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_on(TestEnv::new(extra).await).await
}

/// A `serve` on an environment prepared beforehand (a broker set up as an earlier version left
/// it, messages waiting before anything consumes).
pub async fn spawn_on(env: TestEnv) -> TestApp {
    let mut app = start(&env.settings).await;
    app.env = Some(env);
    app
}

/// Another `serve` on the same database and vhost as `other`.
pub async fn spawn_second(other: &TestApp) -> TestApp {
    start(&other.settings).await
}

/// A `serve` with these settings (another's, on a fixed address, say).
pub async fn spawn_with(settings: &Settings) -> TestApp {
    start(settings).await
}

/// A free TCP port on 127.0.0.1 (free when asked: bind it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `tenant-catalog replica` in this test process, on `other`'s vhost and keys, loading
/// from the serve at `source`, with `max_staleness_ms`; returned at once, ready or not (see
/// [`TestApp::wait_ready`]). Its handle answers GraphQL and `/metrics` as a serve's does.
pub async fn spawn_replica(other: &TestApp, source: &str, max_staleness_ms: u64) -> TestApp {
    let mut settings = other.settings.clone();
    settings.replica.addr = "127.0.0.1:0".parse().expect("address");
    settings.replica.source = source.to_owned();
    settings.replica.max_staleness = std::time::Duration::from_millis(max_staleness_ms);
    settings.replica.page_size = 7;
    let app =
        tenant_catalog::replica::server::ReplicaApp::build(&settings).expect("replica builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(async move {
        app.run_until_stopped().await.expect("replica ran");
    });
    TestApp {
        address,
        db: other.db.clone(),
        settings,
        publisher: EventPublisher::connect(&other.settings.amqp_url)
            .await
            .expect("publisher"),
        shutdown,
        task: Some(task),
        env: None,
    }
}

async fn start(settings: &Settings) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(async move {
        app.run_until_stopped().await.expect("serve ran");
    });
    let db = PgPool::connect(&settings.database_url)
        .await
        .expect("test pool");
    let publisher = EventPublisher::connect(&settings.amqp_url)
        .await
        .expect("publisher");
    let test_app = TestApp {
        address,
        db,
        settings: settings.clone(),
        publisher,
        shutdown,
        task: Some(task),
        env: None,
    };
    test_app.wait_ready().await;
    test_app
}

impl TestApp {
    /// A handle on a `serve` that runs elsewhere (a child process) at `address`, on `other`'s
    /// database, vhost and keys; returned once it is ready.
    pub async fn remote(other: &TestApp, address: &str) -> TestApp {
        let app = TestApp {
            address: address.to_owned(),
            db: other.db.clone(),
            settings: other.settings.clone(),
            publisher: EventPublisher::connect(&other.settings.amqp_url)
                .await
                .expect("publisher"),
            shutdown: CancellationToken::new(),
            task: None,
            env: None,
        };
        app.wait_ready().await;
        app
    }

    /// Waits until `/readyz` answers 200 (20 s at most).
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.address)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "serve did not become ready");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Stops the process gracefully and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("serve task ended cleanly");
        }
    }

    pub async fn publish(&self, event: &Value) {
        self.publisher
            .publish(event.to_string().as_bytes())
            .await
            .expect("published");
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        self.publisher.publish(body).await.expect("published");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("HTTP request")
    }

    pub async fn tenant(&self, id: &str) -> Option<StoredTenant> {
        get(&self.db, id.parse::<TenantId>().expect("uuid"))
            .await
            .expect("tenant read")
            .map(StoredTenant::from)
    }

    pub async fn history(&self, id: &str) -> Vec<HistoryEntry> {
        history(&self.db, id.parse::<TenantId>().expect("uuid"))
            .await
            .expect("history read")
    }

    /// Polls until `check` gives `Some`, or fails the test after `secs` seconds.
    pub async fn wait_for<T, F, Fut>(&self, secs: u64, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until the tenant exists and satisfies `pred`.
    pub async fn wait_tenant(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&StoredTenant) -> bool,
    ) -> StoredTenant {
        self.wait_for(10, what, || async {
            self.tenant(id).await.filter(|t| pred(t))
        })
        .await
    }

    /// Waits until the catalog holds every event of a generated stream and every tenant is the
    /// fold of its events; the checker's figures.
    pub async fn wait_matching(
        &self,
        plan: &crate::load::generate::Plan,
    ) -> crate::load::check::Report {
        let text: String = plan.events.iter().map(|e| format!("{e}\n")).collect();
        let events = crate::load::check::read_events(&text).expect("generated events parse");
        let deadline = Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let r = crate::load::check::check(
                &self.db,
                &events,
                self.settings.deletion_grace,
                Utc::now(),
            )
            .await
            .expect("catalog readable");
            if r.ok() {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after 90 s waiting for the catalog to hold every event: {r:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Waits until every event given is stored (whatever its outcome).
    pub async fn wait_events_stored(&self, count: i64) {
        self.wait_for(20, &format!("{count} stored events"), || async {
            let n: i64 = sqlx::query_scalar("select count(*) from tenant_events")
                .fetch_one(&self.db)
                .await
                .ok()?;
            (n >= count).then_some(())
        })
        .await
    }

    /// Waits until the consumer has acknowledged everything in the lifecycle queue.
    pub async fn wait_queue_drained(&self) {
        let vhost = self.vhost();
        self.wait_for(30, "the lifecycle queue to drain", || async {
            let q = management_get(&format!("queues/{vhost}/tenant-catalog.lifecycle")).await?;
            let total = q.get("messages")?.as_i64()?;
            (total == 0).then_some(())
        })
        .await
    }

    /// Closes, through the management API, this test's broker connections whose name starts
    /// with `prefix`, as a broker restart or a network cut would. Returns how many it closed.
    pub async fn close_broker_connections(&self, prefix: &str) -> usize {
        let vhost = self.vhost();
        // The management API lists connections a few seconds late; wait until ours shows.
        let names: Vec<String> = self
            .wait_for(
                20,
                "the connection to show in the management API",
                || async {
                    let list = management_get(&format!("vhosts/{vhost}/connections")).await?;
                    let names: Vec<String> = list
                        .as_array()?
                        .iter()
                        .filter(|c| {
                            c.pointer("/client_properties/connection_name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.starts_with(prefix))
                        })
                        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                        .collect();
                    (!names.is_empty()).then_some(names)
                },
            )
            .await;
        for name in &names {
            let encoded: String = name
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            reqwest::Client::new()
                .delete(format!("{MANAGEMENT}/connections/{encoded}"))
                .basic_auth("guest", Some("guest"))
                .send()
                .await
                .expect("connection closed");
        }
        names.len()
    }

    /// This test's database name.
    pub fn database_name(&self) -> String {
        self.settings
            .database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// This test's RabbitMQ vhost.
    pub fn vhost(&self) -> String {
        self.settings
            .amqp_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of one line of `/metrics`, by its name and labels as written there
    /// (`tenant_catalog_route_cache_lookups_total{result="miss"}`); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until the catalog holds at least `count` events (the consumer is at work).
    pub async fn wait_stored_at_least(&self, count: i64) -> i64 {
        self.wait_for(30, &format!("at least {count} stored events"), || async {
            let n: i64 = sqlx::query_scalar("select count(*) from tenant_events")
                .fetch_one(&self.db)
                .await
                .expect("count");
            (n >= count).then_some(n)
        })
        .await
    }

    /// Waits until a series of `/metrics` reaches `at_least` (10 s at most); returns it.
    pub async fn wait_metric(&self, series: &str, at_least: f64) -> f64 {
        self.wait_for(10, &format!("{series} to reach {at_least}"), || async {
            let v = self.metric(series).await;
            (v >= at_least).then_some(v)
        })
        .await
    }

    /// Waits until the scheduler has finished `rounds` more rounds than it had: whatever it
    /// would do, it has had the chance to.
    pub async fn wait_scheduler_rounds(&self, rounds: f64) {
        let now = self.metric("tenant_catalog_scheduler_rounds_total").await;
        self.wait_metric("tenant_catalog_scheduler_rounds_total", now + rounds)
            .await;
    }

    /// A token that this app accepts, for `scope`.
    pub fn token(&self, scope: Scope) -> String {
        let signer = tenant_catalog::auth::keys::signer(&self.settings.auth).expect("signing key");
        tenant_catalog::auth::mint(&signer, &self.settings.auth, "tests", scope, 600)
            .expect("minted")
    }

    /// POSTs a raw body to `/graphql` with an optional `Authorization` header value.
    pub async fn post_graphql(
        &self,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.expect("HTTP request")
    }

    /// An admin API request with `authorization` as the header value, if any: the status and
    /// the JSON body (`Null` when there is none).
    pub async fn admin_request(
        &self,
        method: reqwest::Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.address));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An admin API request with a fresh `admin` token (a token serves one write).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bearer = format!("Bearer {}", self.token(Scope::Admin));
        self.admin_request(
            method,
            path,
            Some(&bearer),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Runs a GraphQL query with a `read` token; the whole response body (`data`, `errors`).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let bearer = format!("Bearer {}", self.token(Scope::Read));
        let body = json!({"query": query, "variables": variables}).to_string();
        let response = self.post_graphql(Some(&bearer), body.into_bytes()).await;
        assert_eq!(response.status(), 200, "GraphQL answers 200");
        response.json().await.expect("JSON response")
    }

    /// Like `graphql`, and fails the test on any GraphQL error; the `data`.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "no errors: {body}");
        body["data"].clone()
    }

    /// Takes every message now in the DLQ: (reason header, body).
    pub async fn dead_letters(&self) -> Vec<(String, Vec<u8>)> {
        let conn = tenant_catalog::amqp::connect(&self.settings.amqp_url, "test")
            .await
            .expect("connect");
        let channel = conn.create_channel().await.expect("channel");
        let mut out = Vec::new();
        while let Some(m) = channel
            .basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
        {
            let reason = m
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("x-dlq-reason").cloned())
                .map(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => s.to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            out.push((reason, m.delivery.data.clone()));
        }
        out
    }

    /// A queue of the test's own (exclusive: gone with the connection) with `args`, bound to
    /// the change feed by `routing_key`.
    pub async fn change_queue(
        &self,
        routing_key: &str,
        args: FieldTable,
    ) -> (lapin::Connection, lapin::Channel, lapin::types::ShortString) {
        let conn = tenant_catalog::amqp::connect(&self.settings.amqp_url, "test")
            .await
            .expect("connect");
        let channel = conn.create_channel().await.expect("channel");
        let q = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .expect("queue");
        channel
            .queue_bind(
                q.name().clone(),
                CHANGES_EXCHANGE.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        (conn, channel, q.name().clone())
    }

    /// Starts listening to the change feed; call before causing changes.
    pub async fn listen_changes(&self) -> ChangeFeed {
        let (conn, channel, queue) = self.change_queue("tenant.#", FieldTable::default()).await;
        let consumer = channel
            .basic_consume(
                queue,
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        ChangeFeed {
            _conn: conn,
            consumer,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `tenant-catalog serve` as a child process on the app's database and vhost, listening on
/// `http_addr` and signing with `key`.
pub fn serve_process(app: &TestApp, http_addr: &str, key: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .arg("serve")
        .env("DATABASE_URL", &app.settings.database_url)
        .env("AMQP_URL", &app.settings.amqp_url)
        .env(
            "DELETION_GRACE_SECS",
            app.settings.deletion_grace.num_seconds().to_string(),
        )
        .env("HTTP_ADDR", http_addr)
        .env("AUTH_SIGNING_KEY", key)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts")
}

/// `GET /readyz`: its status and body.
pub async fn readyz(app: &TestApp) -> (u16, Value) {
    let r = app.get("/readyz").await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A GET on RabbitMQ's management API (`path` after `/api/`); `None` when it does not answer.
pub async fn management_get(path: &str) -> Option<Value> {
    reqwest::Client::new()
        .get(format!("{MANAGEMENT}/{path}"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Messages from `tenant-catalog.changes`.
pub struct ChangeFeed {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
}

impl ChangeFeed {
    /// The next change message: (routing key, body), within `secs` seconds.
    pub async fn next(&mut self, secs: u64) -> (String, Value) {
        let d = tokio::time::timeout(std::time::Duration::from_secs(secs), self.consumer.next())
            .await
            .expect("a change message in time")
            .expect("feed open")
            .expect("delivery");
        (
            d.routing_key.to_string(),
            serde_json::from_slice(&d.data).expect("JSON change"),
        )
    }
}

/// Builds commerce events for one tenant, with times relative to now.
pub struct Commerce {
    pub tenant_id: String,
    next_seq: u64,
}

impl Commerce {
    pub fn new() -> Self {
        Commerce {
            tenant_id: Uuid::new_v4().to_string(),
            next_seq: 1,
        }
    }

    pub fn event(&mut self, event_type: &str, occurred_at: DateTime<Utc>, data: Value) -> Value {
        let seq = self.next_seq;
        self.next_seq += 1;
        json!({
            "id": Uuid::new_v4().to_string(),
            "type": event_type,
            "tenant_id": self.tenant_id,
            "occurred_at": occurred_at.to_rfc3339(),
            "sequence": seq,
            "data": data,
        })
    }

    pub fn trial(&mut self, occurred_at: DateTime<Utc>, site: &str, residency: &str) -> Value {
        self.event(
            "trial.started",
            occurred_at,
            json!({"site": site, "products": ["jira", "confluence"], "residency": residency, "billing_day": 5}),
        )
    }

    pub fn direct_purchase(
        &mut self,
        occurred_at: DateTime<Utc>,
        site: &str,
        residency: &str,
    ) -> Value {
        self.event(
            "subscription.activated",
            occurred_at,
            json!({"site": site, "products": ["jira"], "residency": residency, "plan": "premium",
                   "cycle": "annual", "current_period_end": (occurred_at + Duration::days(365)).to_rfc3339()}),
        )
    }
}

/// A tenant commerce bought directly a few days ago, ACTIVE and placed once this returns.
pub async fn active_tenant(app: &TestApp, residency: &str) -> Commerce {
    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(5), &unique_site("act"), residency))
        .await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    c
}

/// A site name no other test uses.
pub fn unique_site(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..10])
}

pub fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

/// A tenant row as a test reads it: every value as its text, as `psql` would show it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTenant {
    pub id: Uuid,
    pub lifecycle: String,
    pub state: String,
    pub suspended: bool,
    pub site: Option<String>,
    pub old_sites: Vec<String>,
    pub residency: String,
    pub region: Option<String>,
    pub shard_id: Option<String>,
    pub products: Option<Vec<String>>,
    pub billing_day: Option<u8>,
    pub plan: Option<String>,
    pub cycle: Option<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancellation_effective_at: Option<DateTime<Utc>>,
    pub deletion_due_at: Option<DateTime<Utc>>,
    pub next_timer_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub caused_by: Option<Uuid>,
}

impl From<TenantRow> for StoredTenant {
    fn from(r: TenantRow) -> Self {
        let text = |s: &dyn std::fmt::Display| s.to_string();
        let t = r.tenant;
        StoredTenant {
            id: t.id.as_uuid(),
            lifecycle: text(&t.lifecycle),
            state: text(&r.state),
            suspended: t.suspended,
            site: t.site.as_ref().map(|s| text(s)),
            old_sites: t.old_sites.iter().map(|s| text(s)).collect(),
            residency: text(&t.residency),
            region: r.placement.as_ref().map(|p| text(&p.region)),
            shard_id: r.placement.as_ref().map(|p| text(&p.shard)),
            products: t.products.map(|p| p.as_slice().to_vec()),
            billing_day: t.billing_day.map(|d| d.get()),
            plan: t.plan,
            cycle: t.cycle.map(|c| text(&c)),
            trial_ends_at: t.trial_ends_at,
            current_period_end: t.current_period_end,
            cancellation_effective_at: t.cancellation_effective_at,
            deletion_due_at: t.deletion_due_at,
            next_timer_at: r.next_timer_at,
            created_at: t.created_at,
            deleted_at: t.deleted_at,
            version: r.version,
            caused_by: r.caused_by,
        }
    }
}

/// The admin actions in a tenant's history: (type, outcome, by, reason).
pub async fn admin_actions(app: &TestApp, id: &str) -> Vec<(String, String, Value, Value)> {
    app.history(id)
        .await
        .into_iter()
        .filter(|e| e.event_type.starts_with("admin."))
        .map(|e| {
            (
                e.event_type,
                e.outcome.to_string(),
                e.data["by"].clone(),
                e.data["reason"].clone(),
            )
        })
        .collect()
}

/// A JSON timestamp as the APIs write it (RFC 3339); fails the test on anything else.
pub fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a timestamp, got {v}"))
}

/// A time as the catalog stores it: to the microsecond.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// Waits until the clock has passed `t` by a stored instant's resolution (a microsecond) and
/// more, so that what happens next is stored as later than `t`.
pub async fn after(t: DateTime<Utc>) {
    while Utc::now() <= t + chrono::Duration::milliseconds(1) {
        tokio::task::yield_now().await;
    }
}
