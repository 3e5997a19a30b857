//! The ingest path: decode, validate, dedup, log, apply, ack.
//!
//! Both `Record` and every batch of the `Ingest` stream go through
//! [`Ingestor::process_in_turn`], so they accept, reject and count
//! identically.
//!
//! **Order.** Many batches are in process at once (several per stream,
//! `stream.rs`, and many streams), yet the engine sees them one at a time,
//! in one order that keeps every stream's order and is the log's order, so
//! the result equals applying them one after another and replay after a
//! crash reaches the state the live server had. Per batch:
//!
//! 1. check each event alone (`batch::check`: decode, convert, validate;
//!    durable: encode the log record too), concurrently with other batches;
//! 2. wait for its turn in its stream (`order::Turn`), then, under the
//!    server's sequencer lock (`order::Sequencer`): the tenant's currency
//!    pin and the dedup reservation; in memory, apply; durable, queue the
//!    log record (log order is lock order) and take an apply turn;
//! 3. durable: wait for the log's ack and for the apply turn (applies run
//!    in log order), apply;
//! 4. ack with what was counted, the duplicates, the rejections, and the
//!    events a scorer refused (`batch::Admitted::result`).
//!
//! A check that reads state which only apply changes would break this in
//! the durable path (a batch's checks can run before the batches ahead of
//! it are applied): state a check depends on must change in step 2, as the
//! currency pin does.
//!
//! **Invariants:** an event rejected by validation, or a duplicate, is never
//! logged; a batch changes the engine only after the log acknowledged it;
//! an `Ok` answer means durable under the fsync policy. A batch whose log
//! append fails releases its dedup reservations and fails as a whole
//! (`RESOURCE_EXHAUSTED` on a full disk, else `UNAVAILABLE`).
//!
//! `wire.rs`: the requests as the server decodes them (labels as pairs,
//! no map per event).

mod batch;
pub mod order;
pub mod stream;
pub mod wire;

use std::sync::Arc;

use rapport_engine::{ApplyReport, Engine, TenantId, Timestamp};
use tonic::Status;

use crate::durability::{Durability, LogError, LogRecord};
use crate::proto;
use crate::status;
use order::{Sequencer, Turn};
use wire::EncodedEvents;

/// Runs batches of wire events through the engine (and the log, when
/// durable).
pub struct Ingestor {
    engine: Arc<Engine>,
    max_batch_events: usize,
    durability: Option<Arc<Durability>>,
    sequencer: Sequencer,
}

impl Ingestor {
    /// An in-memory ingestor feeding `engine`, refusing batches above
    /// `max_batch_events`.
    pub fn new(engine: Arc<Engine>, max_batch_events: usize) -> Self {
        Ingestor { engine, max_batch_events, durability: None, sequencer: Sequencer::new() }
    }

    /// The same, logging every accepted batch to `durability` before it is
    /// applied (`None`: in memory only).
    pub fn with_durability(mut self, durability: Option<Arc<Durability>>) -> Self {
        self.durability = durability;
        self
    }

    /// Processes one batch that follows no other (a unary `Record`); see
    /// [`Ingestor::process_in_turn`].
    pub async fn process(
        self: &Arc<Self>,
        tenant: &TenantId,
        events: EncodedEvents,
        now: Timestamp,
    ) -> Result<proto::BatchResult, Status> {
        self.process_in_turn(tenant, events, now, Turn::alone()).await
    }

    /// Processes one batch for `tenant` arriving at `now`, taking effect in
    /// `turn` (after the batches whose turns came before it in its chain).
    /// Each invalid event is rejected on its own with its index and reason,
    /// each duplicate (same tenant and id inside the dedup window, or
    /// earlier in the order) is acknowledged but not counted; the rest are
    /// logged and counted, and any a scorer refused are reported.
    ///
    /// A client that hangs up mid-batch cannot leave it half done (reserved
    /// and logged but never applied): in memory, reservation and apply are
    /// one step with no wait inside (on the blocking pool, which finishes
    /// it regardless); a durable batch runs in its own task.
    pub async fn process_in_turn(
        self: &Arc<Self>,
        tenant: &TenantId,
        events: EncodedEvents,
        now: Timestamp,
        turn: Turn,
    ) -> Result<proto::BatchResult, Status> {
        if events.len() > self.max_batch_events {
            return Err(status::batch_too_large(events.len(), self.max_batch_events));
        }
        let this = Arc::clone(self);
        let tenant = tenant.clone();
        let Some(durability) = self.durability.clone() else {
            return this.run_in_memory(tenant, events, now, turn).await;
        };
        tokio::spawn(async move { this.run_durable(durability, tenant, events, now, turn).await })
            .await
            .map_err(status::ingest_task_failed)?
    }

    /// Check; in turn, admit and apply.
    async fn run_in_memory(
        self: Arc<Self>,
        tenant: TenantId,
        events: EncodedEvents,
        now: Timestamp,
        mut turn: Turn,
    ) -> Result<proto::BatchResult, Status> {
        let size = events.len();
        let engine = Arc::clone(&self.engine);
        let checked = on_cpu(size, move || batch::check(&engine, events, now)).await??;
        turn.wait().await;
        let sequence = self.sequencer.lock().await;
        let engine = Arc::clone(&self.engine);
        on_cpu(size, move || {
            let admitted = checked.admit(&engine, &tenant, now);
            let report = engine.apply(&tenant, admitted.events(), now);
            drop((sequence, turn));
            admitted.result(report)
        })
        .await
    }

    /// Check and encode; in turn, admit and queue the log record; once the
    /// log acknowledged it, apply in log order.
    async fn run_durable(
        self: Arc<Self>,
        durability: Arc<Durability>,
        tenant: TenantId,
        events: EncodedEvents,
        now: Timestamp,
        mut turn: Turn,
    ) -> Result<proto::BatchResult, Status> {
        let size = events.len();
        let (engine, batch_tenant) = (Arc::clone(&self.engine), tenant.clone());
        let (checked, record) = on_cpu(size, move || -> Result<_, Status> {
            let checked = batch::check(&engine, events, now)?;
            let record =
                LogRecord::encode(&batch_tenant, now, checked.events()).map_err(status::from_log_error)?;
            Ok((checked, record))
        })
        .await??;

        turn.wait().await;
        // A snapshot waits while any batch is between here and apply (see
        // `durability`), so dedup reservations and the log stay in step.
        let _admitted = durability.admit().await;
        let mut sequence = self.sequencer.lock().await;
        let (engine, log, batch_tenant) = (Arc::clone(&self.engine), Arc::clone(&durability), tenant.clone());
        let (admitted, logged) = on_cpu(size, move || {
            let admitted = checked.admit(&engine, &batch_tenant, now);
            if admitted.events().is_empty() {
                return (admitted, Ok(None));
            }
            let record = if admitted.is_whole() {
                Ok(record)
            } else {
                LogRecord::encode(&batch_tenant, now, admitted.events())
            };
            let logged = match record {
                Ok(record) => Ok(Some((log.append(record), sequence.next_turn()))),
                Err(error) => {
                    engine.release_ids(&batch_tenant, admitted.events(), now);
                    Err(error)
                }
            };
            drop(sequence);
            (admitted, logged)
        })
        .await?;
        // The stream's next batch may take its turn.
        drop(turn);

        let Some((appended, mut apply_turn)) = logged.map_err(status::from_log_error)? else {
            return Ok(admitted.result(ApplyReport::default()));
        };
        // Durable before the aggregates change; applied in log order.
        let appended = appended.await;
        apply_turn.wait().await;
        if let Err(error) = appended {
            self.engine.release_ids(&tenant, admitted.events(), now);
            tracing::warn!(%error, events = admitted.events().len(), "batch not logged; answered with an error");
            return Err(status::from_log_error(LogError::Store(error)));
        }
        let engine = Arc::clone(&self.engine);
        on_cpu(size, move || {
            let report = engine.apply(&tenant, admitted.events(), now);
            drop(apply_turn);
            admitted.result(report)
        })
        .await
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
    tokio::task::spawn_blocking(work).await.map_err(status::ingest_task_failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::convert;
    use rapport_engine::{EngineConfig, scorers};
    use rapport_store::{FaultInjector, StoreOptions};
    use tonic::Code;
    use wire::WireEvent;

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
