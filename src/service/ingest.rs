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
use crate::ingest::wire::{IngestBatch, RecordBatch};
use crate::ingest::{Ingestor, stream};
use crate::proto;
use crate::proto::shared::ingest_service_server::IngestService;
use crate::shutdown::Shutdown;
use crate::status;
use crate::subscribe::ChangeSignal;

/// Acks buffered per stream before the server waits for the client to read.
const ACK_BUFFER: usize = 16;

/// Serves ingest over gRPC.
pub struct IngestApi {
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    changes: ChangeSignal,
    shutdown: Shutdown,
}

impl IngestApi {
    /// A service feeding `ingestor`, stamping batches with `clock`,
    /// signalling `changes` after each batch (live subscriptions wake on it;
    /// signalling never waits), and taking no new batch once `shutdown`
    /// begins.
    pub fn new(
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
        changes: ChangeSignal,
        shutdown: Shutdown,
    ) -> Self {
        IngestApi { ingestor, clock, changes, shutdown }
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
        if self.shutdown.has_begun() {
            return Err(status::shutting_down());
        }
        let results = stream::acks(
            Arc::clone(&self.ingestor),
            tenant,
            request.into_inner(),
            Arc::clone(&self.clock),
            self.shutdown.clone(),
        );
        let changes = self.changes.clone();
        let (acks, rx) = mpsc::channel(ACK_BUFFER);
        tokio::spawn(async move {
            let mut results = std::pin::pin!(results);
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
        if self.shutdown.has_begun() {
            return Err(status::shutting_down());
        }
        let result = self.ingestor.process(&tenant, request.into_inner().events, self.clock.now()).await?;
        self.changes.notify();
        Ok(Response::new(proto::RecordResponse { result: Some(result) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::ingest::wire::WireEvent;
    use rapport_engine::{Engine, EngineConfig, TenantId, scorers};
    use tonic::Code;

    fn api() -> (IngestApi, crate::shutdown::ShutdownSwitch) {
        let config = EngineConfig::default();
        let engine = Arc::new(
            Engine::new(config.clone(), scorers::builtin(&config.surveys))
                .unwrap_or_else(|e| unreachable!("the built-in scorers register: {e}")),
        );
        let (switch, shutdown) = crate::shutdown::shutdown();
        let ingestor = Arc::new(Ingestor::new(engine, 100));
        (IngestApi::new(ingestor, Arc::new(SystemClock), ChangeSignal::new(), shutdown), switch)
    }

    fn record(id: &str) -> Request<RecordBatch> {
        let event = proto::Event {
            id: id.into(),
            time: Some(crate::convert::to_timestamp(SystemClock.now())),
            payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some(9),
                ..Default::default()
            })),
            ..Default::default()
        };
        let mut request =
            Request::new(RecordBatch { events: [WireEvent::from(event)].into_iter().collect() });
        request.extensions_mut().insert(TenantId::default());
        request
    }

    #[tokio::test]
    async fn record_after_shutdown_began_is_unavailable() {
        let (api, switch) = api();
        let before = api.record(record("a")).await.map(|r| r.into_inner().result.map(|r| r.accepted));
        assert_eq!(before.ok().flatten(), Some(1));
        switch.begin();
        let after = api.record(record("b")).await.err().map(|s| (s.code(), s.message().to_owned()));
        assert!(
            matches!(&after, Some((Code::Unavailable, message)) if message.contains("shutting down")),
            "{after:?}"
        );
    }
}
