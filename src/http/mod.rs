//! The HTTP kit beneath `serve` and `tenant-catalog replica`: starting and stopping a server,
//! request ids, latency, the `Authorization` header, bounded bodies and the JSON 404. Errors
//! are JSON: `{"error": {"code": "...", "message": "..."}}`. [`ops`] is `serve`'s
//! operational surface.

pub mod ops;

use crate::error::{ApiError, Code};
use crate::metrics::Metrics;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use prometheus::HistogramVec;
use std::net::{SocketAddr, TcpListener};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it sent a sensible one (up to 64 visible ASCII characters),
/// else a new one: echoed in the response and logged, so one request can be followed from the
/// caller's logs to ours. New ids are this process's random prefix and a counter: unique, and
/// cheap on the lookup hot path (no random numbers drawn per request).
pub fn request_id(req: &ServiceRequest) -> HeaderValue {
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static NEXT: AtomicU64 = AtomicU64::new(1);
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            HeaderValue::from_str(&format!("{}-{n:x}", *PREFIX))
                .unwrap_or_else(|_| HeaderValue::from_static("-"))
        })
}

/// The `{id}` of a request's path, as a log field: escaped and bounded, since the caller chose
/// it.
pub fn path_id(req: &actix_web::HttpRequest) -> String {
    crate::untrusted::escape_controls(req.match_info().get("id").unwrap_or("-"), 64)
}

/// Records a request's latency under its route pattern (never the raw path, so the label set
/// stays small).
fn observe<B>(histogram: &HistogramVec, response: &ServiceResponse<B>, took: std::time::Duration) {
    let route = response.request().match_pattern();
    let status = match response.status().as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    histogram
        .with_label_values(&[
            route.as_deref().unwrap_or("unmatched"),
            response.request().method().as_str(),
            status,
        ])
        .observe(took.as_secs_f64());
}

/// The request's `Authorization` header, if it sent one. Two or more are refused with a 400:
/// a proxy that checks one and a server that uses another would disagree about who asks.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut all = headers.get_all(AUTHORIZATION);
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(ApiError::bad_request(
            "send one Authorization header, not several",
        ));
    }
    first.to_str().map(Some).map_err(|_| {
        ApiError::new(
            Code::Unauthenticated,
            "the Authorization header is not ASCII text: send `Authorization: Bearer <token>`",
        )
    })
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is over {} KiB", .0 / 1024)]
    TooLarge(usize),
    #[error("the request body could not be read")]
    Unreadable,
}

/// Reads a request body of at most `limit` bytes. Read by hand rather than by an extractor,
/// so that the token is checked first and a refusal gets the contract's JSON error body.
pub async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, BodyError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_) => Err(BodyError::TooLarge(limit)),
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let code = match e {
            BodyError::TooLarge(_) => Code::PayloadTooLarge,
            BodyError::Unreadable => Code::BadRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Answers unknown paths with the JSON error body rather than an empty 404.
pub async fn not_found() -> HttpResponse {
    ApiError::not_found("no such endpoint").error_response()
}

/// Why an HTTP server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {setting}={addr}: {source} (is another process using it?)")]
    Bind {
        setting: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Failed(#[from] std::io::Error),
}

/// Binds the listener a server will use; `setting` names the setting that chose `addr`, for
/// the error.
pub fn bind(addr: SocketAddr, setting: &'static str) -> Result<(TcpListener, u16), ServerError> {
    let listener = TcpListener::bind(addr).map_err(|source| ServerError::Bind {
        setting,
        addr,
        source,
    })?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// An HTTP server on `listener` with the routes `routes` registers (`serve`'s or a
/// replica's): every request gets an id, is logged, and has its latency measured in
/// `metrics`; unknown paths get the JSON 404.
pub fn serve<F>(listener: TcpListener, metrics: &Metrics, routes: F) -> Result<Server, ServerError>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let histogram = metrics.histograms(
        "tenant_catalog_http_request_duration_seconds",
        "HTTP request latency, from the request read to the response written, by route pattern, method and status class.",
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ],
        &["route", "method", "status"],
    );
    let server = HttpServer::new(move || {
        let histogram = histogram.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                let started = std::time::Instant::now();
                let request_id = request_id(&req);
                // Everything logged while the request is served carries its id.
                let span =
                    tracing::info_span!("request", request_id = request_id.to_str().unwrap_or("-"));
                let response = actix_web::dev::Service::call(srv, req).instrument(span);
                let histogram = histogram.clone();
                async move {
                    let mut response = response.await?;
                    observe(&histogram, &response, started.elapsed());
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(REQUEST_ID), request_id);
                    Ok(response)
                }
            })
            // Outermost, so that it logs the request id set inside.
            .wrap(
                actix_web::middleware::Logger::new(
                    "%a \"%r\" %s %b %Dms request_id=%{x-request-id}o",
                )
                .log_target("http"),
            )
            .configure(routes.clone())
            .default_service(web::to(not_found))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Runs `server` until `shutdown` is cancelled or the server fails; then cancels `shutdown`
/// (so the process's tasks stop too) and lets requests in flight finish.
pub async fn serve_until(server: Server, shutdown: &CancellationToken) -> Result<(), ServerError> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    let served = tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        result = &mut server => result.unwrap_or(Ok(())).map_err(ServerError::Failed),
    };
    shutdown.cancel();
    handle.stop(true).await;
    served
}
