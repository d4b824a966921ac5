//! Live changes (CONTRACT.md section 7, "History"; docs/graphql.md, "Live changes"):
//! `tenantChanged` and `routeChanged`, over the graphql-ws protocol at `GET /graphql`
//! ([`super::live`]).
//!
//! A subscription is woken by the same notifications that keep the routing cache fresh, and
//! reads what to send from the kept change log (`tenant_changes`) by version: a wake-up only
//! says where to look, so a notification missed (the listener reconnected, or this subscriber
//! fell behind) costs a read, never a change. A client that reconnects passes the last version
//! it saw as `afterVersion` and gets every change after it, then the live ones.

use super::states::{RouteStatus, TenantState};
use super::types::Route;
use super::{Context, bad_input, internal};
use crate::catalog::changes::{self, Kept};
use crate::catalog::{Db, StoreError};
use crate::domain::{Placement, RouteStatus as Status, ShardId, TenantId};
use crate::graphql::lookup::parse_route_ids;
use crate::lifecycle::ShownState;
use crate::routing::{Note, Notes, Router};
use crate::snapshot::{self, Destination};
use async_graphql::{ID, Json, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Every change of these tenants, in the order of their versions: each is what the change
    /// feed (`tenant-catalog.changes`) announces. With `afterVersion`, every kept change with a
    /// higher version comes first (a client that reconnects passes the last version it saw),
    /// then the live ones; without it, only changes from now on. At most
    /// `GRAPHQL_MAX_ROUTE_IDS` tenants.
    async fn tenant_changed(
        &self,
        ctx: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
        after_version: Option<i64>,
    ) -> Result<impl Stream<Item = Result<TenantChange>> + use<>> {
        let feed = Feed::open(ctx, &tenant_ids, after_version).await?;
        Ok(feed
            .stream()
            .map(|k| k.map(|k| TenantChange(Arc::new(k))).map_err(internal)))
    }

    /// The route of these tenants after each change (null where `route` would be null), as
    /// `tenantChanged` delivers the changes, with the same `afterVersion`.
    async fn route_changed(
        &self,
        ctx: &async_graphql::Context<'_>,
        tenant_ids: Vec<ID>,
        after_version: Option<i64>,
    ) -> Result<impl Stream<Item = Result<RouteChange>> + use<>> {
        let feed = Feed::open(ctx, &tenant_ids, after_version).await?;
        let router = ctx.data_unchecked::<Context>().router.clone();
        Ok(feed.stream().then(move |k| {
            let router = router.clone();
            async move {
                let k = k.map_err(internal)?;
                let route = route_of(&k, &router).await.map_err(internal)?;
                Ok(RouteChange { kept: k, route })
            }
        }))
    }
}

/// The changes of a set of tenants: what is read and not yet sent, and where each stands.
struct Feed {
    db: Db,
    notes: Notes,
    tenants: HashSet<TenantId>,
    /// The last version read of each tenant.
    last: HashMap<TenantId, i64>,
    pending: VecDeque<Kept>,
    /// Read every tenant again before waiting: a read was full, or failed, or notes were lost.
    again: bool,
}

impl Feed {
    async fn open(
        ctx: &async_graphql::Context<'_>,
        ids: &[ID],
        after: Option<i64>,
    ) -> Result<Feed> {
        let cx = ctx.data_unchecked::<Context>();
        let wanted = parse_route_ids(ids, cx.max_route_ids)?;
        if after.is_some_and(|v| v < 0) {
            return Err(bad_input("`afterVersion` must be 0 or more"));
        }
        // Listening before reading: a change committed in between is read, or heard of.
        let mut notes = cx.router.subscribe();
        let tenants: HashSet<TenantId> = wanted.into_iter().collect();
        let ids: Vec<TenantId> = tenants.iter().copied().collect();
        let last = match after {
            Some(v) => ids.iter().map(|id| (*id, v)).collect(),
            None => changes::latest(&cx.db, &ids).await.map_err(internal)?,
        };
        notes.listening();
        Ok(Feed {
            db: cx.db.clone(),
            notes,
            tenants,
            last,
            pending: VecDeque::new(),
            again: after.is_some(),
        })
    }

    /// Reads the kept changes of `ids` after what was read of them.
    async fn read(&mut self, ids: &[TenantId]) -> Result<(), StoreError> {
        let wanted: Vec<(TenantId, i64)> = ids
            .iter()
            .map(|id| (*id, self.last.get(id).copied().unwrap_or(0)))
            .collect();
        let read = changes::after(&self.db, &wanted).await?;
        self.again = read.len() as i64 >= changes::READ_LIMIT;
        for k in read {
            let last = self.last.entry(k.tenant_id).or_insert(0);
            if k.version > *last {
                *last = k.version;
                self.pending.push_back(k);
            }
        }
        Ok(())
    }

    /// The changes, one at a time, for as long as the subscriber stays.
    fn stream(self) -> impl Stream<Item = Result<Kept, StoreError>> {
        futures_util::stream::unfold(self, |mut f| async move {
            loop {
                if let Some(k) = f.pending.pop_front() {
                    return Some((Ok(k), f));
                }
                if f.again {
                    let all: Vec<TenantId> = f.tenants.iter().copied().collect();
                    if let Err(e) = f.read(&all).await {
                        // Said once; tried again shortly, from where it stood.
                        f.again = true;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        return Some((Err(e), f));
                    }
                    continue;
                }
                match f.notes.recv().await {
                    Ok(Note::Tenant(id)) if f.tenants.contains(&id) => {
                        if let Err(e) = f.read(&[id]).await {
                            f.again = true;
                            return Some((Err(e), f));
                        }
                    }
                    Ok(Note::Tenant(_)) => {}
                    Ok(Note::Resync) | Err(RecvError::Lagged(_)) => f.again = true,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// The route a kept change states, with its shard's endpoint now.
async fn route_of(k: &Kept, router: &Router) -> Result<Option<snapshot::Route>, StoreError> {
    let p = &k.payload;
    let text = |key: &str| p.get(key).and_then(Value::as_str);
    let (Some(host), Some(state), Some(region), Some(shard)) =
        (text("host"), text("state"), text("region"), text("shard"))
    else {
        return Ok(None);
    };
    let (Some(state), Ok(region), Ok(shard)) = (
        ShownState::parse(state),
        region.parse(),
        ShardId::try_from(shard),
    ) else {
        return Ok(None);
    };
    let status = text("route_status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(Status::Online);
    let epoch = p.get("epoch").and_then(Value::as_i64).unwrap_or(0);
    let Some(to) = Destination::new(
        k.tenant_id,
        host.to_owned(),
        state,
        Placement {
            region,
            shard: shard.clone(),
        },
        (epoch, status),
    ) else {
        return Ok(None);
    };
    Ok(router
        .endpoint(&shard)
        .await?
        .map(|endpoint| snapshot::Route {
            to: Arc::new(to),
            endpoint,
        }))
}

/// One change of a tenant, as its change message says it.
pub struct TenantChange(Arc<Kept>);

fn field<'a>(k: &'a Kept, key: &str) -> Option<&'a str> {
    k.payload.get(key).and_then(Value::as_str)
}

#[Object]
impl TenantChange {
    async fn tenant_id(&self) -> ID {
        ID(self.0.tenant_id.to_string())
    }
    /// The tenant's version after the change; a subscriber that reconnects passes the last
    /// one it saw as `afterVersion`.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn changed_at(&self) -> DateTime<Utc> {
        self.0.changed_at
    }
    /// The change message's routing key, `tenant.<state>`: `tenant.active`, `tenant.provisioning`, ...
    async fn kind(&self) -> &str {
        &self.0.routing_key
    }
    /// Null only for a tenant an earlier version withdrew (unknown again).
    async fn state(&self) -> Option<TenantState> {
        field(&self.0, "state")
            .and_then(ShownState::parse)
            .map(Into::into)
    }
    async fn previous_state(&self) -> Option<TenantState> {
        field(&self.0, "previous_state")
            .and_then(ShownState::parse)
            .map(Into::into)
    }
    async fn serving(&self) -> bool {
        self.0.payload.get("serving").and_then(Value::as_bool) == Some(true)
    }
    async fn host(&self) -> Option<&str> {
        field(&self.0, "host")
    }
    async fn region(&self) -> Option<&str> {
        field(&self.0, "region")
    }
    async fn shard(&self) -> Option<&str> {
        field(&self.0, "shard")
    }
    async fn epoch(&self) -> i64 {
        self.0
            .payload
            .get("epoch")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
    async fn route_status(&self) -> RouteStatus {
        field(&self.0, "route_status")
            .and_then(|s| s.parse::<Status>().ok())
            .unwrap_or(Status::Online)
            .into()
    }
    /// What made the change: an event type, a timer, `placement`, a move's step.
    async fn cause(&self) -> Option<&str> {
        field(&self.0, "cause")
    }
    /// The deletion receipt, on the change that carried a deletion out.
    async fn deletion_receipt(&self) -> Option<Json<Value>> {
        self.0.payload.get("deletion_receipt").cloned().map(Json)
    }
}

/// A tenant's route after one of its changes.
pub struct RouteChange {
    kept: Kept,
    route: Option<snapshot::Route>,
}

#[Object]
impl RouteChange {
    async fn tenant_id(&self) -> ID {
        ID(self.kept.tenant_id.to_string())
    }
    async fn version(&self) -> i64 {
        self.kept.version
    }
    async fn changed_at(&self) -> DateTime<Utc> {
        self.kept.changed_at
    }
    /// Null where `route` would be null: PROVISIONING, DELETED or withdrawn.
    async fn route(&self) -> Option<Route> {
        self.route.clone().map(Route)
    }
}
