//! Connecting to RabbitMQ.

use lapin::{Connection, ConnectionProperties};

/// A broker failure, with what we were doing.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct BrokerError {
    pub doing: String,
    #[source]
    pub source: lapin::Error,
}

/// Adds what we were doing to a lapin error.
pub trait Doing<T> {
    fn doing(self, what: &str) -> Result<T, BrokerError>;
}

impl<T> Doing<T> for Result<T, lapin::Error> {
    fn doing(self, what: &str) -> Result<T, BrokerError> {
        self.map_err(|source| BrokerError {
            doing: what.to_owned(),
            source,
        })
    }
}

/// Heartbeat in seconds, unless the URL sets one: without heartbeats a dead TCP connection
/// can take minutes to notice.
const HEARTBEAT_SECS: u16 = 10;

/// Opens a connection named after its role, so operators can tell connections apart.
pub async fn connect(amqp_url: &str, role: &str) -> Result<Connection, BrokerError> {
    let url = if amqp_url.contains("heartbeat=") {
        amqp_url.to_owned()
    } else {
        let sep = if amqp_url.contains('?') { '&' } else { '?' };
        format!("{amqp_url}{sep}heartbeat={HEARTBEAT_SECS}")
    };
    let props = ConnectionProperties::default()
        .with_connection_name(format!("tenant-catalog {role}").into());
    Connection::connect(&url, props).await.doing(&format!(
        "connecting to RabbitMQ at {} (is it running? is AMQP_URL right?)",
        crate::config::redact(amqp_url)
    ))
}
