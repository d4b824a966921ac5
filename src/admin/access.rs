//! Who may act: the bearer token, checked by [`super::audit::gate`] before any routing, and
//! spent on a write, in the write's transaction, so that a captured request cannot be replayed.

use crate::auth::Principal;
use crate::catalog::Tx;
use crate::catalog::admin as store;
use crate::error::{ApiError, Code};
use actix_web::{HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};

/// The caller the gate let in.
pub(super) fn caller(req: &HttpRequest) -> Result<Principal, ApiError> {
    req.extensions().get::<Principal>().cloned().ok_or_else(|| {
        // Unreachable while the gate wraps the scope; refusing is the safe answer if not.
        ApiError::new(
            Code::Unauthenticated,
            "no valid token was checked for this request",
        )
    })
}

/// Spends the token on this write, in its transaction; a token seen before is a replay.
pub(super) async fn spend(tx: &mut Tx, who: &Principal) -> Result<(), ApiError> {
    let expires_at = i64::try_from(who.expires_at)
        .ok()
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if store::use_token(tx, &who.issuer, &who.token_id, expires_at).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::TokenReplayed,
            "this token was used for an admin write already (replayed `jti`): mint a new token for each write",
        ))
    }
}
