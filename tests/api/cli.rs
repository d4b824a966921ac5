//! The binary: bad configuration and unreachable dependencies give one line and a non-zero
//! exit, never a panic.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-catalog"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "off")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

fn assert_one_line_error(code: i32, stderr: &str, mentions: &str) {
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(mentions),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_setting_is_named_on_one_line() {
    let (code, err) = run(&["serve"], &[("HTTP_ADDR", "not-an-address")]);
    assert_one_line_error(code, &err, "HTTP_ADDR");
}

#[test]
fn an_unreachable_database_is_named_on_one_line() {
    let (code, err) = run(
        &["serve"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")],
    );
    assert_one_line_error(code, &err, "PostgreSQL");
}

#[test]
fn an_unreachable_broker_is_named_on_one_line() {
    // The database must be reachable and migrated for serve to get as far as the broker.
    let (code, err) = run(
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/tc_test_cli_broker",
        )],
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(
        &["serve"],
        &[
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/tc_test_cli_broker",
            ),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
            ("HTTP_ADDR", "127.0.0.1:0"),
        ],
    );
    let _ = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qc",
            "drop database if exists tc_test_cli_broker with (force)",
        ])
        .output();
    assert_one_line_error(code, &err, "RabbitMQ");
}
