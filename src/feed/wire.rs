//! What a `serve` tells its replicas, in JSON: snapshot pages, the shard list and heartbeats.
//! A change message on `tenant-catalog.changes` reads as a [`WireRoute`] too (its other
//! fields are ignored), so a snapshot entry and a change are applied the same way.

use crate::catalog::routes::ReplicaRow;
use crate::catalog::shards::ShardRow;
use crate::domain::BaseDomain;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The routing key of heartbeats on `tenant-catalog.changes`.
pub const HEARTBEAT_KEY: &str = "catalog.heartbeat";

/// Most tenants one snapshot request by `ids` may name.
pub const MAX_IDS: usize = 1_000;

/// One tenant as a replica holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRoute {
    pub tenant_id: Uuid,
    pub version: i64,
    #[serde(default)]
    pub epoch: i64,
    /// The shown state; null for a tenant that is unknown again.
    pub state: Option<String>,
    pub host: Option<String>,
    #[serde(default)]
    pub old_hosts: Vec<String>,
    pub region: Option<String>,
    pub shard: Option<String>,
    #[serde(default)]
    pub route_status: Option<String>,
    /// When the change was made (change messages only): how late a replica applies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

impl WireRoute {
    pub fn of_row(row: &ReplicaRow, base: &BaseDomain) -> Self {
        WireRoute {
            tenant_id: row.id.as_uuid(),
            version: row.version,
            epoch: row.epoch,
            state: row.state.map(|s| s.as_str().to_owned()),
            host: row.site.as_ref().map(|s| base.host(s)),
            old_hosts: row.old_sites.iter().map(|s| base.host(s)).collect(),
            region: row.placement.as_ref().map(|p| p.region.as_str().to_owned()),
            shard: row.placement.as_ref().map(|p| p.shard.as_str().to_owned()),
            route_status: Some(row.route_status.as_str().to_owned()),
            changed_at: None,
        }
    }
}

/// A page of `GET /replica/v1/snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotPage {
    /// The catalog's clock when the page was read: every change committed before it is in it.
    pub as_of: DateTime<Utc>,
    pub entries: Vec<WireRoute>,
    /// The `after` of the next page; null on the last.
    pub next: Option<Uuid>,
}

/// `GET /replica/v1/shards`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardList {
    pub as_of: DateTime<Utc>,
    pub base_domain: String,
    /// [`shards_digest`] of `shards`, as heartbeats carry it.
    pub digest: String,
    pub shards: Vec<WireShard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireShard {
    pub id: String,
    pub region: String,
    pub endpoint: String,
}

impl WireShard {
    pub fn of_row(row: &ShardRow) -> Self {
        WireShard {
            id: row.id.as_str().to_owned(),
            region: row.region.as_str().to_owned(),
            endpoint: row.endpoint.as_str().to_owned(),
        }
    }
}

/// The body of a heartbeat: every change the catalog committed before `watermark` has been
/// published (and confirmed into every bound queue) before this heartbeat, and the shards'
/// digest then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub watermark: DateTime<Utc>,
    pub shards: String,
    /// The changes still waiting in the outbox when the relay looked, named when they were
    /// few ([`MAX_WAITING`]); absent when there were more (or from a relay of before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// Most waiting changes a heartbeat names: past it, a heartbeat carries its watermark only.
pub const MAX_WAITING: usize = 500;

/// Every change the catalog committed before `as_of` has been published before the heartbeat
/// that carries this, but those of `tenants`: a replica is as fresh as `as_of` for every other
/// tenant and host, and as its watermark for these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub as_of: DateTime<Utc>,
    /// The tenants of the waiting changes.
    pub tenants: Vec<Uuid>,
    /// Every host those changes name, current and old: a host that a waiting change gives to
    /// a tenant is not answered from what the replica holds either.
    pub hosts: Vec<String>,
}

/// A digest of what routes depend on in the shard list (ids, regions, endpoints): a replica
/// whose digest differs from a heartbeat's fetches the list again. FNV-1a, which is stable
/// across builds and versions, unlike the standard library's hasher; it only has to notice a
/// change, not resist an attacker.
pub fn shards_digest(shards: &[WireShard]) -> String {
    let mut sorted: Vec<&WireShard> = shards.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for s in sorted {
        for part in [&s.id, &s.region, &s.endpoint] {
            for byte in part.bytes().chain([0u8]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, endpoint: &str) -> WireShard {
        WireShard {
            id: id.into(),
            region: "eu-west-1".into(),
            endpoint: endpoint.into(),
        }
    }

    #[test]
    fn the_digest_changes_with_an_endpoint_and_not_with_the_order() {
        let a = shard("eu-west-1-1", "https://a.example.net");
        let b = shard("eu-west-1-2", "https://b.example.net");
        let d = shards_digest(&[a.clone(), b.clone()]);
        assert_eq!(d, shards_digest(&[b.clone(), a.clone()]));
        assert_ne!(d, shards_digest(std::slice::from_ref(&a)));
        let moved = shard("eu-west-1-2", "https://c.example.net");
        assert_ne!(d, shards_digest(&[a, moved]));
        // Parts are separated, so moving a character between fields changes the digest.
        assert_ne!(
            shards_digest(&[shard("ab", "c")]),
            shards_digest(&[shard("a", "bc")])
        );
    }

    #[test]
    fn a_change_message_reads_as_a_route() {
        let message = serde_json::json!({
            "tenant_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "state": "ACTIVE",
            "previous_state": null, "serving": true, "lifecycle": "ACTIVE", "suspended": false,
            "region": "ap-southeast-2", "shard": "ap-southeast-2-1", "host": "globex.example.net",
            "old_hosts": [], "products": ["jira"], "version": 3, "epoch": 1,
            "route_status": "ONLINE", "caused_by": null, "cause": "subscription.activated",
            "changed_at": "2026-11-23T09:30:00.123456789Z"
        });
        let route: WireRoute = serde_json::from_value(message).expect("reads");
        assert_eq!(route.version, 3);
        assert_eq!(route.host.as_deref(), Some("globex.example.net"));
        assert!(route.changed_at.is_some());
    }
}
