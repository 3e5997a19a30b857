//! Helpers shared by the store's integration tests. The on-disk layout is written out here
//! from its documentation (`src/lib.rs`, `header.rs`, `record.rs`), not taken from the crate,
//! so a test that damages a file at "record 5" checks the layout as well.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::fs;
use std::path::{Path, PathBuf};

use rapport_store::{Damage, Lsn, RecoveryReport, Snapshot, Store, StoreError, StoreOptions};

/// Bytes before the first record of a `.seg` segment.
pub const SEG_HEADER: u64 = 72;
/// Bytes before a record's payload.
pub const RECORD_HEADER: u64 = 16;

/// What a restart saw.
pub struct Opened {
    pub store: Store,
    pub report: RecoveryReport,
    pub snapshot: Option<Snapshot>,
    pub records: Vec<(Lsn, Vec<u8>)>,
}

pub fn open(dir: &Path, options: StoreOptions) -> Result<Opened, StoreError> {
    let mut recovery = Store::recover(dir, options)?;
    let snapshot = recovery.take_snapshot();
    let mut records = Vec::new();
    let (store, report) = recovery.replay(|lsn, payload| {
        records.push((lsn, payload.to_vec()));
        Ok::<(), Infallible>(())
    })?;
    Ok(Opened { store, report, snapshot, records })
}

pub fn repairing() -> StoreOptions {
    StoreOptions { repair: true, ..StoreOptions::default() }
}

pub fn small_segments() -> StoreOptions {
    StoreOptions { segment_bytes: 1, ..StoreOptions::default() }
}

pub fn payload(i: u64) -> Vec<u8> {
    format!("record number {i} {}", "x".repeat((i % 7) as usize)).into_bytes()
}

/// Appends records `from..=to` one at a time, checking each gets the expected LSN.
pub fn append_range(store: &Store, from: u64, to: u64) {
    for i in from..=to {
        assert_eq!(store.append(payload(i)).wait_blocking().unwrap(), i);
    }
}

pub fn expected(from: u64, to: u64) -> Vec<(Lsn, Vec<u8>)> {
    (from..=to).map(|i| (i, payload(i))).collect()
}

/// `expected(from, to)` without the records in `missing`.
pub fn expected_without(from: u64, to: u64, missing: &[u64]) -> Vec<(Lsn, Vec<u8>)> {
    expected(from, to).into_iter().filter(|(lsn, _)| !missing.contains(lsn)).collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("wal"))
}

pub fn snapshots(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("snapshots"))
}

pub fn file_names(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

pub fn flip_byte(path: &Path, offset: u64) {
    let mut data = fs::read(path).unwrap();
    data[offset as usize] ^= 0xff;
    fs::write(path, data).unwrap();
}

pub fn cut(path: &Path, len: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// Bytes of record `lsn` (header and payload) as `payload(lsn)` made it.
pub fn record_len(lsn: u64) -> u64 {
    RECORD_HEADER + payload(lsn).len() as u64
}

/// Byte offset of record `lsn` in a `.seg` segment whose first record is `first`.
pub fn offset_in(first: u64, lsn: u64) -> u64 {
    SEG_HEADER + (first..lsn).map(record_len).sum::<u64>()
}

/// Byte offset of record `lsn` in a single-segment log starting at record 1.
pub fn offset_of(lsn: u64) -> u64 {
    offset_in(1, lsn)
}

/// One record as the log writes it: `[len u32][crc u32][lsn u64][payload]`, little endian,
/// `crc` being CRC-32 (IEEE) over len, lsn and payload.
pub fn raw_record(lsn: u64, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let lsn = lsn.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(&lsn);
    hasher.update(payload);
    let mut out = Vec::new();
    out.extend_from_slice(&len);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&lsn);
    out.extend_from_slice(payload);
    out
}

/// The damage a refused open lists.
pub fn lost(result: Result<Opened, StoreError>) -> Vec<Damage> {
    match result {
        Err(StoreError::Lost { damage }) => damage,
        Err(other) => panic!("expected Lost, got {other}"),
        Ok(opened) => panic!("expected a refusal, opened with {:?}", opened.report),
    }
}
