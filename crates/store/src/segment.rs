//! Segment files: naming, listing, creating, and syncing the directory that holds them.
//!
//! A segment is named after the LSN of its first record (`00000000000000000001.seg`), so the
//! log's extent is known from a directory listing without reading any file. Two formats, told
//! apart by the name:
//!
//! - `.seg` (format 2, written now): a header (header.rs) with the acknowledgement mark, then
//!   records. Created under a temporary name and renamed once its header is synced, so a
//!   `.seg` file without a whole header was damaged after the fact, never left by a crash;
//! - `.wal` (format 1, written before the header existed): records only. Still read, never
//!   appended to: the first start on such a log continues it in a new `.seg`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::header::{self, Mark};
use crate::{Lsn, StoreError};

const EXTENSION: &str = "seg";
const FORMAT_1_EXTENSION: &str = "wal";
const TMP_EXTENSION: &str = "tmp";

/// Which layout a segment file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Format {
    /// `.wal`: records only, no header, no acknowledgement mark.
    Records,
    /// `.seg`: header with the acknowledgement mark, then records.
    Headed,
}

/// One segment file as listed in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// LSN of the first record this file holds (or would hold, when empty).
    pub(crate) first_lsn: Lsn,
    /// Its path.
    pub(crate) path: PathBuf,
    /// Its layout.
    pub(crate) format: Format,
}

impl SegmentFile {
    /// Byte offset of the first record.
    pub(crate) fn records_start(&self) -> usize {
        match self.format {
            Format::Records => 0,
            Format::Headed => header::HEADER_LEN,
        }
    }
}

/// The path of the (format 2) segment starting at `first_lsn`.
pub(crate) fn path_for(dir: &Path, first_lsn: Lsn) -> PathBuf {
    dir.join(format!("{first_lsn:020}.{EXTENSION}"))
}

/// Segments in `dir`, oldest first (a format-1 file before a format-2 one of the same first
/// LSN, which is how an upgrade continues an empty old segment). Other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>, StoreError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io("list log directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list log directory", dir, e))?;
        let path = entry.path();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(EXTENSION) => Format::Headed,
            Some(FORMAT_1_EXTENSION) => Format::Records,
            _ => continue,
        };
        // LSNs start at 1: a file named 0 was not written by the store.
        let Some(first_lsn) =
            path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).filter(|&lsn| lsn > 0)
        else {
            continue;
        };
        segments.push(SegmentFile { first_lsn, path, format });
    }
    segments.sort_by_key(|s| (s.first_lsn, s.format));
    Ok(segments)
}

/// Creates the segment starting at `first_lsn`, header included, and makes it durable: the
/// header is written and synced under a temporary name, then renamed into place and the
/// directory synced (`sync` false skips the syncs, for `FsyncPolicy::Never`). Returns the file
/// positioned after the header.
pub(crate) fn create(dir: &Path, first_lsn: Lsn, sync: bool) -> Result<File, StoreError> {
    let path = path_for(dir, first_lsn);
    if path.exists() {
        // Recovery never starts a segment where one is (it continues that one instead); if it
        // did, the rename below would replace the file, records and all.
        let exists = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a segment by that name exists");
        return Err(StoreError::io("create segment", &path, exists));
    }
    let tmp = path.with_extension(TMP_EXTENSION);
    let write = || -> std::io::Result<File> {
        let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&tmp)?;
        file.write_all(&header::new_segment(first_lsn))?;
        if sync {
            file.sync_all()?;
        }
        Ok(file)
    };
    let file = match write() {
        Ok(file) => file,
        Err(err) => {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io("create segment", &tmp, err));
        }
    };
    fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename new segment", &path, e))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Writes `mark` into its slot of the (format 2) segment open as `file`, leaving the file's
/// position (where the next record goes) as it was. Not synced.
pub(crate) fn write_mark(file: &mut File, mark: Mark) -> std::io::Result<()> {
    let (offset, slot) = header::encode_mark(mark);
    write_at(file, &slot, offset)
}

#[cfg(unix)]
fn write_at(file: &mut File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_at(file: &mut File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let resume = file.stream_position()?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(resume)).map(|_| ())
}

/// Opens an existing segment for appending at its end.
pub(crate) fn open_for_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io("open segment", path, e))
}

/// Makes creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io("sync directory", dir, e))
}

/// Deletes segments a crash left half-created (they never held a record).
pub(crate) fn remove_temporaries(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("list log directory", dir, e))? {
        let path = entry.map_err(|e| StoreError::io("list log directory", dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(TMP_EXTENSION) {
            fs::remove_file(&path).map_err(|e| StoreError::io("delete unfinished segment", &path, e))?;
        }
    }
    Ok(())
}

/// Deletes the segments that hold only records below `lsn`, never the newest one (it carries
/// the next LSN in its name). Returns how many were deleted.
pub(crate) fn delete_below(dir: &Path, lsn: Lsn) -> Result<usize, StoreError> {
    let segments = list(dir)?;
    let mut deleted = 0;
    for pair in segments.windows(2) {
        // Every record of pair[0] is below the first LSN of pair[1].
        if pair[1].first_lsn <= lsn {
            fs::remove_file(&pair[0].path).map_err(|e| StoreError::io("delete segment", &pair[0].path, e))?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        sync_dir(dir)?;
    }
    Ok(deleted)
}
