//! The command line (CONTRACT.md section 1).

use crate::amqp::EventPublisher;
use crate::amqp::dlq::Selection;
use crate::apply::replay::{check_catalog, replay};
use crate::auth::Scope;
use crate::catalog::{self, events, tenants};
use crate::config::{Settings, redact};
use crate::domain::TenantId;
use crate::snapshot::TenantSnapshot;
use crate::startup::{Application, cancel_on_signal};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Answer GraphQL `route` and `routes` from memory on REPLICA_ADDR: load a snapshot from
    /// the serve at REPLICA_SOURCE, then follow tenant-catalog.changes (see docs/replica.md).
    Replica,
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
        /// How many tokens to print, one a line (each has its own `jti`, and an admin token
        /// serves one write): 1 to 100000.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
    },
    /// The dead-letter queue: list its messages with their reasons, or replay chosen ones into
    /// commerce.lifecycle.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Recreate tenant-catalog.lifecycle when an earlier version declared it (with the broker's
    /// delivery limit of 50), keeping every message. Stop every serve first. Safe to repeat;
    /// run it again to finish an interrupted upgrade.
    UpgradeQueue,
    /// Print the GraphQL schema (SDL), as kept in graphql/schema.graphql.
    ExportSchema {
        /// The schema of `tenant-catalog replica` instead, as kept in graphql/replica.graphql.
        #[arg(long)]
        replica: bool,
    },
    /// Print the admin API's OpenAPI document, as kept in docs/admin-openapi.json.
    ExportOpenapi,
    /// Refold every tenant's stored history with the lifecycle engine and report the tenants
    /// whose stored state differs; exit status 1 when one does. Changes nothing.
    Verify,
    /// Rewrite the tenant rows that differ from the refold of their history (as `verify`
    /// reports them), with a new version and a change message each. Safe next to `serve`.
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Print every dead-lettered message (one JSON object a line: message_id, reason,
    /// dead_lettered_at, routing_key, body), oldest first. Changes nothing.
    List {
        /// Only the message with this id (the event id).
        #[arg(long)]
        id: Option<String>,
    },
    /// Publish messages to commerce.lifecycle again, as commerce would, and remove each from
    /// the dead-letter queue once the broker confirmed it. Give --id (repeatable) or --all.
    Replay {
        #[arg(long)]
        id: Vec<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

/// A progress line on a terminal (nothing when stderr is not one).
fn progress(done: usize, total: i64) {
    if std::io::stderr().is_terminal() {
        let pct = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            100.0
        };
        eprint!("\r{done} of {total} tenants ({pct:.0}%)");
    }
}

/// Events in flight (published, not yet confirmed) when publishing a stream.
pub const PUBLISH_WINDOW: usize = 1000;

/// Why a command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    #[error(transparent)]
    Replica(#[from] crate::replica::server::ReplicaError),
    #[error(transparent)]
    Store(#[from] crate::catalog::StoreError),
    #[error(transparent)]
    Broker(#[from] crate::amqp::BrokerError),
    #[error(transparent)]
    Upgrade(#[from] crate::amqp::upgrade::UpgradeError),
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
    /// An argument that is not what the command takes.
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("signing the token failed: {0}")]
    Token(String),
    #[error("{0} tenants differ from their history: run `tenant-catalog rebuild` to rewrite them")]
    Differs(usize),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    // The schema and the document do not depend on the configuration.
    match cli.command {
        Command::ExportSchema { replica } => {
            match replica {
                true => print!("{}", crate::graphql::replica_sdl()),
                false => print!("{}", crate::graphql::sdl()),
            }
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
        Command::Serve => serve(settings).await,
        Command::Replica => replica(settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::Publish { files } => publish(&settings, &files).await,
        Command::Show { tenant_id } => show(&settings, &tenant_id).await,
        Command::Token {
            scope,
            sub,
            ttl,
            count,
        } => token(&settings, scope, &sub, ttl, count),
        Command::Verify => verify_or_rebuild(&settings, false).await,
        Command::Rebuild => verify_or_rebuild(&settings, true).await,
        Command::Dlq { action } => dlq(&settings, action).await,
        Command::UpgradeQueue => upgrade_queue(&settings).await,
        Command::ExportSchema { .. } | Command::ExportOpenapi => Ok(()),
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let addr = settings.http_addr;
    let app = Application::build(settings).await?;
    tracing::info!(%addr, port = app.port(), "tenant-catalog is serving.");
    tokio::spawn(cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await?;
    Ok(())
}

async fn replica(settings: Settings) -> Result<(), CliError> {
    let app = crate::replica::server::ReplicaApp::build(&settings)?;
    tracing::info!(
        addr = %settings.replica.addr,
        port = app.port(),
        source = %settings.replica.source,
        "tenant-catalog replica is serving; it answers once the snapshot is loaded."
    );
    tokio::spawn(cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: &Settings) -> Result<(), CliError> {
    let db = catalog::migrate_and_seed(settings).await?;
    db.close().await;
    println!("database {} is migrated", redact(&settings.database_url));
    Ok(())
}

/// Reads a file, or stdin for `-`.
pub fn read_input(file: &Path) -> Result<Vec<u8>, CliError> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|source| {
            CliError::Io {
                what: "reading stdin".into(),
                source,
            }
        })?;
        Ok(buf)
    } else {
        std::fs::read(file).map_err(|source| CliError::Io {
            what: format!("reading {}", file.display()),
            source,
        })
    }
}

async fn publish(settings: &Settings, files: &[PathBuf]) -> Result<(), CliError> {
    let publisher = EventPublisher::connect(&settings.amqp_url).await?;
    for file in files {
        let body = read_input(file)?;
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
    Ok(())
}

async fn show(settings: &Settings, tenant_id: &str) -> Result<(), CliError> {
    let id: TenantId = tenant_id
        .parse()
        .map_err(|e: crate::domain::InvalidValue| CliError::Usage(e.0))?;
    let db = catalog::connect(settings).await?;
    let tenant = tenants::get(&db, id)
        .await?
        .map(|row| TenantSnapshot::new(row, &settings.base_domain));
    let history = events::history(&db, id).await?;
    let explanation = match &tenant {
        Some(t) => Some(crate::history::explain_now(&db, t, settings.deletion_grace).await?),
        None => None,
    };
    // The sentence for a person at a terminal on stderr; stdout stays JSON for programs.
    match (&explanation, history.is_empty()) {
        (Some(e), _) => eprintln!("{}", e.summary),
        (None, false) => eprintln!("{}", crate::history::never_created(id, &history)),
        (None, true) => eprintln!("The catalog holds no tenant and no event under {id}."),
    }
    let out = serde_json::json!({"tenant": tenant, "explanation": explanation, "history": history});
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

fn token(
    settings: &Settings,
    scope: Scope,
    sub: &str,
    ttl: Option<u64>,
    count: u32,
) -> Result<(), CliError> {
    let signer = crate::auth::keys::signer(&settings.auth)?;
    let ttl = ttl.unwrap_or(settings.auth.max_ttl_secs);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let token =
            crate::auth::mint(&signer, &settings.auth, sub, scope, ttl).map_err(CliError::Token)?;
        // A reader that stops early (`| head`) just ends the listing.
        if writeln!(out, "{token}").is_err() {
            return Ok(());
        }
    }
    out.flush().ok();
    Ok(())
}

async fn dlq(settings: &Settings, action: DlqAction) -> Result<(), CliError> {
    let print = |letter: &crate::amqp::dlq::DeadLetter| {
        println!("{}", serde_json::to_string(letter).unwrap_or_default());
    };
    match action {
        DlqAction::List { id } => {
            let letters = crate::amqp::dlq::list(&settings.amqp_url).await?;
            let shown = letters
                .iter()
                .filter(|l| id.is_none() || l.message_id == id)
                .inspect(|l| print(l))
                .count();
            eprintln!("{shown} of {} dead-lettered messages", letters.len());
        }
        DlqAction::Replay { id, all } => {
            let which = match (all, id.is_empty()) {
                (true, _) => Selection::All,
                (false, false) => Selection::Ids(id),
                (false, true) => {
                    return Err(CliError::Usage(
                        "say which messages to replay: --id ID (repeatable) or --all".into(),
                    ));
                }
            };
            let replayed = crate::amqp::dlq::replay(&settings.amqp_url, &which).await?;
            replayed.iter().for_each(print);
            eprintln!(
                "replayed {} messages into commerce.lifecycle",
                replayed.len()
            );
        }
    }
    Ok(())
}

async fn upgrade_queue(settings: &Settings) -> Result<(), CliError> {
    let done = crate::amqp::upgrade::upgrade_queue(&settings.amqp_url).await?;
    if done.recreated {
        println!(
            "tenant-catalog.lifecycle recreated without the broker's delivery limit; {} messages carried over",
            done.messages
        );
    } else if done.messages > 0 {
        println!(
            "finished an interrupted upgrade; {} messages carried over",
            done.messages
        );
    } else {
        println!("tenant-catalog.lifecycle is already current; nothing to do");
    }
    Ok(())
}

/// `verify` (`write` false) or `rebuild` (`write` true).
async fn verify_or_rebuild(settings: &Settings, write: bool) -> Result<(), CliError> {
    let db = catalog::connect(settings).await?;
    let total = tenants::count(&db).await?;
    let terminal = std::io::stderr().is_terminal();
    let found = |c: &crate::apply::Change| {
        if terminal {
            eprint!("\r");
        }
        println!(
            "{} tenant {}: stored {}, its history makes it {}",
            if write { "rebuilt" } else { "differs" },
            c.tenant_id,
            c.previous_state.map_or("nothing", |s| s.as_str()),
            c.state.map_or("nothing (unknown)", |s| s.as_str())
        );
    };
    let report = replay(&db, &settings.rules(), write, found, |done| {
        progress(done, total)
    })
    .await?;
    if terminal {
        eprintln!();
    }
    let across = check_catalog(&db, &settings.rules(), write, |finding| {
        let verb = if write { "repaired" } else { "differs" };
        println!("{verb} {finding}");
    })
    .await?;
    let (did, changed) = if write {
        ("rebuilt from their history", "rewritten")
    } else {
        ("verified", "differing")
    };
    println!(
        "{} tenants {did}, {} {changed}; {across} findings across tenants (sites, old hosts, shard fills)",
        report.tenants, report.differing
    );
    if !write && report.differing + across > 0 {
        return Err(CliError::Differs(report.differing + across));
    }
    Ok(())
}
