//! Shards as the admin API defines them: id, endpoint, capacity and status.

use super::{InvalidValue, Region};
use std::fmt;
use std::sync::Arc;

/// Where a tenant is placed: a shard, and the region that shard is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    pub region: Region,
    pub shard: ShardId,
}

/// 1 to 63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit (the catalog's
/// check constraint says the same). Shared text: every route to a shard can hold its id, and a
/// clone costs a reference count, not a copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(Arc<str>);

impl ShardId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ShardId {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidValue(format!(
                "shard id must be 1 to 63 characters of a-z, 0-9 and `-`, not starting with `-`, got `{s}`"
            )))
        }
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a shard takes new tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShardStatus {
    Open,
    /// Keeps its tenants, takes no new ones.
    Draining,
}

impl ShardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardStatus::Open => "open",
            ShardStatus::Draining => "draining",
        }
    }
}

impl fmt::Display for ShardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ShardStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(ShardStatus::Open),
            "draining" => Ok(ShardStatus::Draining),
            _ => Err(InvalidValue(format!(
                "status must be `open` or `draining`, got `{s}`"
            ))),
        }
    }
}

/// The URL product services reach a shard at: `http://` or `https://`, no spaces, at most
/// 2048 characters. Shared text, as [`ShardId`]: a route's endpoint is cloned on every lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(Arc<str>);

impl Endpoint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Endpoint {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        let ok = s.len() <= 2048
            && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidValue(format!(
                "endpoint must be an http:// or https:// URL with a host, without spaces, at most 2048 characters, got `{s}`"
            )))
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many tenants a shard may hold: 0 to 2^31 - 1 (0 keeps a shard empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capacity(i32);

impl Capacity {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for Capacity {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        i32::try_from(n)
            .ok()
            .filter(|n| *n >= 0)
            .map(Self)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "capacity must be a whole number from 0 to {}, got {n}",
                    i32::MAX
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_follow_the_catalogs_rule() {
        for good in ["eu-west-1-2", "a", "0x"] {
            assert!(ShardId::try_from(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "EU", "a_b", "a.b", &"a".repeat(64)] {
            assert!(ShardId::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_are_http_urls_with_a_host() {
        assert!(Endpoint::try_from("https://eu-west-1-2.shards.example.net").is_ok());
        assert!(Endpoint::try_from("http://10.0.0.7:8443/x").is_ok());
        for bad in [
            "",
            "https://",
            "ftp://x",
            "https:///path",
            "https://a b",
            "x.example",
        ] {
            assert!(Endpoint::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capacity_is_never_negative() {
        assert_eq!(Capacity::try_from(0).map(Capacity::get), Ok(0));
        assert!(Capacity::try_from(-1).is_err());
        assert!(Capacity::try_from(i64::from(i32::MAX) + 1).is_err());
    }
}
