//! Tokens: one `Authorization` header only, RS256 and a list `aud` as the contract allows, a
//! removed key revoking its tokens, and the development key kept for development.

use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tenant_catalog::auth::{RECHECK_SECS, Scope, keys, now_secs};
use tenant_catalog::startup::Application;
use uuid::Uuid;

const QUERY: &[u8] = br#"{"query": "{ shards { id } }"}"#;
/// An RSA key pair made for these tests only (`openssl genpkey -algorithm RSA`).
const RSA_PRIVATE: &[u8] = include_bytes!("../../fixtures/rsa-test-key.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../fixtures/rsa-test-key.pub.pem");

async fn status(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .post_graphql(Some(&format!("Bearer {token}")), QUERY.to_vec())
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn claims(iss: &str, aud: Value) -> Value {
    let now = now_secs();
    json!({"iss": iss, "sub": "partner", "aud": aud, "iat": now, "exp": now + 300,
           "jti": Uuid::new_v4().to_string(), "scope": "read"})
}

/// A key directory holding `billing-service/ed-1.pem` (Ed25519, signed with the returned key)
/// and `billing-service/rsa-1.pem` (RSA).
fn key_directory() -> (PathBuf, EncodingKey) {
    let dir = std::env::temp_dir().join(format!("tc-sec-keys-{}", Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("public/billing-service")).unwrap();
    let settings = tenant_catalog::config::Settings::from_lookup(|k| match k {
        "AUTH_SIGNING_KEY" => Some(dir.join("private/ed.pem").display().to_string()),
        _ => None,
    })
    .unwrap();
    let signer = keys::signer(&settings.auth).unwrap();
    let public = std::fs::read(dir.join("private/ed.pub.pem")).unwrap();
    std::fs::write(dir.join("public/billing-service/ed-1.pem"), public).unwrap();
    std::fs::write(dir.join("public/billing-service/rsa-1.pem"), RSA_PUBLIC).unwrap();
    (dir, signer.key)
}

fn sign(alg: Algorithm, kid: &str, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn app_trusting(dir: &Path) -> TestApp {
    spawn_app_with(&[
        ("AUTH_PUBLIC_KEYS_DIR", dir.join("public").to_str().unwrap()),
        ("AUTH_DEV_KEY", "false"),
    ])
    .await
}

#[tokio::test]
async fn two_authorization_headers_are_refused_with_400() {
    let app = spawn_app().await;
    let token = format!("Bearer {}", app.token(Scope::Admin));
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::POST, "/graphql"),
        (reqwest::Method::GET, "/admin/v1/shards"),
    ] {
        let response = client
            .request(method, format!("{}{path}", app.address))
            .header("authorization", &token)
            .header("authorization", "Bearer something-else")
            .header("content-type", "application/json")
            .body(QUERY.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
    }
}

#[tokio::test]
async fn rs256_keys_and_a_list_audience_are_accepted_and_families_never_mix() {
    let (dir, ed_key) = key_directory();
    let app = app_trusting(&dir).await;
    let audience = app.settings.auth.audience.clone();
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let listed = claims("billing-service", json!(["another-service", audience]));

    let rs256 = sign(Algorithm::RS256, "billing-service/rsa-1", &listed, &rsa);
    assert_eq!(status(&app, &rs256).await.0, 200, "RS256 with a list aud");
    let eddsa = sign(Algorithm::EdDSA, "billing-service/ed-1", &listed, &ed_key);
    assert_eq!(status(&app, &eddsa).await.0, 200, "EdDSA with a list aud");

    // An RSA key's id with an EdDSA signature, an HMAC keyed with the RSA public key, and an
    // audience list without ours.
    let mixed = sign(Algorithm::EdDSA, "billing-service/rsa-1", &listed, &ed_key);
    let (code, body) = status(&app, &mixed).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("RS256"),
        "it says what to sign with: {body}"
    );
    let confused = sign(
        Algorithm::HS256,
        "billing-service/rsa-1",
        &listed,
        &EncodingKey::from_secret(RSA_PUBLIC),
    );
    assert_eq!(status(&app, &confused).await.0, 401);
    let others = claims("billing-service", json!(["a", "b"]));
    let (code, body) = status(
        &app,
        &sign(Algorithm::RS256, "billing-service/rsa-1", &others, &rsa),
    )
    .await;
    assert_eq!(code, 401, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_removed_key_revokes_its_tokens_within_the_recheck_bound() {
    let (dir, ed_key) = key_directory();
    let app = app_trusting(&dir).await;
    let audience = app.settings.auth.audience.clone();
    let token = sign(
        Algorithm::EdDSA,
        "billing-service/ed-1",
        &claims("billing-service", json!(audience)),
        &ed_key,
    );
    assert_eq!(status(&app, &token).await.0, 200);
    assert_eq!(status(&app, &token).await.0, 200, "now from the cache");

    std::fs::remove_file(dir.join("public/billing-service/ed-1.pem")).unwrap();
    let removed = Instant::now();
    let refused_after = app
        .wait_for(RECHECK_SECS + 5, "the token to be refused", || async {
            (status(&app, &token).await.0 == 401).then(|| removed.elapsed())
        })
        .await;
    assert!(
        refused_after <= Duration::from_secs(RECHECK_SECS + 1),
        "refused {refused_after:?} after the key was removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_development_key_is_announced_and_can_be_refused() {
    let app = spawn_app().await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert!(
        ready["details"]["auth"]
            .as_str()
            .unwrap()
            .contains("development key"),
        "{ready}"
    );

    let env = TestEnv::new(&[("AUTH_DEV_KEY", "false")]).await;
    let refused = Application::build(env.settings.clone()).await;
    let message = refused.err().expect("serve refuses to start").to_string();
    assert!(message.contains("AUTH_PUBLIC_KEYS_DIR"), "{message}");

    let (dir, _) = key_directory();
    let production = app_trusting(&dir).await;
    let ready: Value = production.get("/readyz").await.json().await.unwrap();
    assert!(
        ready["details"]["auth"]
            .as_str()
            .unwrap()
            .contains("AUTH_PUBLIC_KEYS_DIR"),
        "{ready}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
