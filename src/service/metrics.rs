//! `rapport.v1.MetricsService`.

use std::sync::Arc;

use rapport_engine::Engine;
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::proto::shared::metrics_service_server::MetricsService;
use crate::service::lifecycle;
use crate::shutdown::{Shutdown, UntilShutdown};
use crate::subscribe::{Hub, UpdateStream};
use crate::{convert, proto, status};

/// Serves queries over gRPC.
pub struct MetricsApi {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    hub: Arc<Hub>,
    shutdown: Shutdown,
}

impl MetricsApi {
    /// A service answering from `engine` as of `clock`, with live
    /// subscriptions served by `hub`, ended with `UNAVAILABLE` once
    /// `shutdown` begins (they never end by themselves).
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>, hub: Arc<Hub>, shutdown: Shutdown) -> Self {
        MetricsApi { engine, clock, hub, shutdown }
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        let mut response = if lifecycle::handles(&request.metric) {
            lifecycle::query(&self.engine, &tenant, request, self.clock.now())?
        } else {
            let query = convert::query(request)?;
            let result =
                self.engine.query(&tenant, &query, self.clock.now()).map_err(status::from_query_error)?;
            convert::query_response(query.metric, result)
        };
        self.hub.targets().annotate(&mut response);
        Ok(Response::new(response))
    }

    type SubscribeStream = UntilShutdown<UpdateStream>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let tenant = tenant_of(&request)?;
        let connection = request.remote_addr();
        if self.shutdown.has_begun() {
            return Err(status::shutting_down());
        }
        let updates = self.hub.open(&tenant, request.into_inner(), connection, Arc::clone(&self.clock))?;
        Ok(Response::new(UntilShutdown::new(updates, self.shutdown.clone())))
    }

    async fn list_metrics(
        &self,
        request: Request<proto::ListMetricsRequest>,
    ) -> Result<Response<proto::ListMetricsResponse>, Status> {
        tenant_of(&request)?;
        Ok(Response::new(proto::ListMetricsResponse { metrics: lifecycle::list_metrics(&self.engine) }))
    }
}
