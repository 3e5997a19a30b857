//! Helpers for rapport's end-to-end tests, shared by the packages' test
//! suites (the server's `tests/`, the CLI's `crates/cli/tests/`): a real
//! server on a free loopback port stopped on drop ([`TestServer`]), the
//! `rapportd` binary built and started as a child process ([`rapportd`],
//! [`Daemon`]), small builders for events and queries ([`survey`],
//! [`query`], ...) and the scripted account history the lifecycle tests
//! check by hand ([`lifecycle`]).
//!
//! A dev-dependency only; never published. Helpers may panic: a failed
//! set-up fails the test that asked for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod builders;
mod daemon;
pub mod lifecycle;
mod server;

pub use builders::*;
pub use daemon::{Daemon, Failed, rapportd};
pub use server::TestServer;
