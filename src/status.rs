//! Engine errors to gRPC status codes, in one place, so every RPC reports the
//! same failure the same way.

use rapport_engine::{QueryError, ScorerError};
use tonic::Status;

/// The status for a failed query.
pub fn from_query_error(error: QueryError) -> Status {
    let message = error.to_string();
    match error {
        QueryError::UnknownMetric(_) => Status::not_found(message),
        QueryError::InvalidWindow(_)
        | QueryError::InvalidStep(_)
        | QueryError::InvalidFilter(_)
        | QueryError::InvalidGroupBy(_)
        | QueryError::InvalidParameter(_) => Status::invalid_argument(message),
        QueryError::TooLarge(_) => Status::resource_exhausted(message),
        QueryError::Scorer(ScorerError::Precondition(_)) => Status::failed_precondition(message),
        QueryError::Scorer(ScorerError::Failed(_)) => Status::internal(message),
    }
}

/// The status for a batch that could not be logged: nothing of it was
/// acknowledged or counted. A full disk (or quota, or file-size limit) asks
/// clients to back off; any other log failure to retry later.
pub fn from_log_error(error: crate::durability::LogError) -> Status {
    use crate::durability::LogError;
    let message = format!("batch not accepted, nothing of it was counted: {error}");
    match &error {
        LogError::Store(store) if store.is_disk_full() => Status::resource_exhausted(message),
        LogError::Store(_) => Status::unavailable(message),
        LogError::Encode(_) => Status::internal(message),
    }
}

/// The status for a batch with more events than a batch may have.
pub fn batch_too_large(events: usize, max: usize) -> Status {
    Status::invalid_argument(format!("batch has {events} events; at most {max} per batch"))
}

/// The status for a batch with an event that is not valid protobuf: the
/// batch is refused whole, as a malformed request, naming the event.
pub fn undecodable_event(index: usize, error: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("event {index} of the batch does not decode: {error}"))
}

/// The status for a step of a batch whose task died (a bug: it panicked).
pub fn ingest_task_failed(error: impl std::fmt::Display) -> Status {
    Status::internal(format!("ingest step failed: {error}"))
}

/// The status for a call refused, or a stream ended, because the server is
/// shutting down: the client reconnects (to another instance, or to this
/// one once it is back) and resends what was not acknowledged.
pub fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down: reconnect and resend the batches not acknowledged")
}

/// The status for a plugin that could not be loaded, reloaded or unloaded.
///
/// A path outside the plugin directory is `PERMISSION_DENIED`: the request
/// is well formed, but the server does not load code from anywhere else. A
/// file that is not a plugin at all is `INVALID_ARGUMENT`; a plugin this
/// server cannot run (another ABI version, bad metadata, a failing
/// `create`) or an unusable plugin directory is `FAILED_PRECONDITION`.
pub fn from_plugin_error(error: rapport_plugin_host::PluginError) -> Status {
    use rapport_plugin_host::PluginError as E;
    use std::io::ErrorKind;
    let message = error.to_string();
    match error {
        E::OutsideDirectory { .. } => Status::permission_denied(message),
        E::UnknownPlugin(_) => Status::not_found(message),
        E::AlreadyLoaded(_) => Status::already_exists(message),
        E::File { source, .. } => match source.kind() {
            ErrorKind::NotFound => Status::not_found(message),
            ErrorKind::PermissionDenied => Status::permission_denied(message),
            ErrorKind::InvalidInput => Status::invalid_argument(message),
            _ => Status::internal(message),
        },
        E::NotALibrary { .. } | E::NotAPlugin { .. } => Status::invalid_argument(message),
        E::TooManyLibraries { .. } => Status::resource_exhausted(message),
        E::AbiVersion { .. }
        | E::StructSize { .. }
        | E::Create { .. }
        | E::Metadata { .. }
        | E::Directory { .. } => Status::failed_precondition(message),
    }
}

/// The status for a plugin whose scorer the engine refused: its name or a
/// metric name is already taken.
pub fn from_registry_error(error: rapport_engine::RegistryError) -> Status {
    Status::already_exists(error.to_string())
}
