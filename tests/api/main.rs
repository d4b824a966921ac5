//! Integration tests against the real PostgreSQL and RabbitMQ. Each test gets its own database
//! and its own RabbitMQ vhost (the contract fixes the exchange and queue names), so tests run
//! in parallel and leave nothing behind.

mod helpers;

// The load tools, as `tenant-catalog-load` runs them; the tests use part of them.
#[allow(dead_code)]
#[path = "../../src/bin/tenant-catalog-load/load/mod.rs"]
mod load;

mod admin;
mod auth;
mod batch;
mod broker;
mod cli;
mod concurrency;
mod explanation;
mod failover;
mod faults;
mod grace;
mod graphql;
mod hold;
mod http;
mod ingest;
mod live;
mod moves;
mod operations;
mod past;
mod placement;
mod prepared;
mod receipt;
mod replica;
mod routing;
mod security;
mod sites;
mod timers;
