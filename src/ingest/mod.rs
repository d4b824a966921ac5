//! The lifecycle consumer: AMQP deliveries in, events applied, acknowledged after commit;
//! what is not a valid event goes to the dead-letter queue with the reason.

pub mod consumer;

mod batch;

pub use batch::{IngestMetrics, Intake};
pub use consumer::{Consumer, run_consumer};
