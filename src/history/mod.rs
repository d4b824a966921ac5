//! What the stored history knows beyond "now" (CONTRACT.md section 7, "History"): a tenant
//! and its route as of a past instant, folded from the events kept, with no snapshot table.
//!
//! - [`asof`]: `tenant(id, asOf | knownAt)` and `route(..., asOf | knownAt)`;
//! - [`explain`]: `Tenant.explanation`, why a tenant is or is not served and what comes next.

pub mod asof;
pub mod explain;

pub use asof::{PastTenant, When, refold, route_at, tenant_at};
pub use explain::{Explanation, explain};

use crate::catalog::{Db, StoreError, moves};
use crate::snapshot::TenantSnapshot;
use chrono::{Duration, Utc};

/// Explains a tenant as the catalog holds it now: the steps come from a refold of everything
/// received, the state and dates from the tenant itself.
pub async fn explain_now(
    db: &Db,
    tenant: &TenantSnapshot,
    grace: Duration,
) -> Result<Explanation, StoreError> {
    let (refolded, moving) = tokio::try_join!(
        refold(db, tenant.id, When::KnownAt(Utc::now()), grace),
        moves::running_of(db, tenant.id),
    )?;
    let (steps, events, fell_due) = refolded.map_or_else(Default::default, |r| {
        (r.folded.steps, r.events, r.folded.fell_due)
    });
    Ok(explain(tenant, &steps, &events, fell_due, moving.as_ref()))
}

/// Why an id with stored events has no tenant, in a sentence: for `GET /admin/v1/tenants/{id}`
/// and `show`.
pub fn never_created(
    id: crate::domain::TenantId,
    history: &[crate::catalog::events::HistoryEntry],
) -> String {
    let rejected = history
        .iter()
        .filter(|e| e.outcome == crate::lifecycle::OutcomeKind::Rejected)
        .count();
    format!(
        "Not served: the catalog has no tenant {id}. None of the {} event(s) stored under this id creates it ({rejected} rejected); a trial.started or a direct subscription.activated would.",
        history.len()
    )
}
