//! Keeps `include/rapport_plugin.h` and `src/abi.rs` identical in layout:
//! compiles a C program against the header with the system C compiler
//! (`$CC`, else `cc`) and compares every size, offset and constant it
//! prints with the Rust definitions.

#![allow(clippy::panic, reason = "a test reports failures by panicking")]

use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use rapport_plugin_api::abi::*;

/// For each struct: its C name, the Rust size, and each field's C name with
/// the Rust offset. Field names are the same on both sides.
macro_rules! layouts {
    ($($rust:ident => $c:literal { $($field:ident),* $(,)? })*) => {
        vec![$(
            ($c, size_of::<$rust>(), vec![$((stringify!($field), offset_of!($rust, $field))),*]),
        )*]
    };
}

type Layout = (&'static str, usize, Vec<(&'static str, usize)>);

fn layouts() -> Vec<Layout> {
    layouts! {
        RpStr => "rp_str" { ptr, len }
        RpPair => "rp_pair" { key, value }
        RpNamedValue => "rp_named_value" { name, value }
        RpEvent => "rp_event" {
            type_name, id, account_id, time_ms, labels, labels_len, values, values_len, attributes, attributes_len,
        }
        RpObserver => "rp_observer" { ctx, count, record, item }
        RpWindow => "rp_window" { ctx, count, moments, min, max, top_k, top_k_total }
        RpMetricValue => "rp_metric_value" { has_value, reserved, value, count }
        RpValueSink => "rp_value_sink" { ctx, interval, detail }
        RpErrorSink => "rp_error_sink" { ctx, set }
        RpSlot => "rp_slot" { kind, capacity }
        RpMetricSpec => "rp_metric_spec" {
            name, description, unit, has_min, has_max, min, max, group_by, group_by_len,
        }
        RpPluginInfo => "rp_plugin_info" {
            name, version, consumes, consumes_len, dimensions, dimensions_len, slots, slots_len, metrics,
            metrics_len,
        }
        RpHeader => "rp_header" { abi_version, struct_size }
        RpPluginV1 => "rp_plugin_v1" {
            abi_version, struct_size, event_size, metric_value_size, info_size, window_size, create, info,
            observe, evaluate, destroy,
        }
    }
}

fn constants() -> Vec<(&'static str, i64)> {
    vec![
        ("RP_ABI_VERSION", i64::from(RP_ABI_VERSION)),
        ("RP_OK", i64::from(RP_OK)),
        ("RP_ERROR", i64::from(RP_ERROR)),
        ("RP_PANIC", i64::from(RP_PANIC)),
        ("RP_SLOT_COUNT", i64::from(RP_SLOT_COUNT)),
        ("RP_SLOT_MOMENTS", i64::from(RP_SLOT_MOMENTS)),
        ("RP_SLOT_MIN", i64::from(RP_SLOT_MIN)),
        ("RP_SLOT_MAX", i64::from(RP_SLOT_MAX)),
        ("RP_SLOT_TOP_K", i64::from(RP_SLOT_TOP_K)),
    ]
}

#[test]
fn c_header_matches_rust_layout() {
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("header_layout");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

    let mut program = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"rapport_plugin.h\"\nint main(void) {\n",
    );
    let mut expected = String::new();
    for (name, size, fields) in layouts() {
        let _ = writeln!(program, "  printf(\"size {name} %zu\\n\", sizeof({name}));");
        let _ = writeln!(expected, "size {name} {size}");
        for (field, offset) in fields {
            let _ =
                writeln!(program, "  printf(\"offset {name}.{field} %zu\\n\", offsetof({name}, {field}));");
            let _ = writeln!(expected, "offset {name}.{field} {offset}");
        }
    }
    for (name, value) in constants() {
        let _ = writeln!(program, "  printf(\"const {name} %lld\\n\", (long long)({name}));");
        let _ = writeln!(expected, "const {name} {value}");
    }
    let _ = writeln!(program, "  printf(\"const RP_ENTRY_SYMBOL %s\\n\", RP_ENTRY_SYMBOL);\n  return 0;\n}}");
    let _ = writeln!(expected, "const RP_ENTRY_SYMBOL {RP_ENTRY_SYMBOL}");

    let source = dir.join("layout.c");
    let binary = dir.join("layout");
    std::fs::write(&source, &program).unwrap_or_else(|e| panic!("write {}: {e}", source.display()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&binary)
        .arg("-I")
        .arg(&include)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("run {cc}: {e}"));
    assert!(status.success(), "{cc} failed to compile the layout probe");
    let output = Command::new(&binary).output().unwrap_or_else(|e| panic!("run probe: {e}"));
    assert!(output.status.success());
    let actual = String::from_utf8_lossy(&output.stdout);
    for (want, got) in expected.lines().zip(actual.lines()) {
        assert_eq!(want, got, "header and src/abi.rs disagree");
    }
    assert_eq!(expected.lines().count(), actual.lines().count());
}
