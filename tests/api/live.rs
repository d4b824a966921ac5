//! Live changes (contract section 7, "History"): GraphQL subscriptions over the graphql-ws
//! protocol at `GET /graphql`, with `POST /graphql`'s token rules, fed by the catalog's change
//! notifications; a client that reconnects resumes from a version without a gap.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tenant_catalog::auth::Scope;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const CHANGES: &str = "subscription($ids: [ID!]!, $after: Int) {
  tenantChanged(tenantIds: $ids, afterVersion: $after) { tenantId version kind state serving host cause }
}";

/// A graphql-transport-ws connection, initialised with `init` as the payload.
async fn connect(app: &TestApp, init: Value) -> Socket {
    let url = app.address.replace("http://", "ws://") + "/graphql";
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(&b"graphql-transport-ws"[..])
    );
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": init}),
    )
    .await;
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next protocol message, within `secs` seconds: its JSON, or the close frame's code.
async fn next(socket: &mut Socket, secs: u64) -> Result<Value, u16> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(secs), socket.next())
            .await
            .expect("a message in time");
        match m {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("JSON"));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(0, |f| f.code.into())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(0),
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
    .await;
}

fn bearer(app: &TestApp) -> Value {
    json!({"Authorization": format!("Bearer {}", app.token(Scope::Read))})
}

#[tokio::test]
async fn a_subscriber_hears_each_change_and_resumes_without_a_gap() {
    let app = spawn_app().await;
    let mut c = active_tenant(&app, "eu").await;
    let id = c.tenant_id.clone();

    let mut socket = connect(&app, bearer(&app)).await;
    assert_eq!(
        next(&mut socket, 5).await.expect("ack")["type"],
        "connection_ack"
    );
    subscribe(&mut socket, "1", CHANGES, json!({"ids": [id]})).await;
    // The subscription hears changes from when it is in place.
    app.wait_metric("tenant_catalog_route_subscribers", 1.0)
        .await;

    let renamed = unique_site("live");
    app.publish(&c.event("site.renamed", days_ago(1), json!({"site": renamed})))
        .await;
    // How soon it arrives is measured by `make bench-live`, not here.
    let m = next(&mut socket, 5).await.expect("a change");
    assert_eq!(m["type"], "next", "{m}");
    let change = &m["payload"]["data"]["tenantChanged"];
    assert_eq!(change["tenantId"], id.as_str());
    assert_eq!(change["version"], 2, "{change}");
    assert_eq!(change["host"], format!("{renamed}.example.net"));
    assert_eq!(change["cause"], "site.renamed");

    app.publish(&c.event(
        "subscription.suspended",
        days_ago(0),
        json!({"reason": "payment_overdue"}),
    ))
    .await;
    let m = next(&mut socket, 5).await.expect("a change");
    let change = &m["payload"]["data"]["tenantChanged"];
    assert_eq!(
        (change["version"].clone(), change["state"].clone()),
        (json!(3), json!("SUSPENDED"))
    );
    drop(socket);

    // While nobody listens, one more change; a client that comes back after version 1 gets
    // versions 2, 3 and 4, in order, then the live ones.
    app.publish(&c.event("subscription.unsuspended", days_ago(0), json!({})))
        .await;
    app.wait_tenant(&id, "ACTIVE", |t| t.state == "ACTIVE")
        .await;
    let mut socket = connect(&app, bearer(&app)).await;
    next(&mut socket, 5).await.expect("ack");
    subscribe(
        &mut socket,
        "again",
        CHANGES,
        json!({"ids": [id], "after": 1}),
    )
    .await;
    let mut versions = Vec::new();
    for _ in 0..3 {
        let m = next(&mut socket, 5).await.expect("a replayed change");
        assert_eq!(m["id"], "again", "{m}");
        versions.push(m["payload"]["data"]["tenantChanged"]["version"].clone());
    }
    assert_eq!(versions, [json!(2), json!(3), json!(4)]);
    app.publish(&c.event(
        "data.deletion_requested",
        days_ago(0),
        json!({"reason": "customer asked"}),
    ))
    .await;
    let m = next(&mut socket, 5)
        .await
        .expect("the live change after the replay");
    let change = &m["payload"]["data"]["tenantChanged"];
    assert_eq!(
        (change["version"].clone(), change["state"].clone()),
        (json!(5), json!("DELETED")),
        "{m}"
    );
}

#[tokio::test]
async fn route_changes_follow_a_move_and_the_token_rules_are_posts() {
    let app = spawn_app().await;
    let c = active_tenant(&app, "eu").await;
    let id = c.tenant_id.clone();

    // No token, or an admin-only one in the wrong place: refused, the socket closed.
    let mut none = connect(&app, json!({})).await;
    assert_eq!(next(&mut none, 5).await, Err(4403), "no token is forbidden");
    let mut forged = connect(&app, json!({"Authorization": "Bearer not-a-token"})).await;
    assert_eq!(next(&mut forged, 5).await, Err(4403));

    let mut socket = connect(&app, bearer(&app)).await;
    next(&mut socket, 5).await.expect("ack");
    // The cost model judges subscriptions too.
    let many: Vec<String> = (0..1000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    subscribe(&mut socket, "big", CHANGES, json!({"ids": many})).await;
    let m = next(&mut socket, 5).await.expect("a refusal");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_IDS",
        "too many ids are refused by the cost model: {m}"
    );

    let routes = "subscription($ids: [ID!]!) {
      routeChanged(tenantIds: $ids) { tenantId version route { shard status epoch endpoint } }
    }";
    let before = app.metric("tenant_catalog_route_subscribers").await;
    subscribe(&mut socket, "r", routes, json!({"ids": [id]})).await;
    app.wait_metric("tenant_catalog_route_subscribers", before + 1.0)
        .await;
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{id}/moves"),
            Some(json!({"to_shard": "eu-west-1-1", "reason": "live test"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let m = loop {
        let m = next(&mut socket, 5).await.expect("a route change");
        if m["id"] == "r" {
            break m;
        }
    };
    let route = &m["payload"]["data"]["routeChanged"]["route"];
    assert_eq!(route["status"], "MOVING", "{m}");
    assert!(
        route["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("https://")),
        "{m}"
    );
}
