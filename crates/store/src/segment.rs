//! Segment files: naming, listing, creating, and syncing the directory that holds them.
//!
//! A segment is named after the LSN of its first record (`00000000000000000001.wal`), so the
//! log's extent is known from a directory listing without reading any file.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Lsn, StoreError};

const EXTENSION: &str = "wal";

/// One segment file as listed in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// LSN of the first record this file holds (or would hold, when empty).
    pub(crate) first_lsn: Lsn,
    /// Its path.
    pub(crate) path: PathBuf,
}

/// The path of the segment starting at `first_lsn`.
pub(crate) fn path_for(dir: &Path, first_lsn: Lsn) -> PathBuf {
    dir.join(format!("{first_lsn:020}.{EXTENSION}"))
}

/// Segments in `dir`, oldest first. Files that are not segments are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>, StoreError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io("list log directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list log directory", dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        // LSNs start at 1: a file named 0 was not written by the store.
        let Some(first_lsn) =
            path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).filter(|&lsn| lsn > 0)
        else {
            continue;
        };
        segments.push(SegmentFile { first_lsn, path });
    }
    segments.sort_by_key(|s| s.first_lsn);
    Ok(segments)
}

/// Creates the empty segment starting at `first_lsn` and makes its name durable.
pub(crate) fn create(dir: &Path, first_lsn: Lsn, sync: bool) -> Result<File, StoreError> {
    let path = path_for(dir, first_lsn);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("create segment", &path, e))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Opens an existing segment for appending at its end.
pub(crate) fn open_for_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io("open segment", path, e))
}

/// Makes creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io("sync directory", dir, e))
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
