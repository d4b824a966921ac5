//! Text that callers chose (paths, key ids, hosts, ids, error messages quoting them), made
//! safe to show in a log line or an error message: control characters (and Unicode line and
//! direction controls) escaped, and the length bounded. Depends on nothing else of ours, so
//! every layer can use it.

use std::fmt::Write as _;

/// Characters that would break a line or reorder it on a terminal.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with dangerous characters escaped (`\n`, `\u{0}`), cut at `max` characters.
pub fn escape_controls(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 2);
    for (n, c) in text.chars().enumerate() {
        if n == max {
            let _ = write!(out, "…(cut at {max} of {} bytes)", text.len());
            break;
        }
        if is_dangerous(c) {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Caller-chosen text as an error message or a log may quote it: in backquotes, with quotes,
/// backslashes and control characters escaped, cut at `max` characters.
pub fn quoted(text: &str, max: usize) -> String {
    let mut out = String::from("`");
    for (n, c) in text.chars().enumerate() {
        if n == max {
            let _ = write!(out, "…` ({} bytes)", text.len());
            return out;
        }
        if c == '`' {
            out.push_str("\\`");
        } else if is_dangerous(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_log_line_raw() {
        let forged =
            "a.example.net\0\n2026-12-02T10:00:00Z  INFO audit: Admin request. subject=root";
        let line = escape_controls(forged, 1024);
        assert!(!line.contains('\n') && !line.contains('\0'), "{line}");
        assert!(line.contains("\\u{a}"), "{line}");
        assert!(!escape_controls("x\u{202e}y", 10).contains('\u{202e}'));
    }

    #[test]
    fn long_text_is_cut() {
        let cut = escape_controls(&"x".repeat(60_000), 100);
        assert!(cut.len() < 150, "{cut}");
        let q = quoted(&"y".repeat(500), 20);
        assert!(q.starts_with("`yyyy") && q.contains("(500 bytes)"), "{q}");
        assert_eq!(quoted("a`b\nc", 10), "`a\\`b\\nc`");
    }
}
