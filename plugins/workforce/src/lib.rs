//! Workforce metrics for a support team, per agent and per team, as
//! docs/metrics.md defines them, from three custom event types. Every event
//! carries the attributes `agent` and `team` (the plugin's dimensions, so
//! each agent is one series and queries group by `agent` or `team`);
//! `chatbot_session` events carry only `team`.
//!
//! | event type | values | attributes |
//! |---|---|---|
//! | `interaction`: one contact an agent handled | `handle_seconds` (≥ 0, required); `csat_score` (1..5, optional: the customer's rating of this contact) | `agent` (required), `team`, `resolved_first_contact` (`true`/`false`, optional) |
//! | `shift`: a stretch of an agent's working time | `logged_in_seconds`, `scheduled_seconds`, `adherent_seconds` (each ≥ 0, optional) | `agent` (required), `team` |
//! | `chatbot_session`: one conversation with the support chatbot | none | `team`, `resolved_without_agent` (`true`/`false`, required) |
//!
//! Metrics (rates from integer counts or sums over the whole window):
//!
//! - `contacts_per_hour`: interactions / (logged-in seconds / 3600);
//! - `average_handle_time`: mean `handle_seconds`, with a normal interval;
//! - `first_contact_resolution`: interactions resolved at first contact /
//!   interactions that report it, in percent, with a Wilson interval;
//! - `agent_csat`: share of rated interactions scored 4 or 5, in percent;
//! - `occupancy`: handling time / logged-in time, in percent;
//! - `schedule_adherence`: time in adherence / scheduled time, in percent;
//! - `chatbot_self_service`: sessions resolved without an agent / sessions.

use rapport_plugin_api::{
    EventView, MetricDef, Observer, Plugin, PluginSpec, SlotKind, Value, WindowView, rapport_plugin, stats,
};

/// The workforce scorer.
#[derive(Debug, Default)]
pub struct Workforce;

// Slots.
const INTERACTIONS: usize = 0;
const HANDLE_SECONDS: usize = 1;
const FCR_REPORTED: usize = 2;
const FCR_RESOLVED: usize = 3;
const CSAT_RATED: usize = 4;
const CSAT_TOP2: usize = 5;
const LOGGED_IN_SECONDS: usize = 6;
const SCHEDULED_SECONDS: usize = 7;
const ADHERENT_SECONDS: usize = 8;
const BOT_SESSIONS: usize = 9;
const BOT_RESOLVED: usize = 10;
const SLOTS: [SlotKind; 11] = [
    SlotKind::Count,
    SlotKind::Moments,
    SlotKind::Count,
    SlotKind::Count,
    SlotKind::Count,
    SlotKind::Count,
    SlotKind::Moments,
    SlotKind::Moments,
    SlotKind::Moments,
    SlotKind::Count,
    SlotKind::Count,
];

// Metrics, in declaration order.
const CONTACTS_PER_HOUR: usize = 0;
const AVERAGE_HANDLE_TIME: usize = 1;
const FIRST_CONTACT_RESOLUTION: usize = 2;
const AGENT_CSAT: usize = 3;
const OCCUPANCY: usize = 4;
const SCHEDULE_ADHERENCE: usize = 5;
const CHATBOT_SELF_SERVICE: usize = 6;

fn non_negative(event: &EventView<'_>, name: &str) -> Result<Option<f64>, String> {
    match event.value(name) {
        Some(v) if v < 0.0 => Err(format!("{} {name} is negative ({v})", event.type_name())),
        other => Ok(other),
    }
}

fn require_agent(event: &EventView<'_>) -> Result<(), String> {
    match event.attribute("agent") {
        Some(agent) if !agent.is_empty() => Ok(()),
        _ => Err(format!("{} event {} has no agent attribute", event.type_name(), event.id())),
    }
}

/// `part / whole` in percent with a Wilson interval, or no data.
fn share(part: u64, whole: u64, details: Vec<(String, f64)>) -> Value {
    match stats::percent(part, whole) {
        None => Value::no_data(),
        Some(value) => Value {
            value: Some(value),
            count: whole,
            intervals: stats::wilson_percent(part, whole).into_iter().collect(),
            details,
        },
    }
}

/// A ratio of sums in percent (no sampling interval: these are totals).
fn ratio_percent(part: f64, whole: f64, count: u64, names: (&str, &str)) -> Value {
    if whole <= 0.0 {
        return Value::no_data();
    }
    Value {
        value: Some(100.0 * part / whole),
        count,
        intervals: vec![],
        details: vec![(names.0.to_owned(), part), (names.1.to_owned(), whole)],
    }
}

impl Plugin for Workforce {
    fn new(_config: &str) -> Result<Self, String> {
        Ok(Workforce)
    }

    fn spec(&self) -> PluginSpec {
        let by_agent = ["agent", "team"];
        let metrics = vec![
            MetricDef::new(
                "contacts_per_hour",
                "Contacts handled per hour logged in.",
                "contacts/hour",
                Some(0.0),
                None,
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "average_handle_time",
                "Mean handling time of a contact.",
                "seconds",
                Some(0.0),
                None,
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "first_contact_resolution",
                "Share of contacts resolved at the first contact, in percent.",
                "percent",
                Some(0.0),
                Some(100.0),
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "agent_csat",
                "CSAT of the agent's interactions: share rated 4 or 5 of 5, in percent.",
                "percent",
                Some(0.0),
                Some(100.0),
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "occupancy",
                "Handling time over logged-in time, in percent.",
                "percent",
                Some(0.0),
                Some(100.0),
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "schedule_adherence",
                "Time in adherence over scheduled time, in percent.",
                "percent",
                Some(0.0),
                Some(100.0),
            )
            .grouped_by(&by_agent),
            MetricDef::new(
                "chatbot_self_service",
                "Chatbot sessions resolved without an agent, in percent of all sessions.",
                "percent",
                Some(0.0),
                Some(100.0),
            )
            .grouped_by(&["team"]),
        ];
        PluginSpec {
            name: "workforce".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            consumes: vec!["interaction".into(), "shift".into(), "chatbot_session".into()],
            dimensions: vec!["agent".into(), "team".into()],
            slots: SLOTS.to_vec(),
            metrics,
        }
    }

    fn observe(&self, event: &EventView<'_>, out: &mut Observer<'_>) -> Result<(), String> {
        match event.type_name() {
            "interaction" => {
                require_agent(event)?;
                let handle = non_negative(event, "handle_seconds")?
                    .ok_or_else(|| format!("interaction {} has no handle_seconds", event.id()))?;
                let csat = event.value("csat_score");
                if let Some(score) = csat
                    && !(1.0..=5.0).contains(&score)
                {
                    return Err(format!("interaction {} csat_score {score} is outside 1..5", event.id()));
                }
                out.count(INTERACTIONS);
                out.record(HANDLE_SECONDS, handle);
                if event.attribute("resolved_first_contact").is_some() {
                    out.count(FCR_REPORTED);
                    if event.flag("resolved_first_contact") {
                        out.count(FCR_RESOLVED);
                    }
                }
                if let Some(score) = csat {
                    out.count(CSAT_RATED);
                    if score >= 4.0 {
                        out.count(CSAT_TOP2);
                    }
                }
            }
            "shift" => {
                require_agent(event)?;
                let slots = [
                    ("logged_in_seconds", LOGGED_IN_SECONDS),
                    ("scheduled_seconds", SCHEDULED_SECONDS),
                    ("adherent_seconds", ADHERENT_SECONDS),
                ];
                let mut found = [None; 3];
                for ((name, _), value) in slots.iter().zip(found.iter_mut()) {
                    *value = non_negative(event, name)?;
                }
                for ((_, slot), value) in slots.iter().zip(found) {
                    if let Some(value) = value {
                        out.record(*slot, value);
                    }
                }
            }
            "chatbot_session" => {
                if event.attribute("resolved_without_agent").is_none() {
                    return Err(format!("chatbot_session {} has no resolved_without_agent", event.id()));
                }
                out.count(BOT_SESSIONS);
                if event.flag("resolved_without_agent") {
                    out.count(BOT_RESOLVED);
                }
            }
            other => return Err(format!("unexpected event type {other:?}")),
        }
        Ok(())
    }

    fn evaluate(&self, metric: usize, window: &WindowView<'_>) -> Result<Value, String> {
        let interactions = window.count(INTERACTIONS);
        let handle = window.moments(HANDLE_SECONDS);
        let logged_in = window.moments(LOGGED_IN_SECONDS);
        Ok(match metric {
            CONTACTS_PER_HOUR => {
                if logged_in.sum <= 0.0 {
                    Value::no_data()
                } else {
                    Value {
                        value: Some(interactions as f64 / (logged_in.sum / 3600.0)),
                        count: interactions,
                        intervals: vec![],
                        details: vec![
                            ("contacts".into(), interactions as f64),
                            ("logged_in_hours".into(), logged_in.sum / 3600.0),
                        ],
                    }
                }
            }
            AVERAGE_HANDLE_TIME => match handle.mean() {
                None => Value::no_data(),
                Some(mean) => Value {
                    value: Some(mean),
                    count: handle.count,
                    intervals: handle
                        .sample_std_dev()
                        .and_then(|s| stats::mean_interval(mean, s, handle.count, (0.0, f64::MAX)))
                        .into_iter()
                        .collect(),
                    details: vec![("total_handle_seconds".into(), handle.sum)],
                },
            },
            FIRST_CONTACT_RESOLUTION => {
                let resolved = window.count(FCR_RESOLVED);
                share(resolved, window.count(FCR_REPORTED), vec![("resolved".into(), resolved as f64)])
            }
            AGENT_CSAT => {
                let top2 = window.count(CSAT_TOP2);
                share(top2, window.count(CSAT_RATED), vec![("top2".into(), top2 as f64)])
            }
            OCCUPANCY => ratio_percent(
                handle.sum,
                logged_in.sum,
                handle.count,
                ("handle_seconds", "logged_in_seconds"),
            ),
            SCHEDULE_ADHERENCE => {
                let scheduled = window.moments(SCHEDULED_SECONDS);
                ratio_percent(
                    window.moments(ADHERENT_SECONDS).sum,
                    scheduled.sum,
                    scheduled.count,
                    ("adherent_seconds", "scheduled_seconds"),
                )
            }
            CHATBOT_SELF_SERVICE => {
                let resolved = window.count(BOT_RESOLVED);
                share(resolved, window.count(BOT_SESSIONS), vec![("resolved".into(), resolved as f64)])
            }
            other => return Err(format!("no metric number {other}")),
        })
    }
}

rapport_plugin!(Workforce);
