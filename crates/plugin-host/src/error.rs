//! Why a plugin could not be loaded or managed.

use std::path::PathBuf;

/// A plugin was refused, or an operation on plugins failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin directory is missing or unusable.
    #[error("plugin directory {path}: {source}")]
    Directory {
        /// The configured directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file does not exist or cannot be read.
    #[error("plugin file {path}: {source}")]
    File {
        /// The requested path.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Only files inside the plugin directory may be loaded.
    #[error("{path} is outside the plugin directory {dir}")]
    OutsideDirectory {
        /// The requested path, resolved.
        path: PathBuf,
        /// The plugin directory, resolved.
        dir: PathBuf,
    },
    /// The system loader refused the file: not a shared library for this
    /// platform, or missing dependencies.
    #[error("{path} is not a loadable shared library: {message}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library has no `rapport_plugin_v1` entry symbol, or it returned
    /// nothing.
    #[error("{path} is not a rapport plugin: {message}")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// The plugin speaks another ABI version.
    #[error("{path} speaks plugin ABI version {found}; this server speaks version {expected}")]
    AbiVersion {
        /// The file.
        path: PathBuf,
        /// The plugin's version.
        found: u32,
        /// The host's version.
        expected: u32,
    },
    /// A structure has another size in the plugin than in the host: built
    /// against a different header.
    #[error(
        "{path}: size of {structure} is {found} in the plugin, {expected} in the host; rebuild it against this version's header"
    )]
    StructSize {
        /// The file.
        path: PathBuf,
        /// Which structure.
        structure: &'static str,
        /// The plugin's size.
        found: u32,
        /// The host's size.
        expected: u32,
    },
    /// The plugin's `create` failed.
    #[error("{path}: plugin failed to start: {message}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The plugin's message.
        message: String,
    },
    /// The plugin's metadata is unusable (empty name, unknown slot kind, ...).
    #[error("{path}: invalid plugin metadata: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// This process has mapped as many distinct plugin libraries as it
    /// may (libraries are never unmapped; see the loader).
    #[error(
        "{path}: this server has already mapped {limit} distinct plugin libraries, its limit; \
         restart it to load another build (loading an unchanged file again maps nothing new)"
    )]
    TooManyLibraries {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// A plugin of this name is already loaded.
    #[error("a plugin named {0:?} is already loaded; reload or unload it first")]
    AlreadyLoaded(String),
    /// No plugin of this name is loaded.
    #[error("no plugin named {0:?} is loaded")]
    UnknownPlugin(String),
}
