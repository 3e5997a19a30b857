//! Shared helpers for end-to-end tests: a real server on 127.0.0.1:0 and
//! small builders for events and queries. They live in the
//! `rapport-test-support` crate (`crates/test-support`), which the CLI's
//! tests use too; this module re-exports them for the tests of this
//! package. Helpers only these tests need can go here.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use rapport_test_support::*;
pub mod durable;
