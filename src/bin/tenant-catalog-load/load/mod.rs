//! Load and fault tooling, kept out of the shipped library: the integration tests include
//! this module as it is, and `tenant-catalog-load` runs it from the command line.

pub mod check;
pub mod feed;
pub mod generate;
pub mod history_bench;
pub mod replica_bench;
