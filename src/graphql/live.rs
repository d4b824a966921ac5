//! GraphQL over a websocket at `GET /graphql` (subprotocols `graphql-transport-ws`, the
//! graphql-ws protocol, and the older `graphql-ws`), for subscriptions. The token rules are
//! `POST /graphql`'s: a read token, in the upgrade's `Authorization` header or in the
//! `connection_init` payload (`{"Authorization": "Bearer ..."}`); every operation is judged by
//! the same cost model before it runs.

use super::guard::{self, Judged};
use super::{GraphqlState, MAX_BODY_BYTES, Schema, cost::Limits, parsed::ParsedCache};
use crate::auth::{Scope, Verifier};
use crate::error::ApiError;
use crate::http::authorization;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols as Protocols, WsMessage,
};
use async_graphql::{Data, Executor, Request, Response};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, future};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The graphql-ws close code of a connection whose `connection_init` is refused.
const FORBIDDEN: u16 = 4403;

/// How long a client may stay silent before the connection is closed (graphql-ws pings).
const KEEPALIVE: Duration = Duration::from_secs(60);

/// The schema behind the cost model: an operation over the websocket is judged like a POST.
#[derive(Clone)]
struct Guarded {
    schema: Schema,
    limits: Limits,
    metrics: super::guard::GraphqlMetrics,
    parsed: ParsedCache,
}

impl Guarded {
    fn judge(&self, request: &mut Request) -> Option<Response> {
        match guard::judge(request, &self.limits, &self.metrics, &self.parsed) {
            Judged::Refused(refused) => Some(*refused),
            Judged::Prepared(prepared) => {
                Judged::into_request(&prepared, request);
                None
            }
            Judged::Ready => None,
        }
    }
}

impl Executor for Guarded {
    async fn execute(&self, mut request: Request) -> Response {
        match self.judge(&mut request) {
            Some(refused) => refused,
            None => self.schema.execute(request).await,
        }
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self.judge(&mut request) {
            Some(refused) => futures_util::stream::once(future::ready(refused)).boxed(),
            None => self
                .schema
                .execute_stream_with_session_data(request, session.unwrap_or_default()),
        }
    }
}

/// The token of a `connection_init` payload: `Authorization` (any case) or `token`.
fn init_token(payload: &serde_json::Value) -> Option<String> {
    let map = payload.as_object()?;
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str().map(str::to_owned))
        .or_else(|| {
            map.get("token")
                .and_then(|v| v.as_str())
                .map(|t| format!("Bearer {t}"))
        })
}

/// `GET /graphql` with `Upgrade: websocket`.
#[tracing::instrument(name = "graphql websocket", skip_all)]
pub async fn upgrade(
    state: web::Data<GraphqlState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let header = match authorization(req.headers()) {
        Ok(header) => header.map(str::to_owned),
        Err(error) => return error.error_response(),
    };
    // A token in the upgrade request is checked now, so a bad one never gets a websocket.
    if header.is_some()
        && let Err(error) = state.verifier.authorize(header.as_deref(), Scope::Read)
    {
        return ApiError::from(error).error_response();
    }
    let protocol = match subprotocol(&req) {
        Ok(protocol) => protocol,
        Err(error) => return error.error_response(),
    };
    let (mut response, mut session, stream) = match actix_ws::handle(&req, payload) {
        Ok(handled) => handled,
        Err(e) => return e.error_response(),
    };
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let executor = Guarded {
        schema: state.schema.clone(),
        limits: state.limits,
        metrics: state.metrics.clone(),
        parsed: state.parsed.clone(),
    };
    let verifier: Verifier = state.verifier.clone();
    let frames = frames(stream, session.clone());
    // The protocol says 4403 for a refused connection_init; async-graphql closes with 1002, so
    // the refusal is noted here and its close code set below.
    let refused = Arc::new(AtomicBool::new(false));
    let noted = refused.clone();
    let on_init = move |init: serde_json::Value| async move {
        let token = header.or_else(|| init_token(&init));
        verifier
            .authorize(token.as_deref(), Scope::Read)
            .map(|_| Data::default())
            .map_err(|e| {
                noted.store(true, Ordering::SeqCst);
                async_graphql::Error::new(ApiError::from(e).message)
            })
    };
    let mut out = WebSocket::new(executor, frames, protocol)
        .on_connection_init(on_init)
        .keepalive_timeout(KEEPALIVE);
    actix_web::rt::spawn(async move {
        while let Some(message) = out.next().await {
            let sent = match message {
                WsMessage::Text(text) => session.text(text).await,
                WsMessage::Close(code, reason) => {
                    let code = if refused.load(Ordering::SeqCst) {
                        FORBIDDEN
                    } else {
                        code
                    };
                    let reason = actix_ws::CloseReason {
                        code: code.into(),
                        description: Some(reason),
                    };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
        let _ = session.close(None).await;
    });
    response
}

/// The GraphQL websocket subprotocol the caller asked for in `Sec-WebSocket-Protocol`.
fn subprotocol(req: &HttpRequest) -> Result<Protocols, ApiError> {
    let asked = req
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    asked
        .split(',')
        .map(str::trim)
        .find_map(|p| Protocols::from_str(p).ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "ask for a GraphQL websocket subprotocol in Sec-WebSocket-Protocol: {}",
                ALL_WEBSOCKET_PROTOCOLS.join(" or ")
            ))
        })
}

/// The caller's frames, up to its close: text and binary ones as they came, pings answered.
fn frames(
    stream: actix_ws::MessageStream,
    ponger: actix_ws::Session,
) -> impl futures_util::Stream<Item = actix_web::web::Bytes> {
    stream
        .max_frame_size(MAX_BODY_BYTES)
        .take_while(|m| future::ready(m.is_ok() && !matches!(m, Ok(actix_ws::Message::Close(_)))))
        .filter_map(move |m| {
            future::ready(match m {
                Ok(actix_ws::Message::Text(text)) => Some(text.into_bytes()),
                Ok(actix_ws::Message::Binary(bytes)) => Some(bytes),
                Ok(actix_ws::Message::Ping(bytes)) => {
                    let mut s = ponger.clone();
                    actix_web::rt::spawn(async move { s.pong(&bytes).await });
                    None
                }
                _ => None,
            })
        })
}
