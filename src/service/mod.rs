//! gRPC service implementations: request in, engine call, response out.

mod ingest;
mod metrics;

pub use ingest::IngestApi;
pub use metrics::MetricsApi;

use rapport_engine::Timestamp;

/// The server's clock, in event-time milliseconds.
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp(millis)
}
