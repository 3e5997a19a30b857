//! rapport's scorer plugin ABI and the SDK for writing plugins in Rust.
//!
//! A plugin is a shared library exporting one symbol,
//! [`abi::RP_ENTRY_SYMBOL`] (`rapport_plugin_v1`), which returns a pointer
//! to a static [`abi::RpPluginV1`]: a versioned table of `extern "C"`
//! functions. Only the `#[repr(C)]` types of [`abi`] cross the boundary; C
//! authors use `include/rapport_plugin.h`, which a test keeps identical in
//! layout.
//!
//! Rust authors implement [`Plugin`] (shaped like the engine's `Scorer`)
//! and export it with [`rapport_plugin!`]; the SDK catches every panic and
//! error and reports it through the host's error sink, so nothing unwinds
//! across the boundary. Build the plugin as a `cdylib` with the default
//! `panic = "unwind"`: with `panic = "abort"` a panic ends the server.
//!
//! ```ignore
//! use rapport_plugin_api::{EventView, Observer, Plugin, PluginSpec, Value, WindowView};
//!
//! struct Mentions;
//! impl Plugin for Mentions {
//!     fn new(_config: &str) -> Result<Self, String> { Ok(Mentions) }
//!     fn spec(&self) -> PluginSpec { /* name, consumes, slots, metrics */ }
//!     fn observe(&self, e: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String> {
//!         out.count(0);
//!         Ok(())
//!     }
//!     fn evaluate(&self, _m: usize, w: &WindowView<'_>) -> Result<Value, String> {
//!         let n = w.count(0);
//!         Ok(Value { value: (n > 0).then_some(n as f64), count: n, ..Value::default() })
//!     }
//! }
//! rapport_plugin_api::rapport_plugin!(Mentions);
//! ```

pub mod abi;
mod sdk;
pub mod stats;

pub use sdk::{
    EventView, Interval, MetricDef, Moments, Observer, Plugin, PluginSpec, SlotKind, TopItem, Value,
    WindowView,
};

/// The functions [`rapport_plugin!`] exports; not for direct use.
#[doc(hidden)]
pub mod export {
    pub use crate::sdk::{create, destroy, evaluate, info, observe, table};
}

/// Exports `$ty` (a [`Plugin`]) as this library's rapport plugin: defines
/// the entry symbol `rapport_plugin_v1` returning its function table. Use
/// it once per library.
#[macro_export]
macro_rules! rapport_plugin {
    ($ty:ty) => {
        /// rapport's plugin entry point: the ABI v1 function table.
        #[unsafe(no_mangle)]
        pub extern "C" fn rapport_plugin_v1() -> *const $crate::abi::RpPluginV1 {
            static TABLE: $crate::abi::RpPluginV1 = $crate::export::table::<$ty>();
            &TABLE
        }
    };
}
