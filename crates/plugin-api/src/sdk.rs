//! The safe side for Rust plugin authors: a trait shaped like the engine's
//! `Scorer`, views over the borrowed C data, and the glue the
//! [`crate::rapport_plugin!`] macro exports.

use std::ffi::c_void;
use std::panic::AssertUnwindSafe;

use crate::abi::{
    self, RP_ABI_VERSION, RP_ERROR, RP_OK, RP_PANIC, RP_SLOT_COUNT, RP_SLOT_MAX, RP_SLOT_MIN,
    RP_SLOT_MOMENTS, RP_SLOT_TOP_K, RpErrorSink, RpEvent, RpMetricSpec, RpMetricValue, RpNamedValue,
    RpObserver, RpPair, RpPluginInfo, RpPluginV1, RpSlot, RpStr, RpValueSink, RpWindow,
};

// === What a plugin declares ===

/// What an accumulator slot records (mirrors the engine's kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Number of occurrences.
    Count,
    /// Count, sum and sum of squares of values.
    Moments,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Most frequent items, in a Space-Saving summary of `capacity`
    /// counters: counts overestimate by at most `N / capacity`.
    TopK {
        /// Counters kept.
        capacity: u32,
    },
}

/// One metric a plugin provides.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricDef {
    /// Name used in queries; unique across all scorers.
    pub name: String,
    /// One sentence on what it measures.
    pub description: String,
    /// Unit ("percent", "seconds", ...).
    pub unit: String,
    /// Smallest possible value, if bounded.
    pub min: Option<f64>,
    /// Largest possible value, if bounded.
    pub max: Option<f64>,
    /// Labels it is meant to be grouped by (for example `agent`, `team`).
    pub group_by: Vec<String>,
}

impl MetricDef {
    /// A metric with the given name, description, unit and range.
    pub fn new(name: &str, description: &str, unit: &str, min: Option<f64>, max: Option<f64>) -> Self {
        MetricDef {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            min,
            max,
            group_by: vec![],
        }
    }

    /// The same metric, meant to be grouped by `labels`.
    pub fn grouped_by(mut self, labels: &[&str]) -> Self {
        self.group_by = labels.iter().map(|l| (*l).to_owned()).collect();
        self
    }
}

/// What a plugin provides and needs (mirrors the engine's `ScorerSpec`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginSpec {
    /// Scorer name; unique among scorers, and the key of its stored state.
    pub name: String,
    /// Plugin version, for display.
    pub version: String,
    /// Event types consumed (custom event type names, or `survey_response`).
    pub consumes: Vec<String>,
    /// Custom event attributes added to the series labels of observations.
    pub dimensions: Vec<String>,
    /// Accumulator slots, in slot order.
    pub slots: Vec<SlotKind>,
    /// Metrics, in metric order.
    pub metrics: Vec<MetricDef>,
}

/// A confidence interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// How it was computed ("wilson", "normal", ...).
    pub method: String,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, such as 0.95.
    pub confidence: f64,
}

/// A metric's value over a window (mirrors the engine's `MetricValue`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Value {
    /// `None` when the window holds no data: "no data" is not 0.
    pub value: Option<f64>,
    /// Number of observations the value rests on.
    pub count: u64,
    /// Confidence intervals, primary first.
    pub intervals: Vec<Interval>,
    /// Named parts of the value.
    pub details: Vec<(String, f64)>,
}

impl Value {
    /// The answer for a window without data.
    pub fn no_data() -> Self {
        Value::default()
    }
}

/// A scorer in a plugin. The engine calls `observe` and `evaluate`
/// concurrently from many threads, so implementations keep no mutable state:
/// everything a metric needs lives in the host's accumulators.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Creates the scorer from a configuration string (empty by default).
    fn new(config: &str) -> Result<Self, String>;

    /// What it provides and needs; read once, right after `new`.
    fn spec(&self) -> PluginSpec;

    /// Records what `event` contributes, as observations on its slots.
    fn observe(&self, event: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String>;

    /// Derives metric number `metric` from a window's merged slots.
    fn evaluate(&self, metric: usize, window: &WindowView<'_>) -> Result<Value, String>;
}

// === Views over borrowed C data ===

/// An event, borrowed for one `observe` call.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    raw: &'a RpEvent,
}

fn text<'a>(s: RpStr) -> &'a str {
    // SAFETY: views handed to a plugin are valid for the call, which
    // outlives every `'a` an `EventView` or callback hands out.
    unsafe { s.to_str() }.unwrap_or("")
}

/// The value of `key` in `pairs`, comparing bytes so that only the value
/// found is checked for UTF-8 (lookups are on every plugin's hot path).
fn find<'a>(pairs: &'a [RpPair], key: &str) -> Option<&'a str> {
    // SAFETY: keys are valid for the call.
    pairs.iter().find(|p| unsafe { p.key.as_bytes() } == key.as_bytes()).map(|p| text(p.value))
}

impl<'a> EventView<'a> {
    /// Wraps a host event.
    ///
    /// # Safety
    /// Every pointer and length in `raw` must be valid for `'a`, as the host
    /// guarantees for the duration of a call.
    pub unsafe fn from_raw(raw: &'a RpEvent) -> Self {
        EventView { raw }
    }

    /// Event type name.
    pub fn type_name(&self) -> &'a str {
        text(self.raw.type_name)
    }

    /// Event id.
    pub fn id(&self) -> &'a str {
        text(self.raw.id)
    }

    /// Account id, possibly empty.
    pub fn account_id(&self) -> &'a str {
        text(self.raw.account_id)
    }

    /// Event time in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> i64 {
        self.raw.time_ms
    }

    fn pairs(ptr: *const RpPair, len: usize) -> &'a [RpPair] {
        // SAFETY: the host passes valid arrays for the call (see `from_raw`).
        unsafe { abi::slice(ptr, len) }
    }

    /// Labels, sorted by key.
    pub fn labels(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        Self::pairs(self.raw.labels, self.raw.labels_len).iter().map(|p| (text(p.key), text(p.value)))
    }

    /// The label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&'a str> {
        find(Self::pairs(self.raw.labels, self.raw.labels_len), key)
    }

    /// Numeric values.
    pub fn values(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        // SAFETY: as for `pairs`.
        let values: &'a [RpNamedValue] = unsafe { abi::slice(self.raw.values, self.raw.values_len) };
        values.iter().map(|v| (text(v.name), v.value))
    }

    /// The numeric value `name`, if present.
    pub fn value(&self, name: &str) -> Option<f64> {
        // SAFETY: as for `pairs`.
        let values: &'a [RpNamedValue] = unsafe { abi::slice(self.raw.values, self.raw.values_len) };
        // SAFETY: names are valid for the call.
        values.iter().find(|v| unsafe { v.name.as_bytes() } == name.as_bytes()).map(|v| v.value)
    }

    /// String attributes.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        Self::pairs(self.raw.attributes, self.raw.attributes_len).iter().map(|p| (text(p.key), text(p.value)))
    }

    /// The attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        find(Self::pairs(self.raw.attributes, self.raw.attributes_len), name)
    }

    /// Whether attribute `name` is a true flag: `true`, `yes` or `1`
    /// (case-insensitive), or a numeric value `name` that is not 0.
    pub fn flag(&self, name: &str) -> bool {
        match self.attribute(name) {
            Some(v) => ["true", "yes", "1"].iter().any(|t| v.eq_ignore_ascii_case(t)),
            None => self.value(name).is_some_and(|v| v != 0.0),
        }
    }
}

/// Where `observe` writes observations.
#[derive(Debug)]
pub struct Observer<'a> {
    raw: &'a RpObserver,
}

fn slot_u32(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

impl<'a> Observer<'a> {
    /// Wraps a host observer.
    ///
    /// # Safety
    /// `raw` must be a host observer valid for `'a`.
    pub unsafe fn from_raw(raw: &'a RpObserver) -> Self {
        Observer { raw }
    }

    /// One more occurrence in count `slot`.
    pub fn count(&mut self, slot: usize) {
        if let Some(count) = self.raw.count {
            // SAFETY: a host callback with its own context, per the contract.
            unsafe { count(self.raw.ctx, slot_u32(slot)) }
        }
    }

    /// A value in a moments, min or max `slot`.
    pub fn record(&mut self, slot: usize, value: f64) {
        if let Some(record) = self.raw.record {
            // SAFETY: as for `count`.
            unsafe { record(self.raw.ctx, slot_u32(slot), value) }
        }
    }

    /// One occurrence of `item` in top-k `slot`.
    pub fn item(&mut self, slot: usize, item: &str) {
        if let Some(callback) = self.raw.item {
            // SAFETY: as for `count`; the host copies the text before returning.
            unsafe { callback(self.raw.ctx, slot_u32(slot), RpStr::from_str(item)) }
        }
    }
}

/// Count, sum and sum of squares of a moments slot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Sum of values.
    pub sum: f64,
    /// Sum of squared values.
    pub sum_sq: f64,
}

impl Moments {
    /// Mean, or `None` without values.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Sample standard deviation (n - 1), or `None` below two values.
    pub fn sample_std_dev(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let n = self.count as f64;
        Some(((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0).sqrt())
    }
}

/// One entry of a top-k slot: the true count lies in `count - error ..= count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopItem {
    /// The item.
    pub item: String,
    /// Estimated count (never below the true count).
    pub count: u64,
    /// Largest possible overestimate.
    pub error: u64,
}

/// Read access to a window's merged slots during `evaluate`.
#[derive(Debug)]
pub struct WindowView<'a> {
    raw: &'a RpWindow,
}

unsafe extern "C" fn collect_top(each_ctx: *mut c_void, item: RpStr, count: u64, error: u64) {
    // SAFETY: `each_ctx` is the `Vec` passed by `WindowView::top_k` for this
    // very call, and `item` is valid during the callback.
    let (items, bytes) = unsafe { (&mut *each_ctx.cast::<Vec<TopItem>>(), item.as_bytes()) };
    items.push(TopItem { item: String::from_utf8_lossy(bytes).into_owned(), count, error });
}

impl<'a> WindowView<'a> {
    /// Wraps a host window.
    ///
    /// # Safety
    /// `raw` must be a host window valid for `'a`.
    pub unsafe fn from_raw(raw: &'a RpWindow) -> Self {
        WindowView { raw }
    }

    /// Count in count `slot`.
    pub fn count(&self, slot: usize) -> u64 {
        // SAFETY: a host callback with its own context, per the contract.
        self.raw.count.map_or(0, |f| unsafe { f(self.raw.ctx, slot_u32(slot)) })
    }

    /// Moments in moments `slot`.
    pub fn moments(&self, slot: usize) -> Moments {
        let mut m = Moments::default();
        if let Some(f) = self.raw.moments {
            // SAFETY: as for `count`; the out pointers are to live locals.
            unsafe { f(self.raw.ctx, slot_u32(slot), &mut m.count, &mut m.sum, &mut m.sum_sq) }
        }
        m
    }

    /// Minimum in min `slot`.
    pub fn min(&self, slot: usize) -> Option<f64> {
        let mut out = 0.0;
        // SAFETY: as for `moments`.
        let set = self.raw.min.is_some_and(|f| unsafe { f(self.raw.ctx, slot_u32(slot), &mut out) } != 0);
        set.then_some(out)
    }

    /// Maximum in max `slot`.
    pub fn max(&self, slot: usize) -> Option<f64> {
        let mut out = 0.0;
        // SAFETY: as for `moments`.
        let set = self.raw.max.is_some_and(|f| unsafe { f(self.raw.ctx, slot_u32(slot), &mut out) } != 0);
        set.then_some(out)
    }

    /// The `k` most frequent items of top-k `slot`, largest first.
    pub fn top_k(&self, slot: usize, k: usize) -> Vec<TopItem> {
        let mut items: Vec<TopItem> = Vec::new();
        if let Some(f) = self.raw.top_k {
            let each_ctx: *mut Vec<TopItem> = &mut items;
            // SAFETY: as for `count`; `collect_top` gets back `each_ctx`,
            // which points to `items` for the whole call.
            unsafe { f(self.raw.ctx, slot_u32(slot), k, collect_top, each_ctx.cast()) };
        }
        items
    }

    /// Items observed in total in top-k `slot` (the `N` of its error bound).
    pub fn top_k_total(&self, slot: usize) -> u64 {
        // SAFETY: as for `count`.
        self.raw.top_k_total.map_or(0, |f| unsafe { f(self.raw.ctx, slot_u32(slot)) })
    }
}

// === Glue exported by `rapport_plugin!` ===

/// Owned metadata and the C views into it. Strings and vectors keep their
/// heap buffers when moved, so the views stay valid as long as this lives.
struct Instance<P> {
    plugin: P,
    info: RpPluginInfo,
    _spec: PluginSpec,
    _consumes: Vec<RpStr>,
    _dimensions: Vec<RpStr>,
    _slots: Vec<RpSlot>,
    _metrics: Vec<RpMetricSpec>,
    _group_by: Vec<Vec<RpStr>>,
}

fn views(strings: &[String]) -> Vec<RpStr> {
    strings.iter().map(|s| RpStr::from_str(s)).collect()
}

impl<P: Plugin> Instance<P> {
    fn new(plugin: P) -> Self {
        let spec = plugin.spec();
        let consumes = views(&spec.consumes);
        let dimensions = views(&spec.dimensions);
        let slots: Vec<RpSlot> = spec
            .slots
            .iter()
            .map(|slot| match slot {
                SlotKind::Count => RpSlot { kind: RP_SLOT_COUNT, capacity: 0 },
                SlotKind::Moments => RpSlot { kind: RP_SLOT_MOMENTS, capacity: 0 },
                SlotKind::Min => RpSlot { kind: RP_SLOT_MIN, capacity: 0 },
                SlotKind::Max => RpSlot { kind: RP_SLOT_MAX, capacity: 0 },
                SlotKind::TopK { capacity } => RpSlot { kind: RP_SLOT_TOP_K, capacity: *capacity },
            })
            .collect();
        let group_by: Vec<Vec<RpStr>> = spec.metrics.iter().map(|m| views(&m.group_by)).collect();
        let metrics: Vec<RpMetricSpec> = spec
            .metrics
            .iter()
            .zip(&group_by)
            .map(|(m, group_by)| RpMetricSpec {
                name: RpStr::from_str(&m.name),
                description: RpStr::from_str(&m.description),
                unit: RpStr::from_str(&m.unit),
                has_min: i32::from(m.min.is_some()),
                has_max: i32::from(m.max.is_some()),
                min: m.min.unwrap_or(0.0),
                max: m.max.unwrap_or(0.0),
                group_by: group_by.as_ptr(),
                group_by_len: group_by.len(),
            })
            .collect();
        let info = RpPluginInfo {
            name: RpStr::from_str(&spec.name),
            version: RpStr::from_str(&spec.version),
            consumes: consumes.as_ptr(),
            consumes_len: consumes.len(),
            dimensions: dimensions.as_ptr(),
            dimensions_len: dimensions.len(),
            slots: slots.as_ptr(),
            slots_len: slots.len(),
            metrics: metrics.as_ptr(),
            metrics_len: metrics.len(),
        };
        Instance {
            plugin,
            info,
            _spec: spec,
            _consumes: consumes,
            _dimensions: dimensions,
            _slots: slots,
            _metrics: metrics,
            _group_by: group_by,
        }
    }
}

fn report(error: *const RpErrorSink, message: &str) {
    // SAFETY: the host passes a valid sink (or null) for the call.
    let Some(sink) = (unsafe { error.as_ref() }) else { return };
    if let Some(set) = sink.set {
        // SAFETY: a host callback with its own context; it copies the text.
        unsafe { set(sink.ctx, RpStr::from_str(message)) }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without message")
}

/// Runs `f`, turning an error or a panic into a return code and a message:
/// nothing unwinds into the host.
fn guarded(error: *const RpErrorSink, f: impl FnOnce() -> Result<(), String>) -> i32 {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => RP_OK,
        Ok(Err(message)) => {
            report(error, &message);
            RP_ERROR
        }
        Err(payload) => {
            report(error, &format!("panicked: {}", panic_message(payload.as_ref())));
            RP_PANIC
        }
    }
}

/// `create` for plugin `P`.
///
/// # Safety
/// Called by the host per the ABI contract.
pub unsafe extern "C" fn create<P: Plugin>(
    config: RpStr,
    instance: *mut *mut c_void,
    error: *const RpErrorSink,
) -> i32 {
    guarded(error, || {
        if instance.is_null() {
            return Err("create called without an instance pointer".into());
        }
        // SAFETY: the host's config view is valid for the call.
        let config = unsafe { config.to_str() }.ok_or("configuration is not UTF-8")?;
        let boxed = Box::new(Instance::new(P::new(config)?));
        // SAFETY: checked non-null above; the host owns the out slot.
        unsafe { *instance = Box::into_raw(boxed).cast() };
        Ok(())
    })
}

/// `info` for plugin `P`.
///
/// # Safety
/// `instance` must come from [`create`] of the same `P` and not be destroyed.
pub unsafe extern "C" fn info<P: Plugin>(instance: *mut c_void) -> *const RpPluginInfo {
    // SAFETY: per the contract `instance` is a live `Instance<P>`.
    match unsafe { instance.cast::<Instance<P>>().as_ref() } {
        Some(instance) => &instance.info,
        None => std::ptr::null(),
    }
}

/// `observe` for plugin `P`.
///
/// # Safety
/// As for [`info`]; `event` and `out` are valid for the call.
pub unsafe extern "C" fn observe<P: Plugin>(
    instance: *mut c_void,
    event: *const RpEvent,
    out: *const RpObserver,
    error: *const RpErrorSink,
) -> i32 {
    guarded(error, || {
        // SAFETY: per the contract, all three pointers are valid for the call.
        let (instance, event, out) =
            unsafe { (instance.cast::<Instance<P>>().as_ref(), event.as_ref(), out.as_ref()) };
        let (Some(instance), Some(event), Some(out)) = (instance, event, out) else {
            return Err("observe called with a null pointer".into());
        };
        // SAFETY: the host's views are valid for the call.
        let (event, mut out) = unsafe { (EventView::from_raw(event), Observer::from_raw(out)) };
        instance.plugin.observe(&event, &mut out)
    })
}

/// `evaluate` for plugin `P`.
///
/// # Safety
/// As for [`info`]; `window`, `value` and `sink` are valid for the call.
pub unsafe extern "C" fn evaluate<P: Plugin>(
    instance: *mut c_void,
    metric: u32,
    window: *const RpWindow,
    value: *mut RpMetricValue,
    sink: *const RpValueSink,
    error: *const RpErrorSink,
) -> i32 {
    guarded(error, || {
        // SAFETY: per the contract, all pointers are valid for the call.
        let (instance, window, out, sink) = unsafe {
            (instance.cast::<Instance<P>>().as_ref(), window.as_ref(), value.as_mut(), sink.as_ref())
        };
        let (Some(instance), Some(window), Some(out)) = (instance, window, out) else {
            return Err("evaluate called with a null pointer".into());
        };
        // SAFETY: the host's window is valid for the call.
        let window = unsafe { WindowView::from_raw(window) };
        let metric = usize::try_from(metric).map_err(|_| "metric index out of range")?;
        let result = instance.plugin.evaluate(metric, &window)?;
        out.has_value = i32::from(result.value.is_some());
        out.value = result.value.unwrap_or(0.0);
        out.count = result.count;
        let Some(sink) = sink else { return Ok(()) };
        if let Some(add) = sink.interval {
            for i in &result.intervals {
                // SAFETY: a host callback with its own context; it copies the method.
                unsafe { add(sink.ctx, RpStr::from_str(&i.method), i.low, i.high, i.confidence) };
            }
        }
        if let Some(add) = sink.detail {
            for (name, value) in &result.details {
                // SAFETY: as above; it copies the name.
                unsafe { add(sink.ctx, RpStr::from_str(name), *value) };
            }
        }
        Ok(())
    })
}

/// `destroy` for plugin `P`.
///
/// # Safety
/// `instance` must come from [`create`] of the same `P`, and no other call
/// on it may be running or follow.
pub unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: per the contract this is the box `create` leaked, used once.
    let boxed = unsafe { Box::from_raw(instance.cast::<Instance<P>>()) };
    // A panic in a destructor must not unwind into the host; it is dropped.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

const fn size_u32<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// The function table for plugin `P`, as the entry symbol returns it.
pub const fn table<P: Plugin>() -> RpPluginV1 {
    RpPluginV1 {
        abi_version: RP_ABI_VERSION,
        struct_size: size_u32::<RpPluginV1>(),
        event_size: size_u32::<RpEvent>(),
        metric_value_size: size_u32::<RpMetricValue>(),
        info_size: size_u32::<RpPluginInfo>(),
        window_size: size_u32::<RpWindow>(),
        create: Some(create::<P>),
        info: Some(info::<P>),
        observe: Some(observe::<P>),
        evaluate: Some(evaluate::<P>),
        destroy: Some(destroy::<P>),
    }
}
