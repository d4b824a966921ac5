//! Connecting to RabbitMQ.

use crate::config::{amqp_nodes, redact};
use lapin::{Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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

/// How long one node may take to open a connection before the next is tried: a node that is
/// paused or cut off may accept the TCP connection and never answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The node a connection of this process reached last: tried first by the next, so that once
/// a node went away the process stays on the one that answered instead of going back.
static LAST_REACHED: AtomicUsize = AtomicUsize::new(0);

/// Opens a connection named after its role, so operators can tell connections apart, to the
/// first node of `amqp_url` that answers, starting with the one reached last and trying the
/// others in turn.
pub async fn connect(amqp_url: &str, role: &str) -> Result<Connection, BrokerError> {
    let nodes: Vec<&str> = amqp_nodes(amqp_url).collect();
    let first = LAST_REACHED.load(Ordering::Relaxed);
    let mut failed = Vec::new();
    for n in 0..nodes.len() {
        let at = (first + n) % nodes.len();
        match connect_node(nodes[at], role).await {
            Ok(conn) => {
                LAST_REACHED.store(at, Ordering::Relaxed);
                if !failed.is_empty() {
                    tracing::info!(node = %redact(nodes[at]), role, "Connected to another RabbitMQ node.");
                }
                return Ok(conn);
            }
            Err(error) => {
                if nodes.len() > 1 {
                    tracing::warn!(%error, role, "A RabbitMQ node did not answer; trying the next.");
                }
                failed.push(error);
            }
        }
    }
    let doing = match failed.len() {
        0 => "connecting to RabbitMQ: AMQP_URL names no node".to_owned(),
        1 => return Err(failed.remove(0)),
        n => {
            format!("connecting to RabbitMQ: none of the {n} nodes of AMQP_URL answered; the last")
        }
    };
    let source = failed.pop().map_or_else(
        || lapin::Error::from(std::io::Error::other("no node")),
        |e| e.source,
    );
    Err(BrokerError { doing, source })
}

async fn connect_node(amqp_url: &str, role: &str) -> Result<Connection, BrokerError> {
    let url = if amqp_url.contains("heartbeat=") {
        amqp_url.to_owned()
    } else {
        let sep = if amqp_url.contains('?') { '&' } else { '?' };
        format!("{amqp_url}{sep}heartbeat={HEARTBEAT_SECS}")
    };
    let props = ConnectionProperties::default()
        .with_connection_name(format!("tenant-catalog {role}").into());
    let doing = || {
        format!(
            "connecting to RabbitMQ at {} (is it running? is AMQP_URL right?)",
            redact(amqp_url)
        )
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&url, props)).await {
        Ok(connected) => connected.doing(&doing()),
        Err(_) => Err(BrokerError {
            doing: doing(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )
            .into(),
        }),
    }
}
