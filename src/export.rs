//! The `serve` side of replication: `GET /replica/v1/snapshot` (every tenant's route, a page at
//! a time, or the routes of chosen tenants) and `GET /replica/v1/shards`, for read tokens.
//! A replica pages through the snapshot once its own queue is bound, so that every change is in
//! one or the other (see docs/replica.md).

use crate::auth::{Scope, Verifier};
use crate::catalog::{Db, routes, shards};
use crate::domain::{BaseDomain, TenantId};
use crate::error::ApiError;
use crate::feed::wire::{MAX_IDS, ShardList, SnapshotPage, WireRoute, WireShard, shards_digest};
use crate::http::authorization;
use crate::untrusted::quoted;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use std::collections::HashMap;

/// Entries of a page when `limit` is not given, and the most a page may hold.
pub const DEFAULT_PAGE: i64 = 5_000;
pub const MAX_PAGE: i64 = 20_000;

#[derive(Clone)]
pub struct ExportState {
    pub db: Db,
    pub verifier: Verifier,
    pub base_domain: BaseDomain,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/replica/v1/snapshot", web::get().to(snapshot))
        .route("/replica/v1/shards", web::get().to(shard_list));
}

fn authorized(state: &ExportState, req: &HttpRequest) -> Result<(), ApiError> {
    let header = authorization(req.headers())?;
    state.verifier.authorize(header, Scope::Read)?;
    Ok(())
}

/// What a snapshot request asks for: a page after a tenant, or chosen tenants.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Page { after: Option<TenantId>, limit: i64 },
    Ids(Vec<TenantId>),
}

fn wanted(query: &HashMap<String, String>) -> Result<Wanted, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "after" | "limit" | "ids"))
    {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {}: the snapshot takes `after` and `limit`, or `ids`",
            quoted(unknown, 40)
        )));
    }
    let id = |raw: &str, what: &str| {
        raw.parse::<TenantId>().map_err(|_| {
            ApiError::bad_request(format!("{what} must be a UUID, got {}", quoted(raw, 64)))
        })
    };
    if let Some(ids) = query.get("ids") {
        if query.contains_key("after") || query.contains_key("limit") {
            return Err(ApiError::bad_request(
                "give `ids`, or `after` and `limit`, not both",
            ));
        }
        let ids: Vec<TenantId> = ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| id(s, "every id in `ids`"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() || ids.len() > MAX_IDS {
            return Err(ApiError::bad_request(format!(
                "`ids` must name 1 to {MAX_IDS} tenants, got {}",
                ids.len()
            )));
        }
        return Ok(Wanted::Ids(ids));
    }
    let after = query.get("after").map(|a| id(a, "`after`")).transpose()?;
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`limit` must be from 1 to {MAX_PAGE}, got {}",
                    quoted(raw, 20)
                ))
            })?,
    };
    Ok(Wanted::Page { after, limit })
}

#[tracing::instrument(name = "replica export: snapshot", skip_all)]
async fn snapshot(
    state: web::Data<ExportState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let answer = async {
        authorized(&state, &req)?;
        let as_of = Utc::now();
        let (rows, next) = match wanted(&query)? {
            Wanted::Ids(ids) => (routes::replica_rows(&state.db, &ids).await?, None),
            Wanted::Page { after, limit } => {
                let rows = routes::replica_page(&state.db, after, limit).await?;
                // A short page is the last one.
                let next = (rows.len() as i64 == limit)
                    .then(|| rows.last().map(|r| r.id.as_uuid()))
                    .flatten();
                (rows, next)
            }
        };
        let entries = rows
            .iter()
            .map(|r| WireRoute::of_row(r, &state.base_domain))
            .collect();
        Ok::<_, ApiError>(SnapshotPage {
            as_of,
            entries,
            next,
        })
    };
    match answer.await {
        Ok(page) => HttpResponse::Ok().json(page),
        Err(e) => e.error_response(),
    }
}

#[tracing::instrument(name = "replica export: shards", skip_all)]
async fn shard_list(state: web::Data<ExportState>, req: HttpRequest) -> HttpResponse {
    let answer = async {
        authorized(&state, &req)?;
        let as_of = Utc::now();
        let list: Vec<WireShard> = shards::list(&state.db, None)
            .await?
            .iter()
            .map(WireShard::of_row)
            .collect();
        Ok::<_, ApiError>(ShardList {
            as_of,
            base_domain: state.base_domain.to_string(),
            digest: shards_digest(&list),
            shards: list,
        })
    };
    match answer.await {
        Ok(list) => HttpResponse::Ok().json(list),
        Err(e) => e.error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_snapshot_request_is_a_page_or_chosen_ids() {
        assert_eq!(
            wanted(&q(&[])).expect("ok"),
            Wanted::Page {
                after: None,
                limit: DEFAULT_PAGE
            }
        );
        let id = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
        assert!(matches!(
            wanted(&q(&[("after", id), ("limit", "10")])).expect("ok"),
            Wanted::Page {
                after: Some(_),
                limit: 10
            }
        ));
        assert!(matches!(wanted(&q(&[("ids", id)])).expect("ok"), Wanted::Ids(v) if v.len() == 1));
        for bad in [
            q(&[("limit", "0")]),
            q(&[("limit", "20001")]),
            q(&[("after", "x")]),
            q(&[("ids", "")]),
            q(&[("ids", id), ("limit", "3")]),
            q(&[("page", "1")]),
        ] {
            assert!(wanted(&bad).is_err(), "{bad:?}");
        }
    }
}
