//! The catalog in PostgreSQL: tenants, their events, shards, old hosts, and the change-feed
//! outbox. Functions here take an open transaction, so callers decide what commits together.

pub mod admin;
pub mod events;
pub mod outbox;
pub mod refold;
pub mod replay;
pub mod routes;
pub mod shards;
pub mod tenants;

mod db;

pub use db::{Db, Doing, StoreError, connect, migrate_and_seed, pending_migrations, redact};
pub use refold::{Change, IngestReport, Ingested, ingest, refold};

/// A transaction on the catalog.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;
