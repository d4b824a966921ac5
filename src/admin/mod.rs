//! The admin API (CONTRACT.md section 6) under `/admin/v1`: deletions and shards, for tokens
//! with scope `admin`.
//!
//! Every request, refused or not, is audited (who, what, the outcome) to the log and to the
//! `admin_audit` table. A token may be used for one write only: its `jti` is remembered until it
//! expires, so a captured request cannot be replayed.

mod openapi;
mod views;

pub use openapi::{ApiDoc, openapi_json};
pub use views::{DeletionCancel, DeletionRequest, ShardList, ShardRequest, ShardView, TenantView};

use crate::auth::{AuthError, Principal, Scope, Verifier};
use crate::catalog::admin::{self as store, Acted, AuditEntry};
use crate::catalog::shards::{self, Declared, ShardSpec};
use crate::catalog::{Db, Doing, StoreError, events, tenants};
use crate::domain::{Capacity, Endpoint, FreeText, InvalidValue, ShardId, TenantId};
use crate::http::{BodyError, error_body, read_body, refusal};
use crate::lifecycle::EventType;
use crate::scheduler::{self, Scheduler};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Largest admin request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared state of the admin handlers.
#[derive(Clone)]
pub struct AdminState {
    pub db: Db,
    pub verifier: Verifier,
    pub base_domain: String,
    /// Places waiting tenants at once when a shard gets room.
    pub scheduler: Scheduler,
}

/// Registers `/admin/v1/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .service(
                web::resource("/tenants/{id}/deletion")
                    .route(web::post().to(request_deletion))
                    .route(web::delete().to(cancel_deletion))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/tenants/{id}")
                    .route(web::get().to(tenant))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/shards/{id}")
                    .route(web::put().to(put_shard))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/shards")
                    .route(web::get().to(list_shards))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(openapi_document))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(no_such_endpoint)),
    );
}

/// Why an admin request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(
        "this token was used for an admin write already (replayed `jti`): mint a new token for each write"
    )]
    Replayed,
    #[error("the catalog could not be reached; nothing was changed; try again")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("this method is not allowed here; see /admin/v1/openapi.json")]
    MethodNotAllowed,
}

impl AdminError {
    fn response(&self) -> HttpResponse {
        let (status, code) = match self {
            AdminError::Auth(e) => return refusal(e),
            AdminError::Body(e) => return e.response(),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Conflict { code, .. } => (StatusCode::CONFLICT, *code),
            AdminError::Replayed => (StatusCode::UNAUTHORIZED, "token_replayed"),
            AdminError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AdminError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable"),
        };
        error_body(status, code, &self.to_string())
    }
}

/// A successful answer, with the outcome in words for the audit trail.
struct Reply {
    status: StatusCode,
    /// JSON text: serialised from the view types, so fields keep their declared order.
    body: String,
    outcome: String,
}

/// One request's audit record, filled in as the request is understood.
struct Audit {
    entry: AuditEntry,
}

impl Audit {
    fn begin(req: &HttpRequest) -> Self {
        // What the request is about is noted before the token is checked, so that refused
        // attempts on a tenant or shard show up in its trail too.
        let id = req.match_info().get("id");
        let path = req.path();
        Audit {
            entry: AuditEntry {
                method: req.method().to_string(),
                path: path.to_owned(),
                tenant_id: id
                    .filter(|_| path.starts_with("/admin/v1/tenants/"))
                    .and_then(|id| id.parse().ok()),
                shard_id: id
                    .filter(|_| path.starts_with("/admin/v1/shards/"))
                    .map(str::to_owned),
                ..AuditEntry::default()
            },
        }
    }

    fn principal(&mut self, p: &Principal) {
        self.entry.subject = Some(p.subject.clone());
        self.entry.issuer = Some(p.issuer.clone());
        self.entry.token_id = Some(p.token_id.clone());
    }

    /// Answers the request and records who did what, and how it ended.
    async fn finish(mut self, db: &Db, result: Result<Reply, AdminError>) -> HttpResponse {
        let response = match &result {
            Ok(reply) => HttpResponse::build(reply.status)
                .content_type("application/json")
                .body(reply.body.clone()),
            Err(e) => e.response(),
        };
        self.entry.status = response.status().as_u16();
        self.entry.outcome = match result {
            Ok(reply) => reply.outcome,
            Err(AdminError::Store(e)) => {
                // The caller is told only to try again; the cause is for the operator.
                tracing::error!(error = %e, path = %self.entry.path, "An admin request failed on the catalog.");
                format!("failed: {e}")
            }
            Err(e) => e.to_string(),
        };
        let e = &self.entry;
        tracing::info!(
            target: "audit",
            subject = e.subject.as_deref().unwrap_or("-"),
            method = %e.method,
            path = %e.path,
            status = e.status,
            outcome = %e.outcome,
            "Admin request."
        );
        if let Err(error) = store::audit(db, &self.entry).await {
            tracing::error!(target: "audit", %error, path = %self.entry.path, "An admin request could not be written to the audit trail.");
        }
        response
    }
}

impl AdminState {
    /// Checks the bearer token for scope `admin`.
    fn authorize(&self, req: &HttpRequest, audit: &mut Audit) -> Result<Principal, AdminError> {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let principal = self.verifier.bearer(header)?;
        audit.principal(&principal);
        Ok(Verifier::require(principal, Scope::Admin)?)
    }

    /// Spends the token on this write; a token seen before is a replay.
    async fn spend(&self, who: &Principal) -> Result<(), AdminError> {
        let expires_at = i64::try_from(who.expires_at)
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if store::use_token(&self.db, &who.issuer, &who.token_id, expires_at).await? {
            Ok(())
        } else {
            Err(AdminError::Replayed)
        }
    }
}

fn tenant_id(req: &HttpRequest) -> Result<TenantId, AdminError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    raw.parse::<TenantId>()
        .map_err(|e| AdminError::BadRequest(format!("in the path: {e}")))
}

/// Reads a JSON body into `T`; unknown fields and wrong types are refused. An empty body
/// reads as `{}` when `empty_ok`.
async fn json_body<T: DeserializeOwned>(
    payload: web::Payload,
    audit: &mut Audit,
    empty_ok: bool,
) -> Result<T, AdminError> {
    let body = read_body(payload, MAX_BODY_BYTES).await?;
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        b"{}"
    } else {
        &body
    };
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| AdminError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    audit.entry.request = Some(value.clone());
    serde_json::from_value(value)
        .map_err(|e| AdminError::BadRequest(format!("the body does not fit this request: {e}")))
}

/// Serialises a view; these types always serialise.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn field<T>(name: &str, parsed: Result<T, InvalidValue>) -> Result<T, AdminError> {
    parsed.map_err(|e| AdminError::BadRequest(format!("`{name}`: {e}")))
}

fn not_found(id: TenantId) -> AdminError {
    AdminError::NotFound(format!(
        "no tenant {id}: the catalog has no tenant with this id (an id that only had rejected events has none)"
    ))
}

/// Loads the tenant as the admin API shows it.
async fn view(state: &AdminState, id: TenantId) -> Result<TenantView, AdminError> {
    let row = tenants::get(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(TenantView::new(&row, &state.base_domain))
}

/// Records an admin action on a tenant and commits it only when it changed the tenant.
async fn act(
    state: &AdminState,
    id: TenantId,
    action: EventType,
    data: &Value,
) -> Result<Acted, AdminError> {
    let mut tx = state
        .db
        .begin()
        .await
        .doing(|| "starting an admin transaction".into())?;
    let acted = store::act(&mut tx, id, action, data, Utc::now(), &state.base_domain).await?;
    if acted == Acted::Changed {
        tx.commit()
            .await
            .doing(|| format!("committing an admin action on tenant {id}"))?;
    } else {
        tx.rollback()
            .await
            .doing(|| "leaving the history as it was".into())?;
    }
    Ok(acted)
}

/// Ask for a tenant's deletion.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{id}/deletion",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body = DeletionRequest,
    responses(
        (status = 202, description = "Deletion scheduled (or carried out, when `immediate`); a repeat changes nothing and answers the same", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "Already DELETED, or a served, suspended or provisioning tenant without `force: true`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn request_deletion(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    tenant_action(&state, &req, payload, EventType::AdminDeletionRequested).await
}

/// Cancel a tenant's admin deletions that are not carried out yet.
#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{id}/deletion",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    request_body(content = Option<DeletionCancel>, description = "Optional: why the deletion is cancelled"),
    responses(
        (status = 200, description = "Admin deletions cancelled: the tenant is what commerce's events alone make it", body = TenantView),
        (status = 400, description = "Malformed JSON, unknown fields, a non-UUID id or an empty reason", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
        (status = 409, description = "No admin deletion is pending, or it was carried out already (final)", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_deletion(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    tenant_action(&state, &req, payload, EventType::AdminDeletionCancelled).await
}

/// A deletion request or its cancellation: read, authorised, recorded in the tenant's history
/// and judged by the lifecycle rules, audited.
async fn tenant_action(
    state: &AdminState,
    req: &HttpRequest,
    payload: web::Payload,
    action: EventType,
) -> HttpResponse {
    let requested = action == EventType::AdminDeletionRequested;
    let mut audit = Audit::begin(req);
    let result = async {
        let who = state.authorize(req, &mut audit)?;
        let id = tenant_id(req)?;
        let mut data = if requested {
            let body: DeletionRequest = json_body(payload, &mut audit, false).await?;
            let reason = field("reason", FreeText::try_from(body.reason.as_str()))?;
            json!({"reason": reason.as_str(), "immediate": body.immediate, "force": body.force})
        } else {
            let body: DeletionCancel = json_body(payload, &mut audit, true).await?;
            let reason = match body.reason.as_deref() {
                Some(r) => String::from(field("reason", FreeText::try_from(r))?),
                None => "no reason given".to_owned(),
            };
            json!({"reason": reason})
        };
        data["by"] = json!(who.subject);
        state.spend(&who).await?;
        if tenants::get(&state.db, id).await?.is_none() {
            return Err(not_found(id));
        }
        let acted = act(state, id, action, &data).await?;
        let tenant = view(state, id).await?;
        let deleted = tenant.lifecycle == "DELETED";
        let outcome = match acted {
            Acted::Refused(message) => {
                let code = match (deleted, requested) {
                    (true, _) => "already_deleted",
                    (false, true) => "force_required",
                    (false, false) => "nothing_to_cancel",
                };
                return Err(AdminError::Conflict { code, message });
            }
            _ if !requested => format!("deletion cancelled; tenant is {}", tenant.state),
            Acted::Unchanged => "nothing changed: the deletion was scheduled already".to_owned(),
            Acted::Changed if deleted => "tenant deleted".to_owned(),
            Acted::Changed => format!(
                "deletion scheduled for {}",
                tenant
                    .deletion_due_at
                    .map_or_else(|| "?".into(), |at| at.to_rfc3339())
            ),
        };
        Ok(Reply {
            status: if requested {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            },
            body: json_text(&tenant),
            outcome,
        })
    }
    .await;
    audit.finish(&state.db, result).await
}

/// A tenant with its full history.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = uuid::Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant with its full history in contract order, admin actions included", body = TenantView),
        (status = 400, description = "A non-UUID id", body = views::ErrorBody),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 404, description = "Unknown tenant", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn tenant(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    let mut audit = Audit::begin(&req);
    let result = async {
        state.authorize(&req, &mut audit)?;
        let id = tenant_id(&req)?;
        let mut tenant = view(&state, id).await?;
        tenant.history = Some(events::history(&state.db, id).await?);
        Ok(Reply {
            status: StatusCode::OK,
            body: json_text(&tenant),
            outcome: "read".into(),
        })
    }
    .await;
    audit.finish(&state.db, result).await
}

/// Create or update a shard.
#[utoipa::path(
    put,
    path = "/admin/v1/shards/{id}",
    tag = "shards",
    params(("id" = String, Path, description = "The shard's id: a-z, 0-9 and `-`, 1 to 63 characters")),
    request_body = ShardRequest,
    responses(
        (status = 201, description = "Shard created", body = ShardView),
        (status = 200, description = "Shard updated", body = ShardView),
        (status = 400, description = "Malformed JSON, unknown fields, a bad id, region, endpoint or status, a negative capacity", body = views::ErrorBody),
        (status = 401, description = "No valid token, or a token used for a write before", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
        (status = 409, description = "Capacity below the shard's fill, or another region for an existing shard", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_shard(
    state: web::Data<AdminState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let mut audit = Audit::begin(&req);
    let result = async {
        let who = state.authorize(&req, &mut audit)?;
        let raw_id = req.match_info().get("id").unwrap_or_default();
        let id = field("id", ShardId::try_from(raw_id))?;
        let body: ShardRequest = json_body(payload, &mut audit, false).await?;
        let region = field("region", body.region.parse())?;
        let endpoint = field("endpoint", Endpoint::try_from(body.endpoint.as_str()))?;
        let capacity = field("capacity", Capacity::try_from(body.capacity))?;
        let status = body
            .status
            .as_deref()
            .map(|s| field("status", s.parse()))
            .transpose()?;
        state.spend(&who).await?;

        let mut tx = state
            .db
            .begin()
            .await
            .doing(|| "starting to declare a shard".into())?;
        let current_status = shards::status(&mut tx, &id).await?;
        let spec = ShardSpec {
            id,
            region,
            endpoint,
            capacity,
            status: status.or(current_status).unwrap_or(crate::domain::ShardStatus::Open),
        };
        let (http_status, row) = match shards::declare(&mut tx, &spec).await? {
            Declared::Created(row) => (StatusCode::CREATED, row),
            Declared::Updated(row) => (StatusCode::OK, row),
            Declared::Refused(message) => {
                return Err(AdminError::Conflict {
                    code: "shard_conflict",
                    message,
                });
            }
        };
        tx.commit()
            .await
            .doing(|| format!("committing shard {}", spec.id))?;
        if row.status == "open" && row.tenant_count < row.capacity {
            // Waiting tenants are placed now rather than at the next scheduler tick.
            let scheduler = state.scheduler.clone();
            tokio::spawn(async move {
                if let Err(error) = scheduler::place_waiting(&scheduler).await {
                    tracing::warn!(%error, "Placing waiting tenants failed; the scheduler will try again.");
                }
            });
        }
        let verb = if http_status == StatusCode::CREATED {
            "created"
        } else {
            "updated"
        };
        Ok(Reply {
            status: http_status,
            outcome: format!(
                "shard {} {verb}: capacity {}, status {}",
                row.id, row.capacity, row.status
            ),
            body: json_text(&ShardView::from(row)),
        })
    }
    .await;
    audit.finish(&state.db, result).await
}

/// All shards with their fill.
#[utoipa::path(
    get,
    path = "/admin/v1/shards",
    tag = "shards",
    responses(
        (status = 200, description = "All shards with their fill, by id", body = ShardList),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_shards(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    let mut audit = Audit::begin(&req);
    let result = async {
        state.authorize(&req, &mut audit)?;
        let rows = shards::list(&state.db, None).await?;
        let waiting = tenants::count_waiting(&state.db).await?;
        Ok(Reply {
            status: StatusCode::OK,
            outcome: "read".into(),
            body: json_text(&ShardList {
                shards: rows.into_iter().map(ShardView::from).collect(),
                waiting,
            }),
        })
    }
    .await;
    audit.finish(&state.db, result).await
}

/// This document.
#[utoipa::path(
    get,
    path = "/admin/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This document"),
        (status = 401, description = "No valid token", body = views::ErrorBody),
        (status = 403, description = "The token lacks scope `admin`", body = views::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn openapi_document(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    let mut audit = Audit::begin(&req);
    let result = async {
        state.authorize(&req, &mut audit)?;
        Ok(Reply {
            status: StatusCode::OK,
            body: openapi_json(),
            outcome: "read".into(),
        })
    }
    .await;
    audit.finish(&state.db, result).await
}

/// A known path with a method it does not take; audited like every admin request.
async fn method_not_allowed(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    Audit::begin(&req)
        .finish(&state.db, Err(AdminError::MethodNotAllowed))
        .await
}

/// An unknown path under `/admin/v1`; audited like every admin request.
async fn no_such_endpoint(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    let error = AdminError::NotFound(format!(
        "no admin endpoint {} {}; see /admin/v1/openapi.json",
        req.method(),
        req.path()
    ));
    Audit::begin(&req).finish(&state.db, Err(error)).await
}
