//! Recovery: reading the log back on open, and telling what it can prove was never
//! acknowledged from what it cannot.
//!
//! Three facts on disk say which records must exist: a snapshot at LSN `S` (the log had
//! reached `S`, and the snapshot holds every record up to it); a segment's name (the log had
//! reached the record before it); and the last segment's acknowledgement mark `W`
//! (header.rs: every record up to `W` was acknowledged, and none after it). Recovery reads the
//! segments that hold records after `S`, stepping over damage (walk.rs), and judges every
//! damaged or missing stretch by those facts:
//!
//! - records at or below `S`: the snapshot has them. Skipped with a warning, whatever the
//!   damage;
//! - damage in the last segment after every record up to `W` was read: a write nobody was told
//!   about (a crash cut it). Truncated with a warning, with `W` as the proof;
//! - anything else after `S` (a damaged record, a file cut short of `W`, a segment missing,
//!   emptied or with an unreadable header, a log that ends before a snapshot it must reach):
//!   records that were, or may have been, acknowledged. Open fails with
//!   [`StoreError::Lost`] listing each stretch, and changes nothing on disk, unless
//!   [`StoreOptions::repair`] is set: then exactly those records are given up (listed in
//!   [`RecoveryReport::repaired`]) and every intact record, before and after them, is kept.
//!
//! A format-1 segment (`.wal`, no header) has no mark: a bad end of the last one is presumed a
//! torn write, as before, unless the log ends before the snapshot's LSN, which proves a cut.

mod judge;
mod report;
mod resume;
mod walk;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::header::{self, Mark};
use crate::segment::{self, Format, SegmentFile};
use crate::writer::WriterStart;
use crate::{Lsn, StoreError, StoreOptions};
pub(crate) use report::DamageList;
pub use report::{Damage, LsnSpan, RecoveryReport, TailProof, TornTail};
use walk::End;

/// What the last segment's header says.
enum Marked {
    /// A format-1 segment: no header.
    NoHeader,
    /// The newest readable mark.
    Mark(Mark),
    /// The header (or both mark slots) cannot be read: why.
    Unreadable(String),
}

fn read_mark(seg: &SegmentFile, data: &[u8]) -> Marked {
    match seg.format {
        Format::Records => Marked::NoHeader,
        Format::Headed => match header::parse(data, seg.first_lsn) {
            Ok(header::Header { mark: Some(mark) }) => Marked::Mark(mark),
            Ok(header::Header { mark: None }) => {
                Marked::Unreadable("both acknowledgement marks are damaged".into())
            }
            Err(reason) => Marked::Unreadable(reason),
        },
    }
}

/// How the last segment ends, and what to do with it once the verdict is in.
struct LastSegment {
    seg: SegmentFile,
    len: u64,
    /// Where its readable records end.
    records_end: u64,
    marked: Marked,
}

/// Reads the log in `dir`, hands every record with an LSN above `snapshot_lsn` to `on_record`
/// in order, judges the damage it meets (see the module docs) and leaves the log ready for
/// appending. `must_reach`: the highest LSN a snapshot file names, damaged or not (the log had
/// reached it).
pub(crate) fn recover<F, E>(
    dir: &Path,
    options: &StoreOptions,
    snapshot_lsn: Lsn,
    must_reach: Lsn,
    mut on_record: F,
) -> Result<(WriterStart, RecoveryReport), StoreError>
where
    F: FnMut(Lsn, &[u8]) -> Result<(), E>,
    E: std::error::Error + Send + Sync + 'static,
{
    let sync = options.fsync != crate::FsyncPolicy::Never;
    segment::remove_temporaries(dir)?;
    let segments = segment::list(dir)?;
    let must_reach = must_reach.max(snapshot_lsn);
    let mut found = Vec::new();
    let mut replayed = 0u64;
    let mut replay = |lsn: Lsn, payload: &[u8]| {
        if lsn > snapshot_lsn {
            on_record(lsn, payload).map_err(|e| StoreError::Replay { lsn, source: Arc::new(e) })?;
            replayed += 1;
        }
        Ok(())
    };

    // Segments holding only records the snapshot has are not read.
    let first = match segments.iter().rposition(|s| s.first_lsn <= snapshot_lsn + 1) {
        Some(first) => first,
        None => {
            if let Some(seg) = segments.first() {
                found.push(Damage {
                    path: seg.path.clone(),
                    offset: 0,
                    bytes: 0,
                    lsns: LsnSpan::range(snapshot_lsn + 1, seg.first_lsn - 1),
                    reason: format!(
                        "the log starts at record {} but the snapshot holds records only up to {snapshot_lsn}: \
                         the records in between are in no segment",
                        seg.first_lsn
                    ),
                });
            }
            0
        }
    };
    let to_read = &segments[first..];
    let mut expected = to_read.first().map_or(snapshot_lsn + 1, |s| s.first_lsn);
    let mut last = None;
    for (i, seg) in to_read.iter().enumerate() {
        let data = fs::read(&seg.path).map_err(|e| StoreError::io("read segment", &seg.path, e))?;
        let marked = read_mark(seg, &data);
        let is_last = i + 1 == to_read.len();
        let acked = match &marked {
            Marked::Mark(mark) if is_last => Some(mark.acked),
            _ => None,
        };
        let walk =
            walk::walk(&data, seg.records_start(), expected, acked, options.max_record_bytes, &mut replay)?;
        for gap in walk.gaps {
            found.push(Damage {
                path: seg.path.clone(),
                offset: gap.offset,
                bytes: gap.bytes,
                lsns: LsnSpan::range(gap.first, gap.last),
                reason: gap.reason,
            });
        }
        expected = walk.expected;
        let len = data.len() as u64;
        if is_last {
            let records_end = match &walk.end {
                End::Clean => len,
                End::Damaged { offset, .. } | End::Unacknowledged { offset, .. } => *offset,
            };
            found.extend(judge::judge_last_end(seg, &walk.end, &marked, expected, must_reach, len));
            last = Some((LastSegment { seg: seg.clone(), len, records_end, marked }, walk.end));
            continue;
        }
        let next_first = to_read[i + 1].first_lsn;
        found.extend(judge::judge_inner_end(seg, walk.end, &marked, expected, next_first, len));
        expected = expected.max(next_first);
    }
    if to_read.is_empty() && must_reach > 0 {
        found.push(Damage {
            path: dir.to_path_buf(),
            offset: 0,
            bytes: 0,
            lsns: LsnSpan::From(snapshot_lsn + 1),
            reason: format!(
                "the log directory holds no segment, but a snapshot shows the log had reached record {must_reach}"
            ),
        });
    }
    let log_end = expected - 1;

    // The verdict. Nothing on disk has changed so far.
    let mut report =
        RecoveryReport { segments: to_read.len(), records_replayed: replayed, ..Default::default() };
    let mut lost = Vec::new();
    for damage in found {
        let (covered, after) = damage.lsns.split_at(snapshot_lsn);
        if covered != LsnSpan::Nothing || damage.lsns == LsnSpan::Nothing {
            report.skipped.push(Damage { lsns: covered, ..damage.clone() });
        }
        if after != LsnSpan::Nothing {
            lost.push(Damage { lsns: after, ..damage });
        }
    }
    if !lost.is_empty() && !options.repair {
        return Err(StoreError::Lost { damage: lost });
    }
    report.repaired = lost;

    let next_lsn = log_end.max(snapshot_lsn) + 1;
    report.last_lsn = next_lsn - 1;
    let start = match last {
        Some((last, end)) => {
            report.torn_tail = resume::torn_tail(&last, &end);
            resume::continue_or_rotate(dir, last, log_end, next_lsn, sync)?
        }
        None => resume::new_segment(dir, next_lsn, sync)?,
    };
    Ok((start, report))
}
