//! The writer thread: group commit.
//!
//! Appenders put their payload on a channel and wait on a oneshot. One thread drains whatever
//! is queued, encodes it into one buffer, writes it with one `write`, syncs once (as the
//! policy says), and only then answers every appender of the group. While it syncs, new
//! appends queue up and form the next group, so one fsync covers many appenders.
//!
//! A failed write or sync answers every appender of the group with an error and truncates the
//! segment back to the last good offset, so the file never holds records nobody was told about
//! ahead of records someone was told about.
//!
//! After a group is written (and synced, as the policy says) and before any of its acks is
//! sent, the writer rewrites the segment's acknowledgement mark (header.rs) to the group's last
//! LSN; the next sync makes it durable. Recovery trusts every record up to the mark to have
//! been acknowledged, and nothing after it.

use std::fs::File;
use std::future::Future;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::header::{Mark, SEALED};
use crate::{FsyncPolicy, Lsn, StoreError, StoreOptions, record, segment};

// === Public handles ===

/// The acknowledgement of one append: resolves to the record's LSN once it is durable under
/// the fsync policy, or to the error that kept it from being so.
///
/// Await it from async code, or call [`Ack::wait_blocking`] from a plain thread.
#[derive(Debug)]
#[must_use = "an append is only durable once its Ack resolves to Ok"]
pub struct Ack {
    rx: oneshot::Receiver<Result<Lsn, StoreError>>,
}

impl Ack {
    fn ready(result: Result<Lsn, StoreError>) -> Self {
        let (tx, rx) = oneshot::channel();
        // The receiver is alive right here, so the send cannot fail.
        let _ = tx.send(result);
        Ack { rx }
    }

    /// Blocks the current thread until the append is acknowledged. Must not be called from
    /// inside an async runtime's worker thread.
    pub fn wait_blocking(self) -> Result<Lsn, StoreError> {
        self.rx.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }
}

impl Future for Ack {
    type Output = Result<Lsn, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// Counters of the log's work, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalStats {
    /// Data syncs (`fdatasync`) of segment files.
    pub fsyncs: u64,
    /// Groups written (one `write` each).
    pub groups: u64,
    /// Records acknowledged as written.
    pub records: u64,
    /// LSN of the last acknowledged record (0 when none since open and nothing recovered).
    pub last_lsn: Lsn,
}

/// Makes the writer fail on purpose, to test that failures never turn into acks.
///
/// Cheap to clone; every clone arms the same log. Production code leaves
/// [`StoreOptions::faults`] empty.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    inner: Arc<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    writes: AtomicU32,
    syncs: AtomicU32,
}

impl FaultInjector {
    /// A new, unarmed injector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` group writes write half their bytes, then fail with "no space left".
    pub fn fail_writes(&self, n: u32) {
        self.inner.writes.store(n, Ordering::SeqCst);
    }

    /// The next `n` data syncs fail with an I/O error.
    pub fn fail_syncs(&self, n: u32) {
        self.inner.syncs.store(n, Ordering::SeqCst);
    }

    fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

// === Wal: the appenders' side ===

enum Request {
    Append { payload: Vec<u8>, ack: oneshot::Sender<Result<Lsn, StoreError>> },
    Shutdown,
}

#[derive(Debug, Default)]
struct Counters {
    fsyncs: AtomicU64,
    groups: AtomicU64,
    records: AtomicU64,
    last_lsn: AtomicU64,
}

/// The appenders' handle on the writer thread.
pub(crate) struct Wal {
    tx: mpsc::Sender<Request>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    max_record_bytes: usize,
}

/// Where the writer starts: the open (format 2) segment and the next LSN, as recovery left
/// them.
pub(crate) struct WriterStart {
    pub(crate) dir: PathBuf,
    pub(crate) file: File,
    /// Where the next record goes in `file`.
    pub(crate) offset: u64,
    pub(crate) next_lsn: Lsn,
    /// `seq` of the segment's newest mark; the writer's next mark gets one more.
    pub(crate) mark_seq: u64,
}

impl Wal {
    /// Starts the writer thread.
    pub(crate) fn start(start: WriterStart, options: &StoreOptions) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        counters.last_lsn.store(start.next_lsn.saturating_sub(1), Ordering::Relaxed);
        let mut writer = Writer {
            rx,
            dir: start.dir,
            file: start.file,
            offset: start.offset,
            next_lsn: start.next_lsn,
            mark_seq: start.mark_seq,
            mark_unsynced: false,
            policy: options.fsync,
            segment_bytes: options.segment_bytes,
            max_group_bytes: options.max_group_bytes,
            faults: options.faults.clone(),
            counters: Arc::clone(&counters),
            dirty: false,
            last_sync: Instant::now(),
            poisoned: None,
            buf: Vec::new(),
        };
        let dir = writer.dir.clone();
        let thread = std::thread::Builder::new()
            .name("rapport-wal".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::io("start log writer thread", dir, e))?;
        // The record format stores lengths as u32.
        let max_record_bytes = options.max_record_bytes.min(u32::MAX as usize);
        Ok(Wal { tx, thread: Some(thread), counters, max_record_bytes })
    }

    /// Queues `payload`; see [`crate::Store::append`].
    pub(crate) fn append(&self, payload: Vec<u8>) -> Ack {
        if payload.len() > self.max_record_bytes {
            return Ack::ready(Err(StoreError::RecordTooLarge {
                len: payload.len(),
                max: self.max_record_bytes,
            }));
        }
        let (ack, rx) = oneshot::channel();
        match self.tx.send(Request::Append { payload, ack }) {
            Ok(()) => Ack { rx },
            Err(_) => Ack::ready(Err(StoreError::Closed)),
        }
    }

    /// Current counters.
    pub(crate) fn stats(&self) -> WalStats {
        WalStats {
            fsyncs: self.counters.fsyncs.load(Ordering::Relaxed),
            groups: self.counters.groups.load(Ordering::Relaxed),
            records: self.counters.records.load(Ordering::Relaxed),
            last_lsn: self.counters.last_lsn.load(Ordering::Acquire),
        }
    }

    /// Stops the writer after it has answered everything queued before this call.
    pub(crate) fn shutdown(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("write-ahead log writer thread panicked");
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// === Writer: the thread's side ===

struct Writer {
    rx: mpsc::Receiver<Request>,
    dir: PathBuf,
    file: File,
    /// End of the last good write in the current segment.
    offset: u64,
    next_lsn: Lsn,
    /// `seq` of the current segment's newest acknowledgement mark.
    mark_seq: u64,
    /// A mark was written since the last sync.
    mark_unsynced: bool,
    policy: FsyncPolicy,
    segment_bytes: u64,
    max_group_bytes: usize,
    faults: Option<FaultInjector>,
    counters: Arc<Counters>,
    /// Written but not yet synced bytes exist (only under Interval and Never).
    dirty: bool,
    last_sync: Instant,
    poisoned: Option<String>,
    buf: Vec<u8>,
}

type Group = Vec<(Vec<u8>, oneshot::Sender<Result<Lsn, StoreError>>)>;

impl Writer {
    fn run(&mut self) {
        let mut group: Group = Vec::new();
        loop {
            let first = match self.next_request() {
                Some(Request::Append { payload, ack }) => (payload, ack),
                Some(Request::Shutdown) | None => break,
            };
            let mut bytes = first.0.len();
            group.push(first);
            let mut shutdown = false;
            while bytes < self.max_group_bytes {
                match self.rx.try_recv() {
                    Ok(Request::Append { payload, ack }) => {
                        bytes += payload.len();
                        group.push((payload, ack));
                    }
                    Ok(Request::Shutdown) => {
                        shutdown = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(&mut group);
            if shutdown {
                break;
            }
        }
        if (self.dirty || self.mark_unsynced) && self.poisoned.is_none() && self.sync().is_err() {
            tracing::error!("final sync of the write-ahead log failed at shutdown");
        }
    }

    /// The next request; under `Interval` with unsynced data, syncs when the interval is up.
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let FsyncPolicy::Interval(interval) = self.policy else {
                return self.rx.recv().ok();
            };
            if !self.dirty || self.poisoned.is_some() {
                return self.rx.recv().ok();
            }
            let wait = interval.saturating_sub(self.last_sync.elapsed());
            match self.rx.recv_timeout(wait) {
                Ok(request) => return Some(request),
                Err(mpsc::RecvTimeoutError::Timeout) => self.sync_acked_data(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Writes, syncs and answers one group.
    fn commit(&mut self, group: &mut Group) {
        if let Some(reason) = &self.poisoned {
            for (_, ack) in group.drain(..) {
                let _ = ack.send(Err(StoreError::Poisoned { reason: reason.clone() }));
            }
            return;
        }
        self.buf.clear();
        for (i, (payload, _)) in group.iter().enumerate() {
            record::encode(&mut self.buf, self.next_lsn + i as u64, payload);
        }
        let start = self.offset;
        if let Err(err) = self.write_buf() {
            self.fail_group(group, start, err, false);
            return;
        }
        self.offset += self.buf.len() as u64;
        let due = match self.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(interval) => self.last_sync.elapsed() >= interval,
            FsyncPolicy::Never => false,
        };
        if !due {
            self.dirty = true;
        } else if let Err(err) = self.sync() {
            self.fail_group(group, start, err, true);
            return;
        }
        let first_lsn = self.next_lsn;
        self.next_lsn += group.len() as u64;
        // Before any ack: from here on recovery treats this group as acknowledged.
        self.write_mark(0);
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        self.counters.records.fetch_add(group.len() as u64, Ordering::Relaxed);
        self.counters.last_lsn.store(self.next_lsn - 1, Ordering::Release);
        if self.offset >= self.segment_bytes {
            self.rotate();
        }
        for (i, (_, ack)) in group.drain(..).enumerate() {
            let result = match &self.poisoned {
                // Rotation's sync failed: this group is written but may not be durable.
                Some(reason) => Err(StoreError::Poisoned { reason: reason.clone() }),
                None => Ok(first_lsn + i as u64),
            };
            // An appender that stopped waiting is no reason to fail the others.
            let _ = ack.send(result);
        }
    }

    /// Answers the group with `err` and rolls the segment back to `good`.
    ///
    /// A failed write (a full disk, say) leaves earlier records intact, so later appends may
    /// succeed once space is freed. A failed sync while earlier acknowledged records were not
    /// yet synced (`Interval`) means those may be lost: the log stops.
    fn fail_group(&mut self, group: &mut Group, good: u64, err: io::Error, sync_failed: bool) {
        tracing::error!(error = %err, records = group.len(), "write-ahead log write failed; group not acknowledged");
        let acked_data_in_doubt = sync_failed && self.dirty;
        let rollback = self.file.set_len(good).and_then(|()| self.file.seek(SeekFrom::Start(good)));
        self.offset = good;
        match rollback {
            Ok(_) if acked_data_in_doubt => {
                self.poison(format!("a sync failed while acknowledged records were not yet synced ({err})"))
            }
            Ok(_) => {}
            Err(rollback_err) => {
                self.poison(format!("rolling back a failed write failed: {rollback_err} (after: {err})"))
            }
        }
        let err = Arc::new(err);
        for (_, ack) in group.drain(..) {
            let _ = ack.send(Err(StoreError::Write { source: Arc::clone(&err) }));
        }
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if let Some(faults) = &self.faults
            && FaultInjector::take(&faults.inner.writes)
        {
            let half = self.buf.len() / 2;
            self.file.write_all(&self.buf[..half])?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected fault: no space left on device",
            ));
        }
        self.file.write_all(&self.buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        if let Some(faults) = &self.faults
            && FaultInjector::take(&faults.inner.syncs)
        {
            return Err(io::Error::other("injected fault: fdatasync failed"));
        }
        self.file.sync_data()?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.dirty = false;
        self.mark_unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Syncs records that were acknowledged before being synced (`Interval`, `Never`).
    fn sync_acked_data(&mut self) {
        if let Err(err) = self.sync() {
            self.poison(format!("syncing acknowledged records failed: {err}"));
        }
    }

    fn poison(&mut self, reason: String) {
        tracing::error!(%reason, "write-ahead log stops accepting appends");
        self.poisoned = Some(reason);
    }

    /// Records in the segment's header that every record up to `next_lsn - 1` was
    /// acknowledged (`flags` [`SEALED`]: and that the log goes on in the next segment). A
    /// failure only weakens what recovery can prove (it falls back to the previous mark), so it
    /// is logged, not returned: the records themselves are durable.
    fn write_mark(&mut self, flags: u32) {
        let mark = Mark { seq: self.mark_seq + 1, acked: self.next_lsn - 1, flags };
        match segment::write_mark(&mut self.file, mark) {
            Ok(()) => {
                self.mark_seq = mark.seq;
                self.mark_unsynced = true;
            }
            Err(err) => tracing::warn!(error = %err, "cannot update the log segment's acknowledgement mark"),
        }
    }

    /// Starts a new segment at the next LSN, then seals the current one (so a missing newer
    /// segment is noticed). A failure keeps the current one in use.
    fn rotate(&mut self) {
        let sync = self.policy != FsyncPolicy::Never;
        if self.dirty && sync {
            self.sync_acked_data();
        }
        match segment::create(&self.dir, self.next_lsn, sync) {
            Ok(file) => {
                self.write_mark(SEALED);
                if sync && let Err(err) = self.file.sync_data() {
                    tracing::warn!(error = %err, "cannot sync the sealed log segment");
                }
                self.file = file;
                self.offset = crate::header::HEADER_LEN as u64;
                self.mark_seq = 1;
                self.mark_unsynced = false;
                self.dirty = false;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot start a new log segment; the current one keeps growing")
            }
        }
    }
}
