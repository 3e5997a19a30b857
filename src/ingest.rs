//! The ingest path, as one straight line: decode, validate, (log), apply, ack.
//!
//! Both `Record` and every batch of the `Ingest` stream go through
//! [`Ingestor::process`], so they accept, reject and count identically.

use std::sync::Arc;

use rapport_engine::{Engine, TenantId, Timestamp};
use tonic::Status;

use crate::convert;
use crate::proto;

/// Runs batches of wire events through the engine.
pub struct Ingestor {
    engine: Arc<Engine>,
    max_batch_events: usize,
}

impl Ingestor {
    /// An ingestor feeding `engine`, refusing batches above `max_batch_events`.
    pub fn new(engine: Arc<Engine>, max_batch_events: usize) -> Self {
        Ingestor { engine, max_batch_events }
    }

    /// Processes one batch for `tenant` at `now`. Each invalid event is
    /// rejected on its own with its index and reason; the rest are counted.
    pub fn process(
        &self,
        tenant: &TenantId,
        events: Vec<proto::Event>,
        now: Timestamp,
    ) -> Result<proto::BatchResult, Status> {
        if events.len() > self.max_batch_events {
            return Err(Status::invalid_argument(format!(
                "batch has {} events; at most {} per batch",
                events.len(),
                self.max_batch_events
            )));
        }
        let mut accepted = Vec::with_capacity(events.len());
        let mut rejections = Vec::new();
        for (index, wire) in events.into_iter().enumerate() {
            let checked = convert::event(wire).and_then(|event| {
                self.engine.validate(&event, now)?;
                Ok(event)
            });
            match checked {
                Ok(event) => accepted.push(event),
                Err(rejection) => rejections.push(convert::rejection(index, rejection)),
            }
        }
        let report = self.engine.apply(tenant, &accepted, now);
        for failure in report.failures {
            tracing::warn!(
                scorer = %failure.scorer,
                events = failure.events,
                error = %failure.last_error,
                "scorer failed on events; they were still counted by the other scorers"
            );
        }
        Ok(proto::BatchResult {
            accepted: u32::try_from(accepted.len()).unwrap_or(u32::MAX),
            duplicates: 0,
            rejections,
        })
    }
}
