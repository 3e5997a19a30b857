//! `rapport.v1.FeedbackService`: the open low-score comments behind the
//! `feedback_backlog` metric, read from the engine's comment shelf.

use std::sync::Arc;

use rapport_engine::{self as engine, Engine};
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::clock::Clock;
use crate::convert::{to_duration, to_timestamp};
use crate::proto::feedback_service_server::FeedbackService;
use crate::{proto, status};

/// Items listed when the request sets no limit.
const DEFAULT_LIMIT: u32 = 100;
/// Items listed at most.
const MAX_LIMIT: u32 = 10_000;

/// Serves the open comments over gRPC.
pub struct FeedbackApi {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
}

impl FeedbackApi {
    /// A service reading `engine`'s comments, their ages as of `clock`.
    pub fn new(engine: Arc<Engine>, clock: Arc<dyn Clock>) -> Self {
        FeedbackApi { engine, clock }
    }
}

#[tonic::async_trait]
impl FeedbackService for FeedbackApi {
    async fn list_feedback(
        &self,
        request: Request<proto::ListFeedbackRequest>,
    ) -> Result<Response<proto::ListFeedbackResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => DEFAULT_LIMIT,
            limit if limit <= MAX_LIMIT => limit,
            limit => return Err(Status::invalid_argument(format!("limit {limit} is above {MAX_LIMIT}"))),
        };
        let filters: Vec<engine::LabelFilter> = request
            .filters
            .into_iter()
            .map(|f| engine::LabelFilter { label: f.label, values: f.values, negate: f.negate })
            .collect();
        let list =
            self.engine.open_comments(&tenant, &filters, limit as usize).map_err(status::from_query_error)?;
        let now = self.clock.now();
        Ok(Response::new(proto::ListFeedbackResponse {
            items: list.items.into_iter().map(|item| feedback_item(item, now)).collect(),
            matched: list.matched,
            open: list.open,
            not_kept: list.not_kept,
        }))
    }
}

/// The wire form of an open comment, its age as of `now`.
fn feedback_item(item: engine::OpenComment, now: engine::Timestamp) -> proto::FeedbackItem {
    let kind = match item.kind {
        engine::SurveyKind::Csat => proto::SurveyKind::Csat,
        engine::SurveyKind::Ces => proto::SurveyKind::Ces,
        engine::SurveyKind::Nps => proto::SurveyKind::Nps,
    };
    proto::FeedbackItem {
        response_id: item.response_id.into(),
        account_id: item.account.into(),
        time: Some(to_timestamp(item.made)),
        kind: kind.into(),
        score: item.score,
        scale: Some(proto::Scale { min: item.scale.min, max: item.scale.max }),
        comment: item.comment.into(),
        labels: item.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        age: Some(to_duration(engine::Duration((now.millis() - item.made.millis()).max(0)))),
    }
}
