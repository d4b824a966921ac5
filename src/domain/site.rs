//! The tenant's site name: the left-most label of its host.

use super::InvalidValue;
use compact_str::CompactString;
use std::fmt;

/// 3 to 63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`: a valid DNS
/// label, so `<site>.<base domain>` is always a valid host. Held inline up to 24 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site(CompactString);

impl Site {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Site {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        let ok = (3..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(CompactString::from(s)))
        } else {
            Err(InvalidValue(format!(
                "site must be 3 to 63 characters of a-z, 0-9 and `-`, not starting or ending with `-`, got {}",
                crate::untrusted::quoted(s, 80)
            )))
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contract_examples_are_valid_sites() {
        for s in [
            "acme",
            "acme-corp",
            "globex",
            "a1b",
            "x".repeat(63).as_str(),
        ] {
            assert!(Site::try_from(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn invalid_sites_are_refused() {
        for s in [
            "ab",
            "-acme",
            "acme-",
            "Acme",
            "ac_me",
            "ac.me",
            "",
            &"x".repeat(64),
        ] {
            assert!(Site::try_from(s).is_err(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn every_string_of_the_pattern_is_accepted(s in "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]") {
            prop_assert!(Site::try_from(s.as_str()).is_ok());
        }

        #[test]
        fn anything_accepted_is_a_valid_dns_label(s in "\\PC{0,70}") {
            if let Ok(site) = Site::try_from(s.as_str()) {
                let s = site.as_str();
                prop_assert!((3..=63).contains(&s.len()));
                prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }
    }
}
