//! Replaying the catalog: refold every tenant's stored history with the lifecycle engine and
//! compare with (`verify`) or replace (`rebuild`) its stored row. The catalog is walked by id in
//! pages, one transaction each, so memory stays bounded whatever its size, and a `serve`
//! running at the same time is only held up one page at a time (the tenant locks are the same).

use super::{Change, refold};
use crate::catalog::{Db, Doing, StoreError, tenants};
use crate::domain::BaseDomain;
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
    base: &BaseDomain,
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
        let changes = refold(&mut tx, &ids, Utc::now(), base).await?;
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
