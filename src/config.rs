//! Settings from the environment (CONTRACT.md section 1). Every bad value is reported as one
//! line naming the variable, what is wrong and what would be right.

use crate::domain::{BaseDomain, Region, Rules};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
pub use values::ConfigError;
use values::{bad, boolean, key_id_part, number};

mod values;

/// Everything `serve` and the other commands need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub amqp_url: String,
    pub http_addr: SocketAddr,
    /// Hosts are `<site>.<base_domain>`.
    pub base_domain: BaseDomain,
    /// How long a deletion waits for late news after a tenant's latest stored commerce event
    /// (`DELETION_GRACE_SECS`, CONTRACT.md section 8).
    pub deletion_grace: chrono::Duration,
    /// Shards created by `migrate` in a new database.
    pub seed_shards: SeedShards,
    /// Largest pool of database connections per process.
    pub database_max_connections: u32,
    /// Unacknowledged deliveries the consumer may hold.
    pub amqp_prefetch: u16,
    /// How often the scheduler looks for due timers; the contract allows 5 s at most.
    pub scheduler_interval: Duration,
    /// Log format: `json` for machines, `pretty` for people.
    pub log_format: LogFormat,
    /// Token signing and verification.
    pub auth: AuthSettings,
    /// GraphQL limits and switches.
    pub graphql: GraphqlSettings,
    /// `tenant-catalog replica`.
    pub replica: ReplicaSettings,
}

/// Where `tenant-catalog replica` listens, what it follows, and how stale it may be.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// `REPLICA_ADDR`, default 127.0.0.1:8081.
    pub addr: SocketAddr,
    /// `REPLICA_SOURCE`: the `serve` that snapshots are loaded from.
    pub source: String,
    /// `REPLICA_MAX_STALENESS_MS`, default 2000: past it, the replica answers NOT_READY.
    pub max_staleness: Duration,
    /// `REPLICA_PAGE_SIZE`: tenants per snapshot page.
    pub page_size: u32,
}

/// How tokens are minted and checked (CONTRACT.md section 2).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Ed25519 private key (PKCS#8 PEM) that `token` signs with. Without
    /// `public_keys_dir` (development), `serve` trusts its public half and either command
    /// creates the pair here on first use.
    pub signing_key: PathBuf,
    /// Production: public keys (SPKI PEM) trusted by key id, at `<dir>/<kid>.pem`; the
    /// signing key is then not trusted unless its public key is there too.
    pub public_keys_dir: Option<PathBuf>,
    /// `iss` of minted tokens; their key id is `<issuer>/<key_name>` (ASAP style).
    pub issuer: String,
    pub key_name: String,
    /// `aud` that tokens must carry.
    pub audience: String,
    /// Longest lifetime (`exp - iat`) a token may have.
    pub max_ttl_secs: u64,
    /// Whether `serve` may trust the development key when `public_keys_dir` is unset
    /// (`AUTH_DEV_KEY`, default true). Production sets it false, so that a missing
    /// `AUTH_PUBLIC_KEYS_DIR` stops `serve` instead of trusting a key created on the spot.
    pub dev_key_allowed: bool,
}

/// GraphQL switches and limits.
#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    /// Schema introspection and the GraphiQL page; on by default.
    pub introspection: bool,
    /// Most tenant ids one `routes` query may ask for.
    pub max_route_ids: usize,
    /// Most routes (and as many sites) the in-process routing cache keeps; the oldest go first.
    pub route_cache_capacity: usize,
    /// Most bytes each map of the routing cache spends on answers that no such tenant or site
    /// exists (`ROUTE_CACHE_NEGATIVE_BYTES`, default 8 MiB); the oldest go first, and found
    /// routes are never evicted for them.
    pub route_cache_negative_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The shards a new database starts with: one per region, `<region>-1`.
#[derive(Debug, Clone)]
pub struct SeedShards {
    pub capacity: i32,
    /// `{shard}` is replaced by the shard id.
    pub endpoint_template: String,
    pub regions: Vec<Region>,
}

impl SeedShards {
    pub fn shards(&self) -> impl Iterator<Item = (String, Region, String, i32)> + '_ {
        self.regions.iter().map(|r| {
            let id = format!("{r}-1");
            let endpoint = self.endpoint_template.replace("{shard}", &id);
            (id, *r, endpoint, self.capacity)
        })
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenant_catalog";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_REPLICA_ADDR: &str = "127.0.0.1:8081";
pub const DEFAULT_REPLICA_SOURCE: &str = "http://127.0.0.1:8080";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests can pass their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let (database_url, amqp_url) = env.urls()?;
        let raw = env.var("HTTP_ADDR", DEFAULT_HTTP_ADDR);
        let http_addr = raw.parse().map_err(|e| {
            bad(
                "HTTP_ADDR",
                &raw,
                format!("{e}; expected host:port like 127.0.0.1:8080"),
            )
        })?;
        let raw = env.var("BASE_DOMAIN", "example.net");
        let base_domain =
            BaseDomain::try_from(raw.as_str()).map_err(|e| bad("BASE_DOMAIN", &raw, e.0))?;
        Ok(Settings {
            auth: env.auth()?,
            graphql: env.graphql()?,
            database_url,
            amqp_url,
            http_addr,
            base_domain,
            deletion_grace: chrono::Duration::seconds(env.number(
                "DELETION_GRACE_SECS",
                "3600",
                0..=31_536_000,
            )?),
            seed_shards: env.seed_shards()?,
            database_max_connections: env.number("DATABASE_MAX_CONNECTIONS", "16", 2..=1000)?,
            amqp_prefetch: env.number("AMQP_PREFETCH", "1000", 1..=u16::MAX)?,
            scheduler_interval: env.scheduler_interval()?,
            log_format: env.log_format()?,
            replica: env.replica()?,
        })
    }
}

impl Settings {
    /// What every refold needs beyond the events and the clock.
    pub fn rules(&self) -> Rules {
        Rules {
            base: self.base_domain.clone(),
            grace: self.deletion_grace,
        }
    }
}

/// The environment being read, a group of settings at a time.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn var(&self, name: &'static str, default: &str) -> String {
        (self.0)(name).unwrap_or_else(|| default.to_owned())
    }

    fn number<T>(
        &self,
        name: &'static str,
        default: &str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        number(&self.var(name, default), name, range)
    }

    fn urls(&self) -> Result<(String, String), ConfigError> {
        let database_url = self.var("DATABASE_URL", DEFAULT_DATABASE_URL);
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(bad(
                "DATABASE_URL",
                &redact(&database_url),
                "expected a URL like postgres://user@host:5432/dbname".into(),
            ));
        }
        let amqp_url = self.var("AMQP_URL", DEFAULT_AMQP_URL);
        let nodes: Vec<&str> = amqp_nodes(&amqp_url).collect();
        if nodes.is_empty() || nodes.iter().any(|u| !u.starts_with("amqp://")) {
            let shown: Vec<String> = nodes.iter().map(|u| redact(u)).collect();
            return Err(bad(
                "AMQP_URL",
                &shown.join(","),
                "expected a URL like amqp://user:pass@host:5672/%2f, or several separated by commas (the nodes of a cluster; TLS is not built in)".into(),
            ));
        }
        Ok((database_url, amqp_url))
    }

    fn seed_shards(&self) -> Result<SeedShards, ConfigError> {
        let raw = self.var(
            "SEED_SHARD_REGIONS",
            &Region::ALL.map(Region::as_str).join(","),
        );
        let regions = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Region>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("SEED_SHARD_REGIONS", &raw, e.0))?;
        Ok(SeedShards {
            capacity: self.number("SEED_SHARD_CAPACITY", "10000", 0..=i32::MAX)?,
            endpoint_template: self
                .var("SEED_SHARD_ENDPOINT", "https://{shard}.shards.example.net"),
            regions,
        })
    }

    fn scheduler_interval(&self) -> Result<Duration, ConfigError> {
        let raw = self.var("SCHEDULER_INTERVAL_MS", "1000");
        raw.parse::<u64>()
            .ok()
            .filter(|n| (10..=5000).contains(n))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                bad(
                    "SCHEDULER_INTERVAL_MS",
                    &raw,
                    "expected milliseconds from 10 to 5000 (timers must fire within 5 s)".into(),
                )
            })
    }

    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        let raw = self.var("LOG_FORMAT", "pretty");
        match raw.as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err(bad(
                "LOG_FORMAT",
                &raw,
                "expected `json` or `pretty`".into(),
            )),
        }
    }

    fn auth(&self) -> Result<AuthSettings, ConfigError> {
        Ok(AuthSettings {
            signing_key: PathBuf::from(self.var("AUTH_SIGNING_KEY", ".dev/signing-key.pem")),
            public_keys_dir: (self.0)("AUTH_PUBLIC_KEYS_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            issuer: key_id_part(self.var("AUTH_ISSUER", "tenant-catalog"), "AUTH_ISSUER")?,
            key_name: key_id_part(self.var("AUTH_KEY_NAME", "dev"), "AUTH_KEY_NAME")?,
            audience: self.var("AUTH_AUDIENCE", "tenant-catalog"),
            max_ttl_secs: self.number("AUTH_MAX_TTL_SECS", "3600", 1..=86400)?,
            dev_key_allowed: boolean(&self.var("AUTH_DEV_KEY", "true"), "AUTH_DEV_KEY")?,
        })
    }

    fn replica(&self) -> Result<ReplicaSettings, ConfigError> {
        let raw = self.var("REPLICA_ADDR", DEFAULT_REPLICA_ADDR);
        let addr = raw.parse().map_err(|e| {
            bad(
                "REPLICA_ADDR",
                &raw,
                format!("{e}; expected host:port like {DEFAULT_REPLICA_ADDR}"),
            )
        })?;
        let source = self.var("REPLICA_SOURCE", DEFAULT_REPLICA_SOURCE);
        if !(source.starts_with("http://") || source.starts_with("https://")) {
            return Err(bad(
                "REPLICA_SOURCE",
                &redact(&source),
                format!("expected the URL of a serve, like {DEFAULT_REPLICA_SOURCE}"),
            ));
        }
        Ok(ReplicaSettings {
            addr,
            source,
            max_staleness: Duration::from_millis(self.number(
                "REPLICA_MAX_STALENESS_MS",
                "2000",
                100..=3_600_000,
            )?),
            page_size: self.number("REPLICA_PAGE_SIZE", "5000", 1..=20_000)?,
        })
    }

    fn graphql(&self) -> Result<GraphqlSettings, ConfigError> {
        Ok(GraphqlSettings {
            introspection: boolean(
                &self.var("GRAPHQL_INTROSPECTION", "true"),
                "GRAPHQL_INTROSPECTION",
            )?,
            max_route_ids: self.number("GRAPHQL_MAX_ROUTE_IDS", "100", 1..=1000)?,
            route_cache_capacity: self.number(
                "ROUTE_CACHE_CAPACITY",
                "2000000",
                0..=100_000_000,
            )?,
            route_cache_negative_bytes: self.number(
                "ROUTE_CACHE_NEGATIVE_BYTES",
                "8388608",
                0..=(1 << 34),
            )?,
        })
    }
}

/// The URL without its password, for messages and logs. The credentials end at the last `@`
/// before the path, so a password with an unescaped `@` is hidden whole. Text that is not a
/// URL at all is shown only by its scheme, if any: it may be a password pasted in error.
/// The nodes of `AMQP_URL`: one URL, or several separated by commas (the nodes of a cluster).
pub fn amqp_nodes(amqp_url: &str) -> impl Iterator<Item = &str> {
    amqp_url.split(',').map(str::trim).filter(|u| !u.is_empty())
}

pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((cred, host)) => {
            let user = cred.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
