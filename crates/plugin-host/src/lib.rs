//! Loads rapport scorer plugins and makes each one an engine `Scorer`.
//!
//! [`PluginHost`] loads shared libraries from the plugin directory (and
//! nowhere else), checks the ABI version and structure sizes before calling
//! anything else, creates an instance and reads its metadata. Each plugin
//! becomes a [`PluginScorer`], which implements `rapport_engine::Scorer`:
//! errors and caught panics become `ScorerError::Failed` naming the plugin,
//! are counted in its [`PluginStatus`], and a plugin that keeps failing is
//! disabled with its last error kept.
//!
//! Typical use by the server:
//!
//! ```ignore
//! let host = PluginHost::new(HostConfig::new(&config.plugin_dir))?;
//! for result in host.load_dir()? { if let Err(e) = result { warn!("{e}") } }
//! let mut scorers = rapport_engine::scorers::builtin(&settings);
//! scorers.extend(host.scorers());
//! let engine = Engine::new(engine_config, scorers)?;
//! // after host.load / reload / unload:
//! engine.set_scorers(builtin.iter().cloned().chain(host.scorers()).collect())?;
//! ```
//!
//! Modules, one job each: `host` (the set of loaded plugins), `loader`
//! (mapping a library and the ABI handshake), `metadata` (reading a
//! plugin's `rp_plugin_info`), `adapter` (an instance as a `Scorer`, with
//! its failure accounting), `callbacks` (the host's `extern "C"` functions
//! a plugin calls), `event_view` (the C view of an event), `status` and
//! `error` (what callers see).
//!
//! Unload policy: libraries are never unmapped (see `loader.rs`); instances
//! are destroyed when the last reference to their scorer goes away, so no
//! call can be in flight.

mod adapter;
mod callbacks;
mod error;
mod event_view;
mod host;
mod loader;
mod metadata;
mod status;

pub use adapter::PluginScorer;
pub use error::PluginError;
pub use host::{HostConfig, PluginHost};
pub use status::{PluginMetric, PluginState, PluginStatus};
