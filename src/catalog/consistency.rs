//! Catalog-wide checks behind `verify` and `rebuild`: what no single tenant's refold sees.
//! Each reads the whole catalog once; they are for operators, not for the hot path.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::TenantId;

/// A site that more than one live tenant holds, current or old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContestedSite {
    pub site: String,
    pub tenants: Vec<TenantId>,
}

/// Sites held by more than one live tenant: by construction none, unless the rows were
/// changed by hand or by a version before the cross-tenant rule.
pub async fn contested_sites(db: &Db) -> Result<Vec<ContestedSite>, StoreError> {
    let rows = sqlx::query!(
        r#"select site as "site!", array_agg(distinct id order by id) as "tenants!"
           from (select site, id from tenants where site is not null
                 union all
                 select a.site, a.tenant_id from site_aliases a
                 join tenants t on t.id = a.tenant_id where t.lifecycle <> 'DELETED') held
           group by site having count(distinct id) > 1
           order by site"#
    )
    .fetch_all(db)
    .await
    .doing(|| "looking for sites held by two tenants".into())?;
    Ok(rows
        .into_iter()
        .map(|r| ContestedSite {
            site: r.site,
            tenants: r.tenants.into_iter().map(TenantId::from_uuid).collect(),
        })
        .collect())
}

/// Tenants whose old hosts (`site_aliases`) are not exactly their old sites.
pub async fn stray_old_hosts(db: &Db) -> Result<Vec<TenantId>, StoreError> {
    let ids = sqlx::query_scalar!(
        r#"select t.id from tenants t
           where array(select a.site from site_aliases a where a.tenant_id = t.id order by a.site)
                 is distinct from array(select s from unnest(t.old_sites) s order by s)
           order by t.id"#
    )
    .fetch_all(db)
    .await
    .doing(|| "comparing old hosts with old sites".into())?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}

/// A shard whose fill is not the number of live tenants placed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillDifference {
    pub shard: String,
    pub stored: i32,
    pub counted: i64,
}

/// Shards whose `tenant_count` differs from their live tenants and the running moves to them,
/// in the caller's transaction;
/// with `fix`, the counts are set right. The shards are locked against placements meanwhile.
pub async fn shard_fills(tx: &mut Tx, fix: bool) -> Result<Vec<FillDifference>, StoreError> {
    sqlx::query!("lock table shards in share row exclusive mode")
        .execute(&mut **tx)
        .await
        .doing(|| "locking shards to count their tenants".into())?;
    let rows = sqlx::query!(
        // A running move holds a slot on its target besides the tenant's own.
        r#"select s.id, s.tenant_count, c.n as "counted!"
           from shards s,
                lateral (select (select count(*) from tenants t
                                 where t.shard_id = s.id and t.lifecycle <> 'DELETED')
                              + (select count(*) from moves m
                                 where m.to_shard = s.id and m.phase in ('copying', 'cutover')) as n) c
           where s.tenant_count <> c.n
           order by s.id"#
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| "counting the tenants of each shard".into())?;
    let found: Vec<FillDifference> = rows
        .into_iter()
        .map(|r| FillDifference {
            shard: r.id,
            stored: r.tenant_count,
            counted: r.counted,
        })
        .collect();
    if fix {
        for f in &found {
            sqlx::query!(
                "update shards set tenant_count = $2 where id = $1",
                f.shard,
                i32::try_from(f.counted).unwrap_or(i32::MAX)
            )
            .execute(&mut **tx)
            .await
            .doing(|| format!("setting the fill of shard {}", f.shard))?;
        }
    }
    Ok(found)
}
