//! The on-disk record format of the log.
//!
//! ```text
//! [len u32][crc u32][lsn u64][payload: len bytes]      all little endian
//! ```
//!
//! `crc` is CRC-32 (IEEE, `crc32fast`) over `len`, `lsn` and the payload, so a damaged length
//! or sequence number is caught as surely as a damaged payload.

use crate::Lsn;

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 16;

/// Appends one encoded record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, lsn: Lsn, payload: &[u8]) {
    // The caller checked the payload against max_record_bytes, which is below u32::MAX.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes();
    let lsn = lsn.to_le_bytes();
    let crc = checksum(&len, &lsn, payload).to_le_bytes();
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc);
    buf.extend_from_slice(&lsn);
    buf.extend_from_slice(payload);
}

/// The result of reading a record at some offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole record with a matching checksum.
    Record {
        /// Its sequence number.
        lsn: Lsn,
        /// Its payload.
        payload: &'a [u8],
        /// Header plus payload.
        len: usize,
    },
    /// Not a valid record; the string says why.
    Bad(&'static str),
}

/// Decodes the record at the start of `buf`; `max_len` bounds the payload length.
pub(crate) fn decode(buf: &[u8], max_len: usize) -> Decoded<'_> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Decoded::Bad("incomplete record header");
    };
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut lsn_bytes = [0u8; 8];
    lsn_bytes.copy_from_slice(&header[8..16]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > max_len {
        return Decoded::Bad("record length exceeds the maximum record size");
    }
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Decoded::Bad("incomplete record payload");
    };
    if checksum(&len_bytes, &lsn_bytes, payload) != crc {
        return Decoded::Bad("checksum mismatch");
    }
    Decoded::Record { lsn: u64::from_le_bytes(lsn_bytes), payload, len: HEADER_LEN + len }
}

fn checksum(len: &[u8; 4], lsn: &[u8; 8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(lsn);
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let mut buf = Vec::new();
        encode(&mut buf, 7, b"hello");
        encode(&mut buf, 8, b"");
        assert_eq!(buf.len(), 2 * HEADER_LEN + 5);
        assert_eq!(decode(&buf, 100), Decoded::Record { lsn: 7, payload: b"hello", len: 21 });
        assert_eq!(decode(&buf[21..], 100), Decoded::Record { lsn: 8, payload: b"", len: 16 });

        assert_eq!(decode(&buf[..10], 100), Decoded::Bad("incomplete record header"));
        assert_eq!(decode(&buf[..20], 100), Decoded::Bad("incomplete record payload"));
        assert_eq!(decode(&buf, 4), Decoded::Bad("record length exceeds the maximum record size"));
        for i in 0..21 {
            let mut damaged = buf.clone();
            damaged[i] ^= 0x40;
            assert!(matches!(decode(&damaged, 100), Decoded::Bad(_)), "flip at byte {i} undetected");
        }
    }
}
