//! `tenant-catalog-load`: the load and fault tools behind `make chaos`, `make bench` and the
//! restore drill. Not part of the service: it publishes as commerce does, and checks the
//! catalog from outside against the pure lifecycle engine.

mod load;

use clap::{Parser, Subcommand};
use load::{check, feed, generate};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tenant_catalog::amqp::{BrokerError, EventPublisher};
use tenant_catalog::catalog::{self, StoreError};
use tenant_catalog::cli::{PUBLISH_WINDOW, read_input};
use tenant_catalog::config::Settings;

/// Load tools for tenant-catalog. Configuration comes from the environment, as for
/// `tenant-catalog` itself (DATABASE_URL, AMQP_URL).
#[derive(Debug, Parser)]
#[command(name = "tenant-catalog-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate whole lifecycles for many tenants and publish them shuffled, with
    /// redeliveries and poison messages, to commerce.lifecycle. The distinct events go to
    /// --events-out for `check`.
    Generate {
        #[arg(long, default_value_t = 1000)]
        tenants: usize,
        /// Share of events delivered twice (0 to 1).
        #[arg(long, default_value_t = 0.3)]
        duplicates: f64,
        /// Poison messages interleaved (each must end in the dead-letter queue).
        #[arg(long, default_value_t = 0)]
        poison: usize,
        /// Share of tenants (0 to 1) that claim sites of a small shared pool, at creation or
        /// by a rename, so that tenants contest sites.
        #[arg(long, default_value_t = 0.0)]
        contested: f64,
        /// The same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "loadgen-events.jsonl")]
        events_out: PathBuf,
    },
    /// Compare the catalog with the lifecycle engine's fold of the events in --events (from
    /// `generate`), waiting up to --wait seconds for it to catch up. Prints the figures as
    /// JSON; exit status 1 when an event is lost or a tenant differs.
    Check {
        #[arg(long, default_value = "loadgen-events.jsonl")]
        events: PathBuf,
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// Also check the change feed: a queue bound to tenant-catalog.changes before the run,
        /// drained here. Every tenant version must have arrived, none with two contents.
        #[arg(long)]
        changes_queue: Option<String>,
    },
    /// Embed a replica following the serve at --source and the broker at AMQP_URL, then
    /// measure it: snapshot load time and memory, lookups on one core, and staleness over a
    /// steady stream of new tenants (published as commerce does). Prints the figures as JSON.
    ReplicaBench {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        source: String,
        /// Tenants of the benchmark catalog (scripts/bench/load-tenants.sql).
        #[arg(long, default_value_t = 1_000_000)]
        tenants: u64,
        #[arg(long, default_value_t = 20_000_000)]
        lookups: u64,
        /// New tenants for the staleness run, and how many a second.
        #[arg(long, default_value_t = 3_000)]
        changes: u64,
        #[arg(long, default_value_t = 100)]
        rate: u64,
    },
    /// Publish --rate new tenants a second (as commerce does) to AMQP_URL for --seconds: a
    /// stream of changes to run beside other measurements. Prints how many it sent as JSON.
    Stream {
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Publish one tenant with a long history (--events, as commerce does) to AMQP_URL, then
    /// time lookups of its past at the serve at --source: `tenant(id, asOf)` with and without
    /// its history, `route(tenantId, asOf)`, and `tenant(id)` now. Prints the figures as JSON.
    HistoryBench {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        source: String,
        #[arg(long, default_value_t = 1_000)]
        events: u64,
        #[arg(long, default_value_t = 300)]
        lookups: u64,
    },
}

/// Why a tool failed; printed as one line.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Cli(#[from] tenant_catalog::cli::CliError),
    #[error(transparent)]
    Config(#[from] tenant_catalog::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Usage(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("reading the change feed: {0}")]
    Feed(String),
    #[error("the catalog does not match: {lost} events lost, {mismatched} tenants differ")]
    CatalogDiffers { lost: usize, mismatched: usize },
    #[error(
        "the change feed does not match: {double_applied} changes applied twice, {missing} versions missing"
    )]
    FeedDiffers {
        double_applied: usize,
        missing: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), LoadError> {
    let settings = Settings::from_env()?;
    tenant_catalog::telemetry::init(settings.log_format);
    match cli.command {
        Command::Generate {
            tenants,
            duplicates,
            poison,
            contested,
            seed,
            events_out,
        } => {
            let spec = generate::Spec {
                tenants,
                duplicates,
                poison,
                contested,
                seed,
            };
            generate_and_publish(&settings, &spec, &events_out).await
        }
        Command::Check {
            events,
            wait,
            changes_queue,
        } => check_catalog(&settings, &events, wait, changes_queue.as_deref()).await,
        Command::ReplicaBench {
            source,
            tenants,
            lookups,
            changes,
            rate,
        } => {
            let spec = load::replica_bench::Spec {
                source,
                tenants: tenants.max(1),
                lookups,
                changes,
                rate,
            };
            let report = load::replica_bench::run(&settings, &spec)
                .await
                .map_err(LoadError::Usage)?;
            println!("{}", serde_json::to_value(&report).unwrap_or_default());
            Ok(())
        }
        Command::Stream { rate, seconds } => {
            let publisher = EventPublisher::connect(&settings.amqp_url).await?;
            let sent =
                load::replica_bench::stream(&publisher, rate, Duration::from_secs(seconds)).await?;
            println!(
                "{}",
                serde_json::json!({"sent": sent, "rate": rate, "seconds": seconds})
            );
            Ok(())
        }
        Command::HistoryBench {
            source,
            events,
            lookups,
        } => {
            let spec = load::history_bench::Spec {
                source,
                events,
                lookups,
            };
            let report = load::history_bench::run(&settings, &spec)
                .await
                .map_err(LoadError::Usage)?;
            println!("{}", serde_json::to_value(&report).unwrap_or_default());
            Ok(())
        }
    }
}

async fn generate_and_publish(
    settings: &Settings,
    spec: &generate::Spec,
    events_out: &Path,
) -> Result<(), LoadError> {
    for (flag, share) in [
        ("duplicates", spec.duplicates),
        ("contested", spec.contested),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(LoadError::Usage(format!(
                "--{flag} must be from 0 to 1, got {share}"
            )));
        }
    }
    let plan = generate::generate(spec, chrono::Utc::now());
    let lines: String = plan.events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(events_out, lines).map_err(|source| LoadError::Write {
        path: events_out.display().to_string(),
        source,
    })?;
    let publisher = EventPublisher::connect(&settings.amqp_url).await?;
    let started = Instant::now();
    let sent = publisher
        .publish_all(plan.deliveries.iter().map(Vec::as_slice), PUBLISH_WINDOW)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "seed": spec.seed, "tenants": spec.tenants, "distinct_events": plan.events.len(),
            "sent": sent, "redeliveries_sent": sent - plan.events.len() - spec.poison,
            "poison": spec.poison, "publish_seconds": (seconds * 10.0).round() / 10.0,
            "events_file": events_out.display().to_string(),
        })
    );
    Ok(())
}

async fn check_catalog(
    settings: &Settings,
    events: &Path,
    wait: u64,
    changes_queue: Option<&str>,
) -> Result<(), LoadError> {
    let text = String::from_utf8_lossy(&read_input(events)?).into_owned();
    let events = check::read_events(&text).map_err(LoadError::Usage)?;
    let db = catalog::connect(settings).await?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    let report = loop {
        let report =
            check::check(&db, &events, settings.deletion_grace, chrono::Utc::now()).await?;
        if report.ok() || Instant::now() >= deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let feed = match changes_queue {
        Some(queue) if report.ok() => Some(
            feed::check_feed(&db, &settings.amqp_url, queue)
                .await
                .map_err(|e| LoadError::Feed(e.to_string()))?,
        ),
        _ => None,
    };
    let mut figures = serde_json::to_value(&report).unwrap_or_default();
    if let Some(feed) = &feed {
        figures["feed"] = serde_json::to_value(feed).unwrap_or_default();
    }
    println!("{figures}");
    if !report.ok() {
        return Err(LoadError::CatalogDiffers {
            lost: report.lost,
            mismatched: report.mismatched,
        });
    }
    if let Some(feed) = feed.filter(|f| !f.ok()) {
        return Err(LoadError::FeedDiffers {
            double_applied: feed.double_applied,
            missing: feed.missing,
        });
    }
    Ok(())
}
