//! Reading a plugin's metadata (`rp_plugin_info`) into the engine's
//! [`ScorerSpec`], refusing what the engine could not run.

use rapport_engine::{AccumulatorKind, MetricSpec, ScorerSpec};
use rapport_plugin_api::abi::{
    self, RP_SLOT_COUNT, RP_SLOT_MAX, RP_SLOT_MIN, RP_SLOT_MOMENTS, RP_SLOT_TOP_K, RpPluginInfo, RpSlot,
    RpStr,
};

/// Most slots, and most metrics, one plugin may declare.
const MAX_DECLARED: usize = 256;

/// A plugin's metadata, owned.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Metadata {
    /// What the engine sees.
    pub(crate) spec: ScorerSpec,
    /// Per metric (in metric order), the labels it is meant to be grouped
    /// by: shown to operators, not used by the engine.
    pub(crate) group_by: Vec<Vec<String>>,
}

/// Reads and checks `info`; the message says what is wrong.
pub(crate) fn read_info(info: &RpPluginInfo) -> Result<Metadata, String> {
    let name = read_str(info.name, "name")?;
    if name.is_empty() {
        return Err("the plugin has no name".into());
    }
    if info.slots_len > MAX_DECLARED || info.metrics_len > MAX_DECLARED {
        return Err(format!("more than {MAX_DECLARED} slots or metrics"));
    }
    // SAFETY: metadata arrays stay valid until destroy.
    let slots = unsafe { abi::slice(info.slots, info.slots_len) };
    let accumulators =
        slots.iter().enumerate().map(|(i, slot)| slot_kind(i, slot)).collect::<Result<Vec<_>, String>>()?;
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
    Ok(Metadata { spec, group_by })
}

fn slot_kind(i: usize, slot: &RpSlot) -> Result<AccumulatorKind, String> {
    match (slot.kind, slot.capacity) {
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
    }
}

fn read_str(s: RpStr, what: &str) -> Result<String, String> {
    // SAFETY: metadata views stay valid until destroy.
    unsafe { s.to_str() }.map(str::to_owned).ok_or_else(|| format!("{what} is not UTF-8"))
}

fn read_strs(ptr: *const RpStr, len: usize, what: &str) -> Result<Vec<String>, String> {
    // SAFETY: metadata arrays stay valid until destroy.
    unsafe { abi::slice(ptr, len) }.iter().map(|s| read_str(*s, what)).collect()
}
