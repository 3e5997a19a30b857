//! Leaving the log ready for the writer once the verdict is in: the last segment's unreadable
//! end truncated and its header made true of what is left, then appending goes on in it or in a
//! new segment.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::report::{TailProof, TornTail};
use super::walk::End;
use super::{LastSegment, Marked};
use crate::header::{self, HEADER_LEN, Mark};
use crate::segment::{self, Format};
use crate::writer::WriterStart;
use crate::{Lsn, StoreError};

/// The end of the last segment that is a write nobody was told about, and why.
pub(super) fn torn_tail(last: &LastSegment, end: &End) -> Option<TornTail> {
    let (offset, proof) = match (&last.marked, end) {
        (Marked::Mark(mark), End::Unacknowledged { offset, .. }) => (*offset, TailProof::Mark(mark.acked)),
        (Marked::NoHeader, End::Damaged { offset, .. }) => (*offset, TailProof::Presumed),
        _ => return None,
    };
    Some(TornTail { path: last.seg.path.clone(), offset, bytes: last.len - offset, proof })
}

/// Leaves the last segment ready for appending when the log goes on in it (a format-2
/// segment, not sealed, whose records end right before `next_lsn`), else starts a new one at
/// `next_lsn`. Either way its unreadable end is truncated (a torn write, or damage the verdict
/// accepted) and its header made true of what is left.
pub(super) fn continue_or_rotate(
    dir: &Path,
    last: LastSegment,
    log_end: Lsn,
    next_lsn: Lsn,
    sync: bool,
) -> Result<WriterStart, StoreError> {
    let LastSegment { seg, len, records_end, marked } = last;
    let path = &seg.path;
    let unreadable = matches!(marked, Marked::Unreadable(_));
    if unreadable && log_end < seg.first_lsn {
        // A headless (say, emptied) file with no record in it: nothing to keep.
        fs::remove_file(path).map_err(|e| StoreError::io("delete damaged segment", path, e))?;
        segment::sync_dir(dir)?;
        return new_segment(dir, next_lsn, sync);
    }
    let continues = seg.format == Format::Headed
        && log_end + 1 == next_lsn
        && !matches!(&marked, Marked::Mark(mark) if mark.sealed());
    let mark_ahead = matches!(&marked, Marked::Mark(mark) if mark.acked > log_end);
    if records_end == len && !unreadable && !(continues && mark_ahead) {
        return match continues {
            true => reopen(dir, path, records_end, next_lsn, mark_seq(&marked)),
            false => new_segment(dir, next_lsn, sync),
        };
    }
    let mut file = segment::open_for_append(path)?;
    if records_end < len {
        file.set_len(records_end).map_err(|e| StoreError::io("truncate segment", path, e))?;
    }
    match &marked {
        // Records up to the mark were given up: the mark must not claim them any more.
        Marked::Mark(mark) if continues && mark_ahead => {
            let reset = Mark { seq: mark.seq + 1, acked: log_end, flags: 0 };
            segment::write_mark(&mut file, reset)
                .map_err(|e| StoreError::io("write segment mark", path, e))?;
        }
        Marked::Unreadable(_) => {
            let mut fresh = header::new_segment(seg.first_lsn);
            let (offset, slot) = header::encode_mark(Mark { seq: 2, acked: log_end, flags: 0 });
            fresh[offset as usize..offset as usize + slot.len()].copy_from_slice(&slot);
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.write_all(&fresh))
                .map_err(|e| StoreError::io("rewrite segment header", path, e))?;
        }
        _ => {}
    }
    if sync {
        file.sync_all().map_err(|e| StoreError::io("sync segment", path, e))?;
    }
    drop(file);
    match continues {
        true => {
            let seq = match &marked {
                Marked::Mark(mark) if mark_ahead => mark.seq + 1,
                Marked::Unreadable(_) => 2,
                other => mark_seq(other),
            };
            reopen(dir, path, records_end, next_lsn, seq)
        }
        false => new_segment(dir, next_lsn, sync),
    }
}

fn mark_seq(marked: &Marked) -> u64 {
    match marked {
        Marked::Mark(mark) => mark.seq,
        _ => 0,
    }
}

/// The writer's start at byte `records_end` of the segment at `path`.
fn reopen(
    dir: &Path,
    path: &Path,
    records_end: u64,
    next_lsn: Lsn,
    mark_seq: u64,
) -> Result<WriterStart, StoreError> {
    let mut file = segment::open_for_append(path)?;
    let offset = records_end.max(HEADER_LEN as u64);
    file.seek(SeekFrom::Start(offset)).map_err(|e| StoreError::io("seek segment", path, e))?;
    Ok(WriterStart { dir: dir.to_path_buf(), file, offset, next_lsn, mark_seq })
}

/// A new, empty segment whose first record will be `next_lsn`.
pub(super) fn new_segment(dir: &Path, next_lsn: Lsn, sync: bool) -> Result<WriterStart, StoreError> {
    let file = segment::create(dir, next_lsn, sync)?;
    Ok(WriterStart { dir: dir.to_path_buf(), file, offset: HEADER_LEN as u64, next_lsn, mark_seq: 1 })
}
