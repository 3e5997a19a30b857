//! Durability: the write-ahead log of accepted batches, engine snapshots and
//! crash recovery, on top of `rapport-store`.
//!
//! The store keeps opaque bytes; this module decides what they mean:
//!
//! - a log record is one accepted batch: tenant, arrival time and the events
//!   that passed validation and dedup ([`record`]);
//! - a snapshot is the engine's whole state, aggregates and dedup index
//!   ([`rapport_engine::EngineState`]), valid for every record up to its LSN.
//!
//! **Invariants.** A batch is logged (and the log has acknowledged it under
//! the fsync policy) before it changes the engine, and an event rejected by
//! validation or found a duplicate is never logged. A snapshot at LSN `L`
//! holds exactly the effects of the records up to `L` that were applied; see
//! [`Durability::snapshot`] for why.

mod record;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, bail};
use rapport_engine::{
    CommentsState, Engine, EngineState, EngineStateV1, EngineStateV2, Event, TenantId, Timestamp,
};
use rapport_store::{Lsn, RecoveryReport, Store, StoreError, StoreOptions, TailProof};
use tokio::sync::{RwLock, RwLockReadGuard, oneshot};

use crate::clock::Clock;
use crate::config::DurabilitySettings;

/// First byte of every snapshot written by this version. Format 4: the
/// engine state of format 3, then the open comments behind the feedback
/// backlog (`CommentsState`).
const SNAPSHOT_FORMAT: u8 = 4;

/// Snapshots of format 3 (usage buckets with their times of day, low-score
/// comments in a feedback book per tenant; no comment texts) are still
/// read: they restore without open comments.
const SNAPSHOT_FORMAT_3: u8 = 3;

/// Snapshots of format 1 (older account records) are still read.
const SNAPSHOT_FORMAT_1: u8 = 1;

/// Snapshots of format 2 (comments inside account records, usage without
/// times of day) are still read.
const SNAPSHOT_FORMAT_2: u8 = 2;

/// Why a batch could not be logged; it was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The batch could not be encoded (a bug, not a disk problem).
    #[error("cannot encode the batch for the log: {0}")]
    Encode(String),
    /// The log refused or failed the append.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One accepted batch, encoded for the log (encoding needs no lock, so it
/// can happen before the batch's turn to be logged).
#[derive(Debug)]
pub struct LogRecord(Vec<u8>);

impl LogRecord {
    /// The record of `events` of `tenant`, arrived at `arrival`.
    pub fn encode(tenant: &TenantId, arrival: Timestamp, events: &[Event]) -> Result<Self, LogError> {
        record::encode(tenant, arrival, events).map(LogRecord).map_err(|e| LogError::Encode(e.to_string()))
    }
}

/// The open log and snapshots of a server, and the gate that keeps
/// snapshots consistent with concurrent ingest.
pub struct Durability {
    store: Arc<Store>,
    engine: Arc<Engine>,
    /// Ingest holds a read guard from dedup reservation through logging to
    /// apply; a snapshot takes the write guard just long enough to read the
    /// last LSN and copy the engine state.
    gate: RwLock<()>,
    /// Only one snapshot at a time (periodic and shutdown).
    snapshotting: tokio::sync::Mutex<()>,
    /// LSN of the newest snapshot (0: none yet).
    snapshot_lsn: AtomicU64,
}

impl Durability {
    /// Opens the store under `dir`, restores `engine` (which must be empty)
    /// from the newest valid snapshot and replays the log after it. Runs the
    /// blocking work on the blocking pool.
    pub async fn open(
        dir: &Path,
        settings: &DurabilitySettings,
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Durability> {
        let options =
            StoreOptions { fsync: settings.fsync, repair: settings.repair_log, ..StoreOptions::default() };
        Self::open_with(dir, options, engine, clock).await
    }

    /// [`Durability::open`] with the store's options given whole (tests
    /// inject faults this way).
    pub async fn open_with(
        dir: &Path,
        options: StoreOptions,
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Durability> {
        let blocking_dir = dir.to_path_buf();
        let replay_engine = Arc::clone(&engine);
        let recovered = tokio::task::spawn_blocking(move || {
            recover(&blocking_dir, options, &replay_engine, clock.as_ref())
        })
        .await
        .context("recovery task")??;
        let durability = Durability {
            store: Arc::new(recovered.store),
            engine,
            gate: RwLock::new(()),
            snapshotting: tokio::sync::Mutex::new(()),
            snapshot_lsn: AtomicU64::new(recovered.snapshot_lsn),
        };
        if recovered.repaired {
            // The records given up stay damaged on disk; a snapshot of the state replay left
            // covers them, so the next start neither refuses nor needs --repair-log again.
            durability.snapshot().await.with_context(|| {
                format!(
                    "recording the repaired state of {} in a snapshot (until one is written, \
                     a restart refuses again)",
                    dir.display()
                )
            })?;
        }
        Ok(durability)
    }

    /// Held by ingest from dedup reservation to apply.
    pub async fn admit(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// Logs one accepted batch and waits until it is durable under the
    /// fsync policy. Call with [`Durability::admit`]'s guard held.
    pub async fn log(
        &self,
        tenant: &TenantId,
        arrival: Timestamp,
        events: &[Event],
    ) -> Result<Lsn, LogError> {
        Ok(self.append(LogRecord::encode(tenant, arrival, events)?).await?)
    }

    /// Queues a record for the log at once (records are logged in the order
    /// of these calls) and returns its acknowledgement: durable under the
    /// fsync policy once that resolves to `Ok`. Call with
    /// [`Durability::admit`]'s guard held until it resolves.
    pub fn append(&self, record: LogRecord) -> rapport_store::Ack {
        self.store.append(record.0)
    }

    /// Counters of the log.
    pub fn wal_stats(&self) -> rapport_store::WalStats {
        self.store.stats()
    }

    /// Writes a snapshot of the engine if anything was logged since the last
    /// one, then deletes log segments behind the *previous* snapshot (so a
    /// damaged newest snapshot can still be rebuilt). Returns the snapshot's
    /// LSN, or `None` when there was nothing new.
    ///
    /// Consistency: ingest holds the gate's read guard from reserving ids
    /// through logging to applying. Under the write guard no batch is in
    /// between, so every record up to the log's last LSN has either been
    /// applied (its ack came back) or failed (its ids released, never
    /// acknowledged), and the copied state holds exactly the applied ones.
    /// Replay then starts after that LSN. Ingest pauses only for the copy
    /// (and for in-flight appends to finish, one group commit); encoding and
    /// writing happen outside the gate.
    pub async fn snapshot(&self) -> anyhow::Result<Option<Lsn>> {
        let _one_at_a_time = self.snapshotting.lock().await;
        let started = Instant::now();
        let (lsn, state) = {
            let _closed = self.gate.write().await;
            let lsn = self.store.stats().last_lsn;
            if lsn == self.snapshot_lsn.load(Ordering::Acquire) {
                return Ok(None);
            }
            (lsn, (self.engine.export_state(), self.engine.export_comments()))
        };
        let paused = started.elapsed();
        let previous = self.snapshot_lsn.load(Ordering::Acquire);
        let store = Arc::clone(&self.store);
        let (bytes, deleted) = tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, usize)> {
            let bytes = encode_snapshot(&state.0, &state.1)?;
            store.write_snapshot(lsn, &bytes).context("writing a snapshot")?;
            let deleted = store.truncate_before(previous + 1).context("truncating the log")?;
            Ok((bytes.len(), deleted))
        })
        .await
        .context("snapshot task")??;
        self.snapshot_lsn.store(lsn, Ordering::Release);
        tracing::info!(lsn, bytes, segments_deleted = deleted, ?paused, took = ?started.elapsed(), "snapshot written");
        Ok(Some(lsn))
    }

    /// Snapshots every `every` until `stop` fires, then once more (the
    /// shutdown snapshot, so the next start replays little).
    pub async fn snapshot_periodically(self: Arc<Self>, every: StdDuration, mut stop: oneshot::Receiver<()>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = &mut stop => break,
            }
            if let Err(error) = self.snapshot().await {
                tracing::error!(error = %format!("{error:#}"), "snapshot failed; the log keeps everything meanwhile");
            }
        }
        if let Err(error) = self.snapshot().await {
            tracing::error!(error = %format!("{error:#}"), "shutdown snapshot failed; the next start replays the log");
        }
    }
}

// === Recovery ===

/// What [`recover`] leaves behind.
struct Recovered {
    store: Store,
    /// LSN of the snapshot it started from (0: none).
    snapshot_lsn: Lsn,
    /// `--repair-log` gave up records: the state must be snapshotted.
    repaired: bool,
}

/// Blocking: recovers the store and fills `engine`.
fn recover(
    dir: &Path,
    options: StoreOptions,
    engine: &Engine,
    clock: &dyn Clock,
) -> anyhow::Result<Recovered> {
    let started = Instant::now();
    let repair = options.repair;
    let mut recovery = Store::recover(dir, options).map_err(|e| explain(e, dir))?;
    let mut snapshot_lsn = 0;
    if let Some(snapshot) = recovery.take_snapshot() {
        let (state, comments) = decode_snapshot(&snapshot.bytes)
            .with_context(|| format!("snapshot {} under {}", snapshot.lsn, dir.display()))?;
        let series = state.series_count();
        engine.restore_state(state).context("restoring the snapshot")?;
        engine.restore_comments(comments);
        snapshot_lsn = snapshot.lsn;
        tracing::info!(lsn = snapshot.lsn, series, "snapshot restored");
    }
    let now = clock.now();
    let mut events = 0_u64;
    let mut duplicates = 0_u64;
    let (store, report) = recovery
        .replay(|_lsn, payload| {
            let batch = record::decode(payload)?;
            let fresh = engine.reserve_ids(&batch.tenant, &batch.events, batch.arrival);
            let before = batch.events.len();
            let new: Vec<Event> = batch
                .events
                .into_iter()
                .zip(fresh)
                .filter_map(|(event, fresh)| fresh.then_some(event))
                .collect();
            duplicates += (before - new.len()) as u64;
            events += new.len() as u64;
            engine.apply(&batch.tenant, &new, now);
            Ok::<(), record::DecodeError>(())
        })
        .map_err(|e| explain(e, dir))?;
    engine.evict(now);
    log_report(&report, repair);
    tracing::info!(
        dir = %dir.display(), snapshot_lsn, records = report.records_replayed, events, duplicates,
        last_lsn = report.last_lsn, took = ?started.elapsed(), "recovered"
    );
    Ok(Recovered { store, snapshot_lsn, repaired: !report.repaired.is_empty() })
}

/// Says what recovery did about damage: each stretch on its own line.
fn log_report(report: &RecoveryReport, repair: bool) {
    if let Some(tail) = &report.torn_tail {
        let proof = match tail.proof {
            TailProof::Mark(acked) => format!(
                "never acknowledged: the segment's acknowledgement mark shows every acknowledged record, \
                 up to {acked}, is before it"
            ),
            TailProof::Presumed => {
                "presumed never acknowledged (a segment written before acknowledgement marks existed)"
                    .to_string()
            }
        };
        tracing::warn!(
            path = %tail.path.display(), offset = tail.offset, bytes = tail.bytes,
            "discarded a torn last write in the log, {proof}"
        );
    }
    for damage in &report.skipped {
        tracing::warn!(%damage, "skipped damage in the log that loses nothing (the snapshot holds these records)");
    }
    for damage in &report.repaired {
        tracing::error!(%damage, "repaired the log: gave up acknowledged data (--repair-log)");
    }
    if repair && report.repaired.is_empty() {
        tracing::info!("--repair-log given but no acknowledged record was missing");
    }
}

/// Adds what to do to a store error that stops start-up.
fn explain(error: StoreError, dir: &Path) -> anyhow::Error {
    let hint = match &error {
        StoreError::Lost { .. } => format!(
            "rapport will not start with acknowledged data missing. Restore {dir} from a backup, or \
             rerun with --repair-log to accept the loss: it gives up exactly the records listed and \
             keeps every other (back up {dir} first)",
            dir = dir.display()
        ),
        StoreError::Locked { .. } => format!("{} is in use by another rapportd", dir.display()),
        StoreError::Snapshot(_) => {
            format!("restore {} from a backup; rapport will not start with data missing", dir.display())
        }
        _ => format!("cannot open the data directory {}", dir.display()),
    };
    anyhow::Error::new(error).context(hint)
}

// === Snapshot format ===

fn encode_snapshot(state: &EngineState, comments: &CommentsState) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![SNAPSHOT_FORMAT];
    bytes = postcard::to_extend(state, bytes).context("encoding the engine state")?;
    bytes = postcard::to_extend(comments, bytes).context("encoding the open comments")?;
    Ok(bytes)
}

fn decode_snapshot(bytes: &[u8]) -> anyhow::Result<(EngineState, CommentsState)> {
    let without_comments = |state: anyhow::Result<EngineState>| state.map(|s| (s, CommentsState::default()));
    match bytes.split_first() {
        Some((&SNAPSHOT_FORMAT, body)) => {
            let (state, rest) = postcard::take_from_bytes(body).context("decoding the engine state")?;
            let comments = postcard::from_bytes(rest).context("decoding the open comments")?;
            Ok((state, comments))
        }
        Some((&SNAPSHOT_FORMAT_3, body)) => without_comments(
            postcard::from_bytes(body).context("decoding the engine state (snapshot format 3)"),
        ),
        Some((&SNAPSHOT_FORMAT_2, body)) => without_comments(
            postcard::from_bytes::<EngineStateV2>(body)
                .map(EngineState::from)
                .context("decoding the engine state (snapshot format 2)"),
        ),
        Some((&SNAPSHOT_FORMAT_1, body)) => without_comments(
            postcard::from_bytes::<EngineStateV1>(body)
                .map(EngineState::from)
                .context("decoding the engine state (snapshot format 1)"),
        ),
        Some((format, _)) => bail!("unknown snapshot format {format}; written by a newer rapport?"),
        None => bail!("empty snapshot"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_format_round_trips_and_refuses_unknown_versions() -> anyhow::Result<()> {
        let bytes = encode_snapshot(&EngineState::default(), &CommentsState::default())?;
        assert_eq!(decode_snapshot(&bytes)?.0.series_count(), 0);
        let mut format_1 = vec![SNAPSHOT_FORMAT_1];
        format_1.extend(postcard::to_stdvec(&EngineStateV1::default())?);
        assert_eq!(decode_snapshot(&format_1)?.0.series_count(), 0, "format 1 still reads");
        let mut format_2 = vec![SNAPSHOT_FORMAT_2];
        format_2.extend(postcard::to_stdvec(&EngineStateV2::default())?);
        assert_eq!(decode_snapshot(&format_2)?.0.series_count(), 0, "format 2 still reads");
        let mut format_3 = vec![SNAPSHOT_FORMAT_3];
        format_3.extend(postcard::to_stdvec(&EngineState::default())?);
        assert_eq!(
            decode_snapshot(&format_3)?.1,
            CommentsState::default(),
            "format 3 reads, without comments"
        );
        assert!(decode_snapshot(&[9, 0]).is_err());
        assert!(decode_snapshot(&[]).is_err());
        Ok(())
    }
}
