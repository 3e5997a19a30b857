//! Engine errors to gRPC status codes, in one place, so every RPC reports the
//! same failure the same way.

use rapport_engine::{QueryError, ScorerError};
use tonic::Status;

/// The status for a failed query.
pub fn from_query_error(error: QueryError) -> Status {
    let message = error.to_string();
    match error {
        QueryError::UnknownMetric(_) => Status::not_found(message),
        QueryError::InvalidWindow(_) | QueryError::InvalidStep(_) | QueryError::InvalidFilter(_) => {
            Status::invalid_argument(message)
        }
        QueryError::TooLarge(_) => Status::resource_exhausted(message),
        QueryError::Scorer(ScorerError::Precondition(_)) => Status::failed_precondition(message),
        QueryError::Scorer(ScorerError::Failed(_)) => Status::internal(message),
    }
}
