//! `Tenant.explanation` as GraphQL shows it ([`crate::history::explain`]).

use super::states::{LegalHold, TenantState};
use crate::history::explain;
use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

/// Why a tenant is or is not served, since when and because of what, and what comes next.
pub struct Explanation(pub explain::Explanation);

#[Object]
impl Explanation {
    /// One or two sentences for people: served or not, since when, because of what, and what
    /// the catalog will do next.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn serving(&self) -> bool {
        self.0.serving
    }
    async fn state(&self) -> TenantState {
        self.0.state.into()
    }
    /// When the tenant entered its current state, by the events' timeline.
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.0.since
    }
    /// The event or timer that put it there.
    async fn cause(&self) -> Option<Cause<'_>> {
        self.0.cause.as_ref().map(Cause)
    }
    /// What the catalog will do on its own, in order, and when.
    async fn next(&self) -> Vec<Next<'_>> {
        self.0.next.iter().map(Next).collect()
    }
    async fn legal_hold(&self) -> Option<LegalHold<'_>> {
        self.0.legal_hold.as_ref().map(LegalHold)
    }
    /// A move between shards in progress.
    async fn moving(&self) -> Option<Moving<'_>> {
        self.0.moving.as_ref().map(Moving)
    }
    /// The site the tenant claimed and another tenant holds by an earlier claim, while the
    /// tenant has no site of its own (it is PROVISIONING, with no host, until a rename).
    async fn site_conflict(&self) -> Option<SiteConflict<'_>> {
        self.0.site_conflict.as_ref().map(SiteConflict)
    }
}

/// A site claim that lost to an earlier claim of another tenant.
pub struct SiteConflict<'a>(&'a explain::SiteConflict);

#[Object]
impl SiteConflict<'_> {
    /// The site claimed.
    async fn site(&self) -> &str {
        &self.0.site
    }
    /// The tenant that holds it.
    async fn holder(&self) -> ID {
        ID(self.0.holder.to_string())
    }
    /// When the holder claimed it, before this tenant did.
    async fn holder_claimed_at(&self) -> DateTime<Utc> {
        self.0.holder_claimed_at
    }
}

/// An event of the history, or a timer.
pub struct Cause<'a>(&'a explain::Cause);

#[Object]
impl Cause<'_> {
    /// `event`, `timer`, or `deletion` (a deletion carried out, final).
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// The event type or the timer, e.g. `subscription.suspended` or `timer.trial_ended`.
    #[graphql(name = "type")]
    async fn cause_type(&self) -> &str {
        &self.0.of.cause_type
    }
    async fn event_id(&self) -> Option<ID> {
        self.0.of.event_id.map(|id| ID(id.to_string()))
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.of.at
    }
    /// For admin actions, the `sub` of the token that made it.
    async fn by(&self) -> Option<&str> {
        self.0.of.by.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.0.of.reason.as_deref()
    }
}

/// Something the catalog will do when its time comes.
pub struct Next<'a>(&'a explain::Next);

#[Object]
impl Next<'_> {
    /// The timer, e.g. `timer.deletion_due`.
    #[graphql(name = "type")]
    async fn next_type(&self) -> &str {
        &self.0.next_type
    }
    /// When it is due; null while a legal hold stops it.
    async fn at(&self) -> Option<DateTime<Utc>> {
        self.0.at
    }
    async fn what(&self) -> &str {
        &self.0.what
    }
}

/// A move in progress.
pub struct Moving<'a>(&'a explain::Moving);

#[Object]
impl Moving<'_> {
    async fn move_id(&self) -> ID {
        ID(self.0.move_id.to_string())
    }
    /// `copying` (served read-write on the source) or `cutover` (read-only).
    async fn phase(&self) -> &str {
        &self.0.phase
    }
    async fn from_shard(&self) -> &str {
        &self.0.from_shard
    }
    async fn to_shard(&self) -> &str {
        &self.0.to_shard
    }
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
    async fn by(&self) -> &str {
        &self.0.by
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
}
