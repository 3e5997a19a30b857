//! `rapport.v1.PluginService`, and [`Plugins`], the scorer plugins a server
//! runs with beside the built-in scorers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rapport_engine::{Engine, EngineConfig, Scorer, scorers};
use rapport_plugin_host::{HostConfig, PluginHost, PluginStatus};
use tonic::{Request, Response, Status};

use crate::auth::tenant_of;
use crate::config::Settings;
use crate::proto::plugin_service_server::PluginService;
use crate::subscribe::Targets;
use crate::{convert, proto, status};

/// The scorers a server runs: the built-ins, then the loaded plugins.
///
/// Every change (load, reload, unload) changes the host and swaps the
/// engine's scorers as one step under a lock, so two concurrent changes
/// cannot leave the engine with a stale set; if the engine refuses the new
/// set (a metric name already taken), the host change is rolled back.
pub struct Plugins {
    host: Option<PluginHost>,
    builtin: Vec<Arc<dyn Scorer>>,
    changes: Mutex<()>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").field("host", &self.host).finish_non_exhaustive()
    }
}

impl Plugins {
    /// The built-in scorers, plus the plugins of `settings.plugins.dir` if
    /// set. A plugin that fails to load, or whose name or metrics clash
    /// with those already registered, is logged and skipped; a plugin
    /// directory that cannot be read is an error.
    pub fn start(settings: &Settings) -> anyhow::Result<Plugins> {
        let builtin = scorers::builtin(&settings.engine.surveys);
        let Some(dir) = &settings.plugins.dir else {
            return Ok(Plugins { host: None, builtin, changes: Mutex::new(()) });
        };
        let host = PluginHost::new(HostConfig {
            dir: dir.clone(),
            failure_threshold: settings.plugins.failure_threshold,
            surveys: settings.engine.surveys.clone(),
        })
        .with_context(|| format!("opening the plugin directory {}", dir.display()))?;
        let loaded =
            host.load_dir().with_context(|| format!("reading the plugin directory {}", dir.display()))?;
        for result in loaded {
            if let Err(error) = result {
                tracing::warn!(%error, "plugin not loaded");
            }
        }
        // Admit the plugins one by one, in name order, by the engine's own
        // rules (unique scorer and metric names).
        let mut accepted = builtin.clone();
        for plugin in host.scorers() {
            let mut candidate = accepted.clone();
            candidate.push(Arc::clone(&plugin));
            match Engine::new(EngineConfig::default(), candidate) {
                Ok(_) => accepted.push(plugin),
                Err(error) => {
                    let name = &plugin.spec().name;
                    tracing::warn!(plugin = %name, %error, "plugin not loaded");
                    let _ = host.unload(name);
                }
            }
        }
        tracing::info!(dir = %host.dir().display(), plugins = host.status().len(), "plugins loaded");
        Ok(Plugins { host: Some(host), builtin, changes: Mutex::new(()) })
    }

    /// Built-in scorers then plugins, for `Engine::new`.
    pub fn scorers(&self) -> Vec<Arc<dyn Scorer>> {
        let mut scorers = self.builtin.clone();
        if let Some(host) = &self.host {
            scorers.extend(host.scorers());
        }
        scorers
    }

    /// The resolved plugin directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.host.as_ref().map(PluginHost::dir)
    }

    /// Status of every loaded plugin, in name order.
    pub fn status(&self) -> Vec<PluginStatus> {
        self.host.as_ref().map(PluginHost::status).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn host(&self) -> Result<&PluginHost, Status> {
        self.host.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this server has no plugin directory (set plugin_dir to load plugins)",
            )
        })
    }

    /// Loads the plugin at `path` and registers its metrics in `engine`.
    pub fn load(&self, engine: &Engine, path: &Path) -> Result<PluginStatus, Status> {
        let host = self.host()?;
        let _guard = self.lock();
        let plugin = host.load(path).map_err(status::from_plugin_error)?;
        if let Err(error) = engine.set_scorers(self.scorers()) {
            let _ = host.unload(&plugin.spec().name);
            return Err(status::from_registry_error(error));
        }
        Ok(plugin.status())
    }

    /// Reloads plugin `name` from its file; returns its new status and the
    /// version that ran before.
    pub fn reload(&self, engine: &Engine, name: &str) -> Result<(PluginStatus, String), Status> {
        let host = self.host.as_ref().ok_or_else(|| unknown(name))?;
        let _guard = self.lock();
        let previous = host.get(name).ok_or_else(|| unknown(name))?;
        let plugin = host.reload(name).map_err(status::from_plugin_error)?;
        if let Err(error) = engine.set_scorers(self.scorers()) {
            host.restore(Arc::clone(&previous));
            return Err(status::from_registry_error(error));
        }
        Ok((plugin.status(), previous.spec().version.clone()))
    }

    /// Unloads plugin `name`: its metrics leave `engine`.
    pub fn unload(&self, engine: &Engine, name: &str) -> Result<PluginStatus, Status> {
        let host = self.host.as_ref().ok_or_else(|| unknown(name))?;
        let _guard = self.lock();
        let plugin = host.unload(name).map_err(status::from_plugin_error)?;
        if let Err(error) = engine.set_scorers(self.scorers()) {
            host.restore(Arc::clone(&plugin));
            return Err(status::from_registry_error(error));
        }
        Ok(plugin.status())
    }
}

fn unknown(name: &str) -> Status {
    status::from_plugin_error(rapport_plugin_host::PluginError::UnknownPlugin(name.to_owned()))
}

/// Serves plugin administration over gRPC.
pub struct PluginApi {
    plugins: Arc<Plugins>,
    engine: Arc<Engine>,
    targets: Targets,
}

impl PluginApi {
    /// A service changing `plugins` and the scorers of `engine`; `targets`
    /// are the configured ones, to warn when a change leaves one without
    /// its metric.
    pub fn new(plugins: Arc<Plugins>, engine: Arc<Engine>, targets: Targets) -> Self {
        PluginApi { plugins, engine, targets }
    }

    /// Runs a plugin change off the async workers: loading a library and
    /// starting a plugin may block.
    async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Plugins, &Engine) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let plugins = Arc::clone(&self.plugins);
        let engine = Arc::clone(&self.engine);
        let changed = tokio::task::spawn_blocking(move || f(&plugins, &engine))
            .await
            .map_err(|e| Status::internal(format!("plugin change failed: {e}")))??;
        self.warn_of_dormant_targets();
        Ok(changed)
    }

    /// An unload (or a reload whose new build dropped a metric) is allowed
    /// even when a target names one of the plugin's metrics: refusing it
    /// would keep a failing plugin running until a restart. The target stays
    /// configured and applies again once a plugin provides the metric; until
    /// then queries of the metric are `NOT_FOUND`, and a restart without it
    /// refuses the target.
    fn warn_of_dormant_targets(&self) {
        let dormant = self.targets.dormant(&self.engine);
        if !dormant.is_empty() {
            tracing::warn!(
                metrics = ?dormant,
                "targets on metrics no loaded plugin provides: they apply again once a plugin \
                 provides the metric, and a restart without one refuses them"
            );
        }
    }
}

#[tonic::async_trait]
impl PluginService for PluginApi {
    async fn list_plugins(
        &self,
        request: Request<proto::ListPluginsRequest>,
    ) -> Result<Response<proto::ListPluginsResponse>, Status> {
        tenant_of(&request)?;
        Ok(Response::new(proto::ListPluginsResponse {
            plugins: self.plugins.status().into_iter().map(convert::plugin_info).collect(),
            plugin_dir: self.plugins.dir().map(|d| d.display().to_string()).unwrap_or_default(),
        }))
    }

    async fn load_plugin(
        &self,
        request: Request<proto::LoadPluginRequest>,
    ) -> Result<Response<proto::LoadPluginResponse>, Status> {
        tenant_of(&request)?;
        let path = PathBuf::from(request.into_inner().path);
        if path.as_os_str().is_empty() {
            return Err(Status::invalid_argument("path is required"));
        }
        let status = self.change(move |plugins, engine| plugins.load(engine, &path)).await?;
        Ok(Response::new(proto::LoadPluginResponse { plugin: Some(convert::plugin_info(status)) }))
    }

    async fn unload_plugin(
        &self,
        request: Request<proto::UnloadPluginRequest>,
    ) -> Result<Response<proto::UnloadPluginResponse>, Status> {
        tenant_of(&request)?;
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("name is required"));
        }
        let status = self.change(move |plugins, engine| plugins.unload(engine, &name)).await?;
        Ok(Response::new(proto::UnloadPluginResponse { plugin: Some(convert::plugin_info(status)) }))
    }

    async fn reload_plugin(
        &self,
        request: Request<proto::ReloadPluginRequest>,
    ) -> Result<Response<proto::ReloadPluginResponse>, Status> {
        tenant_of(&request)?;
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("name is required"));
        }
        let (status, previous_version) =
            self.change(move |plugins, engine| plugins.reload(engine, &name)).await?;
        Ok(Response::new(proto::ReloadPluginResponse {
            plugin: Some(convert::plugin_info(status)),
            previous_version,
        }))
    }
}
