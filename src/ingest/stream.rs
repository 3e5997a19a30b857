//! The batches of one `Ingest` stream, pipelined: up to [`STREAM_PIPELINE`]
//! in process at once, each taking effect in the stream's next turn (so in
//! stream order, as if sent one after another), acknowledged in stream
//! order. Once shutdown begins the stream takes no new batch: the ones in
//! process finish and are acknowledged, then the stream ends with
//! `UNAVAILABLE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt};
use rapport_engine::TenantId;
use tonic::Status;

use super::Ingestor;
use super::order::Chain;
use super::wire::IngestBatch;
use crate::clock::Clock;
use crate::shutdown::Shutdown;
use crate::{proto, status};

/// Batches of one stream in process at once (acks still go out in order).
/// One at a time left the log's group commit one batch per stream per
/// fsync, and a core idle while a stream's next batch waited; measured with
/// `rapport bench ingest` (BENCHMARKS.md, "Load generator").
pub const STREAM_PIPELINE: usize = 4;

/// The acks of one stream of `batches` from `tenant`, each batch stamped
/// with `clock` as it is taken. After a failed batch the caller should
/// stop: later batches already in process may have been counted, and the
/// client's retry of them counts once (dedup).
pub fn acks<B>(
    ingestor: Arc<Ingestor>,
    tenant: TenantId,
    batches: B,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<proto::IngestResponse, Status>> + Send + 'static
where
    B: Stream<Item = Result<IngestBatch, Status>> + Send + 'static,
{
    let stopped = Arc::new(AtomicBool::new(false));
    let stop = {
        let stopped = Arc::clone(&stopped);
        async move {
            shutdown.begun().await;
            stopped.store(true, Ordering::Release);
        }
    };
    let mut order = Chain::new();
    let results = batches
        .take_until(stop)
        .map(move |batch| {
            // Taken here, as the batch is read: turns follow stream order.
            let turn = order.next_turn();
            let (ingestor, clock, tenant) = (Arc::clone(&ingestor), Arc::clone(&clock), tenant.clone());
            async move {
                let batch = batch?;
                let result = ingestor.process_in_turn(&tenant, batch.events, clock.now(), turn).await?;
                Ok(proto::IngestResponse { batch_id: batch.batch_id, result: Some(result) })
            }
        })
        .buffered(STREAM_PIPELINE);
    let end =
        futures::stream::once(async move { stopped.load(Ordering::Acquire).then(status::shutting_down) })
            .filter_map(|ended| async move { ended.map(Err) });
    results.chain(end)
}
