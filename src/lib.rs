//! rapport: a gRPC service for customer-success metrics.
//!
//! This package is the wire layer around [`rapport_engine`]: it maps
//! protobuf types to engine types and back ([`convert`]), engine errors to
//! gRPC status codes ([`status`]), and serves the `rapport.v1` services
//! ([`server`]). It does no metric arithmetic. Its binary is `rapportd`;
//! the `rapport` CLI is the `rapport-cli` package (`crates/cli`), a client
//! of this library.

pub mod auth;
pub mod clock;
pub mod config;
pub mod convert;
pub mod durability;
pub mod ingest;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod status;
pub mod subscribe;

/// Generated from `proto/rapport/v1`, with proto3 JSON (serde) mappings.
pub mod proto {
    #![allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )]
    tonic::include_proto!("rapport.v1");
    include!(concat!(env!("OUT_DIR"), "/rapport.v1.serde.rs"));

    /// The `MetricsService` and `IngestService` servers the daemon runs:
    /// generated a second time with `SubscribeResponse` as
    /// [`crate::subscribe::SharedResponse`], so a subscription update is
    /// encoded once for all its subscribers, and `IngestRequest` and
    /// `RecordRequest` as [`crate::ingest::wire`]'s batches, so events are
    /// decoded without a label map each (see `build.rs`). Clients use
    /// [`metrics_service_client`] and [`ingest_service_client`] as usual.
    pub mod shared {
        include!(concat!(env!("OUT_DIR"), "/shared/rapport.v1.rs"));
    }

    /// Encoded descriptor set of the contract (with the well-known types it
    /// imports), served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/rapport_descriptor.bin"));
}
