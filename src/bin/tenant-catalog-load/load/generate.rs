//! Realistic commerce event streams: whole lifecycles for many tenants, with timestamps
//! spread over the past months, then a delivery plan: every event once, a share of them again
//! (redeliveries with the same id), all shuffled, with poison messages interleaved.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Value, json};
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
    /// Share of tenants (0 to 1) that create themselves on, or rename themselves to, a site
    /// of a small shared pool (about three claimants a site), so the earliest claim must win.
    pub contested: f64,
    pub seed: u64,
}

/// How many deliveries apart the first and last of one tenant's deliveries are at most.
const CLUSTER: u64 = 200;

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
    let sites = Sites {
        run,
        contested: spec.contested,
        pool: (spec.tenants as f64 * spec.contested / 3.0).ceil().max(1.0) as u64,
    };
    let mut events = Vec::new();
    for n in 0..spec.tenants {
        lifecycle(&mut rng, &sites, n, now, &mut events);
    }
    let mut deliveries: Vec<&Value> = events.iter().collect();
    for e in &events {
        if rng.chance(spec.duplicates) {
            deliveries.push(e);
        }
    }
    // Fisher-Yates: any order, as the bus promises none.
    for i in (1..deliveries.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        deliveries.swap(i, j);
    }
    // Then each tenant's deliveries (in that random order among themselves) close together at
    // a random place of the stream, as a backlog of one tenant arrives: whole histories late
    // and shuffled, each within moments, so within any grace of a few seconds (CONTRACT.md
    // section 8: such a history ends as its in-order fold).
    let total = deliveries.len() as u64 + spec.poison as u64;
    let mut starts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut keyed: Vec<(u64, Vec<u8>)> = deliveries
        .into_iter()
        .map(|e| {
            let tenant = e["tenant_id"].as_str().unwrap_or_default().to_owned();
            let start = *starts
                .entry(tenant)
                .or_insert_with(|| rng.below(total.max(1)));
            (start + rng.below(CLUSTER), e.to_string().into_bytes())
        })
        .collect();
    for i in 0..spec.poison {
        let at = rng.below(total.max(1));
        keyed.push((at, poison(&mut rng, i, now)));
    }
    keyed.sort_by_key(|(key, _)| *key);
    let deliveries = keyed.into_iter().map(|(_, d)| d).collect();
    Plan { events, deliveries }
}

const RESIDENCIES: [&str; 7] = ["us", "eu", "de", "ie", "sg", "au", "global"];

/// One tenant's events as they are generated: its clock, its sequence, and where they go.
struct Life<'a> {
    rng: &'a mut Rng,
    out: &'a mut Vec<Value>,
    tenant: Uuid,
    seq: u64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Life<'_> {
    fn push(&mut self, kind: &str, data: Value) {
        self.seq += 1;
        self.out.push(json!({
            "id": self.rng.uuid().to_string(),
            "type": kind,
            "tenant_id": self.tenant.to_string(),
            "occurred_at": self.at.to_rfc3339(),
            "sequence": self.seq,
            "data": data,
        }));
    }

    /// The next step happens after the previous one, within `max_days`, and never after `now`.
    fn later(&mut self, max_days: u64) {
        let step = Duration::minutes(self.rng.below(max_days * 24 * 60) as i64 + 1);
        self.at = (self.at + step).min(self.now);
    }

    fn period_end(&self) -> String {
        (self.at + Duration::days(30)).to_rfc3339()
    }
}

/// Where sites come from: each tenant's own, or the shared pool.
struct Sites {
    run: String,
    contested: f64,
    pool: u64,
}

impl Sites {
    /// A site from the shared pool, for a share `contested` of the draws (none, and no draw
    /// from `rng`, when it is 0, so a seed gives the stream it always gave).
    fn shared(&self, rng: &mut Rng) -> Option<String> {
        (self.contested > 0.0 && rng.chance(self.contested))
            .then(|| format!("lg-{}-shared-{}", self.run, rng.below(self.pool)))
    }
}

/// One tenant's life: a trial or a direct purchase some time in the last four months, then what
/// customers do: convert, renew, rename, get suspended, cancel, come back, ask for deletion.
///
/// A tenant that touches a shared site buys directly and never cancels or asks for deletion:
/// the catalog may carry out a deletion before a late event would have prevented it ("deleted
/// early", which the contract allows), and a site that deletion freed would then go to another
/// tenant than a fold of all events gives it, which the checker cannot tell from a fault.
fn lifecycle(rng: &mut Rng, sites: &Sites, n: usize, now: DateTime<Utc>, out: &mut Vec<Value>) {
    let tenant = rng.uuid();
    let at = now - Duration::minutes(rng.below(120 * 24 * 60) as i64 + 60);
    let mut life = Life {
        rng,
        out,
        tenant,
        seq: 0,
        at,
        now,
    };
    let own = format!("lg-{}-{n}", sites.run);
    let first = sites.shared(life.rng);
    let rename = sites.shared(life.rng);
    let contested = first.is_some() || rename.is_some();
    let site = first.unwrap_or_else(|| own.clone());
    if start(&mut life, &site, contested) {
        paid(&mut life, &rename.unwrap_or(format!("{own}-r")), contested);
    }
}

/// A trial (converted or not) or a direct purchase; whether the tenant ends up paying.
fn start(life: &mut Life<'_>, site: &str, direct: bool) -> bool {
    let residency = RESIDENCIES[life.rng.below(RESIDENCIES.len() as u64) as usize];
    if direct || !life.rng.chance(0.7) {
        let data = json!({"plan": "premium", "cycle": "annual", "current_period_end": life.period_end(),
                          "site": site, "products": ["jira"], "residency": residency});
        life.push("subscription.activated", data);
        return true;
    }
    let billing_day = life.rng.below(28) + 1;
    life.push(
        "trial.started",
        json!({"site": site, "products": ["jira", "confluence"], "residency": residency,
               "billing_day": billing_day}),
    );
    // Most trials convert before they end (30 to 58 days); some do not.
    if !life.rng.chance(0.6) {
        return false;
    }
    life.later(29);
    let data =
        json!({"plan": "standard", "cycle": "monthly", "current_period_end": life.period_end()});
    life.push("subscription.activated", data);
    true
}

/// What a paying tenant does: renew, rename, get suspended, cancel, come back, ask for
/// deletion (a tenant that `stays` renames more often and never cancels or asks).
fn paid(life: &mut Life<'_>, new_site: &str, stays: bool) {
    for _ in 0..life.rng.below(3) {
        life.later(30);
        let data = json!({"current_period_end": life.period_end()});
        life.push("subscription.renewed", data);
    }
    if life.rng.chance(if stays { 0.5 } else { 0.2 }) {
        life.later(20);
        life.push("site.renamed", json!({"site": new_site}));
    }
    if life.rng.chance(0.1) {
        life.later(10);
        life.push(
            "subscription.suspended",
            json!({"reason": "payment_overdue"}),
        );
        if life.rng.chance(0.7) {
            life.later(10);
            life.push("subscription.unsuspended", json!({}));
        }
    }
    if stays {
        return;
    }
    let mut active = true;
    if life.rng.chance(0.15) {
        life.later(20);
        let effective = life.at + Duration::minutes(life.rng.below(40 * 24 * 60) as i64);
        life.push(
            "subscription.cancelled",
            json!({"effective_at": effective.to_rfc3339()}),
        );
        active = false;
        if life.rng.chance(0.3) {
            life.later(30);
            let data = json!({"current_period_end": life.period_end()});
            life.push("subscription.reactivated", data);
            active = true;
        }
    }
    if active && life.rng.chance(0.05) {
        life.later(20);
        life.push(
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
