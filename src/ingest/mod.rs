//! AMQP: the broker topology, the lifecycle consumer and its dead-letter queue.

pub mod consumer;
pub mod topology;

pub mod publisher;

mod batch;
mod broker;

pub use broker::{BrokerError, connect};

/// Adds what we were doing to a lapin result.
pub fn broker_doing<T>(r: Result<T, lapin::Error>, what: &str) -> Result<T, BrokerError> {
    broker::Doing::doing(r, what)
}
pub use consumer::{Consumer, run_consumer};
