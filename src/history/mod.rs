//! What the stored history knows beyond "now" (CONTRACT.md section 7, "History"): a tenant
//! and its route as of a past instant, folded from the events kept, with no snapshot table.
//!
//! - [`asof`]: `tenant(id, asOf | knownAt)` and `route(..., asOf | knownAt)`.

pub mod asof;

pub use asof::{PastTenant, When, route_at, tenant_at};
