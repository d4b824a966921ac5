//! Connecting to, creating and migrating the catalog database.

use super::Db;
use super::error::{Doing, StoreError};
use crate::config::{Settings, redact};
use sqlx::Postgres;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

fn options(settings: &Settings) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(&settings.database_url)
        .map(|o| o.application_name("tenant-catalog"))
        .doing(|| "reading DATABASE_URL".into())
}

/// Opens the pool and checks that the database answers and is migrated.
pub async fn connect(settings: &Settings) -> Result<Db, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options(settings)?)
        .await
        .doing(|| {
            format!(
                "connecting to PostgreSQL at {} (is it running? is DATABASE_URL right? run `tenant-catalog migrate` to create the database)",
                redact(&settings.database_url)
            )
        })?;
    let pending = pending_migrations(&pool).await?;
    if pending > 0 {
        return Err(StoreError::new(
            format!(
                "the database has {pending} migration(s) not applied: run `tenant-catalog migrate` first"
            ),
            sqlx::Error::Protocol("database schema is behind".into()),
        ));
    }
    Ok(pool)
}

/// How many embedded migrations the database has not applied yet.
pub async fn pending_migrations(pool: &Db) -> Result<usize, StoreError> {
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                // No migrations table yet: nothing is applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
                    Ok(Vec::new())
                }
                _ => Err(e),
            })
            .doing(|| "reading the applied migrations".into())?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .count())
}

/// Creates the database if missing, applies the migrations, and seeds the shards of a new
/// catalog. Safe to run again, and from several processes at once (sqlx locks migrations).
pub async fn migrate_and_seed(settings: &Settings) -> Result<Db, StoreError> {
    let url = &settings.database_url;
    let exists = Postgres::database_exists(url).await.doing(|| {
        format!(
            "connecting to PostgreSQL at {} (is it running? is DATABASE_URL right?)",
            redact(url)
        )
    })?;
    if !exists {
        if let Err(e) = Postgres::create_database(url).await {
            // Another process may have created it in the meantime.
            if !Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(StoreError::new(
                    format!("creating the database of {}", redact(url)),
                    e,
                ));
            }
        }
        tracing::info!(database = %redact(url), "Created the database.");
    }
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options(settings)?)
        .await
        .doing(|| format!("connecting to {}", redact(url)))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StoreError::new("applying migrations", sqlx::Error::Migrate(Box::new(e))))?;
    super::shards::seed(&pool, &settings.seed_shards).await?;
    Ok(pool)
}
