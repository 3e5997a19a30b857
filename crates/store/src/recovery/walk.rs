//! Reading one segment's records in LSN order, stepping over damage.
//!
//! A record that does not decode (or does not carry the next LSN) is damage. The walk looks for
//! the next valid record further on (its LSN is checked first, so the search is a cheap scan
//! for eight plausible bytes) and resumes there: the records in between are the damage's cost,
//! and everything after it is read as usual. Whether that cost is acceptable is for the caller
//! to judge; the walk only measures it.

use crate::record::{self, Decoded, HEADER_LEN};
use crate::{Lsn, StoreError};

/// Damage followed by valid records in the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    /// Where the unreadable bytes start.
    pub(crate) offset: u64,
    /// How many there are, up to the next valid record.
    pub(crate) bytes: u64,
    /// The first LSN missing (the next valid record has `last + 1`).
    pub(crate) first: Lsn,
    /// The last LSN missing; below `first` when the bytes held no record.
    pub(crate) last: Lsn,
    /// What was wrong at `offset`.
    pub(crate) reason: String,
}

/// How a segment's records ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Every byte was a valid record.
    Clean,
    /// The bytes from `offset` on are damaged and no valid record follows them in this file.
    Damaged { offset: u64, reason: String },
    /// Damage at `offset`, where every record up to the acknowledgement mark had been read:
    /// the rest of the file is a write nobody was told about.
    Unacknowledged { offset: u64, reason: String },
}

/// The result of reading one segment.
#[derive(Debug)]
pub(crate) struct Walk {
    /// The LSN the next record must have.
    pub(crate) expected: Lsn,
    /// Damage followed by valid records.
    pub(crate) gaps: Vec<Gap>,
    /// How the file ended.
    pub(crate) end: End,
}

/// Reads the records of `data` from byte `start` on, the first of which should be `expected`,
/// and hands each to `on_record` in order. `acked`: the segment's acknowledgement mark when it
/// is the log's last segment and the mark is readable; damage met after every record up to it
/// has been read ends the walk as [`End::Unacknowledged`] instead of being stepped over.
pub(crate) fn walk(
    data: &[u8],
    start: usize,
    mut expected: Lsn,
    acked: Option<Lsn>,
    max_len: usize,
    mut on_record: impl FnMut(Lsn, &[u8]) -> Result<(), StoreError>,
) -> Result<Walk, StoreError> {
    let mut pos = start.min(data.len());
    let mut gaps = Vec::new();
    while pos < data.len() {
        let reason = match record::decode(&data[pos..], max_len) {
            Decoded::Record { lsn, payload, len } if lsn == expected => {
                on_record(lsn, payload)?;
                expected += 1;
                pos += len;
                continue;
            }
            Decoded::Record { lsn, .. } => format!("the record there has LSN {lsn}, {expected} was expected"),
            Decoded::Bad(reason) => format!("corrupt write-ahead log record ({reason})"),
        };
        let offset = pos as u64;
        if acked.is_some_and(|acked| expected > acked) {
            return Ok(Walk { expected, gaps, end: End::Unacknowledged { offset, reason } });
        }
        let Some((next, lsn)) = next_valid_record(data, pos, expected, max_len) else {
            return Ok(Walk { expected, gaps, end: End::Damaged { offset, reason } });
        };
        gaps.push(Gap { offset, bytes: (next - pos) as u64, first: expected, last: lsn - 1, reason });
        expected = lsn;
        pos = next;
    }
    Ok(Walk { expected, gaps, end: End::Clean })
}

/// The first offset at or after `from` holding a valid record with an LSN of at least
/// `expected` (and no more than the rest of the file could number), with that LSN.
fn next_valid_record(data: &[u8], from: usize, expected: Lsn, max_len: usize) -> Option<(usize, Lsn)> {
    // Each record takes at least HEADER_LEN bytes, which bounds the LSNs that can follow.
    let max_lsn = expected + (data.len() / HEADER_LEN) as u64;
    (from..data.len().saturating_sub(HEADER_LEN - 1)).find_map(|off| {
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&data[off + 8..off + 16]);
        let lsn = u64::from_le_bytes(lsn);
        if !(expected..=max_lsn).contains(&lsn) {
            return None;
        }
        match record::decode(&data[off..], max_len) {
            Decoded::Record { lsn, .. } => Some((off, lsn)),
            Decoded::Bad(_) => None,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn log(lsns: impl IntoIterator<Item = Lsn>) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for lsn in lsns {
            offsets.push(buf.len());
            record::encode(&mut buf, lsn, format!("payload {lsn}").as_bytes());
        }
        (buf, offsets)
    }

    fn read(data: &[u8], expected: Lsn, acked: Option<Lsn>) -> (Vec<Lsn>, Walk) {
        let mut seen = Vec::new();
        let walk = walk(data, 0, expected, acked, 1 << 20, |lsn, _| {
            seen.push(lsn);
            Ok(())
        })
        .unwrap();
        (seen, walk)
    }

    #[test]
    fn steps_over_a_damaged_record_and_measures_what_it_cost() {
        let (mut data, offsets) = log(1..=5);
        data[offsets[2] + 20] ^= 0xff; // record 3's payload
        let (seen, walk) = read(&data, 1, None);
        assert_eq!(seen, [1, 2, 4, 5]);
        assert_eq!(walk.expected, 6);
        assert_eq!(walk.end, End::Clean);
        let gap = &walk.gaps[0];
        assert_eq!(
            (gap.offset, gap.bytes, gap.first, gap.last),
            (offsets[2] as u64, (offsets[3] - offsets[2]) as u64, 3, 3)
        );
        assert!(gap.reason.contains("checksum mismatch"), "{}", gap.reason);
    }

    #[test]
    fn a_damaged_length_still_finds_the_next_record() {
        let (mut data, offsets) = log(1..=4);
        data[offsets[1]] ^= 0x7f; // record 2's length
        let (seen, walk) = read(&data, 1, None);
        assert_eq!(seen, [1, 3, 4]);
        assert_eq!((walk.gaps[0].first, walk.gaps[0].last), (2, 2));
    }

    #[test]
    fn a_missing_record_is_a_gap_without_damaged_bytes() {
        let (data, _) = log([1, 2, 4]);
        let (seen, walk) = read(&data, 1, None);
        assert_eq!(seen, [1, 2, 4]);
        assert_eq!((walk.gaps[0].bytes, walk.gaps[0].first, walk.gaps[0].last), (0, 3, 3));
    }

    #[test]
    fn damage_with_nothing_valid_after_it_ends_the_walk() {
        let (mut data, offsets) = log(1..=3);
        data.truncate(offsets[2] + 5);
        let (seen, walk) = read(&data, 1, None);
        assert_eq!(seen, [1, 2]);
        assert!(matches!(walk.end, End::Damaged { offset, .. } if offset == offsets[2] as u64));
    }

    #[test]
    fn damage_after_the_acknowledgement_mark_ends_the_walk_even_with_records_after_it() {
        let (mut data, offsets) = log(1..=5);
        data[offsets[3] + 20] ^= 0xff; // record 4, after the mark at 3
        let (seen, walk) = read(&data, 1, Some(3));
        assert_eq!(seen, [1, 2, 3]);
        assert!(matches!(walk.end, End::Unacknowledged { offset, .. } if offset == offsets[3] as u64));
        // At or before the mark, the same damage is stepped over.
        let (seen, walk) = read(&data, 1, Some(4));
        assert_eq!(seen, [1, 2, 3, 5]);
        assert_eq!((walk.gaps[0].first, walk.gaps[0].last), (4, 4));
    }
}
