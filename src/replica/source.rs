//! How a replica reads from `serve`: its HTTP client and the read token it proves itself with.

use crate::auth::{self, Scope};
use crate::config::AuthSettings;
use std::sync::Arc;
use std::time::Duration;

/// Why `serve` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the catalog at {url} did not answer: {reason}")]
    Unanswered { url: String, reason: String },
    #[error("signing a read token failed: {0}")]
    Token(String),
}

/// How a follower proves itself to `serve`: a read token it signs itself (what
/// `tenant-catalog replica` does, with `AUTH_SIGNING_KEY`), or one it was given.
#[derive(Clone)]
pub enum Credentials {
    Sign(Arc<(auth::keys::Signer, AuthSettings)>),
    Bearer(String),
}

impl Credentials {
    /// Signs with the key and settings of `auth` (the key is created in development, as
    /// `tenant-catalog token` does).
    pub fn sign(auth: &AuthSettings) -> Result<Self, auth::KeyError> {
        let signer = auth::keys::signer(auth)?;
        Ok(Credentials::Sign(Arc::new((signer, auth.clone()))))
    }

    fn header(&self) -> Result<String, SourceError> {
        match self {
            Credentials::Bearer(token) => Ok(format!("Bearer {token}")),
            Credentials::Sign(s) => {
                let (signer, settings) = &**s;
                // Short-lived: a token is minted per request, so none outlives its use for long.
                let ttl = settings.max_ttl_secs.min(300);
                auth::mint(signer, settings, "tenant-catalog-replica", Scope::Read, ttl)
                    .map(|t| format!("Bearer {t}"))
                    .map_err(SourceError::Token)
            }
        }
    }
}

/// The `serve` a replica loads snapshots and shard lists from.
pub(crate) struct Source<'a> {
    base: &'a str,
    credentials: &'a Credentials,
    client: reqwest::Client,
}

impl<'a> Source<'a> {
    pub(crate) fn new(base: &'a str, credentials: &'a Credentials) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Source {
            base,
            credentials,
            client,
        })
    }

    /// An error about this source, for the operator to act on.
    pub(crate) fn failed(&self, reason: String) -> SourceError {
        SourceError::Unanswered {
            url: self.base.to_owned(),
            reason,
        }
    }

    /// GETs `path` and decodes its JSON; any status but success is an error quoting the body.
    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, SourceError> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let response = self
            .client
            .get(&url)
            .header("authorization", self.credentials.header()?)
            .send()
            .await
            .map_err(|e| self.failed(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(self.failed(format!(
                "{status} from {path}: {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| self.failed(format!("{path}: {}", e.without_url())))
    }
}
