//! Recovery: reading the log back on open.
//!
//! Every segment is read in order and every record checked (checksum and LSN sequence). What
//! happens at the first bad record depends on where it is:
//!
//! - at the end of the last segment with nothing valid after it: a write torn by a crash. It
//!   was never acknowledged (acks follow the write), so it is truncated away with a warning;
//! - anywhere else: damage to data that may have been acknowledged. Open fails with
//!   [`StoreError::Corrupt`] naming the file and byte offset, unless
//!   [`StoreOptions::repair`] is set, which truncates the log there with a loud warning and
//!   reports the bytes dropped in [`RecoveryReport::repaired`].

use std::fs;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::record::{self, Decoded, HEADER_LEN};
use crate::segment::{self, SegmentFile};
use crate::writer::WriterStart;
use crate::{Lsn, StoreError, StoreOptions};

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments: usize,
    /// Records handed to the replay callback (those after the snapshot).
    pub records_replayed: u64,
    /// LSN of the last record in the log after recovery, or of the snapshot if the log holds
    /// nothing newer; the next append gets this plus one.
    pub last_lsn: Lsn,
    /// Bytes of a torn last write that were truncated away (never acknowledged).
    pub torn_tail_bytes: u64,
    /// Set when [`StoreOptions::repair`] truncated the log at a corrupt record.
    pub repaired: Option<Repair>,
}

/// A truncation done by [`StoreOptions::repair`]: data that may have been acknowledged was
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The segment holding the corrupt record.
    pub path: PathBuf,
    /// Byte offset of the corrupt record in it.
    pub offset: u64,
    /// What was wrong with the record.
    pub reason: String,
    /// Bytes dropped: the rest of that segment plus every later segment.
    pub bytes_dropped: u64,
}

/// Reads the log in `dir`, hands every record with an LSN above `after` to `on_record`, and
/// leaves the last segment ready for appending.
pub(crate) fn recover<F, E>(
    dir: &Path,
    options: &StoreOptions,
    after: Lsn,
    mut on_record: F,
) -> Result<(WriterStart, RecoveryReport), StoreError>
where
    F: FnMut(Lsn, &[u8]) -> Result<(), E>,
    E: std::error::Error + Send + Sync + 'static,
{
    let sync = options.fsync != crate::FsyncPolicy::Never;
    let mut segments = segment::list(dir)?;
    let mut report = RecoveryReport { segments: segments.len(), ..RecoveryReport::default() };
    let Some(first) = segments.first() else {
        return start_fresh(dir, after, sync, report);
    };
    if first.first_lsn > after + 1 {
        return Err(StoreError::Gap(format!(
            "the log starts at record {} in {} but records from {} on are needed (the snapshot \
             covers up to {after})",
            first.first_lsn,
            first.path.display(),
            after + 1
        )));
    }

    let mut expected = first.first_lsn;
    let mut end = 0u64;
    let mut i = 0;
    while i < segments.len() {
        let seg = &segments[i];
        let data = fs::read(&seg.path).map_err(|e| StoreError::io("read segment", &seg.path, e))?;
        let mut pos = 0usize;
        let mut bad = None;
        let mut never_torn = None;
        if seg.first_lsn != expected {
            bad =
                Some(format!("segment starts at record {} but record {expected} comes next", seg.first_lsn));
            never_torn = Some("the segment does not continue the previous one");
        }
        while bad.is_none() && pos < data.len() {
            match record::decode(&data[pos..], options.max_record_bytes) {
                Decoded::Record { lsn, payload, len } if lsn == expected => {
                    if lsn > after {
                        on_record(lsn, payload)
                            .map_err(|e| StoreError::Replay { lsn, source: std::sync::Arc::new(e) })?;
                        report.records_replayed += 1;
                    }
                    expected += 1;
                    pos += len;
                }
                Decoded::Record { lsn, .. } => {
                    bad = Some(format!("record has LSN {lsn}, expected {expected}"))
                }
                Decoded::Bad(reason) => bad = Some(reason.to_string()),
            }
        }
        end = pos as u64;
        if let Some(reason) = bad {
            let offset = pos as u64;
            let why_not_torn = if never_torn.is_some() {
                never_torn
            } else if total_size(&segments[i + 1..])? > 0 {
                // Later segments that exist but are empty (a crash right after rotating
                // without sync) do not count: this is still the last write.
                Some("it is not in the last segment")
            } else if valid_record_after(&data, pos + 1, expected, options.max_record_bytes) {
                Some("a valid record follows it")
            } else {
                None
            };
            match why_not_torn {
                None => {
                    let dropped = data.len() as u64 - offset;
                    tracing::warn!(
                        path = %seg.path.display(), offset, bytes = dropped, %reason,
                        "truncating a torn write at the end of the write-ahead log (never acknowledged)"
                    );
                    truncate(&seg.path, offset, sync)?;
                    report.torn_tail_bytes = dropped;
                    remove_segments(dir, &segments[i + 1..])?;
                    segments.truncate(i + 1);
                }
                Some(why_not_torn) => {
                    let later = &segments[i + 1..];
                    let bytes_dropped = data.len() as u64 - offset + total_size(later)?;
                    if !options.repair {
                        return Err(StoreError::Corrupt {
                            path: seg.path.clone(),
                            offset,
                            reason,
                            why_not_torn,
                            bytes_after: bytes_dropped,
                        });
                    }
                    tracing::error!(
                        path = %seg.path.display(), offset, bytes_dropped, %reason,
                        "REPAIR: truncating the write-ahead log at a corrupt record; records after it are lost"
                    );
                    truncate(&seg.path, offset, sync)?;
                    remove_segments(dir, later)?;
                    report.repaired = Some(Repair { path: seg.path.clone(), offset, reason, bytes_dropped });
                    segments.truncate(i + 1);
                }
            }
            break;
        }
        i += 1;
    }

    let last_lsn = expected - 1;
    if last_lsn < after {
        // The snapshot is newer than the whole log (possible only when syncs were skipped):
        // every record here is covered by it, so start a clean log after it.
        tracing::warn!(
            log_end = last_lsn,
            snapshot = after,
            "the log ends before the snapshot; starting a new log after the snapshot"
        );
        remove_segments(dir, &segments)?;
        return start_fresh(dir, after, sync, report);
    }
    report.last_lsn = last_lsn;
    let Some(last) = segments.last() else {
        return start_fresh(dir, after, sync, report);
    };
    let mut file = segment::open_for_append(&last.path)?;
    file.seek(SeekFrom::Start(end)).map_err(|e| StoreError::io("seek segment", &last.path, e))?;
    Ok((WriterStart { dir: dir.to_path_buf(), file, offset: end, next_lsn: expected }, report))
}

/// An empty log whose first record will be `after + 1`.
fn start_fresh(
    dir: &Path,
    after: Lsn,
    sync: bool,
    mut report: RecoveryReport,
) -> Result<(WriterStart, RecoveryReport), StoreError> {
    let file = segment::create(dir, after + 1, sync)?;
    report.last_lsn = after;
    Ok((WriterStart { dir: dir.to_path_buf(), file, offset: 0, next_lsn: after + 1 }, report))
}

/// Whether a valid record with a plausible LSN starts anywhere at or after `from`: if so, the
/// bad record before it is damage, not a torn last write.
fn valid_record_after(data: &[u8], from: usize, expected: Lsn, max_len: usize) -> bool {
    // Each record takes at least HEADER_LEN bytes, which bounds the LSNs that can follow.
    let max_lsn = expected + (data.len() / HEADER_LEN) as u64;
    (from..data.len().saturating_sub(HEADER_LEN - 1)).any(|off| {
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&data[off + 8..off + 16]);
        let lsn = u64::from_le_bytes(lsn);
        (expected..=max_lsn).contains(&lsn)
            && matches!(record::decode(&data[off..], max_len), Decoded::Record { .. })
    })
}

fn truncate(path: &Path, len: u64, sync: bool) -> Result<(), StoreError> {
    let file = segment::open_for_append(path)?;
    file.set_len(len).map_err(|e| StoreError::io("truncate segment", path, e))?;
    if sync {
        file.sync_all().map_err(|e| StoreError::io("sync segment", path, e))?;
    }
    Ok(())
}

/// Deletes `segments` (all after the point where recovery stopped) and syncs the directory.
fn remove_segments(dir: &Path, segments: &[SegmentFile]) -> Result<(), StoreError> {
    if segments.is_empty() {
        return Ok(());
    }
    for seg in segments {
        fs::remove_file(&seg.path).map_err(|e| StoreError::io("delete segment", &seg.path, e))?;
    }
    segment::sync_dir(dir)
}

fn total_size(segments: &[SegmentFile]) -> Result<u64, StoreError> {
    segments.iter().try_fold(0, |sum, seg| {
        let meta = fs::metadata(&seg.path).map_err(|e| StoreError::io("stat segment", &seg.path, e))?;
        Ok(sum + meta.len())
    })
}
