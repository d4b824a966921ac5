//! tenant-catalog: the source of truth for every customer tenant.
//!
//! `lifecycle` and `domain` are pure; everything else does I/O around them.

pub mod domain;
pub mod lifecycle;
