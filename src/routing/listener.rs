//! Keeps a [`Router`] fresh: LISTENs on `catalog_changes` and drops what each notification
//! names. The cache is used only while this listener is known to be connected: it is emptied
//! and bypassed from the moment the connection is lost (or a ping of our own does not come
//! back, which catches a connection that died silently) until LISTEN is in place again.

use super::Router;
use crate::catalog::Db;
use crate::supervise::{Supervisor, Up};
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const CHANNEL: &str = "catalog_changes";
/// How often the listener checks, through a notification of its own, that it still hears.
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long a ping may take to come back before the connection is taken for dead; checked at
/// every tick, so a silently dead connection is noticed within 3 s.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

const SUPERVISOR: Supervisor = Supervisor {
    lost: "The routing cache lost its change notifications; lookups read the database until it is back.",
    stopped: "The routing cache listener stopped.",
    first_retry: Duration::from_millis(100),
    max_retry: Duration::from_secs(5),
};

/// Listens until `shutdown`, reconnecting with backoff.
pub async fn run_listener(router: Router, db: Db, shutdown: CancellationToken) {
    let (router, db, stop) = (&router, &db, &shutdown);
    SUPERVISOR
        .run(stop, move |up| async move {
            let result = listen(router, db, stop, up).await;
            router.set_live(false);
            result
        })
        .await;
}

async fn listen(
    router: &Router,
    db: &Db,
    shutdown: &CancellationToken,
    up: Up,
) -> Result<(), String> {
    let mut listener = PgListener::connect_with(db)
        .await
        .map_err(|e| format!("connecting the listener: {e}"))?;
    listener
        .listen(CHANNEL)
        .await
        .map_err(|e| format!("LISTEN {CHANNEL}: {e}"))?;
    // From here on every change is announced to us, so the cache may fill again; anything it
    // held from before may be stale, so it starts empty.
    router.set_live(true);
    up.set();
    tracing::info!("The routing cache is live.");

    let mut ping: Option<(String, Instant)> = None;
    let mut tick = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            received = listener.try_recv() => match received {
                Ok(Some(n)) => {
                    let payload = n.payload();
                    if ping.as_ref().is_some_and(|(nonce, _)| nonce == payload) {
                        ping = None;
                    } else {
                        apply(router, payload);
                    }
                }
                Ok(None) => return Err("the listener's connection was lost".into()),
                Err(e) => return Err(format!("receiving notifications: {e}")),
            },
            _ = tick.tick() => {
                match &ping {
                    Some((_, sent)) if sent.elapsed() > PING_TIMEOUT => {
                        return Err("a ping notification did not come back in time".into());
                    }
                    Some(_) => {}
                    None => {
                        let nonce = format!("p {}", Uuid::new_v4().simple());
                        sqlx::query("select pg_notify($1, $2)")
                            .bind(CHANNEL)
                            .bind(&nonce)
                            .execute(db)
                            .await
                            .map_err(|e| format!("sending a ping notification: {e}"))?;
                        ping = Some((nonce, Instant::now()));
                    }
                }
            }
        }
    }
}

/// Drops what a notification names: `t <tenant id> <site>...`, `s <shard id>`; other
/// instances' pings (`p ...`) are ignored.
fn apply(router: &Router, payload: &str) {
    let mut words = payload.split(' ');
    match (words.next(), words.next()) {
        (Some("t"), Some(id)) => match id.parse() {
            Ok(id) => router.forget_tenant(id, &words.collect::<Vec<_>>()),
            Err(_) => router.clear(),
        },
        (Some("s"), _) => router.forget_shards(),
        (Some("p"), _) => {}
        _ => {
            tracing::warn!(
                payload,
                "An unknown catalog notification; forgetting the whole routing cache."
            );
            router.clear();
        }
    }
}
