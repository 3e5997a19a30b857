//! The transport ceiling: a minimal tonic server speaking `rapport.v1`.
//!
//! `IngestService` decodes the same messages rapport does and acknowledges
//! each batch with a correct `BatchResult` (every event accepted), doing
//! nothing else; `MetricsService.Query` answers an empty response. Whatever
//! rapport does beyond this (validation, dedup, the log, the engine) is
//! what its ratio to the ceiling measures. It runs as a child process
//! (`rapport bench ceiling-server`, hidden) so both servers are started,
//! scheduled and measured the same way.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use rapport::proto;
use rapport::proto::ingest_service_server::{IngestService, IngestServiceServer};
use rapport::proto::metrics_service_server::{MetricsService, MetricsServiceServer};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, Streaming};

/// Same limit as rapportd, so the same batches are accepted.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Flags of the hidden `rapport bench ceiling-server`.
#[derive(Debug, clap::Args)]
pub struct CeilingArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

/// Serves until the process is killed, accepting connections the way
/// rapportd does (`server::incoming`). Prints `addr=Some(HOST:PORT)` once
/// listening, like rapportd's start-up line, for `ServerProcess`.
pub async fn serve(args: CeilingArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    println!("ceiling listening addr=Some({})", listener.local_addr()?);
    tonic::transport::Server::builder()
        .add_service(IngestServiceServer::new(Ceiling).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(MetricsServiceServer::new(Ceiling))
        .serve_with_incoming(rapport::server::incoming(listener))
        .await?;
    Ok(())
}

/// Acknowledges everything.
struct Ceiling;

fn accept_all(events: &[proto::Event]) -> proto::BatchResult {
    proto::BatchResult {
        accepted: u32::try_from(events.len()).unwrap_or(u32::MAX),
        ..proto::BatchResult::default()
    }
}

type Acks = Pin<Box<dyn Stream<Item = Result<proto::IngestResponse, Status>> + Send>>;
type Updates = Pin<Box<dyn Stream<Item = Result<proto::SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl IngestService for Ceiling {
    type IngestStream = Acks;

    async fn ingest(
        &self,
        request: Request<Streaming<proto::IngestRequest>>,
    ) -> Result<Response<Acks>, Status> {
        let acks = request.into_inner().map(|batch| {
            batch.map(|batch| proto::IngestResponse {
                result: Some(accept_all(&batch.events)),
                batch_id: batch.batch_id,
            })
        });
        Ok(Response::new(Box::pin(acks)))
    }

    async fn record(
        &self,
        request: Request<proto::RecordRequest>,
    ) -> Result<Response<proto::RecordResponse>, Status> {
        Ok(Response::new(proto::RecordResponse { result: Some(accept_all(&request.into_inner().events)) }))
    }
}

#[tonic::async_trait]
impl MetricsService for Ceiling {
    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        let metric = request.into_inner().metric;
        Ok(Response::new(proto::QueryResponse {
            metric,
            window: None,
            groups: Vec::new(),
            tables: Vec::new(),
        }))
    }

    async fn list_metrics(
        &self,
        _request: Request<proto::ListMetricsRequest>,
    ) -> Result<Response<proto::ListMetricsResponse>, Status> {
        Err(Status::unimplemented("the transport ceiling answers Query only"))
    }

    type SubscribeStream = Updates;

    async fn subscribe(
        &self,
        _request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Updates>, Status> {
        Err(Status::unimplemented("the transport ceiling answers Query only"))
    }
}
