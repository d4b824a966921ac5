//! Key ids (`kid`) as ASAP allows them: `<issuer>/<key name>`, made of ASCII letters, digits
//! and `_ . - + /`, already in normal form (no `..`, no empty or `.` segment, no leading or
//! trailing `/`), at most [`MAX_LEN`] bytes. The id names a file under the trusted key
//! directory, so these rules are also what keeps a token from naming a file outside it.

use super::AuthError;
use crate::untrusted::quoted;
use std::fmt;

/// The longest key id accepted.
pub const MAX_LEN: usize = 256;

/// A key id that follows the rules above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(kid: &str) -> Result<Self, AuthError> {
        let refuse = |why: &str| {
            AuthError::invalid(format!("key id {} is not valid: {why}", quoted(kid, 64)))
        };
        if kid.len() > MAX_LEN {
            return Err(refuse(&format!("it is over {MAX_LEN} bytes")));
        }
        if !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-+/".contains(&b))
        {
            return Err(refuse(
                "only ASCII letters, digits and `_ . - + /` may be used",
            ));
        }
        let Some((issuer, _)) = kid.split_once('/') else {
            return Err(refuse("it must be `<issuer>/<key name>`"));
        };
        if issuer.is_empty() || kid.split('/').any(|part| matches!(part, "" | "." | "..")) {
            return Err(refuse(
                "it must be `<issuer>/<key name>` with no empty, `.` or `..` part",
            ));
        }
        Ok(KeyId(kid.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuer the key speaks for: the id's first part.
    pub fn issuer(&self) -> &str {
        self.0.split_once('/').map_or("", |(issuer, _)| issuer)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_key_name_in_asap_characters_are_accepted() {
        let kid = KeyId::parse("billing-service/2026-12.rsa+v2").unwrap();
        assert_eq!(kid.issuer(), "billing-service");
        assert!(KeyId::parse("a/b/c").is_ok());
    }

    #[test]
    fn traversal_control_characters_and_long_ids_are_refused() {
        for kid in [
            "../etc/passwd",
            "iss/../../x",
            "/abs/key",
            "iss//key",
            "iss/./key",
            "iss/key/",
            "nokeyname",
            "iss/key\nFORGED log line",
            "iss/k\u{0}",
            "iss/ключ",
            "iss/a b",
        ] {
            let err = KeyId::parse(kid).expect_err(kid).to_string();
            assert!(!err.contains('\n') && !err.contains('\0'), "{err}");
        }
        let long = format!("iss/{}", "k".repeat(MAX_LEN));
        let err = KeyId::parse(&long).unwrap_err().to_string();
        assert!(err.len() < 200, "the message is bounded: {err}");
    }
}
