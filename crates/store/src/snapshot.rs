//! Snapshots: one file per snapshot, written atomically and checksummed.
//!
//! ```text
//! [magic "RAPSNAP1" 8][version u32][crc u32][lsn u64][len u64][payload: len bytes]
//! ```
//!
//! `crc` is CRC-32 over version, lsn, len and the payload. A snapshot is written to a temporary
//! file, synced, renamed into place and the directory synced, so a crash leaves either the old
//! set of snapshots or the new one. The previous snapshot is kept until a newer one is in place,
//! so a damaged newest snapshot can fall back to it (see [`choose`]).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Lsn, StoreError, segment};

const MAGIC: &[u8; 8] = b"RAPSNAP1";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const EXTENSION: &str = "snap";
const TMP_EXTENSION: &str = "tmp";
/// Snapshots kept on disk: the newest and the one before it.
const KEEP: usize = 2;

/// A snapshot of the caller's state as of a log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state includes every record up to and including this LSN; replay starts after it.
    pub lsn: Lsn,
    /// The caller's opaque bytes.
    pub bytes: Vec<u8>,
}

/// Writes the snapshot of `lsn` atomically, then deletes all but the newest [`KEEP`].
pub(crate) fn write(dir: &Path, lsn: Lsn, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let path = dir.join(format!("{lsn:020}.{EXTENSION}"));
    let tmp = path.with_extension(TMP_EXTENSION);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&header(lsn, bytes))?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(err) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("write snapshot", &tmp, err));
    }
    fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename snapshot", &path, e))?;
    segment::sync_dir(dir)?;

    let snapshots = list(dir)?;
    let mut deleted = false;
    for (_, old) in snapshots.iter().rev().skip(KEEP) {
        fs::remove_file(old).map_err(|e| StoreError::io("delete old snapshot", old, e))?;
        deleted = true;
    }
    if deleted {
        segment::sync_dir(dir)?;
    }
    Ok(path)
}

/// The snapshot recovery starts from, and how far the log must reach.
#[derive(Debug)]
pub(crate) struct Chosen {
    /// The newest valid snapshot the log can continue, if any.
    pub(crate) snapshot: Option<Snapshot>,
    /// The highest LSN a snapshot file is named for, valid or not (0: none). A snapshot is
    /// written only once the log holds its LSN, so the log had reached it.
    pub(crate) newest_lsn: Lsn,
}

/// Picks the snapshot to start from: the newest valid one, provided the log (whose first
/// record is `log_first_lsn`, `None` when it has no segment) still holds every record after
/// it. A damaged newest snapshot is skipped with a warning only when an older one (or none at
/// all) plus the log rebuilds the same state; otherwise this is an error, never a silent loss.
pub(crate) fn choose(dir: &Path, log_first_lsn: Option<Lsn>) -> Result<Chosen, StoreError> {
    remove_temporaries(dir)?;
    let snapshots = list(dir)?;
    let newest_lsn = snapshots.last().map_or(0, |(lsn, _)| *lsn);
    let snapshot = choose_from(&snapshots, log_first_lsn)?;
    Ok(Chosen { snapshot, newest_lsn })
}

fn choose_from(
    snapshots: &[(Lsn, PathBuf)],
    log_first_lsn: Option<Lsn>,
) -> Result<Option<Snapshot>, StoreError> {
    let covers = |lsn: Lsn| log_first_lsn.is_some_and(|first| first <= lsn + 1);
    let mut damaged: Option<(PathBuf, String)> = None;
    for (lsn, path) in snapshots.iter().rev() {
        match read(path, *lsn) {
            Ok(bytes) => {
                if let Some((bad_path, reason)) = &damaged {
                    if !covers(*lsn) {
                        return Err(unrecoverable(
                            bad_path,
                            reason,
                            &format!("snapshot {lsn}"),
                            log_first_lsn,
                        ));
                    }
                    tracing::warn!(
                        damaged = %bad_path.display(), %reason, fallback = %path.display(),
                        "newest snapshot is damaged; starting from the previous one and the log"
                    );
                }
                return Ok(Some(Snapshot { lsn: *lsn, bytes }));
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "damaged snapshot");
                damaged.get_or_insert((path.clone(), reason));
            }
        }
    }
    if let Some((bad_path, reason)) = damaged {
        if !covers(0) {
            return Err(unrecoverable(&bad_path, &reason, "an empty state", log_first_lsn));
        }
        tracing::warn!(damaged = %bad_path.display(), %reason, "no valid snapshot; replaying the whole log");
    }
    Ok(None)
}

fn unrecoverable(bad: &Path, reason: &str, fallback: &str, log_first_lsn: Option<Lsn>) -> StoreError {
    let log = match log_first_lsn {
        Some(first) => format!("the log starts at record {first}"),
        None => "the log is empty".to_string(),
    };
    StoreError::Snapshot(format!(
        "{} is damaged ({reason}) and cannot be rebuilt from {fallback}: {log}, so records in \
         between are gone. Restore the file from a backup",
        bad.display()
    ))
}

/// Snapshot files in `dir` as (lsn, path), oldest first.
fn list(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("list snapshots", dir, e))? {
        let path = entry.map_err(|e| StoreError::io("list snapshots", dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        if let Some(lsn) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()) {
            out.push((lsn, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Leftovers of a write that crashed before its rename.
fn remove_temporaries(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("list snapshots", dir, e))? {
        let path = entry.map_err(|e| StoreError::io("list snapshots", dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(TMP_EXTENSION) {
            fs::remove_file(&path).map_err(|e| StoreError::io("delete unfinished snapshot", &path, e))?;
        }
    }
    Ok(())
}

fn header(lsn: Lsn, bytes: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&lsn.to_le_bytes());
    h[24..32].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    let crc = checksum(&h, bytes);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// CRC over the header without magic and crc field, then the payload.
fn checksum(header: &[u8; HEADER_LEN], bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..12]);
    hasher.update(&header[16..32]);
    hasher.update(bytes);
    hasher.finalize()
}

/// Reads and checks the snapshot at `path`, named for `lsn`; the error says what is wrong.
fn read(path: &Path, lsn: Lsn) -> Result<Vec<u8>, String> {
    let data = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let data_len = data.len();
    let Some(h) = data.get(..HEADER_LEN) else {
        return Err(format!("{} bytes, shorter than the header", data.len()));
    };
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(h);
    let u32_at = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_le_bytes(b)
    };
    if &header[..8] != MAGIC {
        return Err("bad magic".into());
    }
    if u32_at(8) != VERSION {
        return Err(format!("unknown version {}", u32_at(8)));
    }
    if u64_at(16) != lsn {
        return Err(format!("header says record {} but the file is named for {lsn}", u64_at(16)));
    }
    let payload_len = (data_len - HEADER_LEN) as u64;
    if u64_at(24) != payload_len {
        return Err(format!("header says {} bytes but {payload_len} follow", u64_at(24)));
    }
    if checksum(&header, &data[HEADER_LEN..]) != u32_at(12) {
        return Err("checksum mismatch".into());
    }
    let mut data = data;
    data.drain(..HEADER_LEN);
    Ok(data)
}
