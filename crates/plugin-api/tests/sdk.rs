//! The SDK glue called directly, as a host would: errors and panics come
//! back as codes and messages, never as unwinding; metadata and values are
//! written where the contract says.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

use std::ffi::c_void;

use rapport_plugin_api::abi::*;
use rapport_plugin_api::{
    EventView, MetricDef, Observer, Plugin, PluginSpec, SlotKind, Value, WindowView, stats,
};

struct Echo;

impl Plugin for Echo {
    fn new(config: &str) -> Result<Self, String> {
        if config == "refuse" { Err("refused by config".into()) } else { Ok(Echo) }
    }

    fn spec(&self) -> PluginSpec {
        PluginSpec {
            name: "echo".into(),
            version: "1".into(),
            consumes: vec!["ping".into()],
            dimensions: vec!["who".into()],
            slots: vec![SlotKind::Count, SlotKind::TopK { capacity: 8 }],
            metrics: vec![MetricDef::new("pings", "Pings.", "count", Some(0.0), None).grouped_by(&["who"])],
        }
    }

    fn observe(&self, event: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String> {
        match event.attribute("who") {
            Some("panic") => panic!("asked to panic"),
            Some(who) => {
                out.count(0);
                out.item(1, who);
                Ok(())
            }
            None => Err(format!("ping {} without who", event.id())),
        }
    }

    fn evaluate(&self, _metric: usize, window: &WindowView<'_>) -> Result<Value, String> {
        let n = window.count(0);
        Ok(Value {
            value: Some(n as f64),
            count: n,
            intervals: stats::wilson_percent(1, 2).into_iter().collect(),
            details: vec![("half".into(), 0.5)],
        })
    }
}

static TABLE: RpPluginV1 = rapport_plugin_api::export::table::<Echo>();

unsafe extern "C" fn set_error(ctx: *mut c_void, message: RpStr) {
    // SAFETY: ctx is the test's String; the view is valid for the call.
    unsafe { *ctx.cast::<String>() = String::from_utf8_lossy(message.as_bytes()).into_owned() };
}

#[derive(Default)]
struct Seen {
    counts: Vec<u32>,
    items: Vec<String>,
}

unsafe extern "C" fn count(ctx: *mut c_void, slot: u32) {
    // SAFETY: ctx is the test's Seen.
    unsafe { (*ctx.cast::<Seen>()).counts.push(slot) };
}

unsafe extern "C" fn item(ctx: *mut c_void, _slot: u32, item: RpStr) {
    // SAFETY: as above.
    unsafe { (*ctx.cast::<Seen>()).items.push(String::from_utf8_lossy(item.as_bytes()).into_owned()) };
}

fn create(config: &str) -> (i32, *mut c_void, String) {
    let mut message = String::new();
    let sink = RpErrorSink { ctx: (&raw mut message).cast(), set: Some(set_error) };
    let mut instance = std::ptr::null_mut();
    let create = TABLE.create.unwrap_or_else(|| panic!("no create"));
    // SAFETY: the SDK's own create with valid pointers.
    let code = unsafe { create(RpStr::from_str(config), &mut instance, &sink) };
    (code, instance, message)
}

fn observe(instance: *mut c_void, who: Option<&str>) -> (i32, Seen, String) {
    let attributes: Vec<RpPair> =
        who.map(|w| RpPair { key: RpStr::from_str("who"), value: RpStr::from_str(w) }).into_iter().collect();
    let event = RpEvent {
        type_name: RpStr::from_str("ping"),
        id: RpStr::from_str("p1"),
        account_id: RpStr::EMPTY,
        time_ms: 0,
        labels: std::ptr::null(),
        labels_len: 0,
        values: std::ptr::null(),
        values_len: 0,
        attributes: attributes.as_ptr(),
        attributes_len: attributes.len(),
    };
    let mut seen = Seen::default();
    let out = RpObserver { ctx: (&raw mut seen).cast(), count: Some(count), record: None, item: Some(item) };
    let mut message = String::new();
    let sink = RpErrorSink { ctx: (&raw mut message).cast(), set: Some(set_error) };
    let observe = TABLE.observe.unwrap_or_else(|| panic!("no observe"));
    // SAFETY: the SDK's own observe with valid pointers.
    let code = unsafe { observe(instance, &event, &out, &sink) };
    (code, seen, message)
}

#[test]
fn table_header_names_this_abi() {
    assert_eq!(TABLE.abi_version, RP_ABI_VERSION);
    assert_eq!(TABLE.struct_size as usize, size_of::<RpPluginV1>());
    assert_eq!(TABLE.event_size as usize, size_of::<RpEvent>());
}

#[test]
fn create_reports_a_refusal_with_its_message() {
    let (code, instance, message) = create("refuse");
    assert_eq!((code, instance.is_null(), message.as_str()), (RP_ERROR, true, "refused by config"));
}

#[test]
fn metadata_errors_and_panics_cross_as_codes_and_messages() {
    let (code, instance, _) = create("");
    assert_eq!(code, RP_OK);
    let info = TABLE.info.unwrap_or_else(|| panic!("no info"));
    // SAFETY: a live instance; the info lives until destroy.
    let info = unsafe { &*info(instance) };
    // SAFETY: views into the instance's metadata.
    unsafe {
        assert_eq!(info.name.to_str(), Some("echo"));
        assert_eq!(info.slots_len, 2);
        assert_eq!((*info.slots.add(1)).kind, RP_SLOT_TOP_K);
        assert_eq!((*info.slots.add(1)).capacity, 8);
        let metric = &*info.metrics;
        assert_eq!(metric.name.to_str(), Some("pings"));
        assert_eq!((metric.has_min, metric.has_max), (1, 0));
        assert_eq!((*metric.group_by).to_str(), Some("who"));
    }

    let (code, seen, _) = observe(instance, Some("ana"));
    assert_eq!((code, seen.counts, seen.items), (RP_OK, vec![0], vec!["ana".to_owned()]));
    let (code, _, message) = observe(instance, None);
    assert_eq!((code, message.as_str()), (RP_ERROR, "ping p1 without who"));
    let (code, seen, message) = observe(instance, Some("panic"));
    assert_eq!((code, message.as_str()), (RP_PANIC, "panicked: asked to panic"));
    assert!(seen.counts.is_empty());

    let destroy = TABLE.destroy.unwrap_or_else(|| panic!("no destroy"));
    // SAFETY: created above, no call in flight, not used again.
    unsafe { destroy(instance) };
}
