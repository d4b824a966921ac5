//! The base domain that every tenant host ends in: `<site>.<base domain>`.

use super::{InvalidValue, Site};
use std::fmt;

/// A lowercase DNS name (`example.net`). The one place that turns a site into a host, and a
/// host back into the site it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseDomain(String);

impl BaseDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host a site is served at.
    pub fn host(&self, site: &Site) -> String {
        format!("{}.{}", site.as_str(), self.0)
    }

    /// The site part of a host under this domain, lowercased and without a trailing dot;
    /// `None` for hosts of other domains and for nested names.
    pub fn site_of(&self, host: &str) -> Option<String> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let site = host.strip_suffix(&self.0)?.strip_suffix('.')?;
        (!site.is_empty() && !site.contains('.')).then(|| site.to_owned())
    }
}

impl TryFrom<&str> for BaseDomain {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        let ok = !s.is_empty()
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(
                "expected a lowercase DNS name like example.net".into(),
            ))
        }
    }
}

impl fmt::Display for BaseDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BaseDomain {
        BaseDomain::try_from("example.net").expect("valid")
    }

    #[test]
    fn host_appends_the_base_domain() {
        let site = Site::try_from("acme").expect("valid");
        assert_eq!(base().host(&site), "acme.example.net");
    }

    #[test]
    fn a_host_names_its_site_only_under_this_domain() {
        assert_eq!(base().site_of("Acme.Example.net."), Some("acme".into()));
        assert_eq!(base().site_of("acme.example.org"), None);
        assert_eq!(base().site_of("a.b.example.net"), None);
        assert_eq!(base().site_of("example.net"), None);
    }

    #[test]
    fn only_lowercase_dns_names_are_base_domains() {
        for bad in ["", "Example.net", "a..b", "exa_mple.net", &"x".repeat(64)] {
            assert!(BaseDomain::try_from(bad).is_err(), "{bad}");
        }
    }
}
