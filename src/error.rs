//! One error vocabulary for every answer a caller gets: a stable [`Code`] with its kind and
//! HTTP status, one [`ApiError`] that actix turns into the contract's JSON body
//! (`{"error": {"code": "...", "message": "..."}}`), and GraphQL errors whose
//! `extensions.code` comes from the same codes.

use crate::auth::AuthError;
use crate::catalog::StoreError;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use async_graphql::ErrorExtensions;
use std::fmt;

/// Who has to act on an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request itself is wrong: the caller can fix it.
    InvalidRequest,
    /// No valid token, or not the right scope.
    Auth,
    /// The request is sound but the catalog's state refuses it.
    Conflict,
    /// Something on our side: the caller may only retry, the operator has to look.
    Internal,
}

/// The stable, machine-readable error codes. Their spelling is part of the contract and of
/// the docs: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadRequest,
    Unauthenticated,
    TokenReplayed,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    ForceRequired,
    AlreadyDeleted,
    NothingToCancel,
    /// A legal hold stands: no deletion, and no second hold, until it is lifted.
    LegalHold,
    /// No legal hold stands to lift.
    NoHold,
    ShardConflict,
    MoveConflict,
    CatalogUnavailable,
    NotReady,
}

impl Code {
    pub const ALL: [Code; 16] = [
        Code::BadRequest,
        Code::Unauthenticated,
        Code::TokenReplayed,
        Code::Forbidden,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::PayloadTooLarge,
        Code::ForceRequired,
        Code::AlreadyDeleted,
        Code::NothingToCancel,
        Code::LegalHold,
        Code::NoHold,
        Code::ShardConflict,
        Code::MoveConflict,
        Code::CatalogUnavailable,
        Code::NotReady,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::Unauthenticated => "unauthenticated",
            Code::TokenReplayed => "token_replayed",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::PayloadTooLarge => "payload_too_large",
            Code::ForceRequired => "force_required",
            Code::AlreadyDeleted => "already_deleted",
            Code::NothingToCancel => "nothing_to_cancel",
            Code::LegalHold => "legal_hold",
            Code::NoHold => "no_hold",
            Code::ShardConflict => "shard_conflict",
            Code::MoveConflict => "move_conflict",
            Code::CatalogUnavailable => "catalog_unavailable",
            Code::NotReady => "not_ready",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Code::BadRequest | Code::NotFound | Code::MethodNotAllowed | Code::PayloadTooLarge => {
                Kind::InvalidRequest
            }
            Code::Unauthenticated | Code::TokenReplayed | Code::Forbidden => Kind::Auth,
            Code::ForceRequired
            | Code::AlreadyDeleted
            | Code::NothingToCancel
            | Code::LegalHold
            | Code::NoHold
            | Code::ShardConflict
            | Code::MoveConflict => Kind::Conflict,
            Code::CatalogUnavailable | Code::NotReady => Kind::Internal,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::Unauthenticated | Code::TokenReplayed => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::ForceRequired
            | Code::AlreadyDeleted
            | Code::NothingToCancel
            | Code::LegalHold
            | Code::NoHold
            | Code::ShardConflict
            | Code::MoveConflict => StatusCode::CONFLICT,
            Code::CatalogUnavailable | Code::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as GraphQL's `extensions.code` spells it (Apollo's names, as documented in
    /// docs/graphql.md): a fault of the request is `BAD_USER_INPUT`, ours `INTERNAL`.
    pub fn graphql(self) -> &'static str {
        match self.kind() {
            Kind::InvalidRequest | Kind::Conflict => "BAD_USER_INPUT",
            Kind::Auth => "UNAUTHENTICATED",
            Kind::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to a caller: a code and a message for a person. What the operator needs
/// beyond that (a storage failure's cause) is logged and audited, never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// The cause behind an internal error, for the log and the audit trail.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Code::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// As a GraphQL error, with `extensions.code`.
    pub fn graphql(&self) -> async_graphql::Error {
        let code = self.code.graphql();
        async_graphql::Error::new(self.message.clone()).extend_with(|_, e| e.set("code", code))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code()).json(serde_json::json!({
            "error": {"code": self.code.as_str(), "message": self.message}
        }));
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Unauthenticated(_) => Code::Unauthenticated,
            AuthError::Forbidden { .. } => Code::Forbidden,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError {
            code: Code::CatalogUnavailable,
            message: "the catalog could not be reached; nothing was changed; try again".into(),
            cause: Some(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_the_status_of_its_kind() {
        for code in Code::ALL {
            let status = code.status();
            match code.kind() {
                Kind::InvalidRequest => assert!(status.is_client_error(), "{code}"),
                Kind::Auth => assert!(matches!(status.as_u16(), 401 | 403), "{code}"),
                Kind::Conflict => assert_eq!(status, StatusCode::CONFLICT, "{code}"),
                Kind::Internal => assert!(status.is_server_error(), "{code}"),
            }
        }
    }

    #[test]
    fn codes_are_distinct_snake_case_words() {
        let names: std::collections::HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn graphql_keeps_its_documented_codes() {
        assert_eq!(Code::BadRequest.graphql(), "BAD_USER_INPUT");
        assert_eq!(Code::CatalogUnavailable.graphql(), "INTERNAL");
    }
}
