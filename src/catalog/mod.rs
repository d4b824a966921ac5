//! The catalog in PostgreSQL: tenants, their events, shards, old hosts, the change-feed outbox
//! and the admin API's records. SQL only: what to write is decided in `apply`. Functions here
//! take an open transaction (or the pool, for reads), so callers decide what commits together.

pub mod admin;
pub mod changes;
pub mod claims;
pub mod consistency;
pub mod drains;
pub mod events;
pub mod moves;
pub mod outbox;
pub mod receipts;
pub mod routes;
pub mod shards;
pub mod tenants;

mod db;
mod error;

pub use db::{connect, migrate_and_seed, pending_migrations};
pub use error::{Doing, StoreError};

/// The catalog's connection pool.
pub type Db = sqlx::PgPool;

/// A transaction on the catalog.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;
