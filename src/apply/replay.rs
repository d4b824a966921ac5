//! Replaying the catalog: refold every tenant's stored history with the lifecycle engine and
//! compare with (`verify`) or replace (`rebuild`) its stored row. The catalog is walked by id in
//! pages, one transaction each, so memory stays bounded whatever its size, and a `serve`
//! running at the same time is only held up one page at a time (the tenant locks are the same).

use super::{Change, refold};
use crate::catalog::consistency::{self, ContestedSite, FillDifference};
use crate::catalog::{Db, Doing, StoreError, tenants};
use crate::domain::{Rules, TenantId};
use chrono::Utc;

/// Tenants per page (and per transaction).
pub const PAGE: i64 = 500;

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    pub tenants: usize,
    /// Tenants whose stored row differs from the refold of their history (rewritten by
    /// `rebuild`).
    pub differing: usize,
}

/// Refolds every tenant, one page at a time. With `write` the new rows (and their change
/// messages) are committed; without, every page is rolled back. `found` is told of each
/// differing tenant as its page is done (so nothing accumulates), `progress` how many tenants
/// are done.
pub async fn replay(
    db: &Db,
    rules: &Rules,
    write: bool,
    mut found: impl FnMut(&Change),
    mut progress: impl FnMut(usize),
) -> Result<Replayed, StoreError> {
    let mut report = Replayed::default();
    let mut after = None;
    loop {
        let ids = tenants::ids_after(db, after, PAGE).await?;
        let Some(last) = ids.last() else {
            return Ok(report);
        };
        after = Some(last.as_uuid());
        let mut tx = db.begin().await.doing(|| "starting a replay page".into())?;
        let changes = refold(&mut tx, &ids, Utc::now(), rules).await?;
        if write {
            tx.commit()
                .await
                .doing(|| "committing rebuilt tenants".into())?;
        } else {
            tx.rollback()
                .await
                .doing(|| "leaving the catalog as it was".into())?;
        }
        report.tenants += ids.len();
        report.differing += changes.len();
        changes.iter().for_each(&mut found);
        progress(report.tenants);
    }
}

/// Something the catalog as a whole says that its tenants' histories do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A site held by more than one live tenant (current or old); `rebuild` refolds them.
    ContestedSite(ContestedSite),
    /// A tenant whose old hosts are not its old sites; `rebuild` rewrites them.
    OldHosts(TenantId),
    /// A shard whose fill is not its live tenants; `rebuild` sets it.
    ShardFill(FillDifference),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::ContestedSite(c) => {
                let ids: Vec<String> = c.tenants.iter().map(|t| t.to_string()).collect();
                write!(
                    f,
                    "site {} is held by {} tenants: {}",
                    c.site,
                    ids.len(),
                    ids.join(", ")
                )
            }
            Finding::OldHosts(t) => write!(f, "tenant {t}: its old hosts are not its old sites"),
            Finding::ShardFill(d) => write!(
                f,
                "shard {}: fill {}, its live tenants make it {}",
                d.shard, d.stored, d.counted
            ),
        }
    }
}

/// The checks across tenants, after every tenant was refolded: site ownership, old hosts and
/// shard fills. With `write` each finding is repaired; `found` is told of each.
pub async fn check_catalog(
    db: &Db,
    rules: &Rules,
    write: bool,
    mut found: impl FnMut(&Finding),
) -> Result<usize, StoreError> {
    let mut count = 0;
    for contested in consistency::contested_sites(db).await? {
        if write {
            let mut tx = db.begin().await.doing(|| "starting a site repair".into())?;
            refold(&mut tx, &contested.tenants, Utc::now(), rules).await?;
            tx.commit()
                .await
                .doing(|| "committing a site repair".into())?;
        }
        count += 1;
        found(&Finding::ContestedSite(contested));
    }
    for tenant in consistency::stray_old_hosts(db).await? {
        if write && let Some(row) = tenants::get(db, tenant).await? {
            let mut tx = db
                .begin()
                .await
                .doing(|| "starting an old-host repair".into())?;
            tenants::save_old_sites(&mut tx, &row).await?;
            tx.commit()
                .await
                .doing(|| "committing an old-host repair".into())?;
        }
        count += 1;
        found(&Finding::OldHosts(tenant));
    }
    let mut tx = db
        .begin()
        .await
        .doing(|| "starting to count shard fills".into())?;
    let fills = consistency::shard_fills(&mut tx, write).await?;
    tx.commit()
        .await
        .doing(|| "committing shard fills".into())?;
    count += fills.len();
    fills
        .into_iter()
        .map(Finding::ShardFill)
        .for_each(|f| found(&f));
    Ok(count)
}
