//! Site claims of every tenant (migration `..._site_claims.sql`): what the judgement of a claim
//! reads about the other tenants that claimed the same site.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::{EventId, Site, TenantId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// A claim of a site, at its place in contract order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub site: Site,
    pub occurred_at: DateTime<Utc>,
    /// An absent sequence counts as 0.
    pub sequence: i64,
    /// Whether its tenant's fold gave the tenant the site.
    pub granted: bool,
}

impl Claim {
    /// Contract order: `occurred_at`, `sequence`, event id.
    pub fn key(&self) -> (DateTime<Utc>, i64, EventId) {
        (self.occurred_at, self.sequence, self.event_id)
    }
}

/// A stored claim with when its tenant was deleted, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClaim {
    pub claim: Claim,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Serialises the judgement of claims of these sites until the transaction ends: two
/// transactions that claim one site never both find it free.
pub async fn lock_sites(tx: &mut Tx, sites: &[&Site]) -> Result<(), StoreError> {
    if sites.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = sites.iter().map(|s| s.as_str()).collect();
    sqlx::query!(
        // Two-key advisory locks (class 1): a key space apart from the tenants' one-key locks.
        r#"select pg_advisory_xact_lock(1, h)
           from (select distinct hashtext(s) as h from unnest($1::text[]) as s order by 1) as k"#,
        &names as &[&str]
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("locking {} sites", names.len()))?;
    Ok(())
}

/// Every stored claim of these sites, by any tenant.
pub async fn of_sites(tx: &mut Tx, sites: &[&Site]) -> Result<Vec<StoredClaim>, StoreError> {
    Ok(known_of_sites(&mut **tx, sites)
        .await?
        .into_iter()
        .map(|k| k.stored)
        .collect())
}

/// Clears the stored claims of the tenants in `clear`, then stores `claims`: together, the
/// claims of every tenant whose claims changed.
#[tracing::instrument(level = "debug", name = "store: replace site claims", skip_all, fields(tenants = clear.len(), claims = claims.len()))]
pub async fn replace(tx: &mut Tx, clear: &[TenantId], claims: &[Claim]) -> Result<(), StoreError> {
    if !clear.is_empty() {
        let owners: Vec<Uuid> = clear.iter().map(TenantId::as_uuid).collect();
        sqlx::query!("delete from site_claims where tenant_id = any($1)", &owners)
            .execute(&mut **tx)
            .await
            .doing(|| format!("clearing the site claims of {} tenants", owners.len()))?;
    }
    if claims.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = claims.iter().map(|c| c.event_id.as_uuid()).collect();
    let of: Vec<Uuid> = claims.iter().map(|c| c.tenant_id.as_uuid()).collect();
    let sites: Vec<&str> = claims.iter().map(|c| c.site.as_str()).collect();
    let times: Vec<DateTime<Utc>> = claims.iter().map(|c| c.occurred_at).collect();
    let sequences: Vec<i64> = claims.iter().map(|c| c.sequence).collect();
    let granted: Vec<bool> = claims.iter().map(|c| c.granted).collect();
    sqlx::query!(
        r#"insert into site_claims (event_id, tenant_id, site_md5, occurred_at, sequence, granted)
           select c.id, c.tenant_id, md5(c.site), c.occurred_at, c.sequence, c.granted
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int8[], $6::bool[])
                as c(id, tenant_id, site, occurred_at, sequence, granted)"#,
        &ids,
        &of,
        &sites as &[&str],
        &times,
        &sequences,
        &granted
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("recording {} site claims", claims.len()))?;
    Ok(())
}

/// How the catalog judged each site claim of a tenant: granted or not, by event.
pub async fn granted_of(db: &Db, tenant: TenantId) -> Result<HashMap<EventId, bool>, StoreError> {
    let rows = sqlx::query!(
        "select event_id, granted from site_claims where tenant_id = $1",
        tenant.as_uuid()
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the site claims of tenant {tenant}"))?;
    Ok(rows
        .into_iter()
        .map(|r| (EventId::from_uuid(r.event_id), r.granted))
        .collect())
}

/// Who holds `site` against `claimant`: the earliest granted claim of it by another tenant that
/// is not deleted, with when that claim occurred.
pub async fn holder(
    db: &Db,
    site: &Site,
    claimant: TenantId,
) -> Result<Option<(TenantId, DateTime<Utc>)>, StoreError> {
    let row = sqlx::query!(
        r#"select c.tenant_id, c.occurred_at
           from site_claims c join tenants t on t.id = c.tenant_id
           where c.site_md5 = md5($1) and c.granted and c.tenant_id <> $2
             and t.lifecycle <> 'DELETED'
           order by c.occurred_at, c.sequence, c.event_id limit 1"#,
        site.as_str(),
        claimant.as_uuid()
    )
    .fetch_optional(db)
    .await
    .doing(|| format!("reading who holds site {site}"))?;
    Ok(row.map(|r| (TenantId::from_uuid(r.tenant_id), r.occurred_at)))
}

/// A stored claim with when the catalog received the event that made it.
#[derive(Debug, Clone)]
pub struct KnownClaim {
    pub stored: StoredClaim,
    pub received_at: DateTime<Utc>,
}

/// Every stored claim of these sites, by any tenant, with when its event was received: what
/// the catalog knew of them at any instant.
pub async fn known_of_sites<'e>(
    db: impl sqlx::PgExecutor<'e>,
    sites: &[&Site],
) -> Result<Vec<KnownClaim>, StoreError> {
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = sites.iter().map(|s| s.as_str()).collect();
    let rows = sqlx::query!(
        r#"select c.event_id, c.tenant_id, u.site as "site!", c.occurred_at, c.sequence, c.granted,
                  t.deleted_at as "deleted_at?", e.received_at as "received_at?"
           from unnest($1::text[]) as u(site)
           join site_claims c on c.site_md5 = md5(u.site)
           left join tenants t on t.id = c.tenant_id
           left join tenant_events e on e.event_id = c.event_id"#,
        &names as &[&str]
    )
    .fetch_all(db)
    .await
    .doing(|| format!("reading the claims of {} sites", names.len()))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(KnownClaim {
                stored: StoredClaim {
                    claim: Claim {
                        event_id: EventId::from_uuid(r.event_id),
                        tenant_id: TenantId::from_uuid(r.tenant_id),
                        site: Site::try_from(r.site.as_str()).ok()?,
                        occurred_at: r.occurred_at,
                        sequence: r.sequence,
                        granted: r.granted,
                    },
                    deleted_at: r.deleted_at,
                },
                received_at: r.received_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
            })
        })
        .collect())
}
