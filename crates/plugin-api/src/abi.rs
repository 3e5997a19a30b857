//! The C ABI, version 1: every type that crosses the plugin boundary.
//!
//! Mirrors `include/rapport_plugin.h` field for field; the test
//! `tests/header_layout.rs` compiles the header and checks every size and
//! offset. Rules:
//!
//! - Only these `#[repr(C)]` types, integers, doubles and pointers cross.
//! - Strings are borrowed UTF-8 views ([`RpStr`]); a view passed into a call
//!   is valid only until that call returns. Neither side frees memory the
//!   other allocated.
//! - Every function returns [`RP_OK`] or an error code, with a message given
//!   through the [`RpErrorSink`] of the call. Nothing unwinds across.
//! - `observe` and `evaluate` may be called concurrently from several
//!   threads on one instance; `destroy` is called once, after every other
//!   call on the instance has returned.

use std::ffi::c_void;

/// ABI version this crate speaks. A host refuses any other.
pub const RP_ABI_VERSION: u32 = 1;
/// Name of the entry symbol every plugin exports.
pub const RP_ENTRY_SYMBOL: &str = "rapport_plugin_v1";

/// Success.
pub const RP_OK: i32 = 0;
/// The call failed; the message went to the error sink.
pub const RP_ERROR: i32 = 1;
/// A panic (or other abnormal exit) was caught inside the plugin.
pub const RP_PANIC: i32 = 2;

/// Slot kind: a count of occurrences.
pub const RP_SLOT_COUNT: u32 = 0;
/// Slot kind: count, sum and sum of squares of values.
pub const RP_SLOT_MOMENTS: u32 = 1;
/// Slot kind: smallest value.
pub const RP_SLOT_MIN: u32 = 2;
/// Slot kind: largest value.
pub const RP_SLOT_MAX: u32 = 3;
/// Slot kind: top-k heavy hitters over item strings.
pub const RP_SLOT_TOP_K: u32 = 4;

/// A borrowed UTF-8 string: `ptr` may be null when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpStr {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

/// A key and a string value (labels, attributes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpPair {
    /// Key.
    pub key: RpStr,
    /// Value.
    pub value: RpStr,
}

/// A named number.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpNamedValue {
    /// Name.
    pub name: RpStr,
    /// Value (finite).
    pub value: f64,
}

/// An event, borrowed for one `observe` call.
///
/// Custom events carry their values and attributes as sent. A survey
/// response (type `survey_response`) carries attributes `kind` (`csat`,
/// `ces`, `nps`) and `comment`, and values `score` (absent when skipped),
/// `scale_min` and `scale_max` (the scale the response is scored on: the
/// declared one, else the tenant's default for its kind).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpEvent {
    /// Event type name.
    pub type_name: RpStr,
    /// Event id.
    pub id: RpStr,
    /// Account id, possibly empty.
    pub account_id: RpStr,
    /// Event time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Labels, sorted by key.
    pub labels: *const RpPair,
    /// Number of labels.
    pub labels_len: usize,
    /// Numeric values.
    pub values: *const RpNamedValue,
    /// Number of values.
    pub values_len: usize,
    /// String attributes.
    pub attributes: *const RpPair,
    /// Number of attributes.
    pub attributes_len: usize,
}

/// Where `observe` writes its observations: host callbacks and their
/// context. Slots are indexes into the plugin's declared slots.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpObserver {
    /// Host context, passed back to every callback.
    pub ctx: *mut c_void,
    /// One more occurrence in a count slot.
    pub count: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32)>,
    /// A value in a moments, min or max slot.
    pub record: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32, value: f64)>,
    /// An item in a top-k slot; the host copies the text.
    pub item: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32, item: RpStr)>,
}

/// Called once per top-k entry, largest count first; `item` is valid only
/// during the call.
pub type RpTopKEach = unsafe extern "C" fn(each_ctx: *mut c_void, item: RpStr, count: u64, error: u64);

/// Read access to a window's merged slots during `evaluate`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpWindow {
    /// Host context, passed back to every callback.
    pub ctx: *mut c_void,
    /// Count in a count slot (0 for another kind).
    pub count: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32) -> u64>,
    /// Moments of a moments slot, written to the three out pointers.
    pub moments: Option<
        unsafe extern "C" fn(ctx: *mut c_void, slot: u32, count: *mut u64, sum: *mut f64, sum_sq: *mut f64),
    >,
    /// Minimum of a min slot: 1 and `*out` set, or 0 when empty.
    pub min: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32, out: *mut f64) -> i32>,
    /// Maximum of a max slot: 1 and `*out` set, or 0 when empty.
    pub max: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32, out: *mut f64) -> i32>,
    /// Calls `each` for up to `k` top entries of a top-k slot; returns how
    /// many it reported.
    pub top_k: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            slot: u32,
            k: usize,
            each: RpTopKEach,
            each_ctx: *mut c_void,
        ) -> usize,
    >,
    /// Items observed in total in a top-k slot (the `N` of its error bound).
    pub top_k_total: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: u32) -> u64>,
}

/// The scalar part of a metric value, written by `evaluate` into host
/// memory. Intervals and details go through the [`RpValueSink`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpMetricValue {
    /// 1 when `value` is set; 0 for "no data".
    pub has_value: i32,
    /// Reserved, 0.
    pub reserved: u32,
    /// The value.
    pub value: f64,
    /// Number of observations the value rests on.
    pub count: u64,
}

/// Receives the intervals and details of a value during `evaluate`; the
/// host copies every string before the callback returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpValueSink {
    /// Host context.
    pub ctx: *mut c_void,
    /// Adds a confidence interval (primary first).
    pub interval:
        Option<unsafe extern "C" fn(ctx: *mut c_void, method: RpStr, low: f64, high: f64, confidence: f64)>,
    /// Adds one named part of the value.
    pub detail: Option<unsafe extern "C" fn(ctx: *mut c_void, name: RpStr, value: f64)>,
}

/// Receives the message of a failed call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpErrorSink {
    /// Host context.
    pub ctx: *mut c_void,
    /// Sets the error message; the host copies it.
    pub set: Option<unsafe extern "C" fn(ctx: *mut c_void, message: RpStr)>,
}

/// One accumulator slot a plugin needs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpSlot {
    /// One of the `RP_SLOT_*` kinds.
    pub kind: u32,
    /// Counters kept, for `RP_SLOT_TOP_K`; 0 otherwise.
    pub capacity: u32,
}

/// One metric a plugin provides.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpMetricSpec {
    /// Name used in queries; unique across all scorers.
    pub name: RpStr,
    /// One sentence on what it measures.
    pub description: RpStr,
    /// Unit ("percent", "seconds", ...).
    pub unit: RpStr,
    /// 1 when `min` is set.
    pub has_min: i32,
    /// 1 when `max` is set.
    pub has_max: i32,
    /// Smallest possible value.
    pub min: f64,
    /// Largest possible value.
    pub max: f64,
    /// Labels this metric is meant to be grouped by.
    pub group_by: *const RpStr,
    /// Number of `group_by` labels.
    pub group_by_len: usize,
}

/// What a plugin instance provides and needs. Owned by the instance and
/// valid until `destroy`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpPluginInfo {
    /// Scorer name; unique among scorers.
    pub name: RpStr,
    /// Plugin version, for display.
    pub version: RpStr,
    /// Event types consumed.
    pub consumes: *const RpStr,
    /// Number of consumed event types.
    pub consumes_len: usize,
    /// Payload dimensions (custom event attributes) added to series labels.
    pub dimensions: *const RpStr,
    /// Number of dimensions.
    pub dimensions_len: usize,
    /// Accumulator slots, in slot order.
    pub slots: *const RpSlot,
    /// Number of slots.
    pub slots_len: usize,
    /// Metrics, in metric order.
    pub metrics: *const RpMetricSpec,
    /// Number of metrics.
    pub metrics_len: usize,
}

/// The first two fields of every version of the table: read alone, before
/// anything else, to check the version and the size.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpHeader {
    /// Must equal [`RP_ABI_VERSION`].
    pub abi_version: u32,
    /// `sizeof` the whole table, as the plugin was compiled.
    pub struct_size: u32,
}

/// Creates an instance from a configuration string (may be empty).
pub type RpCreateFn =
    unsafe extern "C" fn(config: RpStr, instance: *mut *mut c_void, error: *const RpErrorSink) -> i32;
/// The instance's metadata; never null for a live instance.
pub type RpInfoFn = unsafe extern "C" fn(instance: *mut c_void) -> *const RpPluginInfo;
/// Records what one event contributes.
pub type RpObserveFn = unsafe extern "C" fn(
    instance: *mut c_void,
    event: *const RpEvent,
    out: *const RpObserver,
    error: *const RpErrorSink,
) -> i32;
/// Derives metric number `metric` from a window's merged slots.
pub type RpEvaluateFn = unsafe extern "C" fn(
    instance: *mut c_void,
    metric: u32,
    window: *const RpWindow,
    value: *mut RpMetricValue,
    sink: *const RpValueSink,
    error: *const RpErrorSink,
) -> i32;
/// Frees an instance.
pub type RpDestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// The table the entry symbol returns (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RpPluginV1 {
    /// Must equal [`RP_ABI_VERSION`].
    pub abi_version: u32,
    /// `sizeof(RpPluginV1)` as the plugin was compiled.
    pub struct_size: u32,
    /// `sizeof(RpEvent)` as the plugin was compiled.
    pub event_size: u32,
    /// `sizeof(RpMetricValue)` as the plugin was compiled.
    pub metric_value_size: u32,
    /// `sizeof(RpPluginInfo)` as the plugin was compiled.
    pub info_size: u32,
    /// `sizeof(RpWindow)` as the plugin was compiled.
    pub window_size: u32,
    /// See [`RpCreateFn`].
    pub create: Option<RpCreateFn>,
    /// See [`RpInfoFn`].
    pub info: Option<RpInfoFn>,
    /// See [`RpObserveFn`].
    pub observe: Option<RpObserveFn>,
    /// See [`RpEvaluateFn`].
    pub evaluate: Option<RpEvaluateFn>,
    /// See [`RpDestroyFn`].
    pub destroy: Option<RpDestroyFn>,
}

/// The signature of the entry symbol [`RP_ENTRY_SYMBOL`].
pub type RpEntryFn = unsafe extern "C" fn() -> *const RpPluginV1;

// SAFETY: the table holds only integers and function pointers; it is
// immutable and meant to live in a `static`.
unsafe impl Sync for RpPluginV1 {}

impl RpStr {
    /// An empty view.
    pub const EMPTY: RpStr = RpStr { ptr: std::ptr::null(), len: 0 };

    /// A view of `s`; valid while `s` is.
    pub const fn from_str(s: &str) -> RpStr {
        RpStr { ptr: s.as_ptr(), len: s.len() }
    }

    /// The bytes behind the view.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and
    /// unchanged for `'a` (or `len` must be 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The text behind the view, or `None` if it is not UTF-8.
    ///
    /// # Safety
    /// As for [`RpStr::as_bytes`].
    pub unsafe fn to_str<'a>(self) -> Option<&'a str> {
        // SAFETY: forwarded to the caller.
        std::str::from_utf8(unsafe { self.as_bytes() }).ok()
    }
}

/// A borrowed slice from a C pointer and length; empty for null.
///
/// # Safety
/// `ptr` must point to `len` valid values that outlive `'a` (or `len` is 0).
pub unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: the caller guarantees `len` valid values at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}
