//! The set of loaded plugins: load, reload, unload, status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Failing calls in a row after which a plugin is disabled.
    pub failure_threshold: u32,
    /// Survey scale defaults, so plugins see the same resolved scale of a
    /// survey response as the built-in survey scorers.
    pub surveys: SurveySettings,
}

impl HostConfig {
    /// Plugins from `dir`, disabled after 100 failing calls in a row.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HostConfig { dir: dir.into(), failure_threshold: 100, surveys: SurveySettings::default() }
    }
}

/// The loaded plugins. Share it behind an `Arc`; every method takes `&self`.
///
/// Each load reads the file's bytes and maps them from memory (see
/// `loader.rs`), never from the file itself. Three reasons: the system
/// loader returns the already-loaded library for a path it has seen, so a
/// reload of a new build at the same path would silently keep the old code;
/// a plugin file overwritten in place while mapped crashes the process; and
/// a copy at a path another local user can reach could be swapped before
/// it is mapped.
#[derive(Debug)]
pub struct PluginHost {
    dir: PathBuf,
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
        Ok(PluginHost {
            dir,
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

    /// Loads `origin` (see [`PluginHost`]) and creates an instance.
    fn load_copy(&self, origin: &Path) -> Result<Arc<PluginScorer>, PluginError> {
        PluginScorer::load(origin, "", self.failure_threshold, self.surveys.clone())
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
