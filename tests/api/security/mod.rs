//! The service as an attacker meets it: one test per kind of abuse that used to get through
//! (issue "Hardening"), each refused quickly with a clear error and without work for the
//! catalog.

mod admin;
mod edge;
mod graphql;
mod tokens;
