//! Judging how a segment ends: which records its end cost, by the facts on disk (the
//! acknowledgement mark, the next segment's name, the snapshots).

use super::Marked;
use super::report::{Damage, LsnSpan};
use super::walk::End;
use crate::Lsn;
use crate::header::HEADER_LEN;
use crate::segment::SegmentFile;

/// The damage at the end of `seg`, a segment followed by one starting at `next_first`, whose
/// records run up to `expected - 1` and whose file is `len` bytes: the records in between
/// belong to neither. Its header matters little (its records were read without it).
pub(super) fn judge_inner_end(
    seg: &SegmentFile,
    end: End,
    marked: &Marked,
    expected: Lsn,
    next_first: Lsn,
    len: u64,
) -> Vec<Damage> {
    let mut found = Vec::new();
    if let Marked::Unreadable(reason) = marked {
        found.push(Damage {
            path: seg.path.clone(),
            offset: 0,
            bytes: len.min(HEADER_LEN as u64),
            lsns: LsnSpan::Nothing,
            reason: format!("the segment header is damaged ({reason}); its records were read without it"),
        });
    }
    match end {
        End::Clean if expected < next_first => found.push(Damage {
            path: seg.path.clone(),
            offset: len,
            bytes: 0,
            lsns: LsnSpan::range(expected, next_first - 1),
            reason: format!(
                "the segment ends at record {} but the next one starts at record {next_first}",
                expected - 1
            ),
        }),
        End::Clean => {}
        End::Damaged { offset, reason } | End::Unacknowledged { offset, reason } => found.push(Damage {
            path: seg.path.clone(),
            offset,
            bytes: len - offset,
            lsns: LsnSpan::range(expected, next_first - 1),
            reason,
        }),
    }
    found
}

/// The damage at the end of the last segment `seg`, whose records run up to `expected - 1`
/// and whose file is `len` bytes.
pub(super) fn judge_last_end(
    seg: &SegmentFile,
    end: &End,
    marked: &Marked,
    expected: Lsn,
    must_reach: Lsn,
    len: u64,
) -> Vec<Damage> {
    let log_end = expected - 1;
    let at = |offset: u64, lsns: LsnSpan, reason: String| Damage {
        path: seg.path.clone(),
        offset,
        bytes: len - offset,
        lsns,
        reason,
    };
    let mut found = Vec::new();
    match marked {
        Marked::Mark(mark) => {
            let need = mark.acked.max(must_reach);
            let why = if mark.acked >= must_reach {
                format!("its acknowledgement mark shows every record up to {} was acknowledged", mark.acked)
            } else {
                format!("a snapshot shows the log had reached record {must_reach}")
            };
            match end {
                // Damage after the mark: a torn write, not a loss.
                End::Unacknowledged { .. } => {}
                End::Damaged { offset, reason } => found.push(at(
                    *offset,
                    LsnSpan::range(expected, need),
                    format!("{reason}, with nothing readable after it, but {why}"),
                )),
                End::Clean if log_end < need => found.push(at(
                    len,
                    LsnSpan::range(expected, need),
                    format!("the file ends at record {log_end}, but {why}: it was cut short"),
                )),
                End::Clean => {}
            }
            if mark.sealed() {
                found.push(at(
                    len,
                    LsnSpan::From(mark.acked + 1),
                    format!(
                        "the segment is sealed: the log went on in a segment starting at record {}, which is missing",
                        mark.acked + 1
                    ),
                ));
            }
        }
        Marked::Unreadable(reason) => {
            found.push(Damage {
                path: seg.path.clone(),
                offset: 0,
                bytes: len.min(HEADER_LEN as u64),
                lsns: LsnSpan::From(expected),
                reason: format!(
                    "the last segment's header is damaged ({reason}), so whether records after {log_end} \
                     were acknowledged cannot be told"
                ),
            });
        }
        Marked::NoHeader => {
            if log_end < must_reach {
                let offset = match end {
                    End::Clean => len,
                    End::Damaged { offset, .. } | End::Unacknowledged { offset, .. } => *offset,
                };
                found.push(at(
                    offset,
                    LsnSpan::From(expected),
                    format!(
                        "the log ends at record {log_end}, but a snapshot shows it had reached record {must_reach}: \
                         it was cut short, and records after it cannot be ruled out"
                    ),
                ));
            }
        }
    }
    found
}
