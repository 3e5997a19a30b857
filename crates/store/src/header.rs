//! The header of a segment file (format 2, `.seg`): what the segment is, and the writer's
//! *acknowledgement mark*, the proof recovery needs to tell a torn write from lost data.
//!
//! ```text
//! [magic "RAPWAL02" 8][first_lsn u64][crc u32][reserved u32 = 0]      fixed at creation
//! [seq u64][acked u64][flags u32][crc u32]                             mark slot 0
//! [seq u64][acked u64][flags u32][crc u32]                             mark slot 1
//! records from byte 72 on (record.rs)                                  all little endian
//! ```
//!
//! The first crc covers the magic and `first_lsn`. A mark says: *every record of the log up to
//! `acked` had been acknowledged when this mark was written*. The writer rewrites it in place
//! after every group, after the group's sync and before any of its acks are sent, alternating
//! between the two slots (`seq % 2`), so a mark torn by a crash leaves the previous one readable;
//! the valid slot with the higher `seq` counts. Flag [`SEALED`]: the writer moved on to the next
//! segment, which starts at `acked + 1`.
//!
//! Because the mark is written only after the records it counts were synced (under
//! `FsyncPolicy::Always`), it can lag what is on disk but never run ahead of it: after any
//! crash, a record at or below the mark that is missing was lost afterwards, and a damaged
//! record above it was never acknowledged.

use crate::Lsn;

/// Bytes before the first record of a format-2 segment.
pub(crate) const HEADER_LEN: usize = 72;

const MAGIC: &[u8; 8] = b"RAPWAL02";
const FIXED_LEN: usize = 24;
const SLOT_LEN: usize = 24;

/// Mark flag: the log continues in the segment starting at `acked + 1`.
pub(crate) const SEALED: u32 = 1;

/// One acknowledgement mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Orders the marks; the higher valid one counts.
    pub(crate) seq: u64,
    /// Every record up to this LSN was acknowledged when the mark was written.
    pub(crate) acked: Lsn,
    /// [`SEALED`] or 0.
    pub(crate) flags: u32,
}

impl Mark {
    /// Whether the writer had moved on to a next segment.
    pub(crate) fn sealed(&self) -> bool {
        self.flags & SEALED != 0
    }
}

/// The header of a new segment whose first record will be `first_lsn`: its first mark says
/// the log before it (up to `first_lsn - 1`) was acknowledged, which holds because the writer
/// starts a segment only after the previous one's last group was.
pub(crate) fn new_segment(first_lsn: Lsn) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32fast::hash(&header[..16]);
    header[16..20].copy_from_slice(&crc.to_le_bytes());
    let (offset, slot) = encode_mark(Mark { seq: 1, acked: first_lsn.saturating_sub(1), flags: 0 });
    header[offset as usize..offset as usize + SLOT_LEN].copy_from_slice(&slot);
    header
}

/// The bytes of `mark` and the file offset of the slot they go to.
pub(crate) fn encode_mark(mark: Mark) -> (u64, [u8; SLOT_LEN]) {
    let mut slot = [0u8; SLOT_LEN];
    slot[..8].copy_from_slice(&mark.seq.to_le_bytes());
    slot[8..16].copy_from_slice(&mark.acked.to_le_bytes());
    slot[16..20].copy_from_slice(&mark.flags.to_le_bytes());
    let crc = crc32fast::hash(&slot[..20]);
    slot[20..24].copy_from_slice(&crc.to_le_bytes());
    let offset = FIXED_LEN + SLOT_LEN * (mark.seq % 2) as usize;
    (offset as u64, slot)
}

/// A format-2 segment's header as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The newest valid mark, `None` when both slots are damaged.
    pub(crate) mark: Option<Mark>,
}

/// Reads the header at the start of `data`, which should belong to the segment named for
/// `first_lsn`. The error says what is wrong with it.
pub(crate) fn parse(data: &[u8], first_lsn: Lsn) -> Result<Header, String> {
    let Some(header) = data.get(..HEADER_LEN) else {
        return Err(format!(
            "the file is {} bytes, shorter than the {HEADER_LEN}-byte header every segment is created with",
            data.len()
        ));
    };
    if &header[..8] != MAGIC {
        return Err("the segment header's magic number is wrong".into());
    }
    if crc32fast::hash(&header[..16]) != u32_at(header, 16) {
        return Err("the segment header's checksum does not match".into());
    }
    let named = u64_at(header, 8);
    if named != first_lsn {
        return Err(format!(
            "the header says the segment starts at record {named}, its name says {first_lsn}"
        ));
    }
    let mark = [FIXED_LEN, FIXED_LEN + SLOT_LEN]
        .into_iter()
        .filter_map(|at| decode_mark(&header[at..at + SLOT_LEN]))
        .max_by_key(|mark| mark.seq);
    Ok(Header { mark })
}

fn decode_mark(slot: &[u8]) -> Option<Mark> {
    (crc32fast::hash(&slot[..20]) == u32_at(slot, 20)).then(|| Mark {
        seq: u64_at(slot, 0),
        acked: u64_at(slot, 8),
        flags: u32_at(slot, 16),
    })
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_new_header_reads_back_with_its_first_mark() {
        let header = new_segment(42);
        let parsed = parse(&header, 42).unwrap();
        assert_eq!(parsed.mark, Some(Mark { seq: 1, acked: 41, flags: 0 }));
        assert!(parse(&header, 43).unwrap_err().contains("its name says 43"));
        assert!(parse(&header[..10], 42).unwrap_err().contains("shorter"));
        for i in 0..20 {
            let mut damaged = header;
            damaged[i] ^= 0x10;
            assert!(parse(&damaged, 42).is_err(), "flip at byte {i} undetected");
        }
    }

    #[test]
    fn the_newest_valid_mark_counts_and_a_torn_one_falls_back_to_the_other_slot() {
        let mut header = new_segment(1);
        for (seq, acked) in [(2, 10), (3, 20)] {
            let (offset, slot) = encode_mark(Mark { seq, acked, flags: 0 });
            header[offset as usize..offset as usize + SLOT_LEN].copy_from_slice(&slot);
        }
        assert_eq!(parse(&header, 1).unwrap().mark.map(|m| m.acked), Some(20));
        let (offset, _) = encode_mark(Mark { seq: 3, acked: 0, flags: 0 });
        header[offset as usize + 9] ^= 1; // seq 3's slot torn
        assert_eq!(parse(&header, 1).unwrap().mark.map(|m| m.acked), Some(10));
        header[FIXED_LEN + 1] ^= 1; // and seq 2's, in slot 0
        assert_eq!(parse(&header, 1).unwrap().mark, None);
        let (_, sealed) = encode_mark(Mark { seq: 4, acked: 7, flags: SEALED });
        assert!(decode_mark(&sealed).unwrap().sealed());
    }
}
