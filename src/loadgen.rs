//! Load and fault tooling (issue 5): realistic commerce event streams, and a checker that
//! compares the catalog with what the pure lifecycle engine says each tenant must be.
//!
//! `generate` makes whole lifecycles for many tenants, with timestamps spread over the past
//! months, then a delivery plan: every event once, a share of them again (redeliveries with the
//! same id), all shuffled, with poison messages interleaved. `check` reads the catalog and
//! reports lost events and tenants whose state differs from the fold of their events.

use crate::catalog::tenants::{self, TenantRow};
use crate::catalog::{Db, Doing, StoreError};
use crate::domain::{Site, TenantId};
use crate::lifecycle::{Event, Lifecycle, fold};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// A small, seedable pseudo-random generator (SplitMix64): the same seed gives the same
/// stream, so a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A whole number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bytes.to_be_bytes()).into_uuid()
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub tenants: usize,
    /// Share of events delivered a second time (0.3: 30% of the distinct events).
    pub duplicates: f64,
    /// Poison messages interleaved with the events.
    pub poison: usize,
    pub seed: u64,
}

/// A generated stream.
pub struct Plan {
    /// Every distinct event, as JSON.
    pub events: Vec<Value>,
    /// What to publish, in order: events (some twice) and poison, shuffled.
    pub deliveries: Vec<Vec<u8>>,
}

/// Generates `spec.tenants` lifecycles ending before `now`, and their delivery plan.
pub fn generate(spec: &Spec, now: DateTime<Utc>) -> Plan {
    let mut rng = Rng::new(spec.seed);
    let now = now.trunc_subsecs(0);
    let run = format!("{:x}", spec.seed & 0xffff_ffff);
    let mut events = Vec::new();
    for n in 0..spec.tenants {
        lifecycle(&mut rng, &run, n, now, &mut events);
    }
    let mut deliveries: Vec<Vec<u8>> = events.iter().map(|e| e.to_string().into_bytes()).collect();
    for e in &events {
        if rng.chance(spec.duplicates) {
            deliveries.push(e.to_string().into_bytes());
        }
    }
    for i in 0..spec.poison {
        deliveries.push(poison(&mut rng, i, now));
    }
    // Fisher-Yates: any order, as the bus promises none.
    for i in (1..deliveries.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        deliveries.swap(i, j);
    }
    Plan { events, deliveries }
}

const RESIDENCIES: [&str; 7] = ["us", "eu", "de", "ie", "sg", "au", "global"];

/// One tenant's life: a trial or a direct purchase some time in the last four months, then what
/// customers do: convert, renew, rename, get suspended, cancel, come back, ask for deletion.
fn lifecycle(rng: &mut Rng, run: &str, n: usize, now: DateTime<Utc>, out: &mut Vec<Value>) {
    let tenant = rng.uuid();
    let mut seq = 0u64;
    let start = now - Duration::minutes(rng.below(120 * 24 * 60) as i64 + 60);
    let mut at = start;
    let mut push = |rng: &mut Rng, at: DateTime<Utc>, kind: &str, data: Value| {
        seq += 1;
        out.push(json!({
            "id": rng.uuid().to_string(),
            "type": kind,
            "tenant_id": tenant.to_string(),
            "occurred_at": at.to_rfc3339(),
            "sequence": seq,
            "data": data,
        }));
    };
    // Later steps happen after the previous one, and never after `now`.
    let later = |rng: &mut Rng, at: DateTime<Utc>, max_days: u64| {
        (at + Duration::minutes(rng.below(max_days * 24 * 60) as i64 + 1)).min(now)
    };
    let residency = RESIDENCIES[rng.below(RESIDENCIES.len() as u64) as usize];
    let site = format!("lg-{run}-{n}");
    let period_end = |at: DateTime<Utc>| (at + Duration::days(30)).to_rfc3339();
    let mut active = if rng.chance(0.7) {
        let billing_day = rng.below(28) + 1;
        push(
            rng,
            at,
            "trial.started",
            json!({"site": site, "products": ["jira", "confluence"], "residency": residency,
                   "billing_day": billing_day}),
        );
        // Most trials convert before they end (30 to 58 days); some do not.
        if rng.chance(0.6) {
            at = later(rng, at, 29);
            push(
                rng,
                at,
                "subscription.activated",
                json!({"plan": "standard", "cycle": "monthly", "current_period_end": period_end(at)}),
            );
            true
        } else {
            false
        }
    } else {
        push(
            rng,
            at,
            "subscription.activated",
            json!({"plan": "premium", "cycle": "annual", "current_period_end": period_end(at),
                   "site": site, "products": ["jira"], "residency": residency}),
        );
        true
    };
    if !active {
        return;
    }
    for _ in 0..rng.below(3) {
        at = later(rng, at, 30);
        push(
            rng,
            at,
            "subscription.renewed",
            json!({"current_period_end": period_end(at)}),
        );
    }
    if rng.chance(0.2) {
        at = later(rng, at, 20);
        push(
            rng,
            at,
            "site.renamed",
            json!({"site": format!("lg-{run}-{n}-r")}),
        );
    }
    if rng.chance(0.1) {
        at = later(rng, at, 10);
        push(
            rng,
            at,
            "subscription.suspended",
            json!({"reason": "payment_overdue"}),
        );
        if rng.chance(0.7) {
            at = later(rng, at, 10);
            push(rng, at, "subscription.unsuspended", json!({}));
        }
    }
    if rng.chance(0.15) {
        at = later(rng, at, 20);
        let effective = at + Duration::minutes(rng.below(40 * 24 * 60) as i64);
        push(
            rng,
            at,
            "subscription.cancelled",
            json!({"effective_at": effective.to_rfc3339()}),
        );
        active = false;
        if rng.chance(0.3) {
            at = later(rng, at, 30);
            push(
                rng,
                at,
                "subscription.reactivated",
                json!({"current_period_end": period_end(at)}),
            );
            active = true;
        }
    }
    if active && rng.chance(0.05) {
        at = later(rng, at, 20);
        push(
            rng,
            at,
            "data.deletion_requested",
            json!({"reason": "customer request"}),
        );
    }
}

/// A message the consumer must dead-letter, of one of several kinds.
fn poison(rng: &mut Rng, i: usize, now: DateTime<Utc>) -> Vec<u8> {
    let id = rng.uuid().to_string();
    let tenant = rng.uuid().to_string();
    let at = now.to_rfc3339();
    let body = match i % 5 {
        0 => return format!("not json {i}").into_bytes(),
        1 => json!({"type": "trial.started", "tenant_id": tenant, "occurred_at": at, "data": {}}),
        2 => json!({"id": id, "type": "subscription.teleported", "tenant_id": tenant,
                    "occurred_at": at, "data": {}}),
        3 => json!({"id": id, "type": "subscription.renewed", "tenant_id": tenant,
                    "occurred_at": "yesterday", "data": {"current_period_end": at}}),
        _ => json!({"id": id, "type": "admin.deletion_requested", "tenant_id": tenant,
                    "occurred_at": at, "data": {"by": "mallory", "reason": "x", "force": true}}),
    };
    body.to_string().into_bytes()
}

/// What the checker found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub distinct_events: usize,
    pub tenants: usize,
    /// Distinct events the catalog does not hold.
    pub lost: usize,
    /// Stored judgements.
    pub applied: usize,
    pub rejected: usize,
    pub duplicate: usize,
    /// Extra deliveries the catalog counted (redeliveries seen).
    pub redeliveries_seen: i64,
    /// Tenants that match the fold of their events.
    pub matching: usize,
    /// Tenants deleted early: some earlier state of the catalog already folded to DELETED, and
    /// what arrived after that was rejected, as the contract allows.
    pub deleted_early: usize,
    /// Tenants whose state differs from the fold of their events (must be 0): an event lost,
    /// applied twice or judged wrongly would show here.
    pub mismatched: usize,
    /// A few mismatches, for a person to look at.
    pub examples: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.mismatched == 0
    }
}

/// Events read back from a JSON Lines file of distinct events.
pub fn read_events(text: &str) -> Result<Vec<Event>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| Event::parse(l.as_bytes()).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// How many tenants the checker reads per query.
const CHUNK: usize = 2000;

/// Compares the catalog with the fold of `events` at `now` (the generated sites never collide,
/// so no site is taken). A tenant whose scheduler may not have fired a timer of the last few
/// seconds yet is compared at `now - 10 s` as well.
pub async fn check(db: &Db, events: &[Event], now: DateTime<Utc>) -> Result<Report, StoreError> {
    let mut by_tenant: HashMap<TenantId, Vec<Event>> = HashMap::new();
    for e in events {
        by_tenant.entry(e.tenant_id).or_default().push(e.clone());
    }
    let mut report = Report {
        distinct_events: events.len(),
        tenants: by_tenant.len(),
        ..Report::default()
    };
    let ids: Vec<TenantId> = by_tenant.keys().copied().collect();
    for chunk in ids.chunks(CHUNK) {
        let mut tx = db.begin().await.doing(|| "starting to read".into())?;
        let rows = tenants::load_many(&mut *tx, chunk).await?;
        let uuids: Vec<Uuid> = chunk.iter().map(TenantId::as_uuid).collect();
        let stored = sqlx::query!(
            r#"select event_id, tenant_id, outcome, reason, deliveries
               from tenant_events where tenant_id = any($1)"#,
            &uuids
        )
        .fetch_all(&mut *tx)
        .await
        .doing(|| "reading stored events".into())?;
        tx.rollback().await.doing(|| "ending the read".into())?;
        let mut judged: HashMap<Uuid, (String, Option<String>)> = HashMap::new();
        for s in stored {
            report.redeliveries_seen += i64::from(s.deliveries - 1);
            match s.outcome.as_str() {
                "applied" => report.applied += 1,
                "duplicate" => report.duplicate += 1,
                _ => report.rejected += 1,
            }
            judged.insert(s.event_id, (s.outcome, s.reason));
        }
        for id in chunk {
            let events = &by_tenant[id];
            report.lost += events
                .iter()
                .filter(|e| !judged.contains_key(&e.id.as_uuid()))
                .count();
            match compare(events, rows.get(id), &judged, now) {
                Verdict::Matches => report.matching += 1,
                Verdict::DeletedEarly => report.deleted_early += 1,
                Verdict::Differs(why) => {
                    report.mismatched += 1;
                    if report.examples.len() < 10 {
                        report.examples.push(format!("tenant {id}: {why}"));
                    }
                }
            }
        }
    }
    Ok(report)
}

enum Verdict {
    Matches,
    DeletedEarly,
    Differs(String),
}

fn no_site_taken(_: &Site) -> bool {
    false
}

/// The stored row against the fold of the tenant's events.
fn compare(
    events: &[Event],
    row: Option<&TenantRow>,
    judged: &HashMap<Uuid, (String, Option<String>)>,
    now: DateTime<Utc>,
) -> Verdict {
    let same = |events: &[Event], at: DateTime<Utc>| {
        let folded = fold(events, at, &no_site_taken).tenant;
        match (folded, row) {
            (None, None) => true,
            (Some(t), Some(r)) => TenantRow::project(&t, r.placement().as_ref()).same_content(r),
            _ => false,
        }
    };
    if same(events, now) || same(events, now - Duration::seconds(10)) {
        return Verdict::Matches;
    }
    if let Some(r) = row.filter(|r| r.lifecycle == Lifecycle::Deleted.as_str()) {
        // The events the catalog had when it carried out the deletion: those not rejected as
        // coming after it.
        let before: Vec<Event> = events
            .iter()
            .filter(|e| {
                !judged.get(&e.id.as_uuid()).is_some_and(|(_, reason)| {
                    reason
                        .as_deref()
                        .is_some_and(|r| r.contains("a carried-out deletion is final"))
                })
            })
            .cloned()
            .collect();
        if before.len() < events.len() && same(&before, r.deleted_at.unwrap_or(now)) {
            return Verdict::DeletedEarly;
        }
    }
    let expected = fold(events, now, &no_site_taken).tenant;
    Verdict::Differs(format!(
        "stored {:?}, expected {:?}",
        row.map(|r| (
            &r.lifecycle,
            &r.state,
            r.suspended,
            &r.site,
            r.deletion_due_at
        )),
        expected.map(|t| (t.lifecycle, t.suspended, t.site, t.deletion_due_at))
    ))
}

/// What the change feed said, as received on a queue bound to `tenant-catalog.changes`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FeedReport {
    pub change_messages: usize,
    /// The same change (tenant, version, content) received again: the relay publishes at
    /// least once, and consumers drop repeats by version. Allowed.
    pub repeated: usize,
    /// Two different changes under one tenant version: a change applied twice (a timer fired
    /// twice, an event applied twice). Must be 0.
    pub double_applied: usize,
    /// Tenant versions with no message, between 1 and the tenant's stored version. Must be 0.
    pub missing: usize,
    pub examples: Vec<String>,
}

impl FeedReport {
    pub fn ok(&self) -> bool {
        self.double_applied == 0 && self.missing == 0
    }
}

/// Drains `queue` (bound to the change exchange before the run) once the outbox is empty, and
/// checks that every tenant's versions arrived exactly once each, from 1 to its stored version.
pub async fn check_feed(
    db: &Db,
    amqp_url: &str,
    queue: &str,
) -> Result<FeedReport, Box<dyn std::error::Error + Send + Sync>> {
    for _ in 0..600 {
        let backlog: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from outbox"#)
            .fetch_one(db)
            .await?;
        if backlog == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let conn = crate::ingest::connect(amqp_url, "loadcheck").await?;
    let channel = conn.create_channel().await?;
    let mut seen: HashMap<(Uuid, i64), Value> = HashMap::new();
    let mut report = FeedReport::default();
    let mut idle = 0;
    // Messages confirmed to the exchange may take a moment to land in the queue.
    while idle < 20 {
        let got = channel
            .basic_get(
                queue.into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await?;
        let Some(message) = got else {
            idle += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        idle = 0;
        report.change_messages += 1;
        let change: Value = serde_json::from_slice(&message.delivery.data)?;
        let tenant = change["tenant_id"]
            .as_str()
            .and_then(|t| t.parse::<Uuid>().ok())
            .unwrap_or_default();
        let version = change["version"].as_i64().unwrap_or_default();
        match seen.get(&(tenant, version)) {
            Some(earlier) if *earlier == change => report.repeated += 1,
            Some(earlier) => {
                report.double_applied += 1;
                if report.examples.len() < 10 {
                    report.examples.push(format!(
                        "tenant {tenant} version {version}: {earlier} and {change}"
                    ));
                }
            }
            None => {
                seen.insert((tenant, version), change);
            }
        }
    }
    let _ = conn.close(200, "loadcheck done".into()).await;
    let stored: Vec<(Uuid, i64)> = sqlx::query!("select id, version from tenants")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.version))
        .collect();
    for (tenant, version) in stored {
        for v in 1..=version {
            if !seen.contains_key(&(tenant, v)) {
                report.missing += 1;
                if report.examples.len() < 10 {
                    report
                        .examples
                        .push(format!("tenant {tenant}: no message for version {v}"));
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tenants: usize) -> Spec {
        Spec {
            tenants,
            duplicates: 0.3,
            poison: 10,
            seed: 42,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream_with_redeliveries_and_poison() {
        let now = Utc::now();
        let a = generate(&spec(200), now);
        let b = generate(&spec(200), now);
        assert_eq!(a.events, b.events);
        assert_eq!(a.deliveries, b.deliveries);
        let distinct = a.events.len();
        let poison = a
            .deliveries
            .iter()
            .filter(|d| Event::parse(d).is_err())
            .count();
        assert_eq!(poison, 10);
        let redelivered = a.deliveries.len() - distinct - poison;
        assert!(
            (distinct as f64 * 0.2..distinct as f64 * 0.4).contains(&(redelivered as f64)),
            "about 30% redelivered: {redelivered} of {distinct}"
        );
        assert!(
            a.events
                .iter()
                .all(|e| Event::parse(e.to_string().as_bytes()).is_ok())
        );
    }

    #[test]
    fn the_checker_tells_a_right_row_from_a_tampered_one() {
        let plan = generate(&spec(50), Utc::now());
        let events = read_events(
            &plan
                .events
                .iter()
                .map(|e| format!("{e}\n"))
                .collect::<String>(),
        )
        .unwrap();
        let now = Utc::now();
        let first = events[0].tenant_id;
        let mine: Vec<Event> = events
            .iter()
            .filter(|e| e.tenant_id == first)
            .cloned()
            .collect();
        let tenant = fold(&mine, now, &no_site_taken).tenant.expect("created");
        let row = TenantRow::project(&tenant, None);
        let judged = HashMap::new();
        assert!(matches!(
            compare(&mine, Some(&row), &judged, now),
            Verdict::Matches
        ));
        let mut tampered = row.clone();
        tampered.suspended = !tampered.suspended;
        assert!(matches!(
            compare(&mine, Some(&tampered), &judged, now),
            Verdict::Differs(_)
        ));
        assert!(matches!(
            compare(&mine, None, &judged, now),
            Verdict::Differs(_)
        ));
    }
}
