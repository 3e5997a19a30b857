//! `rapport.v1.MetricsService`.

use std::sync::Arc;

use rapport_engine::Engine;
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::proto::metrics_service_server::MetricsService;
use crate::{convert, proto, status};

/// Serves queries over gRPC.
pub struct MetricsApi {
    engine: Arc<Engine>,
}

impl MetricsApi {
    /// A service answering from `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        MetricsApi { engine }
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
        let result = self.engine.query(&tenant, &query, super::now()).map_err(status::from_query_error)?;
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
