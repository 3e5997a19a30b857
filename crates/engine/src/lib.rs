//! rapport's metric engine.
//!
//! Events go in ([`Engine::validate`], then [`Engine::apply`]); metric values
//! come out ([`Engine::query`]). In between, [`Scorer`]s turn events into
//! observations on host-managed, mergeable accumulators, kept per tenant,
//! scorer, series labels and time bucket.
//!
//! This crate does no I/O, spawns no threads and knows nothing of gRPC or
//! protobuf: callers bring the clock (`now`) and the storage.

mod accounts;
mod accumulator;
mod apply;
mod dedup;
mod engine;
mod event;
mod query;
mod registry;
mod scorer;
pub mod scorers;
mod series;
mod snapshot;
pub mod stats;
mod time;
mod topk;
mod validate;
mod window;

pub use accounts::{
    AccountAnswer, AccountEntry, AccountLabel, AccountPayload, AccountRecord, AccountVolume, AccountsState,
    AccountsStateV1, AccountsStateV2, Activation, COHORT_SURVEY_METRICS, Cell, CohortCell, CohortRow, Column,
    CommentsState, Currency, DEFAULT_INACTIVE_DAYS, Durations, FeedbackFollowUp, FeedbackItem, INACTIVE_DAYS,
    Inactive, InactiveAccount, MAX_COMMENTS_PER_TENANT, MAX_LABELS, Milestone, MrrChange, MrrEntry, MrrKind,
    OpenAccount, OpenComment, OpenComments, ProcessingVolume, Retention, START_MONTH, StatusChange,
    SurveyTally, Table, TimeToValue, Timeliness, Usage, UsageBucket, Volume, account_metrics,
    account_retention, activation, cohort_row, cohort_triangle, feedback_follow_up,
    inactive_after_activation, is_account_metric, needs_follow_up, onboarding_timeliness, processing_volume,
    retention, time_to_value, volume_windows,
};
pub use accumulator::{Accumulator, AccumulatorKind, AccumulatorView, ItemRef, Moments, ObservedValue};
pub use engine::{ApplyReport, Engine, EngineConfig, LISTED_REFUSALS, MetricInfo, Refusal, ScorerFailure};
pub use event::{CustomEvent, Event, Labels, Payload, Scale, SurveyKind, SurveyResponse, TenantId};
pub use query::{GroupResult, LabelFilter, Point, Query, QueryError, QueryResult, Window};
pub use registry::RegistryError;
pub use scorer::{Interval, MetricSpec, MetricValue, Observations, Scorer, ScorerError, ScorerSpec};
pub use snapshot::{EngineState, EngineStateV1, EngineStateV2, SnapshotError};
pub use time::{Duration, Resolution, TimeRange, Timestamp};
pub use topk::{Counter, SpaceSaving};
pub use validate::{
    EventLimits, Rejection, RejectionReason, SurveySettings, resolve_scale, validate_account,
};
