//! tenant-catalog: the source of truth for every customer tenant.
//!
//! `domain`, `lifecycle` and `placement` are pure; `apply` is the write path, where events
//! (from commerce, admins or timers) meet the fold and the catalog; `catalog` is the SQL below
//! it; `snapshot` is the one tenant every reader shows; `ingest`, `scheduler` and `relay` move
//! events and changes through RabbitMQ; `http` serves health, readiness and metrics,
//! `graphql` the lookups and `admin` the admin API; `startup` wires them under one shutdown
//! signal. `replica` keeps every route in memory beside the callers, following the change feed
//! (`tenant-catalog replica`, or embedded). See docs/architecture.md.

pub mod admin;
pub mod amqp;
pub mod apply;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod export;
pub mod feed;
pub mod graphql;
pub mod health;
pub mod history;
pub mod http;
pub mod ingest;
pub mod lifecycle;
pub mod metrics;
pub mod moves;
pub mod placement;
pub mod relay;
pub mod replica;
pub mod routing;
pub mod scheduler;
pub mod snapshot;
pub mod startup;
pub mod supervise;
pub mod telemetry;
pub mod untrusted;
