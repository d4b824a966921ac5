//! RabbitMQ: connections, the topology of CONTRACT.md section 3, and publishing with
//! confirms. The lifecycle consumer (`ingest`), the outbox relay (`relay`) and the commerce-side
//! publisher (`tenant-catalog publish`) all come through here; each runs under
//! [`crate::supervise`], which rebuilds what it needs after any failure, because lapin's own
//! recovery is not dependable (lapin #450, #389, #222).

mod connection;
pub mod dlq;
mod publisher;
pub mod topology;
pub mod upgrade;

pub use connection::{BrokerError, Doing, connect};
pub use publisher::{EventPublisher, confirmed};

/// A confirm-mode channel on a new connection, with the whole topology declared.
pub async fn confirm_channel(
    amqp_url: &str,
    role: &str,
) -> Result<(lapin::Connection, lapin::Channel), BrokerError> {
    let conn = connect(amqp_url, role).await?;
    topology::declare(&conn).await?;
    let channel = conn
        .create_channel()
        .await
        .doing("opening a publish channel")?;
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .doing("enabling publisher confirms")?;
    Ok((conn, channel))
}
