//! Loading a plugin library and the ABI handshake: map the file, find the
//! entry symbol, and check the table's version and structure sizes before
//! anything in it is called.

use std::path::Path;

use libloading::Library;
use rapport_plugin_api::abi::{
    RP_ABI_VERSION, RP_ENTRY_SYMBOL, RpEntryFn, RpEvent, RpHeader, RpMetricValue, RpPluginInfo, RpPluginV1,
    RpWindow,
};

use crate::error::PluginError;

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
}

/// Maps the library at `path`, calls its entry symbol and checks the table
/// it returns (version first, then every structure size).
pub(crate) fn load_library(path: &Path) -> Result<LoadedLibrary, PluginError> {
    // SAFETY: loading runs the library's initialisers; we only load files
    // from the operator's plugin directory, which is trusted code by design.
    let library = unsafe { Library::new(path) }
        .map_err(|e| PluginError::NotALibrary { path: path.to_owned(), message: e.to_string() })?;
    let symbol = format!("{RP_ENTRY_SYMBOL}\0");
    // SAFETY: the symbol is declared with the ABI's entry signature.
    let entry: RpEntryFn = match unsafe { library.get::<RpEntryFn>(symbol.as_bytes()) } {
        Ok(entry) => *entry,
        Err(e) => {
            return Err(PluginError::NotAPlugin {
                path: path.to_owned(),
                message: format!("no {RP_ENTRY_SYMBOL} symbol ({e})"),
            });
        }
    };
    // Never unloaded: see `LoadedLibrary`.
    std::mem::forget(library);
    // SAFETY: the entry point takes no arguments and returns a pointer.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(PluginError::NotAPlugin {
            path: path.to_owned(),
            message: format!("{RP_ENTRY_SYMBOL} returned no table"),
        });
    }
    // Read only the header first: a table of another version may be shorter.
    // SAFETY: every version of the table starts with this header, and the
    // library stays mapped forever.
    let header: RpHeader = unsafe { table.cast::<RpHeader>().read() };
    if header.abi_version != RP_ABI_VERSION {
        return Err(PluginError::AbiVersion {
            path: path.to_owned(),
            found: header.abi_version,
            expected: RP_ABI_VERSION,
        });
    }
    check_size(path, "rp_plugin_v1", header.struct_size, size_of::<RpPluginV1>())?;
    // SAFETY: version and size match, so the pointer is to a whole table in
    // a library that is never unmapped.
    let table: &'static RpPluginV1 = unsafe { &*table };
    check_size(path, "rp_event", table.event_size, size_of::<RpEvent>())?;
    check_size(path, "rp_metric_value", table.metric_value_size, size_of::<RpMetricValue>())?;
    check_size(path, "rp_plugin_info", table.info_size, size_of::<RpPluginInfo>())?;
    check_size(path, "rp_window", table.window_size, size_of::<RpWindow>())?;
    Ok(LoadedLibrary { table })
}

fn check_size(path: &Path, structure: &'static str, found: u32, expected: usize) -> Result<(), PluginError> {
    if usize::try_from(found).ok() == Some(expected) {
        return Ok(());
    }
    Err(PluginError::StructSize {
        path: path.to_owned(),
        structure,
        found,
        expected: u32::try_from(expected).unwrap_or(u32::MAX),
    })
}
