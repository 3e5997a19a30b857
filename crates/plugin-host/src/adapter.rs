//! [`PluginScorer`]: one plugin instance as an engine [`Scorer`], with the
//! accounting of its failures.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rapport_engine::{
    AccumulatorView, Event, MetricValue, Observations, Scorer, ScorerError, ScorerSpec, SurveySettings,
};
use rapport_plugin_api::abi::{RP_OK, RP_PANIC, RpMetricValue, RpPluginV1, RpStr};

use crate::callbacks::{self, ObserveCtx};
use crate::error::PluginError;
use crate::event_view::with_event_view;
use crate::loader::load_library;
use crate::metadata::read_info;
use crate::status::{PluginMetric, PluginState, PluginStatus};

/// A plugin instance as an engine [`Scorer`]: the engine cannot tell it
/// from a built-in. Errors and panics inside the plugin become
/// [`ScorerError::Failed`] naming the plugin; after `failure_threshold`
/// failing calls in a row it is disabled (it then observes nothing and
/// answers every evaluation with its last error).
pub struct PluginScorer {
    table: &'static RpPluginV1,
    instance: *mut c_void,
    spec: ScorerSpec,
    group_by: Vec<Vec<String>>,
    path: PathBuf,
    sha256: String,
    failure_threshold: u32,
    surveys: SurveySettings,
    disabled: AtomicBool,
    consecutive_failures: AtomicU32,
    observe_errors: AtomicU64,
    evaluate_errors: AtomicU64,
    panics: AtomicU64,
    last_error: Mutex<Option<String>>,
}

// SAFETY: the ABI requires `observe`, `evaluate` and `info` to be callable
// concurrently from any thread on one instance, and `destroy` runs only in
// `Drop`, when no other reference exists. The table is immutable.
unsafe impl Send for PluginScorer {}
// SAFETY: as above.
unsafe impl Sync for PluginScorer {}

impl std::fmt::Debug for PluginScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginScorer").field("name", &self.spec.name).field("path", &self.path).finish()
    }
}

impl PluginScorer {
    /// Loads the library at `origin` (a file in the plugin directory),
    /// performs the handshake and creates one instance.
    pub(crate) fn load(
        origin: &Path,
        config: &str,
        failure_threshold: u32,
        surveys: SurveySettings,
    ) -> Result<Arc<Self>, PluginError> {
        let library = load_library(origin)?;
        let table = library.table;
        let (Some(create), Some(info), Some(_), Some(_), Some(destroy)) =
            (table.create, table.info, table.observe, table.evaluate, table.destroy)
        else {
            return Err(PluginError::NotAPlugin {
                path: origin.to_owned(),
                message: "the function table has a null entry".into(),
            });
        };
        let mut error: Option<String> = None;
        let sink = callbacks::error_sink(&mut error);
        let mut instance: *mut c_void = std::ptr::null_mut();
        // SAFETY: a checked v1 table; the config view and sink live for the call.
        let code = unsafe { create(RpStr::from_str(config), &mut instance, &sink) };
        if code != RP_OK || instance.is_null() {
            return Err(PluginError::Create {
                path: origin.to_owned(),
                message: error.unwrap_or_else(|| format!("create returned {code}")),
            });
        }
        // SAFETY: a live instance of this table.
        let raw_info = unsafe { info(instance) };
        // SAFETY: per the contract the info stays valid until destroy.
        let metadata =
            unsafe { raw_info.as_ref() }.ok_or_else(|| "info returned null".to_owned()).and_then(read_info);
        let metadata = match metadata {
            Ok(metadata) => metadata,
            Err(message) => {
                // SAFETY: the instance was created above and nothing else uses it.
                unsafe { destroy(instance) };
                return Err(PluginError::Metadata { path: origin.to_owned(), message });
            }
        };
        Ok(Arc::new(PluginScorer {
            table,
            instance,
            spec: metadata.spec,
            group_by: metadata.group_by,
            path: origin.to_owned(),
            sha256: library.sha256.to_string(),
            failure_threshold: failure_threshold.max(1),
            surveys,
            disabled: AtomicBool::new(false),
            consecutive_failures: AtomicU32::new(0),
            observe_errors: AtomicU64::new(0),
            evaluate_errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }))
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it was disabled after failing too often.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// What an operator sees of it.
    pub fn status(&self) -> PluginStatus {
        PluginStatus {
            name: self.spec.name.clone(),
            version: self.spec.version.clone(),
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            state: if self.is_disabled() { PluginState::Disabled } else { PluginState::Loaded },
            metrics: self
                .spec
                .metrics
                .iter()
                .zip(&self.group_by)
                .map(|(spec, group_by)| PluginMetric { spec: spec.clone(), group_by: group_by.clone() })
                .collect(),
            observe_errors: self.observe_errors.load(Ordering::Relaxed),
            evaluate_errors: self.evaluate_errors.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or_else(|p| p.into_inner().clone()),
        }
    }

    fn succeeded(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failed call and returns the error for the engine; disables
    /// the plugin at the threshold.
    fn failed(&self, code: i32, message: Option<String>, counter: &AtomicU64) -> ScorerError {
        counter.fetch_add(1, Ordering::Relaxed);
        if code == RP_PANIC {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
        let message = format!(
            "plugin {}: {}",
            self.spec.name,
            message.unwrap_or_else(|| format!("failed with code {code} and no message"))
        );
        match self.last_error.lock() {
            Ok(mut last) => *last = Some(message.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(message.clone()),
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.failure_threshold && !self.disabled.swap(true, Ordering::AcqRel) {
            tracing::error!(
                plugin = %self.spec.name,
                failures,
                last_error = %message,
                "plugin disabled after repeated failures"
            );
        }
        ScorerError::Failed(message)
    }

    fn disabled_error(&self) -> ScorerError {
        let last = self.status().last_error.unwrap_or_default();
        ScorerError::Failed(format!(
            "plugin {} is disabled after repeated failures; last: {last}",
            self.spec.name
        ))
    }
}

impl Drop for PluginScorer {
    fn drop(&mut self) {
        if let Some(destroy) = self.table.destroy {
            // SAFETY: the last reference is going away, so no call is in
            // flight; the library is never unmapped.
            unsafe { destroy(self.instance) };
        }
    }
}

impl Scorer for PluginScorer {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        let Some(observe) = self.table.observe else { return Err(self.disabled_error()) };
        if self.is_disabled() {
            return Ok(());
        }
        let mut error: Option<String> = None;
        let errors = callbacks::error_sink(&mut error);
        let mut ctx = ObserveCtx { out, bad_item: false };
        let observer = callbacks::observer(&mut ctx);
        let code = with_event_view(event, &self.surveys, |raw| {
            // SAFETY: a checked v1 table and live instance; the event view,
            // observer and sink outlive the call.
            unsafe { observe(self.instance, raw, &observer, &errors) }
        });
        if code == RP_OK && ctx.bad_item {
            return Err(self.failed(
                code,
                Some("observed an item that is not UTF-8".into()),
                &self.observe_errors,
            ));
        }
        if code != RP_OK {
            ctx.out.clear();
            return Err(self.failed(code, error, &self.observe_errors));
        }
        self.succeeded();
        Ok(())
    }

    fn evaluate(&self, metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let Some(evaluate) = self.table.evaluate else { return Err(self.disabled_error()) };
        if self.is_disabled() {
            return Err(self.disabled_error());
        }
        let metric_index = u32::try_from(metric)
            .map_err(|_| ScorerError::Failed(format!("metric index {metric} out of range")))?;
        let mut error: Option<String> = None;
        let errors = callbacks::error_sink(&mut error);
        let raw_window = callbacks::window(&window);
        let mut value = MetricValue::no_data();
        let sink = callbacks::value_sink(&mut value);
        let mut raw_value = RpMetricValue { has_value: 0, reserved: 0, value: 0.0, count: 0 };
        // SAFETY: a checked v1 table and live instance; every pointer passed
        // outlives the call.
        let code =
            unsafe { evaluate(self.instance, metric_index, &raw_window, &mut raw_value, &sink, &errors) };
        if code != RP_OK {
            return Err(self.failed(code, error, &self.evaluate_errors));
        }
        self.succeeded();
        value.value = (raw_value.has_value != 0).then_some(raw_value.value);
        value.count = raw_value.count;
        Ok(value)
    }
}
