//! `rapport.v1.MetricsService`.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use rapport_engine::Engine;
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::proto::metrics_service_server::MetricsService;
use crate::subscribe::Hub;
use crate::{convert, proto, status};

/// Serves queries over gRPC.
pub struct MetricsApi {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    hub: Arc<Hub>,
}

impl MetricsApi {
    /// A service answering from `engine` as of `clock`, with live
    /// subscriptions served by `hub`.
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>, hub: Arc<Hub>) -> Self {
        MetricsApi { engine, clock, hub }
    }
}

/// Outgoing messages buffered per subscriber: one, so a slow reader holds
/// at most one superseded answer (see `crate::subscribe`).
const SUBSCRIBER_BUFFER: usize = 1;

type UpdateStream = Pin<Box<dyn Stream<Item = Result<proto::SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let query = convert::query(request.into_inner())?;
        let result =
            self.engine.query(&tenant, &query, self.clock.now()).map_err(status::from_query_error)?;
        let mut response = convert::query_response(query.metric, result);
        self.hub.targets().annotate(&mut response);
        Ok(Response::new(response))
    }

    type SubscribeStream = UpdateStream;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let tenant = tenant_of(&request)?;
        let connection = request.remote_addr();
        let subscription = self.hub.subscribe(&tenant, request.into_inner(), connection)?;
        let (out, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        tokio::spawn(subscription.forward(out, Arc::clone(&self.clock)));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_metrics(
        &self,
        request: Request<proto::ListMetricsRequest>,
    ) -> Result<Response<proto::ListMetricsResponse>, Status> {
        tenant_of(&request)?;
        let metrics = self.engine.metrics().into_iter().map(convert::metric_descriptor).collect();
        Ok(Response::new(proto::ListMetricsResponse { metrics }))
    }
}
