//! Identifiers of tenants and events. Ordered by their UUID bytes, which is also the order of
//! their lowercase hyphenated text, so the contract's `id` tie-break reads the same either way.

use super::InvalidValue;
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("Identifier of ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| InvalidValue(format!("{} must be a UUID, got `{s}`", $what)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(TenantId, "a tenant");
uuid_id!(EventId, "an event");
uuid_id!(MoveId, "a move");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_uuids_and_refuse_anything_else() {
        let id: TenantId = "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11"
            .parse()
            .expect("uuid");
        assert_eq!(id.to_string(), "7d4f5b1c-3a2e-4f7b-9c1d-2e8a6b0c9f11");
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }

    #[test]
    fn id_order_matches_text_order() {
        let a: EventId = "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a09"
            .parse()
            .expect("uuid");
        let b: EventId = "0b9c8f4e-5d21-4a3f-8e6b-1c2d3e4f5a10"
            .parse()
            .expect("uuid");
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
