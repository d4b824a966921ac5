//! `tenant-catalog-load replica-bench`: an embedded [`Replica`] in this process, following a
//! running catalog as a Rust service would, measured three ways: how long the snapshot takes
//! and what it costs in memory; lookups on one core (throughput, and the latency of single
//! lookups); and staleness, from a tenant's commit in the catalog to its route in the replica,
//! over a steady stream of new tenants published as commerce does.

use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use tenant_catalog::amqp::EventPublisher;
use tenant_catalog::config::Settings;
use tenant_catalog::domain::TenantId;
use tenant_catalog::replica::{Credentials, FollowSettings, Replica, follow};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct Spec {
    pub source: String,
    /// Tenants of the benchmark catalog (ids as in scripts/bench/lookup.lua).
    pub tenants: u64,
    pub lookups: u64,
    /// New tenants published for the staleness run, and how many a second.
    pub changes: u64,
    pub rate: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub load_seconds: f64,
    pub entries: usize,
    pub routes: usize,
    /// Resident memory the replica added to this process, and per million tenants.
    pub memory_mib: f64,
    pub memory_mib_per_million: f64,
    pub lookups: u64,
    pub lookups_per_s: f64,
    pub found: u64,
    /// Single lookups, each timed (the clock's own cost, about 20 ns, included).
    pub lookup_p50_ns: u64,
    pub lookup_p99_ns: u64,
    pub lookup_p999_ns: u64,
    pub changes: usize,
    pub changes_seen: usize,
    /// From the tenant row's commit time (its `updated_at`) to the first lookup that found it.
    pub staleness_p50_ms: f64,
    pub staleness_p99_ms: f64,
    pub staleness_max_ms: f64,
}

/// Tenant `n` of the benchmark catalog.
fn tenant_id(n: u64) -> TenantId {
    let h = (n * 2_654_435_761) % (1 << 32);
    let text = format!("{h:08x}-0000-4000-8000-{n:012x}");
    text.parse()
        .unwrap_or_else(|_| TenantId::from_uuid(Uuid::nil()))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A small xorshift generator: the lookups' ids, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub async fn run(settings: &Settings, spec: &Spec) -> Result<Report, String> {
    let before = rss_kib();
    let replica = Replica::empty(Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let follow_settings = FollowSettings {
        source: spec.source.clone(),
        amqp_url: settings.amqp_url.clone(),
        credentials: Credentials::sign(&settings.auth).map_err(|e| e.to_string())?,
        page_size: 20_000,
    };
    let follower = follow::start(replica.clone(), follow_settings, shutdown.clone())
        .map_err(|e| format!("starting the follower: {e}"))?;
    let started = Instant::now();
    while replica.freshness().is_err() {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the replica did not load its snapshot within 600 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let stats = replica.stats();
    let memory_mib = rss_kib().saturating_sub(before) as f64 / 1024.0;
    let (found, took, single) = time_lookups(&replica, spec).await?;
    let (sent, delays) = staleness(settings, spec, &replica).await?;
    shutdown.cancel();
    let _ = tokio::task::spawn_blocking(move || follower.join()).await;
    let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
    let lookups = spec.lookups;
    Ok(Report {
        load_seconds: (load_seconds * 10.0).round() / 10.0,
        entries: stats.entries,
        routes: stats.routes,
        memory_mib: memory_mib.round(),
        memory_mib_per_million: (memory_mib * 1e6 / stats.entries.max(1) as f64).round(),
        lookups,
        lookups_per_s: (lookups as f64 / took.as_secs_f64()).round(),
        found,
        lookup_p50_ns: percentile(&single, 0.50),
        lookup_p99_ns: percentile(&single, 0.99),
        lookup_p999_ns: percentile(&single, 0.999),
        changes: sent as usize,
        changes_seen: delays.len(),
        staleness_p50_ms: ms(percentile(&delays, 0.50)),
        staleness_p99_ms: ms(percentile(&delays, 0.99)),
        staleness_max_ms: ms(delays.last().copied().unwrap_or(0)),
    })
}

/// Lookups on one core, a thread of its own, ids drawn beforehand: how many found, how long
/// `spec.lookups` took, and each of a million timed alone (sorted).
async fn time_lookups(replica: &Replica, spec: &Spec) -> Result<(u64, Duration, Vec<u64>), String> {
    let ids: Vec<TenantId> = {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        (0..1_000_000)
            .map(|_| tenant_id(rng.next() % spec.tenants + 1))
            .collect()
    };
    let r = replica.clone();
    let lookups = spec.lookups;
    let (found, took, mut single) = tokio::task::spawn_blocking(move || {
        let mut found = 0u64;
        let t0 = Instant::now();
        for k in 0..lookups {
            if let Ok(Some(_)) = r.route(ids[(k % ids.len() as u64) as usize]) {
                found += 1;
            }
        }
        let took = t0.elapsed();
        let mut single = Vec::with_capacity(ids.len());
        for id in &ids {
            let t = Instant::now();
            let route = r.route(*id);
            single.push(t.elapsed().as_nanos() as u64);
            std::hint::black_box(route.ok());
        }
        (found, took, single)
    })
    .await
    .map_err(|e| e.to_string())?;
    single.sort_unstable();
    Ok((found, took, single))
}

/// Staleness: new tenants at a steady rate, each stamped when the replica first has it, and
/// compared with its commit in the catalog. Returns how many were sent and the delays in
/// microseconds (sorted).
async fn staleness(
    settings: &Settings,
    spec: &Spec,
    replica: &Replica,
) -> Result<(u64, Vec<u64>), String> {
    let publisher = EventPublisher::connect(&settings.amqp_url)
        .await
        .map_err(|e| e.to_string())?;
    let mut pending: HashMap<TenantId, ()> = HashMap::new();
    let mut seen: HashMap<TenantId, SystemTime> = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(1) as f64);
    let t0 = Instant::now();
    let mut sent = 0u64;
    let deadline_after_sent = Duration::from_secs(30);
    let mut all_sent_at: Option<Instant> = None;
    loop {
        while sent < spec.changes && t0.elapsed() >= interval * sent as u32 {
            let id = TenantId::from_uuid(Uuid::new_v4());
            publisher
                .publish(activation(id).to_string().as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            pending.insert(id, ());
            sent += 1;
        }
        if sent == spec.changes && all_sent_at.is_none() {
            all_sent_at = Some(Instant::now());
        }
        let found_now: Vec<TenantId> = pending
            .keys()
            .filter(|id| matches!(replica.route(**id), Ok(Some(_))))
            .copied()
            .collect();
        let now = SystemTime::now();
        for id in found_now {
            pending.remove(&id);
            seen.insert(id, now);
        }
        if all_sent_at.is_some_and(|at| pending.is_empty() || at.elapsed() > deadline_after_sent) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((sent, delays(settings, &seen).await?))
}

/// Publishes `rate` new tenants a second for `length`, paced from the start (a late send
/// does not push the later ones back); returns how many were sent.
pub async fn stream(
    publisher: &EventPublisher,
    rate: u64,
    length: Duration,
) -> Result<u64, tenant_catalog::amqp::BrokerError> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < length {
        let id = TenantId::from_uuid(Uuid::new_v4());
        publisher
            .publish(activation(id).to_string().as_bytes())
            .await?;
        sent += 1;
        tokio::time::sleep_until((t0 + interval * sent as u32).into()).await;
    }
    Ok(sent)
}

/// A new tenant, bought directly.
fn activation(id: TenantId) -> serde_json::Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "id": Uuid::new_v4().to_string(), "type": "subscription.activated",
        "tenant_id": id.to_string(), "occurred_at": now.to_rfc3339(), "sequence": 1,
        "data": {"site": format!("rb-{}", &id.as_uuid().simple().to_string()[..12]),
                 "products": ["jira"], "residency": "global", "plan": "premium",
                 "cycle": "annual",
                 "current_period_end": (now + chrono::Duration::days(365)).to_rfc3339()}
    })
}

/// From each tenant's commit in the catalog to when the replica first had it, in
/// microseconds, sorted.
async fn delays(
    settings: &Settings,
    seen: &HashMap<TenantId, SystemTime>,
) -> Result<Vec<u64>, String> {
    let db = sqlx::PgPool::connect(&settings.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let uuids: Vec<Uuid> = seen.keys().map(|id| id.as_uuid()).collect();
    let committed: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("select id, updated_at from tenants where id = any($1)")
            .bind(&uuids)
            .fetch_all(&db)
            .await
            .map_err(|e| e.to_string())?;
    let mut delays: Vec<u64> = committed
        .iter()
        .filter_map(|(id, at)| {
            let seen_at = seen.get(&TenantId::from_uuid(*id))?;
            let at: SystemTime = (*at).into();
            Some(seen_at.duration_since(at).unwrap_or_default().as_micros() as u64)
        })
        .collect();
    delays.sort_unstable();
    Ok(delays)
}
