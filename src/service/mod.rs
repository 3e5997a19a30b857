//! gRPC service implementations: request in, engine call, response out.

mod feedback;
mod ingest;
mod lifecycle;
mod metrics;
mod plugins;

pub use feedback::FeedbackApi;
pub use ingest::IngestApi;
pub use metrics::MetricsApi;
pub use plugins::{PluginApi, Plugins};

use rapport_engine::Timestamp;

/// Wall-clock now, for callers without a server clock (the CLI).
pub fn now() -> Timestamp {
    crate::clock::Clock::now(&crate::clock::SystemClock)
}
