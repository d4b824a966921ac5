//! The GraphQL object types of CONTRACT.md section 5, over the tenant snapshot and the
//! catalog's rows.

use super::explanation::Explanation;
use super::states::{LegalHold, RouteStatus, TenantState};
use super::{Context, internal};
use crate::catalog::events::{self, HistoryEntry};
use crate::catalog::shards::ShardRow;
use crate::history::{self, PastTenant};
use crate::lifecycle::{Event, Step};
use crate::snapshot::{self, TenantSnapshot};
use async_graphql::{ID, Object, Result};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// A customer tenant, now or (from `asOf` / `knownAt`) at a past instant.
pub struct Tenant(pub TenantSnapshot, pub Option<Past>);

/// What a tenant of the past answers from: the history counted then, not today's.
pub struct Past {
    history: Vec<HistoryEntry>,
    steps: Vec<Step>,
    events: Vec<Event>,
    fell_due: Option<DateTime<Utc>>,
    site_conflict: Option<crate::history::explain::SiteConflict>,
    unplaced_until: Option<DateTime<Utc>>,
}

impl Tenant {
    pub fn now(snapshot: TenantSnapshot) -> Self {
        Tenant(snapshot, None)
    }

    pub fn past(p: PastTenant) -> Self {
        Tenant(
            p.snapshot,
            Some(Past {
                history: p.history,
                steps: p.steps,
                events: p.events,
                fell_due: p.fell_due,
                site_conflict: p.site_conflict,
                unplaced_until: p.unplaced_until,
            }),
        )
    }
}

#[Object]
impl Tenant {
    /// The tenant id (a UUID); it never changes.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The site name; null once the tenant is DELETED.
    async fn site(&self) -> Option<&str> {
        self.0.site.as_ref().map(|s| s.as_str())
    }
    /// `<site>.<base domain>`; null once the tenant is DELETED.
    async fn host(&self) -> Option<&str> {
        self.0.host.as_deref()
    }
    /// Hosts the tenant had before it was renamed; they still resolve to it.
    async fn old_hosts(&self) -> &[String] {
        &self.0.old_hosts
    }
    async fn state(&self) -> TenantState {
        self.0.state.into()
    }
    /// Whether product services may serve it: the state is TRIAL, ACTIVE or CANCELLING.
    async fn serving(&self) -> bool {
        self.0.serving
    }
    /// The lifecycle state without suspension or placement: TRIAL, ACTIVE, CANCELLING,
    /// DEACTIVATED or DELETED.
    async fn lifecycle(&self) -> &str {
        self.0.lifecycle.as_str()
    }
    async fn suspended(&self) -> bool {
        self.0.suspended
    }
    /// The data-residency rule: us, eu, de, ie, sg, au or global.
    async fn residency(&self) -> &str {
        self.0.residency.as_str()
    }
    /// Null while PROVISIONING.
    async fn region(&self) -> Option<&str> {
        self.0.region.map(|r| r.as_str())
    }
    /// Null while PROVISIONING.
    async fn shard(&self) -> Option<&str> {
        self.0.shard.as_ref().map(|s| s.as_str())
    }
    async fn products(&self) -> &[String] {
        self.0.products.as_ref().map_or(&[], |p| p.as_slice())
    }
    async fn plan(&self) -> Option<&str> {
        self.0.plan.as_deref()
    }
    async fn trial_ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.trial_ends_at
    }
    async fn current_period_end(&self) -> Option<DateTime<Utc>> {
        self.0.current_period_end
    }
    async fn cancellation_effective_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancellation_effective_at
    }
    /// When the deletion will be carried out (DEACTIVATED: the later of when it falls due by
    /// the events and the grace after the latest stored commerce event; no deletion is carried
    /// out while a legal hold stands), or, once DELETED, when it fell due by the events.
    async fn deletion_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.deletion_due_at
    }
    /// When commerce created the tenant (the creating event's `occurred_at`).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The legal hold that stands, if any: while it does, no deletion of the tenant is
    /// carried out (admins place and lift it at `/admin/v1/tenants/{id}/hold`).
    async fn legal_hold(&self) -> Option<LegalHold<'_>> {
        self.0.legal_hold.as_ref().map(LegalHold)
    }
    /// Why the tenant is or is not served, since when and because of which event or timer
    /// (with `by` and reason for admin actions), and what happens next and when. Costs a
    /// refold of the history, like `history`.
    async fn explanation(&self, ctx: &async_graphql::Context<'_>) -> Result<Explanation> {
        let e = match &self.1 {
            Some(past) => history::explain(
                &self.0,
                history::explain::Context {
                    steps: &past.steps,
                    events: &past.events,
                    fell_due: past.fell_due,
                    site_conflict: past.site_conflict.as_ref(),
                    unplaced_until: past.unplaced_until,
                    moving: None,
                },
            ),
            None => {
                let cx = ctx.data_unchecked::<Context>();
                history::explain_now(&cx.db, &self.0, cx.rules.grace)
                    .await
                    .map_err(internal)?
            }
        };
        Ok(Explanation(e))
    }
    /// Goes up by one with every change of the tenant.
    async fn version(&self) -> i32 {
        i32::try_from(self.0.version).unwrap_or(i32::MAX)
    }
    /// Every distinct event received for the tenant, in contract order, with its outcome.
    async fn history(&self, ctx: &async_graphql::Context<'_>) -> Result<Vec<TenantEvent>> {
        if let Some(past) = &self.1 {
            return Ok(past.history.iter().cloned().map(TenantEvent).collect());
        }
        let db = &ctx.data_unchecked::<Context>().db;
        let entries = events::history(db, self.0.id).await.map_err(internal)?;
        Ok(entries.into_iter().map(TenantEvent).collect())
    }
    /// Where to send the tenant's requests; null while PROVISIONING and once DELETED.
    async fn route(&self, ctx: &async_graphql::Context<'_>) -> Result<Option<Route>> {
        if self.1.is_some() {
            let db = &ctx.data_unchecked::<Context>().db;
            let route = history::route_at(db, &self.0).await.map_err(internal)?;
            return Ok(route.map(Route));
        }
        let router = &ctx.data_unchecked::<Context>().router;
        Ok(router.route(self.0.id).await.map_err(internal)?.map(Route))
    }
}

/// One received event and what it did.
pub struct TenantEvent(pub HistoryEntry);

#[Object]
impl TenantEvent {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.to_string())
    }
    /// The event type, e.g. `subscription.activated`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Commerce's per-tenant sequence number, when it sent one.
    async fn sequence(&self) -> Option<i64> {
        self.0.sequence
    }
    /// `applied`, `rejected`, or `cancelled` (an admin deletion request withdrawn by a later cancel).
    async fn outcome(&self) -> &str {
        self.0.outcome.as_str()
    }
    /// Why it was rejected or cancelled.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// How many times the broker delivered it.
    async fn deliveries(&self) -> i32 {
        self.0.deliveries
    }
}

/// Where a tenant's requests go.
pub struct Route(pub snapshot::Route);

#[Object]
impl Route {
    async fn tenant_id(&self) -> ID {
        ID(RouteField::TenantId.text(&self.0).into_owned())
    }
    async fn host(&self) -> Cow<'_, str> {
        RouteField::Host.text(&self.0)
    }
    async fn region(&self) -> Cow<'_, str> {
        RouteField::Region.text(&self.0)
    }
    async fn shard(&self) -> Cow<'_, str> {
        RouteField::Shard.text(&self.0)
    }
    /// The shard's endpoint.
    async fn endpoint(&self) -> Cow<'_, str> {
        RouteField::Endpoint.text(&self.0)
    }
    async fn state(&self) -> TenantState {
        self.0.to.state.into()
    }
    /// Whether the caller may serve the tenant: TRIAL, ACTIVE or CANCELLING.
    async fn serving(&self) -> bool {
        self.0.to.serving
    }
    /// Raised by every change of the tenant's placement or routing status, never lowered: a
    /// route held with a lower epoch is stale.
    async fn epoch(&self) -> i64 {
        self.0.to.epoch
    }
    /// ONLINE, MOVING or READ_ONLY.
    async fn status(&self) -> RouteStatus {
        self.0.to.status.into()
    }
}

/// The fields of `Route`, by their GraphQL names: the resolvers above read the text ones here,
/// and the prepared lookups (`super::fast`) write whole answers from this table. A test holds
/// the table to the schema and to the executor, for every combination of fields and aliases
/// (`fast/tests.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteField {
    TenantId,
    Host,
    Region,
    Shard,
    Endpoint,
    State,
    Serving,
    Epoch,
    Status,
    Typename,
}

impl RouteField {
    pub const ALL: [RouteField; 10] = [
        RouteField::TenantId,
        RouteField::Host,
        RouteField::Region,
        RouteField::Shard,
        RouteField::Endpoint,
        RouteField::State,
        RouteField::Serving,
        RouteField::Epoch,
        RouteField::Status,
        RouteField::Typename,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RouteField::TenantId => "tenantId",
            RouteField::Host => "host",
            RouteField::Region => "region",
            RouteField::Shard => "shard",
            RouteField::Endpoint => "endpoint",
            RouteField::State => "state",
            RouteField::Serving => "serving",
            RouteField::Epoch => "epoch",
            RouteField::Status => "status",
            RouteField::Typename => "__typename",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field of `route` as text, as JSON shows it (a string for all but `serving` and
    /// `epoch`).
    pub fn text(self, route: &snapshot::Route) -> Cow<'_, str> {
        let to = &route.to;
        match self {
            RouteField::TenantId => Cow::Owned(to.tenant_id.to_string()),
            RouteField::Host => Cow::Borrowed(to.host.as_str()),
            RouteField::Region => Cow::Borrowed(to.placement.region.as_str()),
            RouteField::Shard => Cow::Borrowed(to.placement.shard.as_str()),
            RouteField::Endpoint => Cow::Borrowed(route.endpoint.as_str()),
            RouteField::State => Cow::Borrowed(to.state.as_str()),
            RouteField::Serving => Cow::Borrowed(if to.serving { "true" } else { "false" }),
            RouteField::Epoch => Cow::Owned(to.epoch.to_string()),
            RouteField::Status => Cow::Borrowed(to.status.as_str()),
            RouteField::Typename => Cow::Borrowed("Route"),
        }
    }

    /// The field of `route` as JSON.
    pub fn write_json(self, route: &snapshot::Route, out: &mut Vec<u8>) {
        let text = self.text(route);
        match self {
            RouteField::Serving | RouteField::Epoch => out.extend_from_slice(text.as_bytes()),
            // Writing a string into a Vec cannot fail.
            _ => {
                let _ = serde_json::to_writer(&mut *out, text.as_ref());
            }
        }
    }
}

/// A shard: where tenants of one region are placed.
pub struct Shard(pub ShardRow);

#[Object]
impl Shard {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn region(&self) -> &str {
        self.0.region.as_str()
    }
    async fn endpoint(&self) -> &str {
        self.0.endpoint.as_str()
    }
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    /// Tenants placed here and not deleted.
    async fn tenant_count(&self) -> i32 {
        self.0.tenant_count
    }
    /// `open` (takes new tenants) or `draining` (takes none).
    async fn status(&self) -> &str {
        self.0.status.as_str()
    }
}
