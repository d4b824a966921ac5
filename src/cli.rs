//! The command line (CONTRACT.md section 1).

use crate::auth::Scope;
use crate::catalog::{self, events, tenants};
use crate::config::Settings;
use crate::domain::TenantId;
use crate::ingest::publisher::EventPublisher;
use crate::startup::{Application, cancel_on_signal};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// tenant-catalog: the source of truth for every customer tenant.
///
/// Configuration comes from the environment: DATABASE_URL, AMQP_URL, HTTP_ADDR, BASE_DOMAIN,
/// and the others listed in the README.
#[derive(Debug, Parser)]
#[command(name = "tenant-catalog", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API, the AMQP consumer, the scheduler and the outbox relay.
    Serve,
    /// Create the database if missing, apply the migrations, seed the shards of a new catalog.
    Migrate,
    /// Publish commerce events to commerce.lifecycle, as commerce does: JSON files of one
    /// event each, `.jsonl` files of one event a line, or `-` for one event from stdin.
    Publish {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a tenant and its history as JSON.
    Show { tenant_id: String },
    /// Print a signed bearer token that `serve`, with the same configuration, accepts.
    Token {
        /// `read` for GraphQL lookups, `admin` for the admin API too.
        #[arg(long)]
        scope: Scope,
        /// Who the token speaks for (the `sub` claim), e.g. a service or person name.
        #[arg(long, default_value = "tenant-catalog-cli")]
        sub: String,
        /// Lifetime in seconds; at most, and by default, AUTH_MAX_TTL_SECS (3600).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Print the GraphQL schema (SDL), as kept in graphql/schema.graphql.
    ExportSchema,
    /// Print the admin API's OpenAPI document, as kept in docs/admin-openapi.json.
    ExportOpenapi,
    /// Refold every tenant's stored history with the lifecycle engine and report the tenants
    /// whose stored state differs; exit status 1 when one does. Changes nothing.
    Verify,
    /// Rewrite the tenant rows that differ from the refold of their history (as `verify`
    /// reports them), with a new version and a change message each. Safe next to `serve`.
    Rebuild,
    /// Load tool: generate whole lifecycles for many tenants and publish them shuffled, with
    /// redeliveries and poison messages, to commerce.lifecycle. The distinct events go to
    /// --events-out for `loadcheck`.
    Loadgen {
        #[arg(long, default_value_t = 1000)]
        tenants: usize,
        /// Share of events delivered twice (0 to 1).
        #[arg(long, default_value_t = 0.3)]
        duplicates: f64,
        /// Poison messages interleaved (each must end in the dead-letter queue).
        #[arg(long, default_value_t = 0)]
        poison: usize,
        /// The same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "loadgen-events.jsonl")]
        events_out: PathBuf,
    },
    /// Load tool: compare the catalog with the lifecycle engine's fold of the events in
    /// --events (from `loadgen`), waiting up to --wait seconds for it to catch up. Prints the
    /// figures as JSON; exit status 1 when an event is lost or a tenant differs.
    Loadcheck {
        #[arg(long, default_value = "loadgen-events.jsonl")]
        events: PathBuf,
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// Also check the change feed: a queue bound to tenant-catalog.changes before the run,
        /// drained here. Every tenant version must have arrived, none with two contents.
        #[arg(long)]
        changes_queue: Option<String>,
    },
}

/// A progress line on a terminal (nothing when stderr is not one).
fn progress(done: usize, total: i64) {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let pct = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            100.0
        };
        eprint!("\r{done} of {total} tenants ({pct:.0}%)");
    }
}

/// Events in flight (published, not yet confirmed) when publishing a stream.
const PUBLISH_WINDOW: usize = 1000;

/// Why a command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    #[error(transparent)]
    Store(#[from] crate::catalog::StoreError),
    #[error(transparent)]
    Broker(#[from] crate::ingest::BrokerError),
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
    #[error("{0}")]
    Usage(String),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    // The schema and the document do not depend on the configuration.
    match cli.command {
        Command::ExportSchema => {
            print!("{}", crate::graphql::sdl());
            return Ok(());
        }
        Command::ExportOpenapi => {
            print!("{}", crate::admin::openapi_json());
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::from_env()?;
    crate::telemetry::init(settings.log_format);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings.clone()).await?;
            tracing::info!(addr = %settings.http_addr, port = app.port(), "tenant-catalog is serving.");
            tokio::spawn(cancel_on_signal(app.shutdown_token()));
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let db = catalog::migrate_and_seed(&settings).await?;
            db.close().await;
            println!(
                "database {} is migrated",
                catalog::redact(&settings.database_url)
            );
        }
        Command::Publish { files } => {
            let publisher = EventPublisher::connect(&settings.amqp_url).await?;
            for file in files {
                let body = if file.as_os_str() == "-" {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                        .map_err(|e| CliError::Usage(format!("reading stdin: {e}")))?;
                    buf
                } else {
                    std::fs::read(&file)
                        .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?
                };
                if file.extension().is_some_and(|e| e == "jsonl") {
                    // JSON Lines: one event a line, for streams of many events.
                    let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
                    let count = publisher.publish_all(lines, PUBLISH_WINDOW).await?;
                    println!("published {count} events from {}", file.display());
                } else {
                    publisher.publish(&body).await?;
                    println!("published {}", file.display());
                }
            }
        }
        Command::Show { tenant_id } => {
            let id: TenantId = tenant_id
                .parse()
                .map_err(|e: crate::domain::InvalidValue| CliError::Usage(e.0))?;
            let db = catalog::connect(&settings).await?;
            let tenant = tenants::get(&db, id).await?;
            let history = events::history(&db, id).await?;
            let host = tenant
                .as_ref()
                .and_then(|t| t.site.as_ref())
                .map(|s| format!("{s}.{}", settings.base_domain));
            let out = serde_json::json!({"tenant": tenant, "host": host, "history": history});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Command::Token { scope, sub, ttl } => {
            let signer = crate::auth::keys::signer(&settings.auth)?;
            let ttl = ttl.unwrap_or(settings.auth.max_ttl_secs);
            let token = crate::auth::mint(&signer, &settings.auth, &sub, scope, ttl)
                .map_err(CliError::Usage)?;
            println!("{token}");
        }
        Command::Loadgen {
            tenants,
            duplicates,
            poison,
            seed,
            events_out,
        } => {
            if !(0.0..=1.0).contains(&duplicates) {
                return Err(CliError::Usage(format!(
                    "--duplicates must be from 0 to 1, got {duplicates}"
                )));
            }
            let spec = crate::loadgen::Spec {
                tenants,
                duplicates,
                poison,
                seed,
            };
            let plan = crate::loadgen::generate(&spec, chrono::Utc::now());
            let lines: String = plan.events.iter().map(|e| format!("{e}\n")).collect();
            std::fs::write(&events_out, lines)
                .map_err(|e| CliError::Usage(format!("writing {}: {e}", events_out.display())))?;
            let publisher = EventPublisher::connect(&settings.amqp_url).await?;
            let started = std::time::Instant::now();
            let sent = publisher
                .publish_all(plan.deliveries.iter().map(Vec::as_slice), PUBLISH_WINDOW)
                .await?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "seed": seed, "tenants": tenants, "distinct_events": plan.events.len(), "sent": sent,
                    "redeliveries_sent": sent - plan.events.len() - poison, "poison": poison,
                    "publish_seconds": (seconds * 10.0).round() / 10.0,
                    "events_file": events_out.display().to_string(),
                })
            );
        }
        Command::Loadcheck {
            events,
            wait,
            changes_queue,
        } => {
            let text = std::fs::read_to_string(&events)
                .map_err(|e| CliError::Usage(format!("reading {}: {e}", events.display())))?;
            let events = crate::loadgen::read_events(&text).map_err(CliError::Usage)?;
            let db = catalog::connect(&settings).await?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            let report = loop {
                let report = crate::loadgen::check(&db, &events, chrono::Utc::now()).await?;
                if report.ok() || std::time::Instant::now() >= deadline {
                    break report;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            let feed = match &changes_queue {
                Some(queue) if report.ok() => Some(
                    crate::loadgen::check_feed(&db, &settings.amqp_url, queue)
                        .await
                        .map_err(|e| CliError::Usage(format!("reading the change feed: {e}")))?,
                ),
                _ => None,
            };
            let mut figures = serde_json::to_value(&report).unwrap_or_default();
            if let Some(feed) = &feed {
                figures["feed"] = serde_json::to_value(feed).unwrap_or_default();
            }
            println!("{figures}");
            if !report.ok() {
                return Err(CliError::Usage(format!(
                    "the catalog does not match: {} events lost, {} tenants differ",
                    report.lost, report.mismatched
                )));
            }
            if let Some(feed) = feed.filter(|f| !f.ok()) {
                return Err(CliError::Usage(format!(
                    "the change feed does not match: {} changes applied twice, {} versions missing",
                    feed.double_applied, feed.missing
                )));
            }
        }
        Command::Verify | Command::Rebuild => {
            let write = matches!(cli.command, Command::Rebuild);
            let db = catalog::connect(&settings).await?;
            let total = tenants::count(&db).await?;
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = catalog::replay::replay(
                &db,
                &settings.base_domain,
                write,
                |c| {
                    if terminal {
                        eprint!("\r");
                    }
                    println!(
                        "{} tenant {}: stored {}, its history makes it {}",
                        if write { "rebuilt" } else { "differs" },
                        c.tenant_id,
                        c.previous_state.as_deref().unwrap_or("nothing"),
                        c.state
                    );
                },
                |done| progress(done, total),
            )
            .await?;
            if terminal {
                eprintln!();
            }
            println!(
                "{} tenants {}, {} {}",
                report.tenants,
                if write {
                    "rebuilt from their history"
                } else {
                    "verified"
                },
                report.differing,
                if write { "rewritten" } else { "differing" }
            );
            if !write && report.differing > 0 {
                return Err(CliError::Usage(format!(
                    "{} tenants differ from their history: run `tenant-catalog rebuild` to rewrite them",
                    report.differing
                )));
            }
        }
        Command::ExportSchema | Command::ExportOpenapi => {}
    }
    Ok(())
}
