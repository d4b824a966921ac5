//! Regions a tenant can live in, and the data-residency rules that restrict them.

use super::InvalidValue;
use std::fmt;

/// A cloud region that hosts shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    UsEast1,
    EuCentral1,
    EuWest1,
    ApSoutheast1,
    ApSoutheast2,
}

impl Region {
    pub const ALL: [Region; 5] = [
        Region::UsEast1,
        Region::EuCentral1,
        Region::EuWest1,
        Region::ApSoutheast1,
        Region::ApSoutheast2,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::UsEast1 => "us-east-1",
            Region::EuCentral1 => "eu-central-1",
            Region::EuWest1 => "eu-west-1",
            Region::ApSoutheast1 => "ap-southeast-1",
            Region::ApSoutheast2 => "ap-southeast-2",
        }
    }
}

impl std::str::FromStr for Region {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "unknown region `{s}`; regions are {}",
                    Region::ALL.map(Region::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's data-residency rule: which regions may hold its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Residency {
    Us,
    Eu,
    De,
    Ie,
    Sg,
    Au,
    Global,
}

impl Residency {
    pub const ALL: [Residency; 7] = [
        Residency::Us,
        Residency::Eu,
        Residency::De,
        Residency::Ie,
        Residency::Sg,
        Residency::Au,
        Residency::Global,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Residency::Us => "us",
            Residency::Eu => "eu",
            Residency::De => "de",
            Residency::Ie => "ie",
            Residency::Sg => "sg",
            Residency::Au => "au",
            Residency::Global => "global",
        }
    }

    /// The regions this rule allows, in order of preference.
    pub fn allowed_regions(self) -> &'static [Region] {
        match self {
            Residency::Us => &[Region::UsEast1],
            Residency::Eu => &[Region::EuCentral1, Region::EuWest1],
            Residency::De => &[Region::EuCentral1],
            Residency::Ie => &[Region::EuWest1],
            Residency::Sg => &[Region::ApSoutheast1],
            Residency::Au => &[Region::ApSoutheast2],
            Residency::Global => &Region::ALL,
        }
    }
}

impl std::str::FromStr for Residency {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Residency::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "residency must be one of {}, got `{s}`",
                    Residency::ALL.map(Residency::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for Residency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residency_rules_match_the_contract() {
        use Region::*;
        let expected: [(&str, &[Region]); 7] = [
            ("us", &[UsEast1]),
            ("eu", &[EuCentral1, EuWest1]),
            ("de", &[EuCentral1]),
            ("ie", &[EuWest1]),
            ("sg", &[ApSoutheast1]),
            ("au", &[ApSoutheast2]),
            (
                "global",
                &[UsEast1, EuCentral1, EuWest1, ApSoutheast1, ApSoutheast2],
            ),
        ];
        for (name, regions) in expected {
            let residency: Residency = name.parse().expect("contract residency");
            assert_eq!(residency.allowed_regions(), regions, "{name}");
        }
        assert!("fr".parse::<Residency>().is_err());
    }

    #[test]
    fn regions_round_trip_through_text() {
        for r in Region::ALL {
            assert_eq!(r.as_str().parse::<Region>(), Ok(r));
        }
        assert!("us-west-2".parse::<Region>().is_err());
    }
}
