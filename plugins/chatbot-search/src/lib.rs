//! Chatbot search, as docs/metrics.md defines it, from `search` custom events:
//!
//! | values | attributes |
//! |---|---|
//! | none | `query` (the text typed, required), `answered` (`true`/`false`, required: an answer was found), `handoff` (`true`/`false`, optional: the session then reached an agent) |
//!
//! Queries are normalized before counting: trimmed, lower-cased, inner
//! whitespace collapsed to one space ("  Refund  Status" is "refund status").
//!
//! Metrics:
//!
//! - `chatbot_top_search_terms`: value = searches in the window; details =
//!   the 10 most searched terms with their counts, largest first, then
//!   `max_overcount`: terms come from a Space-Saving summary of 256
//!   counters per bucket, so each count exceeds the true one by at most
//!   that much (at most searches / 256);
//! - `chatbot_no_answer_share`: searches with no answer, in percent;
//! - `chatbot_top_unanswered_terms`: as the top terms, over unanswered searches;
//! - `chatbot_handoff_share`: searches followed by a handoff to an agent, in percent.

use rapport_plugin_api::{
    EventView, MetricDef, Observer, Plugin, PluginSpec, SlotKind, Value, WindowView, rapport_plugin, stats,
};

/// The chatbot search scorer.
#[derive(Debug, Default)]
pub struct ChatbotSearch;

const SEARCHES: usize = 0;
const NO_ANSWER: usize = 1;
const HANDOFF: usize = 2;
const TERMS: usize = 3;
const UNANSWERED_TERMS: usize = 4;

/// Counters per top-k slot and bucket.
pub const CAPACITY: u32 = 256;
/// Terms reported by the top-terms metrics.
pub const TOP: usize = 10;

/// Lower-cases `query`, trims it and collapses inner whitespace.
pub fn normalize(query: &str) -> String {
    query.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

fn top_terms(window: &WindowView<'_>, slot: usize, count_slot: usize) -> Value {
    let n = window.count(count_slot);
    if n == 0 {
        return Value::no_data();
    }
    let top = window.top_k(slot, TOP);
    let max_overcount = top.iter().map(|t| t.error).max().unwrap_or(0);
    let mut details: Vec<(String, f64)> = top.into_iter().map(|t| (t.item, t.count as f64)).collect();
    details.push(("max_overcount".into(), max_overcount as f64));
    Value { value: Some(n as f64), count: n, intervals: vec![], details }
}

fn share(part: u64, whole: u64) -> Value {
    match stats::percent(part, whole) {
        None => Value::no_data(),
        Some(value) => Value {
            value: Some(value),
            count: whole,
            intervals: stats::wilson_percent(part, whole).into_iter().collect(),
            details: vec![("matching".into(), part as f64)],
        },
    }
}

impl Plugin for ChatbotSearch {
    fn new(_config: &str) -> Result<Self, String> {
        Ok(ChatbotSearch)
    }

    fn spec(&self) -> PluginSpec {
        PluginSpec {
            name: "chatbot_search".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            consumes: vec!["search".into()],
            dimensions: vec![],
            slots: vec![
                SlotKind::Count,
                SlotKind::Count,
                SlotKind::Count,
                SlotKind::TopK { capacity: CAPACITY },
                SlotKind::TopK { capacity: CAPACITY },
            ],
            metrics: vec![
                MetricDef::new(
                    "chatbot_top_search_terms",
                    "Searches in the window; details list the most searched terms (normalized).",
                    "count",
                    Some(0.0),
                    None,
                ),
                MetricDef::new(
                    "chatbot_no_answer_share",
                    "Share of chatbot searches that found no answer, in percent.",
                    "percent",
                    Some(0.0),
                    Some(100.0),
                ),
                MetricDef::new(
                    "chatbot_top_unanswered_terms",
                    "Searches with no answer; details list the most frequent unanswered terms.",
                    "count",
                    Some(0.0),
                    None,
                ),
                MetricDef::new(
                    "chatbot_handoff_share",
                    "Share of chatbot searches followed by a handoff to an agent, in percent.",
                    "percent",
                    Some(0.0),
                    Some(100.0),
                ),
            ],
        }
    }

    fn observe(&self, event: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String> {
        let term = normalize(event.attribute("query").unwrap_or(""));
        if term.is_empty() {
            return Err(format!("search {} has no query", event.id()));
        }
        if event.attribute("answered").is_none() {
            return Err(format!("search {} has no answered attribute", event.id()));
        }
        out.count(SEARCHES);
        out.item(TERMS, &term);
        if !event.flag("answered") {
            out.count(NO_ANSWER);
            out.item(UNANSWERED_TERMS, &term);
        }
        if event.flag("handoff") {
            out.count(HANDOFF);
        }
        Ok(())
    }

    fn evaluate(&self, metric: usize, window: &WindowView<'_>) -> Result<Value, String> {
        Ok(match metric {
            0 => top_terms(window, TERMS, SEARCHES),
            1 => share(window.count(NO_ANSWER), window.count(SEARCHES)),
            2 => top_terms(window, UNANSWERED_TERMS, NO_ANSWER),
            3 => share(window.count(HANDOFF), window.count(SEARCHES)),
            other => return Err(format!("no metric number {other}")),
        })
    }
}

rapport_plugin!(ChatbotSearch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_and_whitespace() {
        assert_eq!(normalize("  Refund \t  STATUS "), "refund status");
        assert_eq!(normalize("   "), "");
    }
}
