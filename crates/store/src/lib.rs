//! rapport's durable storage: a write-ahead log of opaque records with group commit, plus
//! checksummed snapshots, in one data directory.
//!
//! # What it is for
//!
//! The server logs every accepted batch here before it changes any aggregate, acknowledges the
//! client once the log has acknowledged the record, and periodically saves a snapshot of its
//! state so the log behind it can be deleted. On start-up it loads the newest valid snapshot
//! and replays the records after it.
//!
//! # What it never does
//!
//! It knows nothing about events, tenants, metrics or the engine: records and snapshots are
//! opaque bytes, and the caller decides what they mean. It does no async I/O: one writer
//! thread does the writing, and async callers simply await an [`Ack`]. The other methods
//! ([`Store::recover`], [`Recovery::replay`], [`Store::write_snapshot`],
//! [`Store::truncate_before`]) do blocking file I/O: call them from `spawn_blocking` or a
//! plain thread. It never replicates: several nodes share a log through an external one.
//!
//! # The invariant
//!
//! **An `Ok` ack means the record is on disk under the configured [`FsyncPolicy`]**: synced
//! before the ack under [`FsyncPolicy::Always`] (the default), written to the OS and synced
//! within the interval under [`FsyncPolicy::Interval`]. A failed write or sync never yields
//! `Ok`: every append of the failed group gets an error and the file is rolled back.
//!
//! **Recovery never drops an acknowledged record silently.** Before a group's acks are sent,
//! the writer records in the segment's header the last LSN acknowledged (the
//! *acknowledgement mark*, header.rs). On open, what the snapshot holds, the segment names and
//! the last segment's mark say which records must exist (recovery/mod.rs):
//!
//! - damage after every record up to the mark was read is a write nobody was told about: it
//!   is truncated with a warning ([`RecoveryReport::torn_tail`]);
//! - damage to records the snapshot holds costs nothing: skipped with a warning
//!   ([`RecoveryReport::skipped`]), the records after it replayed;
//! - any other damaged or missing record after the snapshot was, or may have been,
//!   acknowledged: the open fails with [`StoreError::Lost`], naming each stretch, and changes
//!   nothing on disk. [`StoreOptions::repair`] gives up exactly those records instead and keeps
//!   every intact one ([`RecoveryReport::repaired`]).
//!
//! Only one store opens a directory at a time: [`Store::recover`] takes an exclusive OS lock
//! on `<dir>/LOCK` (lock.rs), so a second process cannot write over the first one's log.
//!
//! # Layout
//!
//! ```text
//! <dir>/LOCK                                 held with an OS file lock while a store is open; holds its pid (lock.rs)
//! <dir>/wal/00000000000000000001.seg         log segments, named by their first LSN (segment.rs):
//!                                            a 72-byte header (magic, first LSN, two slots of the
//!                                            acknowledgement mark; header.rs), then records
//!                                            [len u32][crc u32][lsn u64][payload] (record.rs)
//! <dir>/wal/00000000000000000001.wal         a format-1 segment: the same records, no header
//! <dir>/snapshots/00000000000000004711.snap  the newest two snapshots (snapshot.rs)
//! ```
//!
//! **Format 2** (`.seg`, since rapport issue 13) added the segment header; records and
//! snapshots are unchanged. Format-1 segments (`.wal`) are still read, with the rules they
//! allow (no mark: a bad end of the last one is presumed a torn write, as format 1 did), and
//! never appended to: the first open continues the log in a new `.seg`. A segment is created
//! under a temporary name and renamed once its header is synced, so a `.seg` without a whole
//! header was damaged after the fact.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), rapport_store::StoreError> {
//! use rapport_store::{Store, StoreOptions};
//!
//! let mut recovery = Store::recover("/var/lib/rapport", StoreOptions::default())?;
//! if let Some(snapshot) = recovery.take_snapshot() {
//!     // restore state from snapshot.bytes
//! }
//! let (store, report) = recovery.replay(|lsn, payload| {
//!     // apply payload to state
//!     Ok::<(), std::convert::Infallible>(())
//! })?;
//! let lsn = store.append(b"batch".to_vec()).wait_blocking()?; // from async code: `.await?`
//! store.write_snapshot(lsn, b"state")?;
//! store.truncate_before(lsn)?;
//! # Ok(()) }
//! ```

mod error;
mod header;
mod lock;
mod record;
mod recovery;
mod segment;
mod snapshot;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use error::StoreError;
pub use recovery::{Damage, LsnSpan, RecoveryReport, TailProof, TornTail};
pub use snapshot::Snapshot;
pub use writer::{Ack, FaultInjector, WalStats};

/// Log sequence number: records are numbered 1, 2, 3, ... without gaps. 0 means "before the
/// first record".
pub type Lsn = u64;

// === Options ===

/// When the log syncs its writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Acknowledge only after `fdatasync`: nothing acknowledged is lost, even on power loss.
    /// Concurrent appends share one sync (group commit).
    #[default]
    Always,
    /// Acknowledge after the write reaches the OS; sync at most this often (and whenever the
    /// interval has passed with unsynced data). A process crash loses nothing; a power cut or
    /// kernel crash can lose what was acknowledged in the last interval.
    Interval(Duration),
    /// Never sync; the OS writes back when it likes. For tests and benchmarks only: a power cut
    /// can lose an unbounded amount of acknowledged data.
    Never,
}

/// How the store behaves. `StoreOptions::default()` is the durable production setting.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// When writes are synced.
    pub fsync: FsyncPolicy,
    /// A segment that has reached this size is closed and a new one started.
    pub segment_bytes: u64,
    /// Largest payload accepted; larger appends fail with [`StoreError::RecordTooLarge`].
    /// Recovery treats a larger length field as damage.
    pub max_record_bytes: usize,
    /// A group stops taking queued appends once it holds this many payload bytes.
    pub max_group_bytes: usize,
    /// Give up damaged or missing records after the snapshot instead of refusing to open:
    /// exactly those (listed in [`RecoveryReport::repaired`]); every intact record, before or
    /// after them, is kept. They may have been acknowledged. The damaged bytes stay on disk:
    /// write a snapshot once replay is done, or the next open (which will not skip them
    /// unless a snapshot covers them) refuses again.
    pub repair: bool,
    /// Test hook: makes writes or syncs fail on demand. `None` in production.
    pub faults: Option<FaultInjector>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 << 20,
            max_record_bytes: 64 << 20,
            max_group_bytes: 8 << 20,
            repair: false,
            faults: None,
        }
    }
}

// === Store ===

/// An open store: append records, write snapshots, drop old log segments.
///
/// Share it between tasks behind an `Arc`; every method takes `&self`. Dropping it answers
/// everything queued, syncs and stops the writer thread.
pub struct Store {
    wal: writer::Wal,
    wal_dir: PathBuf,
    snapshot_dir: PathBuf,
    /// Serializes snapshot writes so pruning never races a rename.
    snapshot_lock: Mutex<()>,
    /// The data directory's lock, released after the writer has stopped (fields drop in
    /// order).
    _dir_lock: lock::DirLock,
}

impl Store {
    /// First step of opening: creates the directories if needed, takes the directory's lock
    /// (held until the [`Store`] is dropped) and picks the snapshot to start from. The log is
    /// read by [`Recovery::replay`].
    ///
    /// Fails with [`StoreError::Locked`] when another process, or another store in this one,
    /// has the directory open.
    pub fn recover(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Recovery, StoreError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        let dir_lock = lock::DirLock::acquire(dir)?;
        let wal_dir = dir.join("wal");
        let snapshot_dir = dir.join("snapshots");
        for d in [&wal_dir, &snapshot_dir] {
            fs::create_dir_all(d).map_err(|e| StoreError::io("create directory", d, e))?;
        }
        segment::sync_dir(dir)?;
        let log_first_lsn = segment::list(&wal_dir)?.first().map(|s| s.first_lsn);
        let chosen = snapshot::choose(&snapshot_dir, log_first_lsn)?;
        let snapshot_lsn = chosen.snapshot.as_ref().map_or(0, |s| s.lsn);
        Ok(Recovery {
            wal_dir,
            snapshot_dir,
            options,
            snapshot: chosen.snapshot,
            snapshot_lsn,
            log_must_reach: chosen.newest_lsn,
            dir_lock,
        })
    }

    /// Queues `payload` for the log. The returned [`Ack`] resolves to the record's LSN once it
    /// is durable under the fsync policy, or to an error, in which case it is not acknowledged
    /// (it may still be replayed after a crash, so the caller's apply must be idempotent per
    /// record content, as ingest is per event id).
    pub fn append(&self, payload: Vec<u8>) -> Ack {
        self.wal.append(payload)
    }

    /// Saves `bytes` as the state that includes every record up to `lsn`, atomically, and
    /// deletes snapshots older than the previous one. Blocking.
    ///
    /// `lsn` should be an acknowledged record's LSN: a snapshot never waits for the log.
    pub fn write_snapshot(&self, lsn: Lsn, bytes: &[u8]) -> Result<(), StoreError> {
        let _guard = self.snapshot_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        snapshot::write(&self.snapshot_dir, lsn, bytes).map(|_| ())
    }

    /// Deletes log segments holding only records below `lsn`; the newest segment is always
    /// kept. Returns how many were deleted. Blocking; safe to call while appends run.
    ///
    /// Passing the *previous* snapshot's LSN plus one keeps enough log to fall back to that
    /// snapshot should the newest one be damaged; passing the newest snapshot's LSN plus one
    /// saves disk but makes a damaged newest snapshot fatal.
    pub fn truncate_before(&self, lsn: Lsn) -> Result<usize, StoreError> {
        segment::delete_below(&self.wal_dir, lsn)
    }

    /// Counters of the log's work (fsyncs, groups, records, last LSN).
    pub fn stats(&self) -> WalStats {
        self.wal.stats()
    }
}

// === Recovery ===

/// A store halfway open: the snapshot is chosen, the log not yet read.
///
/// Restore the snapshot first ([`Recovery::take_snapshot`]), then call [`Recovery::replay`].
#[derive(Debug)]
pub struct Recovery {
    wal_dir: PathBuf,
    snapshot_dir: PathBuf,
    options: StoreOptions,
    snapshot: Option<Snapshot>,
    snapshot_lsn: Lsn,
    /// The highest LSN any snapshot file names, damaged or not: the log had reached it.
    log_must_reach: Lsn,
    dir_lock: lock::DirLock,
}

impl Recovery {
    /// The snapshot recovery starts from, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Takes the snapshot out, to restore from it without copying.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        self.snapshot.take()
    }

    /// Reads the log, calls `on_record` for every readable record after the snapshot in LSN
    /// order, judges the damage it met (see the crate docs), truncates a torn last write, and
    /// starts the writer. The report says what was skipped, truncated or given up.
    ///
    /// Fails with [`StoreError::Lost`] when records after the snapshot that were (or may have
    /// been) acknowledged are damaged or missing, unless [`StoreOptions::repair`] is set. On
    /// error, records may already have been handed to `on_record`; the caller should discard
    /// that state (it exits, or repairs and starts over).
    pub fn replay<F, E>(self, on_record: F) -> Result<(Store, RecoveryReport), StoreError>
    where
        F: FnMut(Lsn, &[u8]) -> Result<(), E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (start, report) = recovery::recover(
            &self.wal_dir,
            &self.options,
            self.snapshot_lsn,
            self.log_must_reach,
            on_record,
        )?;
        let wal = writer::Wal::start(start, &self.options)?;
        let store = Store {
            wal,
            wal_dir: self.wal_dir,
            snapshot_dir: self.snapshot_dir,
            snapshot_lock: Mutex::new(()),
            _dir_lock: self.dir_lock,
        };
        Ok((store, report))
    }
}
