//! What the stored history knows beyond "now" (CONTRACT.md section 7, "History"): a tenant
//! and its route as of a past instant, folded from the events kept, with no snapshot table.
//!
//! - [`asof`]: `tenant(id, asOf | knownAt)` and `route(..., asOf | knownAt)`;
//! - [`explain`]: `Tenant.explanation`, why a tenant is or is not served and what comes next.

pub mod asof;
pub mod explain;

pub use asof::{PastTenant, When, refold, route_at, tenant_at};
pub use explain::{Explanation, explain};

use crate::catalog::{Db, StoreError, claims, moves};
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
    let Some(r) = refolded else {
        let cx = explain::Context {
            moving: moving.as_ref(),
            ..Default::default()
        };
        return Ok(explain(tenant, cx));
    };
    let conflict = site_conflict(db, tenant, &r.folded, &r.events).await?;
    Ok(explain(
        tenant,
        explain::Context {
            steps: &r.folded.steps,
            events: &r.events,
            fell_due: r.folded.fell_due,
            site_conflict: conflict.as_ref(),
            unplaced_until: None,
            moving: moving.as_ref(),
        },
    ))
}

/// The site a tenant without one claimed and lost, with who holds it and since when: the
/// latest creating claim its fold refused.
pub async fn site_conflict(
    db: &Db,
    tenant: &TenantSnapshot,
    folded: &crate::lifecycle::Folded,
    events: &[crate::lifecycle::Event],
) -> Result<Option<explain::SiteConflict>, StoreError> {
    if tenant.site.is_some() || tenant.lifecycle == crate::lifecycle::Lifecycle::Deleted {
        return Ok(None);
    }
    let Some(site) = events
        .iter()
        .filter(|e| folded.refused_claims.contains(&e.id))
        .filter_map(|e| crate::lifecycle::events::claimed_site(&e.kind))
        .next_back()
    else {
        return Ok(None);
    };
    Ok(claims::holder(db, site, tenant.id)
        .await?
        .map(|(holder, at)| explain::SiteConflict {
            site: site.to_string(),
            holder: holder.as_uuid(),
            holder_claimed_at: at,
        }))
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
