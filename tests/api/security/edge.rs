//! The edge: hosts validated before any lookup, a routing cache that random misses cannot
//! empty, logs that caller text cannot forge, errors that show no internals.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Command, Stdio};
use tenant_catalog::auth::Scope;

const BY_HOST: &str = "query($h: String!) { route(host: $h) { tenantId } }";

async fn misses(app: &TestApp) -> f64 {
    app.metric("tenant_catalog_route_cache_lookups_total{result=\"miss\"}")
        .await
}

#[tokio::test]
async fn hosts_are_validated_and_random_misses_never_evict_found_routes() {
    // A small negative budget: about 8 misses per cache shard.
    let app = spawn_app_with(&[("ROUTE_CACHE_NEGATIVE_BYTES", "16384")]).await;
    let before = misses(&app).await;
    for host in [
        format!("{}.example.net", "a".repeat(60_000)),
        "bad\u{0}\nFORGED.example.net".to_owned(),
        "UPPER_case.example.net".to_owned(),
    ] {
        let body = app.graphql(BY_HOST, json!({"h": host})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.len() < 300, "the echo is bounded: {message}");
    }
    assert_eq!(misses(&app).await, before, "nothing was looked up");

    let mut c = Commerce::new();
    let site = unique_site("kept");
    app.publish(&c.trial(days_ago(1), &site, "us")).await;
    app.wait_tenant(&c.tenant_id, "TRIAL", |t| t.state == "TRIAL")
        .await;
    let known = json!({"h": format!("{site}.example.net")});
    assert_eq!(
        app.query(BY_HOST, known.clone()).await["route"]["tenantId"],
        c.tenant_id
    );

    // 2,000 random misses, 20 a request.
    for round in 0..100 {
        let fields: String = (0..20)
            .map(|i| format!(" m{i}: route(host: \"miss-{round}-{i}.example.net\") {{ tenantId }}"))
            .collect();
        let data = app.query(&format!("{{{fields} }}"), json!({})).await;
        assert!(data["m0"].is_null());
    }
    let after_flood = misses(&app).await;
    assert_eq!(
        app.query(BY_HOST, known).await["route"]["tenantId"],
        c.tenant_id
    );
    assert_eq!(
        misses(&app).await,
        after_flood,
        "the known host is still a cache hit after the flood"
    );
}

#[tokio::test]
async fn caller_text_never_forges_a_log_line() {
    let app = spawn_app().await;
    let key = std::env::temp_dir().join(format!("tc-log-{}.pem", uuid::Uuid::new_v4()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .arg("serve")
        .env("DATABASE_URL", &app.settings.database_url)
        .env("AMQP_URL", &app.settings.amqp_url)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_SIGNING_KEY", &key)
        .env("LOG_FORMAT", "pretty")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    app.wait_for(20, "the child serve to be ready", || async {
        let r = client.get(format!("{address}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    let forged = "x\n2026-12-02T10:00:00Z  INFO audit: FORGED-LINE subject=root\r\u{1b}[2K";
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "EdDSA", "kid": format!("tenant-catalog/{forged}")})),
        b64(json!({"sub": forged}))
    );
    let r = client
        .get(format!("{address}/admin/v1/shards"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An admin request whose outcome quotes caller text: a bad shard id.
    let admin = tenant_catalog::auth::keys::signer(&{
        let mut auth = app.settings.auth.clone();
        auth.signing_key = key.clone();
        auth
    })
    .unwrap();
    let token =
        tenant_catalog::auth::mint(&admin, &app.settings.auth, "ops", Scope::Admin, 60).unwrap();
    let r = client
        .put(format!("{address}/admin/v1/shards/bad%0AFORGED-LINE"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(json!({"region": forged, "endpoint": forged, "capacity": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // SIGTERM: serve finishes and closes its log.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub.pem"));
    assert!(
        log.contains("FORGED-LINE"),
        "the refusals were logged:\n{log}"
    );
    for line in log.lines() {
        // Every line is one of ours: it starts with our own timestamp (with fractions of a
        // second), never with the one the caller wrote.
        assert!(
            !line.starts_with("2026-12-02T10:00:00Z") && !line.starts_with("FORGED"),
            "a forged line: {line:?}"
        );
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    }
}

#[tokio::test]
async fn errors_say_what_to_do_never_internals() {
    let app = spawn_app().await;
    for garbage in [
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
        "Bearer ...",
    ] {
        let response = app
            .post_graphql(Some(garbage), br#"{"query": "{ shards { id } }"}"#.to_vec())
            .await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        for internal in ["Error", "kind", "InvalidToken", "Base64", "Json(", "{"] {
            assert!(!message.contains(internal), "{garbage}: {message}");
        }
    }

    // The database stops taking connections: /readyz says so without the driver's text.
    let name = app.database_name();
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let lock = format!("alter database \"{name}\" with allow_connections false");
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    let body = app
        .wait_for(20, "/readyz to see the database down", || async {
            let r = app.get("/readyz").await;
            (r.status() == 503).then_some(())?;
            r.json::<Value>().await.ok()
        })
        .await;
    let unlock = format!("alter database \"{name}\" with allow_connections true");
    sqlx::query(sqlx::AssertSqlSafe(unlock))
        .execute(&admin)
        .await
        .unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("database unreachable"), "{body}");
    assert!(
        !message.contains(&name) && !message.contains("connections") && !message.contains("error"),
        "{body}"
    );

    // A bad URL is never echoed with its password.
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://app:s3cret-pw@127.0.0.1:1/nowhere",
        )
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        !stderr.contains("s3cret") && stderr.contains("app@127.0.0.1:1"),
        "{stderr}"
    );
}
