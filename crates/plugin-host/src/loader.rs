//! Loading a plugin library and the ABI handshake: map the file without a
//! path anyone else can reach, find the entry symbol, and check the table's
//! version and structure sizes before anything in it is called.
//!
//! **No path to hijack.** The file's bytes are read once from the plugin
//! directory and the library is mapped from that copy in memory: on Linux
//! a sealed `memfd` opened through `/proc/self/fd/N`; elsewhere a file in a
//! directory with a random name, mode 0700, whose owner is checked. So no
//! other local user can swap the library between the copy and the
//! `dlopen`, as one could while the copy lived at a path predictable from
//! the process id.
//!
//! **Bounded mappings.** A library is never unmapped (see
//! [`LoadedLibrary`]), so each distinct file mapped costs memory for the
//! life of the process. Libraries are keyed by the SHA-256 of their bytes:
//! loading or reloading an unchanged file reuses its mapping (a new
//! instance, no new mapping), including a load that is refused afterwards
//! (`ALREADY_EXISTS`) and a file that failed the handshake. At most
//! [`MAX_LIBRARIES`] distinct libraries are mapped per process; past that a
//! load is refused until a restart. The hash of every file loaded is
//! logged.
//!
//! **Immediate binding.** Libraries are opened with `RTLD_NOW`: one whose
//! symbols cannot all be resolved is refused at load, with the system
//! linker's message, instead of killing the process at its first call.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use libloading::os::unix::Library;
use rapport_plugin_api::abi::{
    RP_ABI_VERSION, RP_ENTRY_SYMBOL, RpEntryFn, RpEvent, RpHeader, RpMetricValue, RpPluginInfo, RpPluginV1,
    RpWindow,
};
use sha2::{Digest, Sha256};

use crate::error::PluginError;

/// Most distinct libraries (by content) one process maps. Each costs its
/// mapped size until the process exits; 64 builds of a plugin under
/// development is far more than a session needs, and far less than the
/// kernel's mapping limit.
pub(crate) const MAX_LIBRARIES: usize = 64;

/// Largest plugin file read, so a huge file in the plugin directory cannot
/// exhaust memory (plugins are a few MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// A checked v1 function table in a library that is never unloaded.
///
/// Unload policy: the host never calls `dlclose`. A library stays mapped
/// until the process exits, even after its plugin was unloaded or
/// replaced. Unmapping is unsound while any of its code may still run, and
/// that is hard to rule out: a call in flight on another thread, a
/// thread-local destructor a Rust plugin registered on a server thread, a
/// static string it handed out. Instances, by contrast, are destroyed
/// (through the plugin's `destroy`) as soon as the last `Arc` to their
/// adapter is gone, so no call is in flight then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadedLibrary {
    /// The plugin's function table; `'static` because the library is never
    /// unmapped.
    pub(crate) table: &'static RpPluginV1,
    /// SHA-256 of the file's bytes.
    pub(crate) sha256: Sha256Hex,
}

/// A SHA-256 digest, shown in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sha256Hex([u8; 32]);

impl std::fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Why a mapped library was refused, without the file's path (the same
/// bytes may be loaded again under another name).
#[derive(Clone, Debug)]
enum Refusal {
    NotAPlugin(String),
    AbiVersion { found: u32 },
    StructSize { structure: &'static str, found: u32, expected: u32 },
}

impl Refusal {
    fn into_error(self, origin: &Path) -> PluginError {
        let path = origin.to_owned();
        match self {
            Refusal::NotAPlugin(message) => PluginError::NotAPlugin { path, message },
            Refusal::AbiVersion { found } => {
                PluginError::AbiVersion { path, found, expected: RP_ABI_VERSION }
            }
            Refusal::StructSize { structure, found, expected } => {
                PluginError::StructSize { path, structure, found, expected }
            }
        }
    }
}

/// Every library mapped by this process, by content: the handshake's
/// outcome, kept because the mapping is.
#[derive(Default)]
struct Mapped {
    by_hash: HashMap<Sha256Hex, Result<LoadedLibrary, Refusal>>,
}

static MAPPED: Mutex<Option<Mapped>> = Mutex::new(None);

/// Loads the library at `origin` (a file in the plugin directory): maps it
/// unless a file with the same bytes already is, and checks its table
/// (version first, then every structure size).
pub(crate) fn load_library(origin: &Path) -> Result<LoadedLibrary, PluginError> {
    let bytes = read_file(origin)?;
    let sha256 = Sha256Hex(Sha256::digest(&bytes).into());
    // Held while mapping, so two loads of the same bytes map it once.
    let mut guard = MAPPED.lock().unwrap_or_else(PoisonError::into_inner);
    let mapped = guard.get_or_insert_with(Mapped::default);
    if let Some(known) = mapped.by_hash.get(&sha256) {
        tracing::info!(file = %origin.display(), %sha256, "plugin library already mapped: reused");
        return known.clone().map_err(|refusal| refusal.into_error(origin));
    }
    if mapped.by_hash.len() >= MAX_LIBRARIES {
        return Err(PluginError::TooManyLibraries { path: origin.to_owned(), limit: MAX_LIBRARIES });
    }
    let library = private::open(&bytes, origin)?;
    tracing::info!(file = %origin.display(), %sha256, bytes = bytes.len(), "plugin library mapped");
    let checked = handshake(library, sha256);
    mapped.by_hash.insert(sha256, checked.clone());
    checked.map_err(|refusal| refusal.into_error(origin))
}

fn read_file(origin: &Path) -> Result<Vec<u8>, PluginError> {
    let file_error = |source| PluginError::File { path: origin.to_owned(), source };
    let file = std::fs::File::open(origin).map_err(file_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(file_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(file_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024)),
        )));
    }
    Ok(bytes)
}

/// The dynamic linker's message, with the private path it was given
/// replaced by the author's file.
fn linker_message(error: &libloading::Error, private: &str, origin: &Path) -> String {
    error.to_string().replace(private, &origin.display().to_string())
}

/// Finds the entry symbol of a freshly mapped `library`, keeps the library
/// mapped for good, and checks the table it returns.
fn handshake(library: Library, sha256: Sha256Hex) -> Result<LoadedLibrary, Refusal> {
    let symbol = format!("{RP_ENTRY_SYMBOL}\0");
    // SAFETY: the symbol is declared with the ABI's entry signature.
    let entry = unsafe { library.get::<RpEntryFn>(symbol.as_bytes()) }.map(|entry| *entry);
    // Never unloaded, even when refused: see `LoadedLibrary`. Its
    // initialisers have run, and may have left code to run later.
    std::mem::forget(library);
    let entry = entry.map_err(|e| Refusal::NotAPlugin(format!("no {RP_ENTRY_SYMBOL} symbol ({e})")))?;
    // SAFETY: the entry point takes no arguments and returns a pointer.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(Refusal::NotAPlugin(format!("{RP_ENTRY_SYMBOL} returned no table")));
    }
    // Read only the header first: a table of another version may be shorter.
    // SAFETY: every version of the table starts with this header, and the
    // library stays mapped forever.
    let header: RpHeader = unsafe { table.cast::<RpHeader>().read() };
    if header.abi_version != RP_ABI_VERSION {
        return Err(Refusal::AbiVersion { found: header.abi_version });
    }
    check_size("rp_plugin_v1", header.struct_size, size_of::<RpPluginV1>())?;
    // SAFETY: version and size match, so the pointer is to a whole table in
    // a library that is never unmapped.
    let table: &'static RpPluginV1 = unsafe { &*table };
    check_size("rp_event", table.event_size, size_of::<RpEvent>())?;
    check_size("rp_metric_value", table.metric_value_size, size_of::<RpMetricValue>())?;
    check_size("rp_plugin_info", table.info_size, size_of::<RpPluginInfo>())?;
    check_size("rp_window", table.window_size, size_of::<RpWindow>())?;
    Ok(LoadedLibrary { table, sha256 })
}

fn check_size(structure: &'static str, found: u32, expected: usize) -> Result<(), Refusal> {
    if usize::try_from(found).ok() == Some(expected) {
        return Ok(());
    }
    Err(Refusal::StructSize { structure, found, expected: u32::try_from(expected).unwrap_or(u32::MAX) })
}

/// Linux: the library is mapped from a sealed memfd, never from a path.
#[cfg(target_os = "linux")]
mod private {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    use rustix::fs::{MemfdFlags, SealFlags};

    use super::linker_message;
    use crate::error::PluginError;

    /// Writes `bytes` to a sealed in-memory file and maps it with immediate
    /// binding.
    ///
    /// The memfd is kept open for the life of the process (one descriptor
    /// per distinct library, bounded by `MAX_LIBRARIES`): the dynamic
    /// linker knows a library by the name it was opened under, so were
    /// `/proc/self/fd/N` to name another file later, a new `dlopen` of
    /// that name would be handed the old library.
    pub(super) fn open(bytes: &[u8], origin: &Path) -> Result<Library, PluginError> {
        let io_error = |source: std::io::Error| PluginError::File { path: origin.to_owned(), source };
        let fd = rustix::fs::memfd_create(c"rapport-plugin", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(|e| io_error(e.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(io_error)?;
        // Nobody, not even this process, can change the bytes now.
        rustix::fs::fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| io_error(e.into()))?;
        let name = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: loading runs the library's initialisers; only files from
        // the operator's plugin directory are loaded, trusted code by design.
        let library = unsafe { Library::open(Some(&name), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
            PluginError::NotALibrary { path: origin.to_owned(), message: linker_message(&e, &name, origin) }
        })?;
        // Kept open for good: see above.
        std::mem::forget(file);
        Ok(library)
    }
}

/// Other Unix systems: a private copy in a directory with a random name
/// and mode 0700, whose owner is checked before the copy is written.
#[cfg(not(target_os = "linux"))]
mod private {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::path::Path;

    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

    use super::linker_message;
    use crate::error::PluginError;

    pub(super) fn open(bytes: &[u8], origin: &Path) -> Result<Library, PluginError> {
        let io_error = |source: std::io::Error| PluginError::File { path: origin.to_owned(), source };
        let dir = tempfile::Builder::new()
            .prefix("rapport-plugin-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(io_error)?;
        let meta = std::fs::symlink_metadata(dir.path()).map_err(io_error)?;
        if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o077 != 0 {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} is not a private directory of this user", dir.path().display()),
            )));
        }
        let copy = dir.path().join(format!("plugin{}", std::env::consts::DLL_SUFFIX));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o500)
            .open(&copy)
            .map_err(io_error)?;
        file.write_all(bytes).map_err(io_error)?;
        drop(file);
        let name = copy.display().to_string();
        // SAFETY: as on Linux.
        let library = unsafe { Library::open(Some(&copy), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
            PluginError::NotALibrary { path: origin.to_owned(), message: linker_message(&e, &name, origin) }
        })?;
        // The mapping outlives the file and its directory (removed on drop).
        Ok(library)
    }
}
