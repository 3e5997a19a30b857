//! `rapport.v1.IngestService`.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::ingest::Ingestor;
use crate::proto;
use crate::proto::ingest_service_server::IngestService;
use crate::subscribe::ChangeSignal;

/// Acks buffered per stream before the server waits for the client to read.
const ACK_BUFFER: usize = 16;

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
        request: Request<Streaming<proto::IngestRequest>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        let tenant = tenant_of(&request)?;
        let mut batches = request.into_inner();
        let ingestor = Arc::clone(&self.ingestor);
        let clock = Arc::clone(&self.clock);
        let changes = self.changes.clone();
        let (acks, rx) = mpsc::channel(ACK_BUFFER);
        tokio::spawn(async move {
            loop {
                let ack = match batches.message().await {
                    Ok(Some(batch)) => {
                        ingestor.process(&tenant, batch.events, clock.now()).await.map(|result| {
                            proto::IngestResponse { batch_id: batch.batch_id, result: Some(result) }
                        })
                    }
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
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

    async fn record(
        &self,
        request: Request<proto::RecordRequest>,
    ) -> Result<Response<proto::RecordResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let result = self.ingestor.process(&tenant, request.into_inner().events, self.clock.now()).await?;
        self.changes.notify();
        Ok(Response::new(proto::RecordResponse { result: Some(result) }))
    }
}
