//! `rapport.v1.MetricsService`.

use std::sync::Arc;

use rapport_engine::Engine;
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::proto::metrics_service_server::MetricsService;
use crate::{convert, proto, status};

/// Serves queries over gRPC.
pub struct MetricsApi {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
}

impl MetricsApi {
    /// A service answering from `engine` as of `clock`.
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>) -> Self {
        MetricsApi { engine, clock }
    }
}

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
        Ok(Response::new(convert::query_response(query.metric, result)))
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
