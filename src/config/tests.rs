use super::*;
use std::collections::HashMap;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_lookup(|k| env.get(k).cloned())
}

#[test]
fn defaults_follow_the_contract() {
    let s = settings(&[]).expect("defaults are valid");
    assert_eq!(
        s.database_url,
        "postgres://postgres@127.0.0.1:5432/tenant_catalog"
    );
    assert_eq!(s.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.base_domain.as_str(), "example.net");
    assert_eq!(s.replica.addr.to_string(), "127.0.0.1:8081");
    assert_eq!(s.replica.source, "http://127.0.0.1:8080");
    assert_eq!(s.replica.max_staleness, Duration::from_secs(2));
    let seeds: Vec<_> = s.seed_shards.shards().collect();
    assert_eq!(seeds.len(), 5);
    assert_eq!(
        seeds[0],
        (
            "us-east-1-1".into(),
            Region::UsEast1,
            "https://us-east-1-1.shards.example.net".into(),
            10000
        )
    );
}

#[test]
fn a_bad_value_names_the_variable_and_the_fix() {
    let err = settings(&[("HTTP_ADDR", "localhost")]).expect_err("not a socket address");
    let line = err.to_string();
    assert!(
        line.starts_with("configuration: HTTP_ADDR=\"localhost\" is not valid"),
        "{line}"
    );
    assert!(
        line.contains("127.0.0.1:8080") && !line.contains('\n'),
        "{line}"
    );

    for (var, value) in [
        ("DATABASE_URL", "mysql://x"),
        ("AMQP_URL", "http://x"),
        ("AMQP_URL", "amqp://a:5672/%2f,http://b"),
        ("AMQP_URL", " , "),
        ("SEED_SHARD_REGIONS", "us-east-1,mars-1"),
        ("SCHEDULER_INTERVAL_MS", "60000"),
        ("BASE_DOMAIN", "Example.NET"),
        ("REPLICA_ADDR", "8081"),
        ("REPLICA_SOURCE", "127.0.0.1:8080"),
        ("REPLICA_MAX_STALENESS_MS", "10"),
    ] {
        let err = settings(&[(var, value)]).expect_err(var);
        assert_eq!(err.var, var);
    }
}

#[test]
fn a_bad_url_is_never_echoed_with_its_password() {
    let err = settings(&[("DATABASE_URL", "mysql://app:s3cret@db:3306/x")]).unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(err.to_string().contains("mysql://app@db:3306/x"), "{err}");
    assert_eq!(
        redact("postgres://app:p@ss@db:5432/catalog"),
        "postgres://app@db:5432/catalog"
    );
    assert_eq!(
        redact("amqp://guest:guest@host/%2f"),
        "amqp://guest@host/%2f"
    );
    assert_eq!(redact("s3cret"), "(not a URL)");
}

#[test]
fn amqp_url_may_name_the_nodes_of_a_cluster() {
    let list = "amqp://u:secret@a:5672/%2f, amqp://u:secret@b:5672/%2f,";
    let s = settings(&[("AMQP_URL", list)]).expect("valid");
    let nodes: Vec<&str> = amqp_nodes(&s.amqp_url).collect();
    assert_eq!(
        nodes,
        ["amqp://u:secret@a:5672/%2f", "amqp://u:secret@b:5672/%2f"]
    );
    let err = settings(&[("AMQP_URL", "amqp://u:secret@a/%2f,amqps://u:secret@b/%2f")])
        .expect_err("amqps is not built in");
    assert!(!err.to_string().contains("secret"), "{err}");
}
