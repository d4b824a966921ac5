//! Reading admin requests: path ids and JSON bodies, refused with a 400 that says what is
//! wrong.

use super::MAX_BODY_BYTES;
use super::audit::AuditedBody;
use crate::domain::{InvalidValue, TenantId};
use crate::error::ApiError;
use crate::http::read_body;
use actix_web::{HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `{id}` of the path.
pub(super) fn path_id(req: &HttpRequest) -> &str {
    req.match_info().get("id").unwrap_or_default()
}

pub(super) fn tenant_id(req: &HttpRequest) -> Result<TenantId, ApiError> {
    path_id(req)
        .parse::<TenantId>()
        .map_err(|e| ApiError::bad_request(format!("in the path: {e}")))
}

/// Reads a JSON body into `T`; unknown fields and wrong types are refused. An empty body
/// reads as `{}` when `empty_ok`. The body is kept for the audit trail.
pub(super) async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let body = read_body(payload, MAX_BODY_BYTES).await?;
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        b"{}"
    } else {
        &body
    };
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    req.extensions_mut().insert(AuditedBody(value.clone()));
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("the body does not fit this request: {e}")))
}

/// A field of the body, parsed into its domain type.
pub(super) fn field<T>(name: &str, parsed: Result<T, InvalidValue>) -> Result<T, ApiError> {
    parsed.map_err(|e| ApiError::bad_request(format!("`{name}`: {e}")))
}

/// Serialises a view; these types always serialise.
pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The query string, refused with a 400 that says what is wrong.
pub(super) fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request(format!("in the query: {e}")))
}

pub(super) fn bounded(name: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}`: must be {min} to {max}, got {value}"
        )))
    }
}
