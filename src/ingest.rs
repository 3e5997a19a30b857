//! The ingest path, as one straight line: decode, validate, dedup, log,
//! apply, ack.
//!
//! Both `Record` and every batch of the `Ingest` stream go through
//! [`Ingestor::process`], so they accept, reject and count identically.
//!
//! **Invariants:** an event rejected by validation, or a duplicate, is never
//! logged; a batch changes the engine only after the log acknowledged it;
//! an `Ok` answer means durable under the fsync policy. A batch whose log
//! append fails releases its dedup reservations and fails as a whole
//! (`RESOURCE_EXHAUSTED` on a full disk, else `UNAVAILABLE`).
//!
//! `wire.rs`: the requests as the server decodes them (labels as pairs,
//! no map per event).

pub mod wire;

use std::sync::Arc;

use rapport_engine::{ApplyReport, Engine, Event, TenantId, Timestamp};
use tonic::Status;

use crate::convert;
use crate::durability::Durability;
use crate::proto;
use crate::status;
use wire::{EncodedEvents, WireEvent};

/// Runs batches of wire events through the engine (and the log, when
/// durable).
pub struct Ingestor {
    engine: Arc<Engine>,
    max_batch_events: usize,
    durability: Option<Arc<Durability>>,
}

impl Ingestor {
    /// An in-memory ingestor feeding `engine`, refusing batches above
    /// `max_batch_events`.
    pub fn new(engine: Arc<Engine>, max_batch_events: usize) -> Self {
        Ingestor { engine, max_batch_events, durability: None }
    }

    /// The same, logging every accepted batch to `durability` before it is
    /// applied (`None`: in memory only).
    pub fn with_durability(mut self, durability: Option<Arc<Durability>>) -> Self {
        self.durability = durability;
        self
    }

    /// Processes one batch for `tenant` arriving at `now`. Each invalid event
    /// is rejected on its own with its index and reason, each duplicate
    /// (same tenant and id inside the dedup window) is acknowledged but not
    /// counted; the rest are logged and counted.
    ///
    /// A client that hangs up mid-batch cannot leave it half done (reserved
    /// and logged but never applied): in memory the batch is one step with
    /// no wait inside (on the blocking pool, which finishes it regardless),
    /// and a durable batch runs in its own task.
    pub async fn process(
        self: &Arc<Self>,
        tenant: &TenantId,
        events: EncodedEvents,
        now: Timestamp,
    ) -> Result<proto::BatchResult, Status> {
        if events.len() > self.max_batch_events {
            return Err(Status::invalid_argument(format!(
                "batch has {} events; at most {} per batch",
                events.len(),
                self.max_batch_events
            )));
        }
        let this = Arc::clone(self);
        let tenant = tenant.clone();
        let Some(durability) = self.durability.clone() else {
            let size = events.len();
            return on_cpu(size, move || this.run_in_memory(&tenant, events, now)).await?;
        };
        tokio::spawn(async move { this.run_durable(&durability, tenant, events, now).await })
            .await
            .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?
    }

    /// The whole batch in one step: check, reserve, apply. With nothing to
    /// wait for in between, one hand-off to the blocking pool does for all.
    fn run_in_memory(
        &self,
        tenant: &TenantId,
        events: EncodedEvents,
        now: Timestamp,
    ) -> Result<proto::BatchResult, Status> {
        let (counted, duplicates, rejections) = self.check_and_reserve(tenant, events, now)?;
        let report = self.engine.apply(tenant, &counted, now);
        log_failures(report);
        Ok(batch_result(counted.len(), duplicates, rejections))
    }

    /// A durable batch: check and reserve, log (awaiting the ack), apply.
    async fn run_durable(
        self: Arc<Self>,
        durability: &Durability,
        tenant: TenantId,
        events: EncodedEvents,
        now: Timestamp,
    ) -> Result<proto::BatchResult, Status> {
        // A snapshot waits while any batch is between here and apply (see
        // `durability`), so dedup reservations and the log stay in step.
        let _admitted = durability.admit().await;
        // Decode, convert and validate each event on its own, then reserve
        // the ids (atomically per id): one step, one hand-off to the
        // blocking pool.
        let this = Arc::clone(&self);
        let batch_tenant = tenant.clone();
        let size = events.len();
        let (counted, duplicates, rejections) =
            on_cpu(size, move || this.check_and_reserve(&batch_tenant, events, now)).await??;

        // Log: durable before the aggregates change.
        if !counted.is_empty()
            && let Err(error) = durability.log(&tenant, now, &counted).await
        {
            self.engine.release_ids(&tenant, &counted, now);
            tracing::warn!(%error, events = counted.len(), "batch not logged; answered with an error");
            return Err(status::from_log_error(error));
        }

        // Apply, then ack.
        let engine = Arc::clone(&self.engine);
        let (report, counted) =
            on_cpu(size, move || (engine.apply(&tenant, &counted, now), counted.len())).await?;
        log_failures(report);
        Ok(batch_result(counted, duplicates, rejections))
    }

    /// Decodes and checks each event, then reserves the valid ones' ids
    /// (atomically per id): the events to count, the number of duplicates
    /// and the rejections. A batch with an event that does not decode is
    /// refused whole.
    fn check_and_reserve(
        &self,
        tenant: &TenantId,
        events: EncodedEvents,
        now: Timestamp,
    ) -> Result<(Vec<Event>, usize, Vec<proto::Rejection>), Status> {
        let (mut accepted, rejections) = self.check(tenant, decode(events)?, now);
        let fresh = self.engine.reserve_ids(tenant, &accepted, now);
        let offered = accepted.len();
        let mut fresh = fresh.into_iter();
        accepted.retain(|_| fresh.next().unwrap_or(false));
        let duplicates = offered - accepted.len();
        Ok((accepted, duplicates, rejections))
    }

    /// Converts and validates each event of a batch on its own: the valid
    /// ones, and a rejection for each of the others.
    fn check(
        &self,
        tenant: &TenantId,
        events: Vec<WireEvent>,
        now: Timestamp,
    ) -> (Vec<Event>, Vec<proto::Rejection>) {
        let mut accepted = Vec::with_capacity(events.len());
        let mut rejections = Vec::new();
        for (index, wire) in events.into_iter().enumerate() {
            let checked = convert::wire_event(wire).and_then(|event| {
                self.engine.validate(tenant, &event, now)?;
                Ok(event)
            });
            match checked {
                Ok(event) => accepted.push(event),
                Err(rejection) => rejections.push(convert::rejection(index, rejection)),
            }
        }
        (accepted, rejections)
    }
}

/// A batch's events, decoded; `INVALID_ARGUMENT` naming the first that
/// does not decode (the batch is refused whole, as a malformed request).
fn decode(events: EncodedEvents) -> Result<Vec<WireEvent>, Status> {
    events.decode().map_err(|(index, error)| {
        Status::invalid_argument(format!("event {index} of the batch does not decode: {error}"))
    })
}

/// Logs the scorers that failed on some of a batch's events.
fn log_failures(report: ApplyReport) {
    for failure in report.failures {
        tracing::warn!(
            scorer = %failure.scorer,
            events = failure.events,
            error = %failure.last_error,
            "scorer failed on events; they were still counted by the other scorers"
        );
    }
}

fn batch_result(counted: usize, duplicates: usize, rejections: Vec<proto::Rejection>) -> proto::BatchResult {
    proto::BatchResult {
        accepted: u32::try_from(counted).unwrap_or(u32::MAX),
        duplicates: u32::try_from(duplicates).unwrap_or(u32::MAX),
        rejections,
    }
}

/// Batches from this many events on run their CPU-heavy steps off the
/// async workers; smaller ones run in place, where a thread hand-off would
/// cost more than the work (unary `Record` of one event fell from 84% to
/// 33% of the ceiling with every call handed off).
const OFF_RUNTIME_EVENTS: usize = 64;

/// Runs a CPU-heavy step of a batch of `events` events (about a
/// millisecond per 1,000) on tokio's blocking pool. On the async workers it
/// held up every query and ack queued behind it: a 0.4 ms query took 10 to
/// 20 ms under ingest (`rapport bench mixed`, BENCHMARKS.md).
async fn on_cpu<T: Send + 'static>(
    events: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    if events < OFF_RUNTIME_EVENTS {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| Status::internal(format!("ingest step failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use rapport_engine::{EngineConfig, scorers};
    use rapport_store::{FaultInjector, StoreOptions};
    use tonic::Code;

    fn nps(id: &str, time: Timestamp) -> WireEvent {
        WireEvent::from(proto::Event {
            id: id.to_owned(),
            account_id: "acct".to_owned(),
            time: Some(convert::to_timestamp(time)),
            labels: Default::default(),
            payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some(9),
                scale: None,
                comment: String::new(),
            })),
        })
    }

    async fn open(dir: &std::path::Path) -> anyhow::Result<(Arc<Engine>, Arc<Durability>, Arc<Ingestor>)> {
        let config = EngineConfig::default();
        let engine = Arc::new(Engine::new(config.clone(), scorers::builtin(&config.surveys))?);
        // Small segments, so snapshots can delete some.
        let options = StoreOptions { segment_bytes: 512, ..StoreOptions::default() };
        let durability =
            Arc::new(Durability::open_with(dir, options, Arc::clone(&engine), Arc::new(SystemClock)).await?);
        let ingestor =
            Arc::new(Ingestor::new(Arc::clone(&engine), 100).with_durability(Some(Arc::clone(&durability))));
        Ok((engine, durability, ingestor))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn snapshots_truncate_the_log_and_a_lost_state_stops_start_up() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let tenant = TenantId::default();
        let (engine, durability, ingestor) = open(dir.path()).await?;
        let now = SystemClock.now();
        for round in 0..3 {
            for b in 0..5 {
                let batch = [nps(&format!("{round}-{b}"), now)].into_iter().collect();
                ingestor.process(&tenant, batch, now).await?;
            }
            assert!(durability.snapshot().await?.is_some());
        }
        assert_eq!(durability.snapshot().await?, None, "nothing new, no snapshot");
        let first_segment = dir.path().join("wal").join(format!("{:020}.seg", 1));
        assert!(!first_segment.exists(), "the log behind the previous snapshot is deleted");
        drop((engine, durability, ingestor));

        let (engine, durability, ingestor) = open(dir.path()).await?;
        assert_eq!(engine.dedup_len(), 15, "the state came back from the snapshot");
        drop((engine, durability, ingestor));

        // Both snapshots damaged and the log behind them gone: refuse.
        for entry in std::fs::read_dir(dir.path().join("snapshots"))? {
            let path = entry?.path();
            let mut bytes = std::fs::read(&path)?;
            if let Some(last) = bytes.last_mut() {
                *last ^= 0xff;
            }
            std::fs::write(&path, bytes)?;
        }
        let refused = open(dir.path()).await.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(refused.contains("from a backup"), "{refused}");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_append_counts_nothing_frees_the_ids_and_is_never_acked() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let config = EngineConfig::default();
        let engine = Arc::new(Engine::new(config.clone(), scorers::builtin(&config.surveys))?);
        let faults = FaultInjector::new();
        let options = StoreOptions { faults: Some(faults.clone()), ..StoreOptions::default() };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let durability = Arc::new(
            Durability::open_with(dir.path(), options, Arc::clone(&engine), Arc::clone(&clock)).await?,
        );
        let ingestor = Arc::new(Ingestor::new(Arc::clone(&engine), 100).with_durability(Some(durability)));
        let tenant = TenantId::default();
        let now = clock.now();
        let batch: EncodedEvents = [nps("a", now), nps("b", now)].into_iter().collect();

        faults.fail_writes(1);
        let refused = ingestor.process(&tenant, batch.clone(), now).await.err().map(|s| s.code());
        assert_eq!(refused, Some(Code::ResourceExhausted), "a full disk asks clients to back off");
        assert_eq!(engine.dedup_len(), 0, "reservations released");

        let retried = ingestor.process(&tenant, batch.clone(), now).await?;
        assert_eq!((retried.accepted, retried.duplicates), (2, 0), "the retry counts them");
        let again = ingestor.process(&tenant, batch, now).await?;
        assert_eq!((again.accepted, again.duplicates), (0, 2));
        Ok(())
    }
}
