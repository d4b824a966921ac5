//! `tenant-catalog-load history-bench`: one tenant with a long history, published as commerce
//! does, then lookups of its past over HTTP (`tenant(id, asOf)` and `route(tenantId, asOf)` at
//! random instants of that history), each timed on its own.

use chrono::{Duration as Days, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tenant_catalog::amqp::EventPublisher;
use tenant_catalog::auth::{self, Scope};
use tenant_catalog::cli::PUBLISH_WINDOW;
use tenant_catalog::config::Settings;
use uuid::Uuid;

pub struct Spec {
    pub source: String,
    /// Events of the tenant, its creation included (at least 2).
    pub events: u64,
    /// Timed lookups of each kind.
    pub lookups: u64,
}

#[derive(Debug, Serialize)]
pub struct Timing {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub events: u64,
    pub lookups: u64,
    /// Seconds from the first publish until the catalog held every event.
    pub ingest_seconds: f64,
    /// `tenant(id, asOf) { state serving currentPeriodEnd version }`.
    pub tenant_as_of: Timing,
    /// The same with `history { type outcome }`: every event counted, in the answer.
    pub tenant_as_of_with_history: Timing,
    /// `route(tenantId, asOf) { host region shard endpoint serving }`.
    pub route_as_of: Timing,
    /// `tenant(id) { state ... }` now, for comparison (a row read, no refold).
    pub tenant_now: Timing,
}

/// A tenant converted from a trial, then renewed every hour: `events` valid events in all.
fn history(tenant: Uuid, events: u64) -> (Vec<Value>, chrono::DateTime<Utc>) {
    let start = Utc::now() - Days::hours(i64::try_from(events).unwrap_or(i64::MAX) + 48);
    let event = |n: u64, kind: &str, data: Value| {
        json!({
            "id": Uuid::new_v4(), "type": kind, "tenant_id": tenant, "sequence": n,
            "occurred_at": (start + Days::hours(n as i64)).to_rfc3339(), "data": data,
        })
    };
    let site = format!("hist-{}", &tenant.simple().to_string()[..12]);
    let mut out = vec![event(
        0,
        "trial.started",
        json!({"site": site, "products": ["jira"], "residency": "eu", "billing_day": 5}),
    )];
    for n in 1..events {
        let end = (start + Days::hours(n as i64) + Days::days(30)).to_rfc3339();
        out.push(if n == 1 {
            event(
                n,
                "subscription.activated",
                json!({"plan": "standard", "cycle": "monthly", "current_period_end": end}),
            )
        } else {
            event(
                n,
                "subscription.renewed",
                json!({"current_period_end": end}),
            )
        });
    }
    (out, start)
}

fn timing(mut ms: Vec<f64>) -> Timing {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let i = ((ms.len() as f64 - 1.0) * p).round() as usize;
        ms.get(i).copied().unwrap_or(0.0)
    };
    Timing {
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p99_ms: at(0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    bearer: String,
}

impl Client {
    /// One request, timed; an answer with errors or without data is a failure.
    async fn ask(&self, query: &str, variables: Value) -> Result<(f64, Value), String> {
        let started = Instant::now();
        let response = self
            .http
            .post(&self.url)
            .header("authorization", &self.bearer)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if body.get("errors").is_some() || body["data"].is_null() {
            return Err(format!("unexpected answer: {body}"));
        }
        Ok((ms, body["data"].clone()))
    }
}

pub async fn run(settings: &Settings, spec: &Spec) -> Result<Report, String> {
    let events = spec.events.max(2);
    let tenant = Uuid::new_v4();
    let (history, start) = history(tenant, events);
    let signer = auth::keys::signer(&settings.auth).map_err(|e| e.to_string())?;
    let ttl = settings.auth.max_ttl_secs.min(3600);
    let token = auth::mint(&signer, &settings.auth, "history-bench", Scope::Read, ttl)?;
    let client = Client {
        http: reqwest::Client::new(),
        url: format!("{}/graphql", spec.source.trim_end_matches('/')),
        bearer: format!("Bearer {token}"),
    };

    let ingest_seconds = ingest(settings, &client, tenant, &history, events).await?;

    let span_hours = i64::try_from(events).unwrap_or(i64::MAX);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut instant = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let minutes = (rng % (span_hours as u64 * 60)) as i64;
        (start + Days::minutes(minutes)).to_rfc3339()
    };
    let kinds = [
        "query($id: ID!, $at: DateTime) { tenant(id: $id, asOf: $at) { state serving currentPeriodEnd version } }",
        "query($id: ID!, $at: DateTime) { tenant(id: $id, asOf: $at) { state history { type outcome } } }",
        "query($id: ID!, $at: DateTime) { route(tenantId: $id, asOf: $at) { host region shard endpoint serving } }",
        "query($id: ID!) { tenant(id: $id) { state serving currentPeriodEnd version } }",
    ];
    let mut timings = Vec::new();
    for query in kinds {
        let mut ms = Vec::with_capacity(spec.lookups as usize);
        for _ in 0..spec.lookups {
            let (took, _) = client
                .ask(query, json!({"id": tenant, "at": instant()}))
                .await?;
            ms.push(took);
        }
        timings.push(timing(ms));
    }
    let mut t = timings.into_iter();
    let mut next = || t.next().unwrap_or_else(|| timing(Vec::new()));
    Ok(Report {
        events,
        lookups: spec.lookups,
        ingest_seconds,
        tenant_as_of: next(),
        tenant_as_of_with_history: next(),
        route_as_of: next(),
        tenant_now: next(),
    })
}

/// Publishes the history and waits until the catalog holds every event of it; returns how
/// long that took.
async fn ingest(
    settings: &Settings,
    client: &Client,
    tenant: Uuid,
    history: &[Value],
    events: u64,
) -> Result<f64, String> {
    let publisher = EventPublisher::connect(&settings.amqp_url)
        .await
        .map_err(|e| e.to_string())?;
    let bodies: Vec<Vec<u8>> = history.iter().map(|e| e.to_string().into_bytes()).collect();
    let started = Instant::now();
    publisher
        .publish_all(bodies.iter().map(Vec::as_slice), PUBLISH_WINDOW)
        .await
        .map_err(|e| e.to_string())?;
    let count = "query($id: ID!) { tenant(id: $id) { history { outcome } } }";
    loop {
        // Until the tenant exists the answer is null; an error is kept to say why, at the end.
        let (held, last_error) = match client.ask(count, json!({"id": tenant})).await {
            Ok((_, data)) => (
                data["tenant"]["history"].as_array().map_or(0, Vec::len) as u64,
                None,
            ),
            Err(e) => (0, Some(e)),
        };
        if held >= events {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!(
                "the catalog held {held} of {events} events after 600 s{}",
                last_error.map_or_else(String::new, |e| format!(" (last answer: {e})"))
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}
