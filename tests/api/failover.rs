//! Replicated dependencies (issue 28): a broker node that goes away while `AMQP_URL` names
//! another, and a database that stops taking writes, as after a failover to a standby.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tenant_catalog::amqp::EventPublisher;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A TCP forwarder standing in for a broker node: it passes connections through to `target`
/// until it is stopped, and then refuses new ones and cuts those it carried, as a node that
/// is shut down does.
struct Node {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: CancellationToken,
    listener: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn start(target: &'static str) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let (count, cut) = (accepted.clone(), stop.clone());
        let listener = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                let cut = cut.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    // Returning drops both sockets: the connection is cut.
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Node {
            port,
            accepted,
            stop,
            listener,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops listening and cuts every connection it carried.
    async fn stop(self) {
        self.listener.abort();
        let _ = self.listener.await;
        self.stop.cancel();
    }
}

#[tokio::test]
async fn with_the_first_node_of_amqp_url_gone_the_service_moves_to_the_next() {
    let node = Node::start("127.0.0.1:5672").await;
    let mut env = TestEnv::new(&[]).await;
    let direct = env.settings.amqp_url.clone();
    let vhost = env.name.clone();
    env.settings.amqp_url = format!(
        "amqp://guest:guest@127.0.0.1:{}/{vhost}, {direct}",
        node.port
    );
    let app = spawn_on(env).await;
    let mut first = Commerce::new();
    app.publish(&first.direct_purchase(days_ago(2), &unique_site("fo"), "eu"))
        .await;
    app.wait_tenant(&first.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    assert!(
        node.accepted() >= 1,
        "the service connected through the first node"
    );

    node.stop().await;
    // Commerce publishes to a node that is still up; the service must follow there.
    let publisher = EventPublisher::connect(&direct).await.expect("publisher");
    let mut second = Commerce::new();
    let event = second.direct_purchase(days_ago(1), &unique_site("fo"), "eu");
    publisher
        .publish(event.to_string().as_bytes())
        .await
        .expect("published");
    app.wait_tenant(&second.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    app.wait_for(20, "ready on the second node", || async {
        let r = app.get("/readyz").await;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
}

async fn set_read_only(app: &TestApp, on: bool) {
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("admin connection");
    let name = app.database_name();
    // The name is the test's own (a UUID); DDL takes no binds.
    let ddl = if on {
        format!("alter database \"{name}\" set default_transaction_read_only = on")
    } else {
        format!("alter database \"{name}\" reset default_transaction_read_only")
    };
    sqlx::query(sqlx::AssertSqlSafe(ddl))
        .execute(&admin)
        .await
        .expect("altered");
    // Sessions take the setting when they start: end the open ones, as a failover does.
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .expect("sessions ended");
    admin.close().await;
}

#[tokio::test]
async fn a_read_only_database_makes_serve_not_ready_and_acknowledges_nothing() {
    let app = spawn_app().await;
    set_read_only(&app, true).await;
    let (status, body) = app
        .wait_for(10, "/readyz to say the database is read-only", || async {
            let (status, body) = readyz(&app).await;
            (body["checks"]["database"] == "read-only").then_some((status, body))
        })
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("read-only"),
        "{body}"
    );

    let mut c = Commerce::new();
    app.publish(&c.direct_purchase(days_ago(2), &unique_site("ro"), "eu"))
        .await;
    // The event waits in the broker, unacknowledged, while no write can commit.
    let vhost = app.vhost();
    app.wait_for(15, "the event to wait in the lifecycle queue", || async {
        let q = management_get(&format!("queues/{vhost}/tenant-catalog.lifecycle")).await?;
        (q.get("messages")?.as_i64()? >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    set_read_only(&app, false).await;
    app.wait_tenant(&c.tenant_id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    app.wait_queue_drained().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
}
