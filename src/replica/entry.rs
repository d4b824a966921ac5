//! A tenant's snapshot entry or change message, checked into domain types before the replica
//! holds it.

use crate::domain::{BaseDomain, Placement, RouteStatus, ShardId, Site, TenantId};
use crate::feed::wire::{Waiting, WireRoute};
use crate::lifecycle::ShownState;
use crate::snapshot::Destination;

/// One tenant's entry, checked: what [`Replica::apply`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: TenantId,
    pub version: i64,
    pub epoch: i64,
    pub to: Option<Destination>,
    pub sites: Vec<Site>,
}

impl Entry {
    /// Checks a snapshot entry or change message; `Err` says which field is wrong.
    pub fn parse(wire: &WireRoute, base: &BaseDomain) -> Result<Entry, String> {
        let id = TenantId::from_uuid(wire.tenant_id);
        let site_of = |host: &str| site_of(host, base);
        let mut sites = Vec::with_capacity(1 + wire.old_hosts.len());
        if let Some(host) = &wire.host {
            sites.push(site_of(host)?);
        }
        for host in &wire.old_hosts {
            sites.push(site_of(host)?);
        }
        let state = match &wire.state {
            None => None,
            Some(s) => Some(ShownState::parse(s).ok_or_else(|| format!("state `{s}`"))?),
        };
        let placement = match (&wire.region, &wire.shard) {
            (Some(region), Some(shard)) => Some(Placement {
                region: region.parse().map_err(|_| format!("region `{region}`"))?,
                shard: ShardId::try_from(shard.as_str()).map_err(|_| format!("shard `{shard}`"))?,
            }),
            _ => None,
        };
        let status = match &wire.route_status {
            None => RouteStatus::Online,
            Some(s) => s.parse().map_err(|_| format!("route_status `{s}`"))?,
        };
        let to = match (state, placement, &wire.host) {
            (Some(state), Some(placement), Some(host)) => {
                Destination::new(id, host.clone(), state, placement, (wire.epoch, status))
            }
            _ => None,
        };
        Ok(Entry {
            id,
            version: wire.version,
            epoch: wire.epoch,
            to,
            sites,
        })
    }
}

fn site_of(host: &str, base: &BaseDomain) -> Result<Site, String> {
    base.site_of(host)
        .and_then(|s| Site::try_from(s.as_str()).ok())
        .ok_or_else(|| format!("host `{host}` is not a site under {base}"))
}

/// The tenants and sites a heartbeat names as waiting, checked; `Err` names a host that is
/// not a site (the heartbeat's watermark alone is then taken).
pub fn waiting(w: &Waiting, base: &BaseDomain) -> Result<(Vec<TenantId>, Vec<Site>), String> {
    let tenants = w.tenants.iter().copied().map(TenantId::from_uuid).collect();
    let sites = w
        .hosts
        .iter()
        .map(|h| site_of(h, base))
        .collect::<Result<_, _>>()?;
    Ok((tenants, sites))
}
