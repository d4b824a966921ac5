//! The change feed as received: every tenant version published, none with two contents.

use serde_json::Value;
use std::collections::HashMap;
use tenant_catalog::catalog::Db;
use uuid::Uuid;

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
    let conn = tenant_catalog::amqp::connect(amqp_url, "load check").await?;
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
    let _ = conn.close(200, "load check done".into()).await;
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
