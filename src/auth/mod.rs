//! Bearer tokens (CONTRACT.md section 2): JWTs signed with EdDSA or RS256 in the ASAP style:
//! the key id starts with the issuer and follows ASAP's character rules, `exp`, `iat`, `aud`,
//! `jti` are required and the lifetime is bounded. A key's file says its family, and a token
//! must be signed with the algorithm of that family (no algorithm confusion).
//! Verified tokens are cached, so checking one costs a hash lookup on the hot path rather
//! than a signature verification; a cached token is checked again against its key file every
//! [`RECHECK_SECS`], so removing a key revokes its tokens within that bound.

pub mod key_id;
pub mod keys;

use crate::config::AuthSettings;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

pub use key_id::KeyId;
pub use keys::{KeyError, Signer, TrustedKey};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// GraphQL lookups.
    Read,
    /// Everything `read` allows, and the admin API.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            _ => Err(format!("scope must be `read` or `admin`, got `{s}`")),
        }
    }
}

/// `aud`: one audience or several (RFC 7519 allows both; ASAP issuers send either).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims of our tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// Space-separated scopes; `read` and `admin` mean something here.
    pub scope: String,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub issuer: String,
    /// The widest scope the token grants; `None` when it names none of ours.
    pub scope: Option<Scope>,
    /// The `scope` claim as sent.
    pub scope_claim: String,
    pub token_id: String,
    pub expires_at: u64,
}

/// Why a request is refused: 401 for `Unauthenticated`, 403 for `Forbidden`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("this needs a token with scope `{needed}`; yours has `{has}`")]
    Forbidden { needed: &'static str, has: String },
}

impl AuthError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        AuthError::Unauthenticated(reason.into())
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Signs a token for `sub` with `scope`, valid for `ttl_secs`.
pub fn mint(
    signer: &Signer,
    settings: &AuthSettings,
    sub: &str,
    scope: Scope,
    ttl_secs: u64,
) -> Result<String, String> {
    if ttl_secs == 0 || ttl_secs > settings.max_ttl_secs {
        return Err(format!(
            "--ttl must be from 1 to {} seconds (AUTH_MAX_TTL_SECS)",
            settings.max_ttl_secs
        ));
    }
    let iat = now_secs();
    let claims = Claims {
        iss: settings.issuer.clone(),
        sub: sub.to_owned(),
        aud: Audience::One(settings.audience.clone()),
        iat,
        exp: iat + ttl_secs,
        jti: Uuid::new_v4().to_string(),
        scope: scope.as_str().to_owned(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, &claims, &signer.key).map_err(|e| format!("signing: {e}"))
}

/// Clock skew tolerated on `iat` and `exp`.
const LEEWAY_SECS: u64 = 30;
/// Most verified tokens remembered at once.
const CACHE_CAPACITY: usize = 10_000;
/// How long a verified token is trusted from the cache before its key file is read and its
/// signature checked again: the longest a token stays accepted after its key is removed.
pub const RECHECK_SECS: u64 = 10;

/// A verified token, and when its key was last found trusted.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    checked_at: u64,
}

/// Checks bearer tokens; one per process, shared.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AuthSettings,
    /// The development key: trusted only when no public key directory is configured.
    dev_key: Option<(String, DecodingKey)>,
    verified: RwLock<HashMap<String, Verified>>,
}

impl Verifier {
    /// Builds the verifier; in development this loads (or creates) the signing key pair.
    /// Without `AUTH_PUBLIC_KEYS_DIR` and with `AUTH_DEV_KEY=false` it refuses.
    pub fn new(settings: &AuthSettings) -> Result<Self, KeyError> {
        let dev_key = match settings.public_keys_dir {
            Some(_) => None,
            None if !settings.dev_key_allowed => return Err(KeyError::DevKeyRefused),
            None => {
                let signer = keys::signer(settings)?;
                Some((signer.kid, signer.public))
            }
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                dev_key,
                verified: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// Whether tokens signed with the development key are trusted (no `AUTH_PUBLIC_KEYS_DIR`).
    pub fn trusts_dev_key(&self) -> bool {
        self.inner.dev_key.is_some()
    }

    /// Checks an `Authorization` header value and the scope it grants.
    pub fn authorize(&self, header: Option<&str>, needed: Scope) -> Result<Principal, AuthError> {
        Self::require(self.bearer(header)?, needed)
    }

    /// Verifies the token of an `Authorization` header value, whatever its scope.
    pub fn bearer(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header
            .ok_or_else(|| AuthError::invalid("missing Authorization header: send `Authorization: Bearer <token>` (mint one with `tenant-catalog token`)"))?
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::invalid("the Authorization header must be `Bearer <token>`"))?;
        self.verify(token)
    }

    /// Passes a verified principal whose scope allows what `needed` allows.
    pub fn require(principal: Principal, needed: Scope) -> Result<Principal, AuthError> {
        if principal.scope.is_some_and(|s| s.allows(needed)) {
            Ok(principal)
        } else {
            Err(AuthError::Forbidden {
                needed: needed.as_str(),
                has: crate::untrusted::quoted(&principal.scope_claim, 64),
            })
        }
    }

    /// Verifies a token, from the cache when it was verified before, has not expired and its
    /// key was found trusted less than [`RECHECK_SECS`] ago.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = now_secs();
        if let Ok(cache) = self.inner.verified.read()
            && let Some(v) = cache.get(token)
            && v.principal.expires_at + LEEWAY_SECS > now
            && v.checked_at + RECHECK_SECS > now
        {
            return Ok(v.principal.clone());
        }
        let verified = self.verify_uncached(token, now);
        if let Ok(mut cache) = self.inner.verified.write() {
            match &verified {
                Ok(principal) => {
                    if cache.len() >= CACHE_CAPACITY {
                        cache.retain(|_, v| v.principal.expires_at + LEEWAY_SECS > now);
                        if cache.len() >= CACHE_CAPACITY {
                            cache.clear();
                        }
                    }
                    let entry = Verified {
                        principal: principal.clone(),
                        checked_at: now,
                    };
                    cache.insert(token.to_owned(), entry);
                }
                Err(_) => {
                    cache.remove(token);
                }
            }
        }
        verified
    }

    fn verify_uncached(&self, token: &str, now: u64) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AuthError::invalid(
                "the token is not a JWT: expected three base64url parts `header.claims.signature` with a JSON header",
            )
        })?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::invalid("the token has no key id (`kid`)"))?;
        let kid = KeyId::parse(&kid)?;
        let key = self.key(&kid)?;
        if header.alg != key.algorithm {
            return Err(AuthError::invalid(format!(
                "the token is signed with {}, but key `{kid}` is a {} key: sign with {}",
                algorithm_name(header.alg),
                key.family(),
                algorithm_name(key.algorithm)
            )));
        }
        // The algorithm is pinned to the key's family: `alg: none`, HMAC with a public key and
        // any algorithm of another family fail before the signature is checked
        // (jsonwebtoken #41, #297).
        let mut validation = Validation::new(key.algorithm);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_audience(&[&self.inner.settings.audience]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // ASAP: a key speaks only for the issuer it is filed under.
        validation.set_issuer(&[kid.issuer()]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| AuthError::invalid(format!("the token is not valid: {}", describe(&e))))?
            .claims;
        if claims.iat > now + LEEWAY_SECS {
            return Err(AuthError::invalid(
                "the token is issued in the future (`iat`)",
            ));
        }
        if claims.exp.saturating_sub(claims.iat) > self.inner.settings.max_ttl_secs {
            return Err(AuthError::invalid(format!(
                "the token lives longer than {} seconds (`exp` - `iat`)",
                self.inner.settings.max_ttl_secs
            )));
        }
        if claims.jti.is_empty() {
            return Err(AuthError::invalid("the token has an empty `jti`"));
        }
        let scope = claims
            .scope
            .split_whitespace()
            .filter_map(|s| s.parse::<Scope>().ok())
            .max();
        Ok(Principal {
            subject: claims.sub,
            issuer: claims.iss,
            scope,
            scope_claim: claims.scope,
            token_id: claims.jti,
            expires_at: claims.exp,
        })
    }

    fn key(&self, kid: &KeyId) -> Result<TrustedKey, AuthError> {
        if let Some((dev_kid, key)) = &self.inner.dev_key
            && dev_kid == kid.as_str()
        {
            return Ok(TrustedKey {
                key: key.clone(),
                algorithm: Algorithm::EdDSA,
            });
        }
        match &self.inner.settings.public_keys_dir {
            Some(dir) => keys::public_key(dir, kid),
            None => Err(AuthError::invalid(format!(
                "no trusted public key for key id `{kid}`"
            ))),
        }
    }
}

/// The algorithms accepted, as JWT headers spell them.
fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        _ => "an algorithm not accepted here (only EdDSA and RS256 are)",
    }
}

/// A token error in words a caller can act on.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "it has expired (`exp`)".into(),
        ImmatureSignature => "it is not valid yet (`nbf`)".into(),
        InvalidAudience => "wrong audience (`aud`)".into(),
        InvalidIssuer => "its issuer (`iss`) does not own its key id".into(),
        InvalidSignature => "the signature does not match the key".into(),
        InvalidAlgorithm => "its algorithm is not accepted".into(),
        MissingRequiredClaim(c) => format!("the claim `{c}` is missing"),
        Json(_) => "its claims are not a JSON object with string `iss`, `sub`, `jti`, `scope`, numeric `iat`, `exp` and a string or list `aud`".into(),
        Base64(_) | Utf8(_) => "a part of it is not valid base64url".into(),
        _ => "it could not be verified as a signed token of an accepted issuer".into(),
    }
}
