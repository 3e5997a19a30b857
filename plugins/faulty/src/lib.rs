//! A plugin that misbehaves on request, to test that the host isolates it.
//! It consumes `probe` custom events and counts them; an event with
//! attribute `fail` makes `observe` return an error, one with `panic` makes
//! it panic. Its metric `faulty_probes` panics when evaluated while the
//! window holds more than 100 probes.

use rapport_plugin_api::{
    EventView, MetricDef, Observer, Plugin, PluginSpec, SlotKind, Value, WindowView, rapport_plugin,
};

/// The faulty scorer.
#[derive(Debug, Default)]
pub struct Faulty;

impl Plugin for Faulty {
    fn new(_config: &str) -> Result<Self, String> {
        Ok(Faulty)
    }

    fn spec(&self) -> PluginSpec {
        PluginSpec {
            name: "faulty".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            consumes: vec!["probe".into()],
            dimensions: vec![],
            slots: vec![SlotKind::Count],
            metrics: vec![MetricDef::new("faulty_probes", "Probes seen.", "count", Some(0.0), None)],
        }
    }

    #[allow(clippy::panic, reason = "panicking on request is this plugin's purpose")]
    fn observe(&self, event: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String> {
        if event.attribute("panic").is_some() {
            panic!("probe {} asked for a panic", event.id());
        }
        if event.attribute("fail").is_some() {
            return Err(format!("probe {} asked for an error", event.id()));
        }
        out.count(0);
        Ok(())
    }

    #[allow(clippy::panic, reason = "panicking on request is this plugin's purpose")]
    fn evaluate(&self, _metric: usize, window: &WindowView<'_>) -> Result<Value, String> {
        let n = window.count(0);
        if n > 100 {
            panic!("too many probes");
        }
        Ok(Value { value: (n > 0).then_some(n as f64), count: n, ..Value::default() })
    }
}

rapport_plugin!(Faulty);
