//! Bearer tokens on `/graphql`: what is refused with 401, what with 403, and the production
//! key directory.

use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tenant_catalog::auth::{Scope, keys, now_secs};
use uuid::Uuid;

const QUERY: &[u8] = br#"{"query": "{ shards { id } }"}"#;

/// Claims as `token` would mint them, to be spoiled one at a time.
fn claims(app: &TestApp) -> Value {
    let now = now_secs();
    json!({"iss": app.settings.auth.issuer, "sub": "tests", "aud": app.settings.auth.audience,
           "iat": now, "exp": now + 300, "jti": Uuid::new_v4().to_string(), "scope": "read"})
}

fn sign(app: &TestApp, claims: &Value) -> String {
    let signer = keys::signer(&app.settings.auth).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, claims, &signer.key).unwrap()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

async fn status_and_body(app: &TestApp, authorization: Option<&str>) -> (u16, Value) {
    let response = app.post_graphql(authorization, QUERY.to_vec()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `Authorization` header values that must be refused with 401, each with what is wrong.
/// The claims carry `scope`, so that only what is spoiled makes them fail.
pub fn invalid_authorizations(app: &TestApp, scope: &str) -> Vec<(&'static str, Option<String>)> {
    let now = now_secs();
    let good = with(claims(app), "scope", json!(scope));
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "tenant-catalog/dev"})),
        b64(&good)
    );
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.kid = Some("tenant-catalog/dev".into());
    let hmac =
        jsonwebtoken::encode(&hmac_header, &good, &EncodingKey::from_secret(b"guess")).unwrap();

    // A key pair of our own with the same key id: the signature does not match.
    let mut other = app.settings.auth.clone();
    other.signing_key = std::env::temp_dir().join(format!("tc-other-{}.pem", Uuid::new_v4()));
    let impostor = keys::signer(&other).unwrap();
    let forged = tenant_catalog::auth::mint(&impostor, &other, "tests", Scope::Admin, 60).unwrap();

    vec![
        ("no Authorization header", None),
        ("not a bearer token", Some("Basic dGVzdDp0ZXN0".into())),
        ("not a JWT", Some("Bearer not-a-token".into())),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        ("an HMAC token", Some(format!("Bearer {hmac}"))),
        ("the wrong key", Some(format!("Bearer {forged}"))),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(
                    app,
                    &with(
                        with(good.clone(), "iat", json!(now - 7200)),
                        "exp",
                        json!(now - 3600)
                    )
                )
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                sign(app, &with(good.clone(), "nbf", json!(now + 600)))
            )),
        ),
        (
            "issued in the future",
            Some(format!(
                "Bearer {}",
                sign(
                    app,
                    &with(
                        with(good.clone(), "iat", json!(now + 600)),
                        "exp",
                        json!(now + 900)
                    )
                )
            )),
        ),
        (
            "the wrong audience",
            Some(format!(
                "Bearer {}",
                sign(app, &with(good.clone(), "aud", json!("another-service")))
            )),
        ),
        (
            "an issuer that does not own the key",
            Some(format!(
                "Bearer {}",
                sign(app, &with(good.clone(), "iss", json!("intruder")))
            )),
        ),
        (
            "too long a lifetime",
            Some(format!(
                "Bearer {}",
                sign(app, &with(good.clone(), "exp", json!(now + 7200)))
            )),
        ),
        (
            "no jti",
            Some(format!(
                "Bearer {}",
                sign(app, &{
                    let mut c = good.clone();
                    c.as_object_mut().unwrap().remove("jti");
                    c
                })
            )),
        ),
    ]
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_401() {
    let app = spawn_app().await;
    let good = claims(&app);
    let cases = invalid_authorizations(&app, "read");
    for (what, header) in cases {
        let (status, body) = status_and_body(&app, header.as_deref()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{what}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }

    let (status, body) =
        status_and_body(&app, Some(&format!("Bearer {}", sign(&app, &good)))).await;
    assert_eq!(status, 200, "the unspoiled claims pass: {body}");
}

#[tokio::test]
async fn a_valid_token_without_a_known_scope_is_refused_with_403() {
    let app = spawn_app().await;
    let token = sign(&app, &with(claims(&app), "scope", json!("metrics")));
    let (status, body) = status_and_body(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("read"));

    for scope in [Scope::Read, Scope::Admin] {
        let (status, body) =
            status_and_body(&app, Some(&format!("Bearer {}", app.token(scope)))).await;
        assert_eq!(status, 200, "{scope:?}: {body}");
        assert_eq!(body["data"]["shards"].as_array().unwrap().len(), 5);
    }
}

#[tokio::test]
async fn in_production_only_keys_from_the_key_directory_are_trusted() {
    // A partner service's key pair; its public half is filed under `<dir>/<kid>.pem`.
    let dir = std::env::temp_dir().join(format!("tc-keys-{}", Uuid::new_v4()));
    let scratch = spawn_app().await;
    let mut partner = scratch.settings.auth.clone();
    partner.signing_key = dir.join("private/partner.pem");
    partner.issuer = "billing-service".into();
    partner.key_name = "key-1".into();
    let signer = keys::signer(&partner).unwrap();
    let public = std::fs::read(partner.signing_key.with_extension("pub.pem")).unwrap();
    std::fs::create_dir_all(dir.join("public/billing-service")).unwrap();
    std::fs::write(dir.join("public/billing-service/key-1.pem"), public).unwrap();
    let dev_token = scratch.token(Scope::Read);
    drop(scratch);

    let app =
        spawn_app_with(&[("AUTH_PUBLIC_KEYS_DIR", dir.join("public").to_str().unwrap())]).await;
    let partner_token =
        tenant_catalog::auth::mint(&signer, &partner, "billing", Scope::Read, 60).unwrap();
    let (status, body) = status_and_body(&app, Some(&format!("Bearer {partner_token}"))).await;
    assert_eq!(status, 200, "a key from the directory is trusted: {body}");
    let (status, _) = status_and_body(&app, Some(&format!("Bearer {dev_token}"))).await;
    assert_eq!(
        status, 401,
        "the development key is not trusted in production"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
