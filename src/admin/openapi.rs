//! The OpenAPI document of the admin API, derived from the handlers and types above. It is
//! served at `/admin/v1/openapi.json` and kept in `docs/admin-openapi.json`, which a test
//! compares with this.

use super::views::{
    DeletionCancel, DeletionRequest, DrainRequest, DrainView, ErrorBody, ErrorDetail,
    EventsOnlyView, HoldRequest, MoveAdvance, MoveCancel, MoveList, MoveRequest, MoveView,
    PlannedFill, PlannedMove, RebalancePlan, ShardList, ShardRequest, ShardView, TenantView,
};
use crate::apply::receipt::{DeletionReceipt, HistoryProof, Purged};
use crate::catalog::events::HistoryEntry;
use crate::history::explain::{Cause, Explanation, Moving, Next, SiteConflict};
use crate::snapshot::{CauseView, LegalHoldView, TenantSnapshot};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenant-catalog admin API",
        description = "Deletions, moves and shards (CONTRACT.md sections 6 and 7). Every request needs one `Authorization: Bearer <token>` header with scope `admin` (mint one with `tenant-catalog token --scope admin`); a token serves one write only. The token is checked before routing: without a valid one every path and method answers 401 (two Authorization headers: 400), and the refusal is logged and counted, not stored. Every request with a valid token is audited; a write and its audit row commit in one transaction.",
    ),
    paths(
        super::tenants::request_deletion,
        super::tenants::cancel_deletion,
        super::tenants::place_hold,
        super::tenants::deletion_receipt,
        super::tenants::lift_hold,
        super::tenants::tenant,
        super::moves::start_move,
        super::moves::get_move,
        super::moves::advance_move,
        super::moves::cancel_move,
        super::moves::list_moves,
        super::rebalance::rebalance,
        super::shards::drain_shard,
        super::shards::put_shard,
        super::shards::list_shards,
        super::openapi_document,
    ),
    components(schemas(
        EventsOnlyView,
        SiteConflict,
        DeletionRequest,
        DeletionCancel,
        HoldRequest,
        ShardRequest,
        MoveRequest,
        MoveAdvance,
        MoveCancel,
        MoveView,
        MoveList,
        PlannedMove,
        PlannedFill,
        RebalancePlan,
        DrainRequest,
        DrainView,
        TenantView,
        TenantSnapshot,
        LegalHoldView,
        CauseView,
        Explanation,
        DeletionReceipt,
        Purged,
        HistoryProof,
        Cause,
        Next,
        Moving,
        HistoryEntry,
        ShardView,
        ShardList,
        ErrorBody,
        ErrorDetail
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Deletion requests and the tenant with its history"),
        (name = "moves", description = "Moves of tenants between shards, advanced by the data plane"),
        (name = "shards", description = "Shards and their fill"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "JWT signed with EdDSA (Ed25519 key) or RS256 (RSA key), with iss, sub, aud (a string or a list), iat, exp, jti and `scope: admin`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as pretty-printed JSON, as kept in `docs/admin-openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default() + "\n"
}
