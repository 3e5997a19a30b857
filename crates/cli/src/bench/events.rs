//! Synthetic events for the load generators: about 80 bytes on the wire,
//! three labels, a chosen mix of survey, lifecycle and custom events.
//!
//! Generation is seeded and cheap (a few random numbers per event), since
//! the client shares the machine with the server it measures: what the
//! client spends is the same for rapport and the ceiling, so it cancels out
//! of the ratio but not of the absolute figures.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::proto;
use rapport::proto::event::Payload;

/// Values of the `segment` label: the 3-valued label queries group by.
pub const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
/// Values of the `region` label.
const REGIONS: [&str; 2] = ["eu", "us"];
/// Distinct accounts events are spread over (bounds lifecycle state).
const ACCOUNTS: u64 = 1000;

/// Shares of each kind of event, in percent of all events.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct EventMix {
    /// Percent of events that are NPS survey responses.
    #[arg(long, default_value_t = 80)]
    pub survey_pct: u32,
    /// Percent of events that are account lifecycle events (activations).
    #[arg(long, default_value_t = 10)]
    pub lifecycle_pct: u32,
    /// Percent of events that are custom events; survey + lifecycle +
    /// custom must make 100.
    #[arg(long, default_value_t = 10)]
    pub custom_pct: u32,
    /// Distinct values of the third label, `plan` (label cardinality: the
    /// series count is 3 segments x 2 regions x this).
    #[arg(long, default_value_t = 4)]
    pub plan_values: u32,
}

impl EventMix {
    /// Survey responses only (the query load: every event counts for NPS).
    pub fn surveys_only(plan_values: u32) -> EventMix {
        EventMix { survey_pct: 100, lifecycle_pct: 0, custom_pct: 0, plan_values }
    }

    /// Refuses shares that do not add up to 100 and a zero cardinality.
    pub fn check(&self) -> anyhow::Result<()> {
        let total = self.survey_pct + self.lifecycle_pct + self.custom_pct;
        anyhow::ensure!(total == 100, "event shares add up to {total}%, not 100%");
        anyhow::ensure!(self.plan_values > 0, "--plan-values must be at least 1");
        Ok(())
    }
}

/// Event times: uniformly spread over `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug)]
pub struct TimeRange {
    /// First millisecond (Unix time).
    pub start_ms: i64,
    /// One past the last millisecond.
    pub end_ms: i64,
}

impl TimeRange {
    /// The `span_ms` milliseconds before `end_ms`.
    pub fn before(end_ms: i64, span_ms: i64) -> TimeRange {
        TimeRange { start_ms: end_ms - span_ms, end_ms }
    }
}

/// One NPS survey response as exported for the DuckDB recomputation.
#[derive(Clone, Copy, Debug)]
pub struct SurveyRow {
    /// Event time, Unix milliseconds.
    pub time_ms: i64,
    /// Index into [`SEGMENTS`].
    pub segment: usize,
    /// The `region` label.
    pub region: &'static str,
    /// The `plan` label's number (`p{plan}`).
    pub plan: u32,
    /// The 0..10 score.
    pub score: i32,
}

/// A seeded stream of events with unique ids (`{prefix}-{n}`).
pub struct EventGen {
    mix: EventMix,
    times: TimeRange,
    prefix: String,
    next: u64,
    rng: StdRng,
}

impl EventGen {
    /// A generator whose ids start with `prefix` (unique per connection and
    /// run, so nothing is dropped as a duplicate).
    pub fn new(mix: EventMix, times: TimeRange, prefix: String, seed: u64) -> EventGen {
        EventGen { mix, times, prefix, next: 0, rng: StdRng::seed_from_u64(seed) }
    }

    /// The next `size` events; each NPS response is also passed to `export`.
    pub fn batch(&mut self, size: usize, mut export: impl FnMut(SurveyRow)) -> Vec<proto::Event> {
        (0..size)
            .map(|_| {
                let (event, row) = self.event();
                if let Some(row) = row {
                    export(row);
                }
                event
            })
            .collect()
    }

    fn event(&mut self) -> (proto::Event, Option<SurveyRow>) {
        let n = self.next;
        self.next += 1;
        let time_ms =
            self.rng.random_range(self.times.start_ms..self.times.end_ms.max(self.times.start_ms + 1));
        let segment = self.rng.random_range(0..SEGMENTS.len());
        let region = REGIONS[self.rng.random_range(0..REGIONS.len())];
        let plan = self.rng.random_range(0..self.mix.plan_values);
        let pick = self.rng.random_range(0..100);
        let mut row = None;
        let payload = if pick < self.mix.survey_pct {
            let score = self.rng.random_range(0..=10);
            row = Some(SurveyRow { time_ms, segment, region, plan, score });
            Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some(score),
                scale: None,
                comment: String::new(),
            })
        } else if pick < self.mix.survey_pct + self.mix.lifecycle_pct {
            Payload::AccountLifecycle(proto::AccountLifecycle {
                kind: proto::AccountLifecycleKind::Activated.into(),
                ..Default::default()
            })
        } else {
            Payload::Custom(proto::CustomEvent {
                type_name: "page_view".into(),
                values: [("ms".to_owned(), f64::from(self.rng.random_range(1..5000u32)))].into(),
                attributes: Default::default(),
            })
        };
        let event = proto::Event {
            id: format!("{}-{n}", self.prefix),
            account_id: format!("acct-{}", n % ACCOUNTS),
            time: Some(rapport::convert::to_timestamp(rapport_engine::Timestamp(time_ms))),
            labels: [
                ("segment".to_owned(), SEGMENTS[segment].to_owned()),
                ("region".to_owned(), region.to_owned()),
                ("plan".to_owned(), format!("p{plan}")),
            ]
            .into(),
            payload: Some(payload),
        };
        (event, row)
    }
}

/// Unix time now, in milliseconds.
pub fn now_ms() -> i64 {
    rapport::service::now().millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn default_events_are_about_80_bytes_with_three_labels() {
        let mix = EventMix { survey_pct: 80, lifecycle_pct: 10, custom_pct: 10, plan_values: 4 };
        let now = now_ms();
        let mut generator = EventGen::new(mix, TimeRange::before(now, 3_600_000), "c0-r0".into(), 1);
        let mut surveys = 0;
        let events = generator.batch(1000, |_| surveys += 1);
        let bytes: usize = events.iter().map(Message::encoded_len).sum();
        let mean = bytes / events.len();
        assert!((70..=95).contains(&mean), "mean encoded size {mean} bytes");
        assert!(events.iter().all(|e| e.labels.len() == 3));
        // 80% surveys, give or take sampling noise on 1000 events.
        assert!((720..=880).contains(&surveys), "{surveys} surveys");
    }
}
