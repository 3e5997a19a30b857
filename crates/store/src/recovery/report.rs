//! What recovery tells its caller: the report of a successful open, and the damage it found.

use std::fmt;
use std::path::PathBuf;

use crate::Lsn;

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Segment files read (those holding records after the snapshot).
    pub segments: usize,
    /// Records handed to the replay callback (those after the snapshot).
    pub records_replayed: u64,
    /// LSN of the last record in the log after recovery, or of the snapshot if the log holds
    /// nothing newer; the next append gets this plus one.
    pub last_lsn: Lsn,
    /// The end of the last segment that was discarded as a write nobody was told about.
    pub torn_tail: Option<TornTail>,
    /// Damage that cost nothing: records the snapshot already holds, or bytes that held no
    /// record. Skipped with a warning.
    pub skipped: Vec<Damage>,
    /// Set only under [`crate::StoreOptions::repair`]: records after the snapshot that were
    /// (or may have been) acknowledged and are damaged or missing, given up so the log could
    /// open. Everything else was kept.
    pub repaired: Vec<Damage>,
}

impl RecoveryReport {
    /// Bytes of a torn last write that were truncated away (0 when there was none).
    pub fn torn_tail_bytes(&self) -> u64 {
        self.torn_tail.as_ref().map_or(0, |t| t.bytes)
    }
}

/// The unfinished end of the log that recovery truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub path: PathBuf,
    /// Where the discarded bytes started.
    pub offset: u64,
    /// How many bytes were discarded.
    pub bytes: u64,
    /// Why they were never acknowledged.
    pub proof: TailProof,
}

/// Why a torn tail is taken to be a write nobody was told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailProof {
    /// The segment's acknowledgement mark shows every acknowledged record (up to this LSN)
    /// before the tail: proven.
    Mark(Lsn),
    /// A format-1 segment, which has no mark: presumed, as the format-1 store did (a write cut
    /// by a crash is the usual cause), but not proven.
    Presumed,
}

/// A stretch of the log that is damaged or missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file it is in (or, for missing records, the one they belonged after).
    pub path: PathBuf,
    /// Byte offset in that file where it starts.
    pub offset: u64,
    /// How many bytes of the file it covers (0 when the records are simply absent).
    pub bytes: u64,
    /// The records it cost.
    pub lsns: LsnSpan,
    /// What is wrong.
    pub reason: String,
}

/// Which records a [`Damage`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsnSpan {
    /// None: the bytes held no record (say, garbage between two records).
    Nothing,
    /// These records, both ends included.
    Range(Lsn, Lsn),
    /// This record and possibly any number after it: what the file held cannot be told.
    From(Lsn),
}

impl LsnSpan {
    /// The span `first..=last`, [`LsnSpan::Nothing`] when empty.
    pub(crate) fn range(first: Lsn, last: Lsn) -> LsnSpan {
        if first <= last { LsnSpan::Range(first, last) } else { LsnSpan::Nothing }
    }

    /// The part at or below `lsn`, and the part above it.
    pub(crate) fn split_at(self, lsn: Lsn) -> (LsnSpan, LsnSpan) {
        match self {
            LsnSpan::Nothing => (LsnSpan::Nothing, LsnSpan::Nothing),
            LsnSpan::Range(first, last) => {
                (LsnSpan::range(first, last.min(lsn)), LsnSpan::range(first.max(lsn + 1), last))
            }
            LsnSpan::From(first) => (LsnSpan::range(first, lsn), LsnSpan::From(first.max(lsn + 1))),
        }
    }
}

impl fmt::Display for LsnSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LsnSpan::Nothing => write!(f, "no record"),
            LsnSpan::Range(first, last) if first == last => write!(f, "record {first}"),
            LsnSpan::Range(first, last) => {
                write!(f, "records {first} to {last} ({} records)", last - first + 1)
            }
            LsnSpan::From(first) => write!(f, "records from {first} on (how many cannot be told)"),
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (in {} at byte offset {}",
            self.lsns,
            self.reason,
            self.path.display(),
            self.offset
        )?;
        if self.bytes > 0 {
            write!(f, ", {} bytes", self.bytes)?;
        }
        write!(f, ")")
    }
}

/// Lists damages for an error message.
pub(crate) struct DamageList<'a>(pub(crate) &'a [Damage]);

impl fmt::Display for DamageList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, damage) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{damage}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_at_the_snapshot_and_read_plainly() {
        assert_eq!(LsnSpan::Range(3, 8).split_at(5), (LsnSpan::Range(3, 5), LsnSpan::Range(6, 8)));
        assert_eq!(LsnSpan::Range(3, 8).split_at(10), (LsnSpan::Range(3, 8), LsnSpan::Nothing));
        assert_eq!(LsnSpan::Range(3, 8).split_at(1), (LsnSpan::Nothing, LsnSpan::Range(3, 8)));
        assert_eq!(LsnSpan::From(3).split_at(5), (LsnSpan::Range(3, 5), LsnSpan::From(6)));
        assert_eq!(LsnSpan::From(7).split_at(5), (LsnSpan::Nothing, LsnSpan::From(7)));
        assert_eq!(LsnSpan::range(4, 3), LsnSpan::Nothing);
        assert_eq!(LsnSpan::Range(8, 10).to_string(), "records 8 to 10 (3 records)");
        assert_eq!(LsnSpan::Range(8, 8).to_string(), "record 8");
        assert_eq!(LsnSpan::From(6).to_string(), "records from 6 on (how many cannot be told)");
    }
}
