//! The columns of `tenants` as PostgreSQL holds them, and their decoding into a
//! [`TenantRow`]: the row boundary, where text becomes domain types.

use super::row::TenantRow;
use crate::catalog::StoreError;
use crate::domain::{
    BillingDay, InvalidValue, Placement, Products, Region, ShardId, Site, TenantId,
};
use crate::lifecycle::{LegalHold, Lifecycle, ShownState, Tenant};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The columns of `tenants` as PostgreSQL holds them: what the queries read and write.
#[derive(Debug, serde::Serialize)]
pub(super) struct Columns {
    pub(super) id: Uuid,
    pub(super) lifecycle: String,
    pub(super) state: String,
    pub(super) suspended: bool,
    pub(super) site: Option<String>,
    pub(super) old_sites: Vec<String>,
    pub(super) residency: String,
    pub(super) region: Option<String>,
    pub(super) shard_id: Option<String>,
    pub(super) products: Option<Vec<String>>,
    pub(super) billing_day: Option<i16>,
    pub(super) plan: Option<String>,
    pub(super) cycle: Option<String>,
    pub(super) trial_ends_at: Option<DateTime<Utc>>,
    pub(super) current_period_end: Option<DateTime<Utc>>,
    pub(super) cancellation_effective_at: Option<DateTime<Utc>>,
    pub(super) deletion_due_at: Option<DateTime<Utc>>,
    pub(super) next_timer_at: Option<DateTime<Utc>>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) deleted_at: Option<DateTime<Utc>>,
    pub(super) version: i64,
    pub(super) caused_by: Option<Uuid>,
    pub(super) epoch: i64,
    pub(super) route_status: String,
    pub(super) legal_hold_since: Option<DateTime<Utc>>,
    pub(super) legal_hold_by: Option<String>,
    pub(super) legal_hold_reason: Option<String>,
    pub(super) hold_lifted_at: Option<DateTime<Utc>>,
}

impl From<&TenantRow> for Columns {
    fn from(r: &TenantRow) -> Self {
        let t = &r.tenant;
        Columns {
            id: t.id.as_uuid(),
            lifecycle: t.lifecycle.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            suspended: t.suspended,
            site: t.site.as_ref().map(|s| s.as_str().to_owned()),
            old_sites: t.old_sites.iter().map(|s| s.as_str().to_owned()).collect(),
            residency: t.residency.as_str().to_owned(),
            region: r.placement.as_ref().map(|p| p.region.as_str().to_owned()),
            shard_id: r.placement.as_ref().map(|p| p.shard.as_str().to_owned()),
            products: t.products.as_ref().map(|p| p.as_slice().to_vec()),
            billing_day: t.billing_day.map(|d| i16::from(d.get())),
            plan: t.plan.clone(),
            cycle: t.cycle.map(|c| c.as_str().to_owned()),
            trial_ends_at: t.trial_ends_at,
            current_period_end: t.current_period_end,
            cancellation_effective_at: t.cancellation_effective_at,
            deletion_due_at: t.deletion_due_at,
            next_timer_at: r.next_timer_at,
            created_at: t.created_at,
            deleted_at: t.deleted_at,
            version: r.version,
            caused_by: r.caused_by,
            epoch: r.epoch,
            route_status: r.route_status.as_str().to_owned(),
            legal_hold_since: t.legal_hold.as_ref().map(|h| h.since),
            legal_hold_by: t.legal_hold.as_ref().map(|h| h.by.clone()),
            legal_hold_reason: t.legal_hold.as_ref().map(|h| h.reason.clone()),
            hold_lifted_at: t.hold_lifted_at,
        }
    }
}

/// A column whose text is not a value of its type: the row was written by hand or by a
/// version that had other rules.
fn column<T>(id: Uuid, name: &str, value: Result<T, InvalidValue>) -> Result<T, StoreError> {
    value.map_err(|e| {
        StoreError::new(
            format!("reading column `{name}` of tenant {id}"),
            sqlx::Error::Decode(e.0.into()),
        )
    })
}

fn known<T>(parsed: Option<T>, what: &str, raw: &str) -> Result<T, InvalidValue> {
    parsed.ok_or_else(|| InvalidValue(format!("`{raw}` is not a {what}")))
}

impl TryFrom<Columns> for TenantRow {
    type Error = StoreError;
    fn try_from(c: Columns) -> Result<Self, StoreError> {
        let id = c.id;
        let placement = match (c.region, c.shard_id) {
            (Some(region), Some(shard)) => Some(Placement {
                region: column(id, "region", region.parse::<Region>())?,
                shard: column(id, "shard_id", ShardId::try_from(shard.as_str()))?,
            }),
            _ => None,
        };
        let sites = |raw: &[String]| -> Result<Vec<Site>, StoreError> {
            raw.iter()
                .map(|s| column(id, "old_sites", Site::try_from(s.as_str())))
                .collect()
        };
        let tenant = Tenant {
            id: TenantId::from_uuid(id),
            lifecycle: column(
                id,
                "lifecycle",
                known(
                    Lifecycle::parse(&c.lifecycle),
                    "lifecycle state",
                    &c.lifecycle,
                ),
            )?,
            suspended: c.suspended,
            site: c
                .site
                .map(|s| column(id, "site", Site::try_from(s.as_str())))
                .transpose()?,
            old_sites: sites(&c.old_sites)?,
            residency: column(id, "residency", c.residency.parse())?,
            products: c
                .products
                .map(|p| column(id, "products", Products::try_from(p)))
                .transpose()?,
            billing_day: c
                .billing_day
                .map(|d| column(id, "billing_day", BillingDay::try_from(i64::from(d))))
                .transpose()?,
            plan: c.plan,
            cycle: c
                .cycle
                .map(|s| column(id, "cycle", s.parse()))
                .transpose()?,
            trial_ends_at: c.trial_ends_at,
            current_period_end: c.current_period_end,
            cancellation_effective_at: c.cancellation_effective_at,
            deletion_due_at: c.deletion_due_at,
            created_at: c.created_at,
            deleted_at: c.deleted_at,
            // The table's check keeps the three together.
            legal_hold: match (c.legal_hold_since, c.legal_hold_by, c.legal_hold_reason) {
                (Some(since), Some(by), Some(reason)) => Some(LegalHold { since, by, reason }),
                _ => None,
            },
            hold_lifted_at: c.hold_lifted_at,
        };
        Ok(TenantRow {
            tenant,
            state: column(
                id,
                "state",
                known(ShownState::parse(&c.state), "shown state", &c.state),
            )?,
            placement,
            next_timer_at: c.next_timer_at,
            version: c.version,
            caused_by: c.caused_by,
            epoch: c.epoch,
            route_status: column(id, "route_status", c.route_status.parse())?,
        })
    }
}

pub(super) fn decode(rows: Vec<Columns>) -> Result<Vec<TenantRow>, StoreError> {
    rows.into_iter().map(TenantRow::try_from).collect()
}
