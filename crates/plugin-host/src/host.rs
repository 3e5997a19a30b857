//! The set of loaded plugins: load, reload, unload, status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rapport_engine::{Scorer, SurveySettings};

use crate::adapter::PluginScorer;
use crate::error::PluginError;
use crate::status::PluginStatus;

/// Where plugins come from and how failures are handled.
#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    /// The plugin directory: only files inside it are loaded.
    pub dir: PathBuf,
    /// Where loaded copies of plugin files go; a fresh directory under the
    /// system temporary directory when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Failing calls in a row after which a plugin is disabled.
    pub failure_threshold: u32,
    /// Survey scale defaults, so plugins see the same resolved scale of a
    /// survey response as the built-in survey scorers.
    pub surveys: SurveySettings,
}

impl HostConfig {
    /// Plugins from `dir`, disabled after 100 failing calls in a row.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            dir: dir.into(),
            cache_dir: None,
            failure_threshold: 100,
            surveys: SurveySettings::default(),
        }
    }
}

/// The loaded plugins. Share it behind an `Arc`; every method takes `&self`.
///
/// Each load first copies the file into a private cache directory under a
/// unique name and loads the copy. Two reasons: the system loader returns
/// the already-loaded library for a path it has seen, so a reload of a new
/// build at the same path would silently keep the old code; and a plugin
/// file overwritten in place while mapped crashes the process, which a
/// private copy rules out.
#[derive(Debug)]
pub struct PluginHost {
    dir: PathBuf,
    cache_dir: PathBuf,
    failure_threshold: u32,
    surveys: SurveySettings,
    plugins: Mutex<BTreeMap<String, Arc<PluginScorer>>>,
}

impl PluginHost {
    /// A host for `config.dir`, which must exist.
    pub fn new(config: HostConfig) -> Result<Self, PluginError> {
        let dir = config
            .dir
            .canonicalize()
            .map_err(|source| PluginError::Directory { path: config.dir.clone(), source })?;
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("rapport-plugins-{}", std::process::id())));
        std::fs::create_dir_all(&cache_dir)
            .map_err(|source| PluginError::Directory { path: cache_dir.clone(), source })?;
        Ok(PluginHost {
            dir,
            cache_dir,
            failure_threshold: config.failure_threshold,
            surveys: config.surveys.clone(),
            plugins: Mutex::new(BTreeMap::new()),
        })
    }

    /// The plugin directory, resolved.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn plugins(&self) -> MutexGuard<'_, BTreeMap<String, Arc<PluginScorer>>> {
        self.plugins.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Resolves `path` (relative to the plugin directory if relative) and
    /// refuses anything outside the directory, symbolic links included.
    fn resolve(&self, path: &Path) -> Result<PathBuf, PluginError> {
        let joined = if path.is_absolute() { path.to_owned() } else { self.dir.join(path) };
        let resolved =
            joined.canonicalize().map_err(|source| PluginError::File { path: joined.clone(), source })?;
        if !resolved.starts_with(&self.dir) {
            return Err(PluginError::OutsideDirectory { path: resolved, dir: self.dir.clone() });
        }
        if !resolved.is_file() {
            return Err(PluginError::File {
                path: resolved,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        Ok(resolved)
    }

    /// Loads a private copy of `origin` (see [`PluginHost`]).
    fn load_copy(&self, origin: &Path) -> Result<Arc<PluginScorer>, PluginError> {
        let copy = write_private_copy(origin, &self.cache_dir)?;
        let loaded = PluginScorer::load(&copy, origin, "", self.failure_threshold, self.surveys.clone());
        // The mapping stays valid after the file is gone.
        let _ = std::fs::remove_file(&copy);
        loaded
    }

    /// Loads the plugin at `path` (relative to the plugin directory, or
    /// absolute inside it).
    pub fn load(&self, path: &Path) -> Result<Arc<PluginScorer>, PluginError> {
        let origin = self.resolve(path)?;
        let plugin = self.load_copy(&origin)?;
        let mut plugins = self.plugins();
        let name = plugin.spec().name.clone();
        if plugins.contains_key(&name) {
            return Err(PluginError::AlreadyLoaded(name));
        }
        tracing::info!(plugin = %name, version = %plugin.spec().version, path = %origin.display(), "plugin loaded");
        plugins.insert(name, Arc::clone(&plugin));
        Ok(plugin)
    }

    /// Loads every shared library in the plugin directory, in name order.
    /// One plugin failing does not stop the others.
    pub fn load_dir(&self) -> Result<Vec<Result<Arc<PluginScorer>, PluginError>>, PluginError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|source| PluginError::Directory { path: self.dir.clone(), source })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.to_str().is_some_and(|s| s.ends_with(std::env::consts::DLL_SUFFIX)))
            .collect();
        paths.sort();
        Ok(paths.iter().map(|path| self.load(path)).collect())
    }

    /// Loads the file of plugin `name` again (typically a new build) and
    /// replaces the running instance. The new version must keep the name.
    /// Calls in flight finish on the old instance, which is destroyed when
    /// the last of them lets go.
    pub fn reload(&self, name: &str) -> Result<Arc<PluginScorer>, PluginError> {
        let origin =
            self.get(name).ok_or_else(|| PluginError::UnknownPlugin(name.to_owned()))?.path().to_owned();
        let plugin = self.load_copy(&origin)?;
        if plugin.spec().name != name {
            return Err(PluginError::Metadata {
                path: origin,
                message: format!("the new build is named {:?}, not {name:?}", plugin.spec().name),
            });
        }
        tracing::info!(plugin = %name, version = %plugin.spec().version, path = %origin.display(), "plugin reloaded");
        self.plugins().insert(name.to_owned(), Arc::clone(&plugin));
        Ok(plugin)
    }

    /// Removes plugin `name`. Its instance is destroyed once the engine and
    /// every call in flight let go of it; its library stays mapped.
    pub fn unload(&self, name: &str) -> Result<Arc<PluginScorer>, PluginError> {
        let plugin =
            self.plugins().remove(name).ok_or_else(|| PluginError::UnknownPlugin(name.to_owned()))?;
        tracing::info!(plugin = %name, "plugin unloaded");
        Ok(plugin)
    }

    /// Puts `plugin` back under its name, replacing the instance loaded
    /// under it if any: rolls back a [`reload`](Self::reload) whose new
    /// version the caller (the engine) refused.
    pub fn restore(&self, plugin: Arc<PluginScorer>) {
        let name = plugin.spec().name.clone();
        tracing::info!(plugin = %name, version = %plugin.spec().version, "plugin restored");
        self.plugins().insert(name, plugin);
    }

    /// Plugin `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<PluginScorer>> {
        self.plugins().get(name).cloned()
    }

    /// Every loaded plugin as an engine scorer, in name order: pass them
    /// with the built-ins to `Engine::new` or `Engine::set_scorers`.
    pub fn scorers(&self) -> Vec<Arc<dyn Scorer>> {
        self.plugins().values().map(|p| Arc::clone(p) as Arc<dyn Scorer>).collect()
    }

    /// The status of every loaded plugin, in name order.
    pub fn status(&self) -> Vec<PluginStatus> {
        self.plugins().values().map(|p| p.status()).collect()
    }
}

/// Copies are numbered per process, not per host: several hosts in one
/// process share the default cache directory, and a copy written over a
/// file that another host has mapped would crash the process (a test
/// binary running hosts in parallel did exactly that).
static COPIES: AtomicU64 = AtomicU64::new(0);

/// Copies `origin` into `cache_dir` under a name no file has there yet, and
/// returns the copy's path. The file is created exclusively, so even a
/// stale directory left by an earlier process with the same id never has a
/// mapped file overwritten.
fn write_private_copy(origin: &Path, cache_dir: &Path) -> Result<PathBuf, PluginError> {
    let stem = origin.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin");
    let mut source = std::fs::File::open(origin)
        .map_err(|source| PluginError::File { path: origin.to_owned(), source })?;
    loop {
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let copy = cache_dir.join(format!("{stem}-{n}{}", std::env::consts::DLL_SUFFIX));
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&copy);
        let mut file = match file {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(PluginError::File { path: copy, source }),
        };
        std::io::copy(&mut source, &mut file)
            .map_err(|source| PluginError::File { path: copy.clone(), source })?;
        return Ok(copy);
    }
}
