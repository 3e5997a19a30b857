//! The lifecycle part of `MetricsService.Query` and `ListMetrics`: metrics
//! answered from account records (`rapport_engine::Engine::query_accounts`)
//! rather than from scorers. Thin: wire to engine, engine to wire.

use rapport_engine::{Engine, TenantId, Timestamp};
use tonic::Status;

use crate::{convert, proto, status};

/// Whether `metric` is a lifecycle metric, answered by [`query`].
pub fn handles(metric: &str) -> bool {
    rapport_engine::is_account_metric(metric)
}

/// Answers a lifecycle metric for `tenant` as of `now`.
pub fn query(
    engine: &Engine,
    tenant: &TenantId,
    request: proto::QueryRequest,
    now: Timestamp,
) -> Result<proto::QueryResponse, Status> {
    let (query, parameters) = convert::query_parts(request)?;
    let answer = engine.query_accounts(tenant, &query, &parameters, now).map_err(status::from_query_error)?;
    Ok(convert::account_query_response(query.metric, answer))
}

/// The scorers' metrics and the lifecycle metrics together, sorted by name.
pub fn list_metrics(engine: &Engine) -> Vec<proto::MetricDescriptor> {
    let mut metrics: Vec<proto::MetricDescriptor> =
        engine.metrics().into_iter().map(convert::metric_descriptor).collect();
    metrics.extend(convert::lifecycle_descriptors());
    metrics.sort_by(|a, b| a.name.cmp(&b.name));
    metrics
}
