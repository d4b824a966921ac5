//! Value types that can only hold valid values. Raw input is parsed into them once, at the
//! edge (events, admin requests, configuration); the rest of the code never re-checks.

mod base_domain;
mod ids;
mod moves;
mod region;
mod shard;
mod site;

pub use base_domain::BaseDomain;
pub use ids::{EventId, MoveId, TenantId};
pub use moves::{MoveOrigin, MovePhase, RouteStatus};
pub use region::{Region, Residency};
pub use shard::{Capacity, Endpoint, Placement, ShardId, ShardStatus};
pub use site::Site;

/// Serialises values of these types as their text (`Display`), as the JSON of the API and of
/// the change feed shows them.
macro_rules! serialize_as_text {
    ($($name:ty),+ $(,)?) => {
        $(impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        })+
    };
}
pub(crate) use serialize_as_text;

serialize_as_text!(
    TenantId,
    EventId,
    MoveId,
    RouteStatus,
    MovePhase,
    MoveOrigin,
    Site,
    Region,
    Residency,
    ShardId,
    ShardStatus,
    Endpoint,
    Cycle,
    BaseDomain,
);

use std::fmt;

/// Why a raw value was refused, phrased for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Free text a person wrote (a reason, a plan name): 1 to 500 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FreeText(String);

impl FreeText {
    pub const MAX_CHARS: usize = 500;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for FreeText {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "must be 1 to {} characters (not only spaces)",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

impl From<FreeText> for String {
    fn from(t: FreeText) -> Self {
        t.0
    }
}

/// Day of the month on which a tenant is billed: 1 to 28, so that it exists in every month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingDay(u8);

impl BillingDay {
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for BillingDay {
    type Error = InvalidValue;
    fn try_from(day: i64) -> Result<Self, Self::Error> {
        match u8::try_from(day) {
            Ok(d @ 1..=28) => Ok(Self(d)),
            _ => Err(InvalidValue(format!(
                "billing day must be a whole number from 1 to 28, got {day}"
            ))),
        }
    }
}

/// Billing cycle of a paid subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cycle {
    Monthly,
    Annual,
}

impl Cycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Monthly => "monthly",
            Cycle::Annual => "annual",
        }
    }
}

impl std::str::FromStr for Cycle {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "monthly" => Ok(Cycle::Monthly),
            "annual" => Ok(Cycle::Annual),
            other => Err(InvalidValue(format!(
                "cycle must be `monthly` or `annual`, got `{other}`"
            ))),
        }
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The products a tenant has: a non-empty list of distinct product keys, in the order given.
/// A key is any string: commerce names its products, and an unusual spelling is recorded as
/// sent rather than costing the tenant its event (CONTRACT.md section 7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Products(Vec<String>);

impl Products {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl serde::Serialize for Products {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl TryFrom<Vec<String>> for Products {
    type Error = InvalidValue;
    fn try_from(keys: Vec<String>) -> Result<Self, Self::Error> {
        let mut out: Vec<String> = Vec::with_capacity(keys.len());
        for key in keys {
            if !out.contains(&key) {
                out.push(key);
            }
        }
        if out.is_empty() {
            return Err(InvalidValue(
                "products must list at least one product key".into(),
            ));
        }
        Ok(Self(out))
    }
}

/// What every refold of a tenant needs beyond its events and the clock: how hosts are made,
/// and how long a deletion waits for late news after the tenant's latest stored commerce event
/// (`DELETION_GRACE_SECS`, CONTRACT.md section 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub base: BaseDomain,
    pub grace: chrono::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_day_accepts_1_to_28_only() {
        assert!(BillingDay::try_from(0).is_err());
        assert_eq!(BillingDay::try_from(1).map(BillingDay::get), Ok(1));
        assert_eq!(BillingDay::try_from(28).map(BillingDay::get), Ok(28));
        assert!(BillingDay::try_from(29).is_err());
        assert!(BillingDay::try_from(-5).is_err());
        assert!(BillingDay::try_from(300).is_err());
    }

    #[test]
    fn products_must_be_non_empty_and_are_deduplicated() {
        assert!(Products::try_from(vec![]).is_err());
        let odd = Products::try_from(vec!["Jira Software".into()]).expect("recorded as sent");
        assert_eq!(odd.as_slice(), ["Jira Software"]);
        let p = Products::try_from(vec!["jira".into(), "confluence".into(), "jira".into()])
            .expect("valid keys");
        assert_eq!(p.as_slice(), ["jira", "confluence"]);
    }

    #[test]
    fn cycle_parses_the_two_contract_values() {
        assert_eq!("monthly".parse::<Cycle>(), Ok(Cycle::Monthly));
        assert_eq!("annual".parse::<Cycle>(), Ok(Cycle::Annual));
        assert!("weekly".parse::<Cycle>().is_err());
    }
}
