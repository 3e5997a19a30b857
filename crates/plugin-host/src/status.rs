//! What an operator sees of a plugin: its state, metrics and failure counts.

use std::path::PathBuf;

use rapport_engine::MetricSpec;

/// Whether a plugin's scorer is answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginState {
    /// Loaded and called.
    Loaded,
    /// Failed too many times in a row; no longer called.
    Disabled,
}

/// One metric of a plugin, as it declared it.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginMetric {
    /// Name, description, unit and range.
    pub spec: MetricSpec,
    /// Labels it is meant to be grouped by.
    pub group_by: Vec<String>,
}

/// What an operator sees of a plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginStatus {
    /// Scorer name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes when it was loaded, in hex: compare with
    /// `sha256sum` of the file to know which build runs.
    pub sha256: String,
    /// Loaded or disabled.
    pub state: PluginState,
    /// Its metrics.
    pub metrics: Vec<PluginMetric>,
    /// Events it failed on (errors and panics).
    pub observe_errors: u64,
    /// Evaluations it failed (errors and panics).
    pub evaluate_errors: u64,
    /// Of those, panics caught inside the plugin.
    pub panics: u64,
    /// The last error it reported.
    pub last_error: Option<String>,
}
