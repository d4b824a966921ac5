//! The receipt of a deletion carried out (CONTRACT.md section 7, "History"; docs/admin-api.md):
//! written in the deletion's own transaction, before the history loses its site names, and
//! carried by the tenant's `DELETED` change message. It names sites only by digest.

use crate::catalog::receipts::HistoryDigest;
use crate::catalog::tenants::TenantRow;
use crate::domain::Site;
use crate::lifecycle::cause::Deletion;
use crate::snapshot::CauseView;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a deletion receipt says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeletionReceipt {
    pub tenant_id: Uuid,
    /// When the deletion was carried out, by the events' timeline.
    pub deleted_at: DateTime<Utc>,
    /// When it was due (it can be later than due: after a legal hold, when the hold was lifted).
    pub deletion_due_at: Option<DateTime<Utc>>,
    /// The tenant's version that announced the deletion.
    pub version: i64,
    /// What made the deletion due: commerce's `data.deletion_requested`, an admin's
    /// `admin.deletion_requested`, or the timer that deactivated the tenant.
    pub cause: Option<CauseView>,
    /// Who: the admin's `sub`, `commerce`, or `tenant-catalog` for the catalog's own timers.
    pub by: String,
    /// The lift of a legal hold that let an overdue deletion go ahead, if that is what
    /// carried it out when it was.
    pub released_by: Option<CauseView>,
    pub purged: Purged,
    pub history: HistoryProof,
}

/// What the deletion removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Purged {
    /// SHA-256 (hex) of the site name the tenant had, and of each old site: enough to confirm
    /// which site was deleted, never enough to read it.
    pub site_sha256: Option<String>,
    pub old_sites_sha256: Vec<String>,
    /// Hosts that stopped resolving: the current one and the old ones.
    pub hosts: usize,
    pub products: Vec<String>,
    /// Stored events whose `data` lost its site name.
    pub events_scrubbed: i64,
    /// The shard whose slot was freed.
    pub shard: Option<String>,
}

/// Proof of the history as it was before the purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HistoryProof {
    pub events: i64,
    /// SHA-256 (hex) of every stored event before the purge, in contract order, one line each:
    /// `event_id type occurred_at sequence data`, `occurred_at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
    /// a missing sequence as 0, `data` as PostgreSQL prints the jsonb, lines joined by `\n`.
    pub sha256: String,
}

fn sha256(site: &Site) -> String {
    format!("{:x}", Sha256::digest(site.as_str().as_bytes()))
}

/// The receipt of `row`'s deletion, from what brought it about (with the sites and products
/// its events gave the tenant) and the digest of its history before the purge.
pub fn receipt(
    row: &TenantRow,
    deletion: Option<&Deletion>,
    digest: Option<&HistoryDigest>,
) -> DeletionReceipt {
    let t = &row.tenant;
    let cause = deletion
        .and_then(|d| d.requested.as_ref())
        .map(CauseView::from);
    let by = match &cause {
        Some(c) if c.by.is_some() => c.by.clone().unwrap_or_default(),
        Some(c) if c.cause_type.starts_with("timer.") => "tenant-catalog".to_owned(),
        Some(_) => "commerce".to_owned(),
        None => "tenant-catalog".to_owned(),
    };
    let sites: &[Site] = deletion.map_or(&[], |d| d.sites.as_slice());
    let (site, old) = match sites.split_last() {
        Some((site, old)) => (Some(site), old),
        None => (None, &[][..]),
    };
    DeletionReceipt {
        tenant_id: t.id.as_uuid(),
        deleted_at: t.deleted_at.unwrap_or_else(Utc::now),
        deletion_due_at: t.deletion_due_at,
        version: row.version,
        cause,
        by,
        released_by: deletion
            .and_then(|d| d.released.as_ref())
            .map(CauseView::from),
        purged: Purged {
            site_sha256: site.map(sha256),
            old_sites_sha256: old.iter().map(sha256).collect(),
            hosts: usize::from(site.is_some()) + old.len(),
            products: deletion.map(|d| d.products.clone()).unwrap_or_default(),
            events_scrubbed: digest.map_or(0, |d| d.with_site),
            shard: row.placement.as_ref().map(|p| p.shard.as_str().to_owned()),
        },
        history: HistoryProof {
            events: digest.map_or(0, |d| d.events),
            sha256: digest.map(|d| d.sha256.clone()).unwrap_or_default(),
        },
    }
}
