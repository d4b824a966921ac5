//! The read behind host lookups: which tenant a site names.

use super::Db;
use super::error::{Doing, StoreError};
use crate::domain::TenantId;

/// The tenant a site names: the tenant whose current site it is, else the tenant that held it
/// most recently as an old site.
pub async fn tenant_of_site(db: &Db, site: &str) -> Result<Option<TenantId>, StoreError> {
    let id = sqlx::query_scalar!(
        r#"select id as "id!" from (
               select id, 0 as rank, now() as at from tenants where site = $1
               union all
               select tenant_id, 1, created_at from site_aliases where site = $1
           ) found
           order by rank, at desc
           limit 1"#,
        site
    )
    .fetch_optional(db)
    .await
    .doing(|| format!("looking up the tenant of site {site}"))?;
    Ok(id.map(TenantId::from_uuid))
}
