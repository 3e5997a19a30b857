//! `rapport.v1.IngestService`, on the server's own request types
//! (`ingest::wire`).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::ingest::Ingestor;
use crate::ingest::wire::{IngestBatch, RecordBatch};
use crate::proto;
use crate::proto::shared::ingest_service_server::IngestService;
use crate::subscribe::ChangeSignal;

/// Acks buffered per stream before the server waits for the client to read.
const ACK_BUFFER: usize = 16;
/// Batches of one stream in process at once (acks still go out in order).
/// One at a time left the log's group commit one batch per stream per
/// fsync, and a core idle while a stream's next batch waited; measured with
/// `rapport bench ingest` (BENCHMARKS.md, "Load generator").
const STREAM_PIPELINE: usize = 4;

/// Serves ingest over gRPC.
pub struct IngestApi {
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    changes: ChangeSignal,
}

impl IngestApi {
    /// A service feeding `ingestor`, stamping batches with `clock`, and
    /// signalling `changes` after each batch (live subscriptions wake on it;
    /// signalling never waits).
    pub fn new(ingestor: Arc<Ingestor>, clock: Arc<dyn Clock>, changes: ChangeSignal) -> Self {
        IngestApi { ingestor, clock, changes }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<proto::IngestResponse, Status>> + Send>>;

#[tonic::async_trait]
impl IngestService for IngestApi {
    type IngestStream = AckStream;

    async fn ingest(
        &self,
        request: Request<Streaming<IngestBatch>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        let tenant = tenant_of(&request)?;
        let batches = request.into_inner();
        let ingestor = Arc::clone(&self.ingestor);
        let clock = Arc::clone(&self.clock);
        let changes = self.changes.clone();
        let (acks, rx) = mpsc::channel(ACK_BUFFER);
        tokio::spawn(async move {
            // Up to STREAM_PIPELINE batches run at once; `buffered` yields
            // their results in arrival order. After a failed batch the stream
            // ends, though later batches already in process may have been
            // counted: the client retries them, and the dedup index makes
            // the retry count once.
            let mut results = batches
                .map(|batch| {
                    let (ingestor, clock, tenant) =
                        (Arc::clone(&ingestor), Arc::clone(&clock), tenant.clone());
                    async move {
                        let batch = batch?;
                        let result = ingestor.process(&tenant, batch.events, clock.now()).await?;
                        Ok(proto::IngestResponse { batch_id: batch.batch_id, result: Some(result) })
                    }
                })
                .buffered(STREAM_PIPELINE);
            while let Some(ack) = results.next().await {
                let failed = ack.is_err();
                changes.notify();
                // A closed channel means the client went away: stop reading.
                if acks.send(ack).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn record(&self, request: Request<RecordBatch>) -> Result<Response<proto::RecordResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let result = self.ingestor.process(&tenant, request.into_inner().events, self.clock.now()).await?;
        self.changes.notify();
        Ok(Response::new(proto::RecordResponse { result: Some(result) }))
    }
}
