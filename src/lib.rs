//! tenant-catalog: the source of truth for every customer tenant.
//!
//! `domain`, `lifecycle` and `placement` are pure; `catalog` stores their results in
//! PostgreSQL; `ingest`, `scheduler` and `relay` move events and changes through RabbitMQ;
//! `http` serves health, readiness and metrics, `graphql` the lookups and `admin` the
//! admin API; `startup` wires them under one shutdown signal.

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod health;
pub mod http;
pub mod ingest;
pub mod lifecycle;
pub mod loadgen;
pub mod metrics;
pub mod placement;
pub mod relay;
pub mod routing;
pub mod scheduler;
pub mod startup;
pub mod telemetry;
