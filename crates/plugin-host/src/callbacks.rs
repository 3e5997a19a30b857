//! The host's side of the C ABI: the `extern "C"` callbacks a plugin calls
//! during `create`, `observe` and `evaluate`, and the tables that hand them
//! over with their context.
//!
//! Each constructor takes the Rust value the callbacks write to or read
//! from and returns the C table pointing at it. The table holds a raw
//! pointer: the caller keeps the value alive, and does not touch it, until
//! the plugin call it was made for has returned.

use std::ffi::c_void;

use rapport_engine::{AccumulatorView, Interval, MetricValue, Observations};
use rapport_plugin_api::abi::{RpErrorSink, RpObserver, RpStr, RpTopKEach, RpValueSink, RpWindow};

// === Errors ===

/// An error sink that stores the plugin's message in `message`.
pub(crate) fn error_sink(message: &mut Option<String>) -> RpErrorSink {
    RpErrorSink { ctx: (message as *mut Option<String>).cast(), set: Some(set_error) }
}

fn lossy(s: RpStr) -> String {
    // SAFETY: a plugin passes views valid for the callback.
    String::from_utf8_lossy(unsafe { s.as_bytes() }).into_owned()
}

unsafe extern "C" fn set_error(ctx: *mut c_void, message: RpStr) {
    // SAFETY: `ctx` is the `Option<String>` of the call in progress.
    let slot = unsafe { &mut *ctx.cast::<Option<String>>() };
    *slot = Some(lossy(message));
}

// === Observe ===

/// What an `observe` call writes to.
pub(crate) struct ObserveCtx<'a> {
    /// The engine's buffer for this event's observations.
    pub(crate) out: &'a mut Observations,
    /// Set when the plugin observed an item that is not UTF-8.
    pub(crate) bad_item: bool,
}

/// The observer handed to `observe`, writing into `ctx`.
pub(crate) fn observer(ctx: &mut ObserveCtx<'_>) -> RpObserver {
    RpObserver {
        ctx: (ctx as *mut ObserveCtx<'_>).cast(),
        count: Some(observe_count),
        record: Some(observe_record),
        item: Some(observe_item),
    }
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

// === Evaluate: reading the window ===

/// The window handed to `evaluate`, reading from `view`.
pub(crate) fn window(view: &AccumulatorView<'_>) -> RpWindow {
    RpWindow {
        // Only ever read through: the callbacks take `&AccumulatorView`.
        ctx: (view as *const AccumulatorView<'_>).cast_mut().cast(),
        count: Some(window_count),
        moments: Some(window_moments),
        min: Some(window_min),
        max: Some(window_max),
        top_k: Some(window_top_k),
        top_k_total: Some(window_top_k_total),
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

// === Evaluate: writing the value ===

/// The sink handed to `evaluate`, adding intervals and details to `value`.
pub(crate) fn value_sink(value: &mut MetricValue) -> RpValueSink {
    RpValueSink {
        ctx: (value as *mut MetricValue).cast(),
        interval: Some(value_interval),
        detail: Some(value_detail),
    }
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
