//! Structured logs with `tracing`: JSON for machines, pretty for people; `RUST_LOG` filters.
//!
//! Logs carry text that callers chose (paths, key ids, hosts, error messages that quote them).
//! The JSON format escapes it; the pretty format would write it raw, so its field formatter
//! escapes control characters (and Unicode line and direction controls) and bounds every
//! value: no caller can forge a log line or flood one.

use crate::config::LogFormat;
use crate::untrusted::escape_controls;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;

/// The longest a field value is written in the pretty log.
const MAX_FIELD_CHARS: usize = 1_024;

/// Installs the global subscriber. Calling it twice is harmless (tests do).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,actix_server=warn"));
    // Colours only on a terminal: escape sequences in a log file are noise to every reader.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => {
            let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
                let text = escape_controls(&format!("{value:?}"), MAX_FIELD_CHARS);
                if field.name() == "message" {
                    write!(w, "{text}")
                } else {
                    write!(w, "{field}={text}")
                }
            })
            .delimited(" ");
            builder.compact().fmt_fields(fields).try_init()
        }
    };
}
