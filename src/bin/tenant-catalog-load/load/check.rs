//! The checker: compares the catalog with what the pure lifecycle engine says each tenant
//! must be, and counts the events it lost.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use tenant_catalog::apply::GlobalSites;
use tenant_catalog::catalog::tenants::{self, TenantRow};
use tenant_catalog::catalog::{Db, Doing, StoreError};
use tenant_catalog::domain::TenantId;
use tenant_catalog::lifecycle::{Arrivals, Event, OutcomeKind};
use uuid::Uuid;

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

/// Compares the catalog with the in-order fold of `events` at `now`: each tenant's events
/// all known at once, when the catalog stored the last of them, and any deletion carried out
/// `grace` after that (CONTRACT.md section 8: a history whose events arrive within the grace
/// of one another ends so, whatever their order). Site claims are judged across all tenants in
/// contract order (one global fold). A tenant whose scheduler may not have fired a timer of the
/// last few seconds yet is compared at `now - 10 s` as well. There is no leeway for a tenant
/// deleted before all its events were read: that is a difference.
pub async fn check(
    db: &Db,
    events: &[Event],
    grace: Duration,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let mut by_tenant: HashMap<TenantId, Vec<Event>> = HashMap::new();
    for e in events {
        by_tenant.entry(e.tenant_id).or_default().push(e.clone());
    }
    let ids: Vec<TenantId> = by_tenant.keys().copied().collect();
    let last = last_received(db, &ids).await?;
    let mut arrivals = Arrivals::new(grace);
    for e in events {
        arrivals.insert(e.id, last.get(&e.tenant_id).copied().unwrap_or(now));
    }
    let sites = GlobalSites::of(events, arrivals, now);
    let mut report = Report {
        distinct_events: events.len(),
        tenants: by_tenant.len(),
        ..Report::default()
    };
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
        let mut judged: HashSet<Uuid> = HashSet::new();
        for s in stored {
            report.redeliveries_seen += i64::from(s.deliveries - 1);
            match OutcomeKind::parse(&s.outcome) {
                Some(OutcomeKind::Applied) => report.applied += 1,
                Some(OutcomeKind::Duplicate) => report.duplicate += 1,
                _ => report.rejected += 1,
            }
            judged.insert(s.event_id);
        }
        for id in chunk {
            let events = &by_tenant[id];
            report.lost += events
                .iter()
                .filter(|e| !judged.contains(&e.id.as_uuid()))
                .count();
            match compare(&sites, *id, events, rows.get(id), now) {
                Verdict::Matches => report.matching += 1,
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

/// When the catalog stored the latest event of each tenant.
async fn last_received(
    db: &Db,
    ids: &[TenantId],
) -> Result<HashMap<TenantId, DateTime<Utc>>, StoreError> {
    let mut last = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let uuids: Vec<Uuid> = chunk.iter().map(TenantId::as_uuid).collect();
        let rows = sqlx::query!(
            r#"select tenant_id, max(received_at) as "at!"
               from tenant_events where tenant_id = any($1) group by tenant_id"#,
            &uuids
        )
        .fetch_all(db)
        .await
        .doing(|| "reading when events were stored".into())?;
        last.extend(
            rows.into_iter()
                .map(|r| (TenantId::from_uuid(r.tenant_id), r.at)),
        );
    }
    Ok(last)
}

enum Verdict {
    Matches,
    Differs(String),
}

/// The stored row against the fold of the tenant's events.
fn compare(
    sites: &GlobalSites,
    id: TenantId,
    events: &[Event],
    row: Option<&TenantRow>,
    now: DateTime<Utc>,
) -> Verdict {
    let same = |events: &[Event], at: DateTime<Utc>| {
        let folded = sites.fold(id, events, at).tenant;
        match (folded, row) {
            (None, None) => true,
            (Some(t), Some(r)) => {
                TenantRow::project_over(&t, r.placement.clone(), Some(r), 0).same_content(r)
            }
            _ => false,
        }
    };
    if same(events, now) || same(events, now - Duration::seconds(10)) {
        return Verdict::Matches;
    }
    let expected = sites.fold(id, events, now).tenant;
    Verdict::Differs(format!(
        "stored {:?}, expected {:?}",
        row.map(|r| (
            r.tenant.lifecycle,
            r.state,
            r.tenant.suspended,
            &r.tenant.site,
            r.tenant.deletion_due_at
        )),
        expected.map(|t| (t.lifecycle, t.suspended, t.site, t.deletion_due_at))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::generate::{Plan, Spec, generate};
    use tenant_catalog::apply::claimed_site;
    use tenant_catalog::lifecycle::Lifecycle;

    /// The plan's distinct events, read back as `check` reads its file.
    fn events_of(plan: &Plan) -> Vec<Event> {
        let text: String = plan.events.iter().map(|e| format!("{e}\n")).collect();
        read_events(&text).unwrap()
    }

    fn spec(tenants: usize) -> Spec {
        Spec {
            tenants,
            duplicates: 0.3,
            poison: 10,
            contested: 0.0,
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

    /// With contested sites, several tenants claim each shared site and the global fold gives
    /// each to one of them: no site is held (current or old) by two tenants, and some tenant
    /// lost a claim (it is unknown, or its rename was refused).
    #[test]
    fn a_contested_stream_gives_each_site_to_one_tenant() {
        let plan = generate(
            &Spec {
                contested: 0.5,
                ..spec(300)
            },
            Utc::now(),
        );
        let events = events_of(&plan);
        let now = Utc::now();
        let sites = GlobalSites::of(&events, Arrivals::new(Duration::zero()), now);
        let mut by_tenant: HashMap<TenantId, Vec<Event>> = HashMap::new();
        for e in &events {
            by_tenant.entry(e.tenant_id).or_default().push(e.clone());
        }
        let mut claimants: HashMap<String, usize> = HashMap::new();
        for e in &events {
            if let Some(site) = claimed_site(&e.kind) {
                *claimants.entry(site.to_string()).or_default() += 1;
            }
        }
        assert!(
            claimants
                .iter()
                .any(|(site, n)| site.contains("-shared-") && *n >= 3),
            "{claimants:?}"
        );
        let mut holders: HashMap<String, TenantId> = HashMap::new();
        let mut unsited = 0;
        for (id, mine) in &by_tenant {
            let Some(tenant) = sites.fold(*id, mine, now).tenant else {
                continue;
            };
            if tenant.site.is_none() && tenant.lifecycle != Lifecycle::Deleted {
                unsited += 1;
            }
            for site in tenant.site.iter().chain(&tenant.old_sites) {
                let holder = holders.insert(site.to_string(), *id);
                assert!(
                    holder.is_none_or(|h| h == *id),
                    "{site} held by {holder:?} and {id}"
                );
            }
        }
        assert!(
            unsited > 0,
            "some creation lost its site to an earlier claim, and has none"
        );
    }

    #[test]
    fn the_checker_tells_a_right_row_from_a_tampered_one() {
        let plan = generate(&spec(50), Utc::now());
        let events = events_of(&plan);
        let now = Utc::now();
        let first = events[0].tenant_id;
        let mine: Vec<Event> = events
            .iter()
            .filter(|e| e.tenant_id == first)
            .cloned()
            .collect();
        let sites = GlobalSites::of(&events, Arrivals::new(Duration::zero()), now);
        let tenant = sites.fold(first, &mine, now).tenant.expect("created");
        let row = TenantRow::project(&tenant, None);
        assert!(matches!(
            compare(&sites, first, &mine, Some(&row), now),
            Verdict::Matches
        ));
        let mut tampered = row.clone();
        tampered.tenant.suspended = !tampered.tenant.suspended;
        assert!(matches!(
            compare(&sites, first, &mine, Some(&tampered), now),
            Verdict::Differs(_)
        ));
        assert!(matches!(
            compare(&sites, first, &mine, None, now),
            Verdict::Differs(_)
        ));
    }
}
