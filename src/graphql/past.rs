//! The `asOf` and `knownAt` arguments of `tenant` and `route`: answers about a past instant,
//! refolded from the stored history ([`crate::history`]).

use super::types::{Route, Tenant};
use super::{Context, bad_input, internal};
use crate::domain::TenantId;
use crate::history::{self, When};
use async_graphql::Result;
use chrono::{DateTime, Utc};

/// Which past, if any, the arguments ask about. At most one may be given, and not in the future:
/// the history tells what was, not what will be (`Tenant.deletionDueAt` and the other dates do).
pub fn when(as_of: Option<DateTime<Utc>>, known_at: Option<DateTime<Utc>>) -> Result<Option<When>> {
    let when = match (as_of, known_at) {
        (None, None) => return Ok(None),
        (Some(t), None) => When::AsOf(t),
        (None, Some(t)) => When::KnownAt(t),
        (Some(_), Some(_)) => return Err(bad_input("give at most one of `asOf` and `knownAt`")),
    };
    let now = Utc::now();
    if when.instant() > now {
        return Err(bad_input(format!(
            "`{}` is {}, in the future: ask about now (leave it out) or a past instant",
            match when {
                When::AsOf(_) => "asOf",
                When::KnownAt(_) => "knownAt",
            },
            when.instant().to_rfc3339()
        )));
    }
    Ok(Some(when))
}

/// The tenant as it stood then.
pub async fn tenant(cx: &Context, id: TenantId, when: When) -> Result<Option<Tenant>> {
    let past = history::tenant_at(&cx.db, id, when, &cx.rules)
        .await
        .map_err(internal)?;
    Ok(past.map(Tenant::past))
}

/// Where the tenant's requests went then.
pub async fn route(cx: &Context, id: TenantId, when: When) -> Result<Option<Route>> {
    let Some(past) = history::tenant_at(&cx.db, id, when, &cx.rules)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let route = history::route_at(&cx.db, &past.snapshot)
        .await
        .map_err(internal)?;
    Ok(route.map(Route))
}
