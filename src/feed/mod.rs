//! The change feed as it travels: what `serve` tells every follower of the catalog, on
//! `tenant-catalog.changes` and over `/replica/v1`.
//!
//! - [`change`]: the change message of one tenant version, built by every writer;
//! - [`wire`]: what followers read back (a route, snapshot pages, the shard list) and the
//!   heartbeat that says how far the feed has come.
//!
//! Below the relay, the export, the replica and GraphQL subscriptions, which all speak it.

pub mod change;
pub mod wire;
