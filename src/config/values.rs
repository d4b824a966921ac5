//! Reading one value of the environment: numbers in a range, booleans, key id parts. Each
//! refusal names the variable and says what would be right.

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// The error for `var`, whose `value` is wrong for `reason`.
pub(super) fn bad(var: &'static str, value: &str, reason: String) -> ConfigError {
    ConfigError {
        var,
        value: value.to_owned(),
        reason,
    }
}

/// A part of an ASAP key id: lowercase letters, digits, `-`, `_` and `.`, never `..`.
pub(super) fn key_id_part(value: String, var: &'static str) -> Result<String, ConfigError> {
    let ok = !value.is_empty()
        && !value.contains("..")
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(value)
    } else {
        Err(ConfigError {
            var,
            value,
            reason: "expected lowercase letters, digits, `-`, `_` or `.` (no `..`)".into(),
        })
    }
}

pub(super) fn number<T>(
    raw: &str,
    var: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError {
            var,
            value: raw.to_owned(),
            reason: format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

pub(super) fn boolean(raw: &str, var: &'static str) -> Result<bool, ConfigError> {
    match raw {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            var,
            value: raw.to_owned(),
            reason: "expected `true` or `false`".into(),
        }),
    }
}
