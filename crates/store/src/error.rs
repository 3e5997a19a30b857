//! The one error type of the store.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::Lsn;

/// Everything that can go wrong in the store.
///
/// The server maps these to gRPC codes in one place: [`StoreError::is_disk_full`] means
/// `RESOURCE_EXHAUSTED`, every other failure of an append means `UNAVAILABLE`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed outside the append path (open, recovery, snapshots).
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What the store was doing, e.g. "read segment".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error, shared so the error stays cloneable.
        #[source]
        source: Arc<io::Error>,
    },

    /// Writing or syncing a group of appends failed; none of the group's records is durable and
    /// the segment was rolled back to its last good offset.
    #[error("write-ahead log write failed, nothing in this group was acknowledged: {source}")]
    Write {
        /// The underlying error, shared by every append of the failed group.
        #[source]
        source: Arc<io::Error>,
    },

    /// The log can no longer guarantee durability (a rollback or an fsync after acknowledged
    /// writes failed); every later append fails until the process restarts and recovers.
    #[error("write-ahead log is unusable until restart: {reason}")]
    Poisoned {
        /// Why the log gave up.
        reason: String,
    },

    /// Another process (or another open store in this one) holds the data directory's lock:
    /// two writers on one log would lose each other's acknowledged records.
    #[error(
        "the data directory {} is in use by {}: its lock file {} is held. Two servers on one \
         directory would overwrite each other's log; stop the other one or use another directory",
        dir.display(),
        holder.map_or_else(|| "another process".to_string(), |pid| format!("process {pid}")),
        crate::lock::path(dir).display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The pid the holder wrote into the lock file, when it could be read.
        holder: Option<u32>,
    },

    /// The writer thread is gone (the store was dropped or the thread died).
    #[error("write-ahead log is closed")]
    Closed,

    /// A payload is larger than [`crate::StoreOptions::max_record_bytes`].
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The payload's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },

    /// Records after the snapshot that were (or may have been) acknowledged are damaged or
    /// missing: recovery stops rather than lose them silently, and changes nothing on disk.
    /// Opening with [`crate::StoreOptions::repair`] gives up exactly these records and keeps
    /// every other.
    #[error(
        "the write-ahead log has lost records that were (or may have been) acknowledged: {}",
        crate::recovery::DamageList(damage)
    )]
    Lost {
        /// Each damaged or missing stretch, in log order.
        damage: Vec<crate::Damage>,
    },

    /// No usable snapshot: the newest is damaged and the log cannot rebuild what it held.
    #[error("snapshot unusable: {0}")]
    Snapshot(String),

    /// The replay callback refused a record.
    #[error("replaying record {lsn} failed: {source}")]
    Replay {
        /// The record that was refused.
        lsn: Lsn,
        /// The caller's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// True when the failure is a full disk, a quota or a file-size limit: the client should
    /// back off (`RESOURCE_EXHAUSTED`) rather than retry at once (`UNAVAILABLE`).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } | StoreError::Write { source } => is_disk_full_io(source),
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io { op, path: path.into(), source: Arc::new(source) }
    }
}

fn is_disk_full_io(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}
