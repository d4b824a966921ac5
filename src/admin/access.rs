//! Who may act: the bearer token checked for scope `admin`, and spent on a write so that a
//! captured request cannot be replayed.

use super::AdminState;
use crate::auth::{Principal, Scope, Verifier};
use crate::catalog::admin as store;
use crate::error::{ApiError, Code};
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};

impl AdminState {
    /// Checks the bearer token for scope `admin`. The caller is noted for the audit trail as
    /// soon as the token is valid, before its scope is checked.
    pub(super) fn authorize(&self, req: &HttpRequest) -> Result<Principal, ApiError> {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let principal = self.verifier.bearer(header)?;
        req.extensions_mut().insert(principal.clone());
        Ok(Verifier::require(principal, Scope::Admin)?)
    }

    /// Spends the token on this write; a token seen before is a replay.
    pub(super) async fn spend(&self, who: &Principal) -> Result<(), ApiError> {
        let expires_at = i64::try_from(who.expires_at)
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if store::use_token(&self.db, &who.issuer, &who.token_id, expires_at).await? {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::TokenReplayed,
                "this token was used for an admin write already (replayed `jti`): mint a new token for each write",
            ))
        }
    }
}
