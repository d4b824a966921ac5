//! Replicas (CONTRACT.md section 7): every tenant's route in memory, beside the callers that
//! ask on every request, kept fresh by the change feed.
//!
//! - [`store`]: the [`Replica`] type, lock-free lookups and the versioned writes behind them;
//!   `fresh`: how far behind the catalog it may be, and so which lookups it answers;
//! - [`follow`]: loads a snapshot from a `serve` and follows `tenant-catalog.changes`, healing
//!   gaps;
//! - `entry` checks what `serve` sends (`crate::feed::wire`) into entries; `source` is the
//!   follower's HTTP client to `serve`;
//! - the `serve` side, `GET /replica/v1/snapshot` and `/replica/v1/shards`, is
//!   `crate::export`;
//! - [`server`]: `tenant-catalog replica`, the replica behind GraphQL `route` and `routes`.
//!
//! A Rust service embeds one with [`Replica::empty`] and [`follow::start`]; see
//! docs/replica.md.

mod entry;
pub mod follow;
mod fresh;
pub mod server;
mod source;
mod stats;
pub mod store;

pub use follow::{Credentials, FollowSettings};
pub use store::{NotReady, Replica, Stats};
