//! The data directory's lock: one process at a time.
//!
//! Two writers on one log would each number records from their own idea of the next LSN and
//! write over each other's segments, so acknowledged records of one are lost when the other's
//! are read back. `<dir>/LOCK` is held with an exclusive OS file lock (`flock` on Unix,
//! `LockFileEx` on Windows, through `File::try_lock`) for as long as the store is open, and
//! holds the pid of the process that has it, so a refused second process can name the first.
//! The OS drops the lock when its holder exits, however it exits (a SIGKILL included), so a
//! stale file is simply taken over.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Name of the lock file inside the data directory.
pub(crate) const FILE_NAME: &str = "LOCK";

/// A held lock on a data directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct DirLock {
    /// Kept open: closing it would release the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist) without waiting, and writes this process's
    /// pid into it. Fails with [`StoreError::Locked`] when another process (or another store in
    /// this process) holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io("open lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { dir: dir.to_path_buf(), holder: holder(&mut file) });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io("lock", &path, e)),
        }
        // Ours now: replace whatever pid a previous holder left behind.
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
            file.flush()
        };
        write_pid(&mut file).map_err(|e| StoreError::io("write lock file", &path, e))?;
        Ok(DirLock { _file: file })
    }
}

/// The pid the holder wrote, if it can be read (it may be mid-write, or unreadable on systems
/// whose locks also block reads).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The lock file's path for `dir`, for messages.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}
