//! One loaded plugin instance: the handshake, and the adapter that makes it
//! an engine [`Scorer`].

use std::cell::RefCell;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libloading::Library;
use rapport_engine::{
    AccumulatorKind, AccumulatorView, Event, Interval, MetricSpec, MetricValue, Observations, Payload,
    Scorer, ScorerError, ScorerSpec, SurveySettings, resolve_scale,
};
use rapport_plugin_api::abi::{
    self, RP_ABI_VERSION, RP_ENTRY_SYMBOL, RP_OK, RP_PANIC, RP_SLOT_COUNT, RP_SLOT_MAX, RP_SLOT_MIN,
    RP_SLOT_MOMENTS, RP_SLOT_TOP_K, RpEntryFn, RpErrorSink, RpEvent, RpHeader, RpMetricValue, RpNamedValue,
    RpObserver, RpPair, RpPluginInfo, RpPluginV1, RpStr, RpTopKEach, RpValueSink, RpWindow,
};

use crate::error::PluginError;

// === Status ===

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

// === The loaded library ===

/// A loaded library, never unloaded.
///
/// Unload policy: the host never calls `dlclose`. A library is mapped once
/// per load and stays mapped until the process exits, even after its plugin
/// was unloaded or replaced. Unmapping is unsound while any of its code may
/// still run, and that is hard to rule out: a call in flight on another
/// thread, a thread-local destructor a Rust plugin registered on a server
/// thread, a static string it handed out. The cost is the library's mapped
/// size per load, which reloads of a plugin under development can afford.
/// Instances, by contrast, are destroyed (through the plugin's `destroy`)
/// as soon as the last `Arc` to their adapter is gone, so no call is in
/// flight then.
struct LeakedLibrary {
    table: &'static RpPluginV1,
}

fn load_library(path: &Path) -> Result<LeakedLibrary, PluginError> {
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
    // Never unloaded: see `LeakedLibrary`.
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
    Ok(LeakedLibrary { table })
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

// === Host callbacks ===

fn lossy(s: RpStr) -> String {
    // SAFETY: a plugin passes views valid for the callback.
    String::from_utf8_lossy(unsafe { s.as_bytes() }).into_owned()
}

unsafe extern "C" fn set_error(ctx: *mut c_void, message: RpStr) {
    // SAFETY: `ctx` is the `Option<String>` of the call in progress.
    let slot = unsafe { &mut *ctx.cast::<Option<String>>() };
    *slot = Some(lossy(message));
}

/// What an `observe` call writes to.
struct ObserveCtx<'a> {
    out: &'a mut Observations,
    bad_item: bool,
}

unsafe extern "C" fn observe_count(ctx: *mut c_void, slot: u32) {
    // SAFETY: `ctx` is the `ObserveCtx` of the call in progress.
    let ctx = unsafe { &mut *ctx.cast::<ObserveCtx<'_>>() };
    ctx.out.count(slot as usize);
}

unsafe extern "C" fn observe_record(ctx: *mut c_void, slot: u32, value: f64) {
    // SAFETY: as for `observe_count`.
    let ctx = unsafe { &mut *ctx.cast::<ObserveCtx<'_>>() };
    ctx.out.record(slot as usize, value);
}

unsafe extern "C" fn observe_item(ctx: *mut c_void, slot: u32, item: RpStr) {
    // SAFETY: as for `observe_count`; `item` is valid for the callback.
    let (ctx, item) = unsafe { (&mut *ctx.cast::<ObserveCtx<'_>>(), item.to_str()) };
    match item {
        Some(item) => ctx.out.item(slot as usize, item),
        None => ctx.bad_item = true,
    }
}

fn view<'a>(ctx: *mut c_void) -> &'a AccumulatorView<'a> {
    // SAFETY: `ctx` is the `AccumulatorView` of the `evaluate` in progress.
    unsafe { &*ctx.cast::<AccumulatorView<'a>>() }
}

unsafe extern "C" fn window_count(ctx: *mut c_void, slot: u32) -> u64 {
    view(ctx).count(slot as usize)
}

unsafe extern "C" fn window_moments(
    ctx: *mut c_void,
    slot: u32,
    count: *mut u64,
    sum: *mut f64,
    sum_sq: *mut f64,
) {
    let m = view(ctx).moments(slot as usize);
    // SAFETY: the plugin passes writable out pointers (or null, skipped).
    unsafe {
        if let Some(count) = count.as_mut() {
            *count = m.count;
        }
        if let Some(sum) = sum.as_mut() {
            *sum = m.sum;
        }
        if let Some(sum_sq) = sum_sq.as_mut() {
            *sum_sq = m.sum_sq;
        }
    }
}

fn write_option(value: Option<f64>, out: *mut f64) -> i32 {
    // SAFETY: the plugin passes a writable out pointer (or null, skipped).
    match (value, unsafe { out.as_mut() }) {
        (Some(v), Some(out)) => {
            *out = v;
            1
        }
        (Some(_), None) => 1,
        (None, _) => 0,
    }
}

unsafe extern "C" fn window_min(ctx: *mut c_void, slot: u32, out: *mut f64) -> i32 {
    write_option(view(ctx).min(slot as usize), out)
}

unsafe extern "C" fn window_max(ctx: *mut c_void, slot: u32, out: *mut f64) -> i32 {
    write_option(view(ctx).max(slot as usize), out)
}

unsafe extern "C" fn window_top_k(
    ctx: *mut c_void,
    slot: u32,
    k: usize,
    each: RpTopKEach,
    each_ctx: *mut c_void,
) -> usize {
    let top = view(ctx).top_k(slot as usize, k);
    for (item, count, error) in &top {
        // SAFETY: the plugin's own callback and context; the item view is
        // valid during the call, as the contract says.
        unsafe { each(each_ctx, RpStr::from_str(item), *count, *error) };
    }
    top.len()
}

unsafe extern "C" fn window_top_k_total(ctx: *mut c_void, slot: u32) -> u64 {
    view(ctx).top_k_total(slot as usize)
}

unsafe extern "C" fn value_interval(ctx: *mut c_void, method: RpStr, low: f64, high: f64, confidence: f64) {
    // SAFETY: `ctx` is the `MetricValue` of the `evaluate` in progress.
    let value = unsafe { &mut *ctx.cast::<MetricValue>() };
    value.intervals.push(Interval { method: lossy(method), low, high, confidence });
}

unsafe extern "C" fn value_detail(ctx: *mut c_void, name: RpStr, detail: f64) {
    // SAFETY: as for `value_interval`.
    let value = unsafe { &mut *ctx.cast::<MetricValue>() };
    value.details.push((lossy(name), detail));
}

// === Event views ===

/// Per-thread buffers for the C view of an event, reused across calls so
/// the ingest path does not allocate per event.
#[derive(Default)]
struct Scratch {
    labels: Vec<RpPair>,
    values: Vec<RpNamedValue>,
    attributes: Vec<RpPair>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn pair(key: &str, value: &str) -> RpPair {
    RpPair { key: RpStr::from_str(key), value: RpStr::from_str(value) }
}

fn named(name: &'static str, value: f64) -> RpNamedValue {
    RpNamedValue { name: RpStr::from_str(name), value }
}

/// Fills `scratch` with the views of `event` and returns the C event. The
/// result borrows `event` and `scratch`: use it before either changes.
fn event_view(event: &Event, surveys: &SurveySettings, scratch: &mut Scratch) -> RpEvent {
    scratch.labels.clear();
    scratch.values.clear();
    scratch.attributes.clear();
    scratch.labels.extend(event.labels.iter().map(|(k, v)| pair(k, v)));
    match &event.payload {
        Payload::Custom(custom) => {
            scratch.values.extend(
                custom.values.iter().map(|(k, v)| RpNamedValue { name: RpStr::from_str(k), value: *v }),
            );
            scratch.attributes.extend(custom.attributes.iter().map(|(k, v)| pair(k, v)));
        }
        Payload::SurveyResponse(survey) => {
            if let Some(kind) = survey.kind {
                scratch.attributes.push(pair("kind", kind.name()));
            }
            scratch.attributes.push(pair("comment", &survey.comment));
            if let Some(score) = survey.score {
                scratch.values.push(named("score", f64::from(score)));
            }
            // The resolved scale (declared, else the tenant default), as the
            // built-in survey scorers see it.
            let scale = survey.kind.and_then(|kind| resolve_scale(kind, survey.scale, surveys).ok());
            if let Some(scale) = scale.or(survey.scale) {
                scratch.values.push(named("scale_min", f64::from(scale.min)));
                scratch.values.push(named("scale_max", f64::from(scale.max)));
            }
        }
        // Not offered to plugins for now: `Engine::apply` keeps account
        // events in the account records and gives them to no scorer. Should
        // one reach here, the plugin sees its type name and labels only.
        Payload::Account(_) => {}
    }
    RpEvent {
        type_name: RpStr::from_str(event.event_type()),
        id: RpStr::from_str(&event.id),
        account_id: RpStr::from_str(&event.account_id),
        time_ms: event.time.millis(),
        labels: scratch.labels.as_ptr(),
        labels_len: scratch.labels.len(),
        values: scratch.values.as_ptr(),
        values_len: scratch.values.len(),
        attributes: scratch.attributes.as_ptr(),
        attributes_len: scratch.attributes.len(),
    }
}

// === The adapter ===

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
    /// Loads the library at `path` (already checked to be inside the plugin
    /// directory), performs the handshake and creates one instance.
    pub(crate) fn load(
        path: &Path,
        origin: &Path,
        config: &str,
        failure_threshold: u32,
        surveys: SurveySettings,
    ) -> Result<Arc<Self>, PluginError> {
        let library = load_library(path)?;
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
        let sink = RpErrorSink { ctx: (&raw mut error).cast(), set: Some(set_error) };
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
        let (spec, group_by) = match metadata {
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
            spec,
            group_by,
            path: origin.to_owned(),
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
        let errors = RpErrorSink { ctx: (&raw mut error).cast(), set: Some(set_error) };
        let mut ctx = ObserveCtx { out, bad_item: false };
        let observer = RpObserver {
            ctx: (&raw mut ctx).cast(),
            count: Some(observe_count),
            record: Some(observe_record),
            item: Some(observe_item),
        };
        let code = SCRATCH.with(|scratch| {
            let mut fresh = Scratch::default();
            let mut borrowed = scratch.try_borrow_mut();
            let scratch = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            let raw = event_view(event, &self.surveys, scratch);
            // SAFETY: a checked v1 table and live instance; the event view,
            // observer and sink outlive the call.
            unsafe { observe(self.instance, &raw, &observer, &errors) }
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
        let errors = RpErrorSink { ctx: (&raw mut error).cast(), set: Some(set_error) };
        let mut view = window;
        let raw_window = RpWindow {
            ctx: (&raw mut view).cast(),
            count: Some(window_count),
            moments: Some(window_moments),
            min: Some(window_min),
            max: Some(window_max),
            top_k: Some(window_top_k),
            top_k_total: Some(window_top_k_total),
        };
        let mut value = MetricValue::no_data();
        let sink = RpValueSink {
            ctx: (&raw mut value).cast(),
            interval: Some(value_interval),
            detail: Some(value_detail),
        };
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

// === Metadata ===

/// Most slots, and most metrics, one plugin may declare.
const MAX_DECLARED: usize = 256;

fn read_str(s: RpStr, what: &str) -> Result<String, String> {
    // SAFETY: metadata views stay valid until destroy.
    unsafe { s.to_str() }.map(str::to_owned).ok_or_else(|| format!("{what} is not UTF-8"))
}

fn read_strs(ptr: *const RpStr, len: usize, what: &str) -> Result<Vec<String>, String> {
    // SAFETY: metadata arrays stay valid until destroy.
    unsafe { abi::slice(ptr, len) }.iter().map(|s| read_str(*s, what)).collect()
}

fn read_info(info: &RpPluginInfo) -> Result<(ScorerSpec, Vec<Vec<String>>), String> {
    let name = read_str(info.name, "name")?;
    if name.is_empty() {
        return Err("the plugin has no name".into());
    }
    if info.slots_len > MAX_DECLARED || info.metrics_len > MAX_DECLARED {
        return Err(format!("more than {MAX_DECLARED} slots or metrics"));
    }
    // SAFETY: metadata arrays stay valid until destroy.
    let slots = unsafe { abi::slice(info.slots, info.slots_len) };
    let accumulators = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| match (slot.kind, slot.capacity) {
            (RP_SLOT_COUNT, _) => Ok(AccumulatorKind::Count),
            (RP_SLOT_MOMENTS, _) => Ok(AccumulatorKind::Moments),
            (RP_SLOT_MIN, _) => Ok(AccumulatorKind::Min),
            (RP_SLOT_MAX, _) => Ok(AccumulatorKind::Max),
            (RP_SLOT_TOP_K, capacity @ 1..=AccumulatorKind::MAX_TOP_K_CAPACITY) => {
                Ok(AccumulatorKind::TopK { capacity })
            }
            (RP_SLOT_TOP_K, capacity) => Err(format!(
                "slot {i}: top-k capacity {capacity} must be 1 to {}",
                AccumulatorKind::MAX_TOP_K_CAPACITY
            )),
            (kind, _) => Err(format!("slot {i}: unknown slot kind {kind}")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    // SAFETY: as above.
    let raw_metrics = unsafe { abi::slice(info.metrics, info.metrics_len) };
    if raw_metrics.is_empty() {
        return Err("the plugin declares no metric".into());
    }
    let mut metrics = Vec::with_capacity(raw_metrics.len());
    let mut group_by = Vec::with_capacity(raw_metrics.len());
    for metric in raw_metrics {
        let spec = MetricSpec {
            name: read_str(metric.name, "metric name")?,
            description: read_str(metric.description, "metric description")?,
            unit: read_str(metric.unit, "metric unit")?,
            min: (metric.has_min != 0).then_some(metric.min),
            max: (metric.has_max != 0).then_some(metric.max),
        };
        if spec.name.is_empty() {
            return Err("a metric has no name".into());
        }
        metrics.push(spec);
        group_by.push(read_strs(metric.group_by, metric.group_by_len, "group-by label")?);
    }
    let spec = ScorerSpec {
        name,
        version: read_str(info.version, "version")?,
        consumes: read_strs(info.consumes, info.consumes_len, "event type")?,
        dimensions: read_strs(info.dimensions, info.dimensions_len, "dimension")?,
        accumulators,
        metrics,
    };
    Ok((spec, group_by))
}
