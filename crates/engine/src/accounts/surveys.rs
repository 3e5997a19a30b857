//! Survey metrics per cohort (docs/metrics.md, "Cohorts"): compact per-account
//! survey tallies, joined to cohorts at query time.
//!
//! An account keeps one [`SurveyTally`] per (UTC month, survey kind, scale)
//! with scored responses: counts and integer sums, 28 bytes. Cohorts are
//! decided only when a query runs, so a `deal_closed` (or a label) that
//! arrives after the responses still puts them in the right cohort, and
//! any account label can be the cohort key. The price is month resolution:
//! a cohort survey query counts the responses of the whole UTC months its
//! window touches (the answer reports that widened window).
//!
//! **Invariant:** the values are the built-in scorers' own: a cohort's
//! tallies become the scorer's accumulator slots and the scorer evaluates
//! them, so CSAT, CES, NPS and response counts per cohort follow the same
//! definitions, intervals and mixed-scale refusal as the survey metrics.

use serde::{Deserialize, Serialize};

use super::calendar::month_index;
use crate::accumulator::{Accumulator, AccumulatorView, Moments};
use crate::event::{Scale, SurveyKind};
use crate::scorer::{MetricValue, Scorer, ScorerError};
use crate::scorers::{CesScorer, CsatScorer, NpsScorer, ResponseCountScorer};
use crate::time::Timestamp;
use crate::validate::{CES_SCALES, CSAT_SCALES, SurveySettings};

/// One account's scored responses of one kind and scale in one month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyTally {
    /// Months since January 1970 (UTC).
    pub month: i32,
    /// CSAT, CES or NPS.
    pub kind: SurveyKind,
    /// The response scale (lowest score).
    pub scale_min: i8,
    /// The response scale (highest score).
    pub scale_max: i8,
    /// Scored responses.
    pub responses: u32,
    /// CSAT top-2-box, CES "easy", NPS promoters.
    pub top: u32,
    /// NPS detractors (0 for the other kinds).
    pub low: u32,
    /// Sum of scores.
    pub sum: u32,
    /// Sum of squared scores.
    pub sum_sq: u32,
}

impl SurveyTally {
    fn scale(&self) -> Scale {
        Scale::new(i32::from(self.scale_min), i32::from(self.scale_max))
    }
}

/// Adds one scored response to `tallies` (sorted by month, kind, scale).
pub(crate) fn add(
    tallies: &mut Vec<SurveyTally>,
    time: Timestamp,
    kind: SurveyKind,
    scale: Scale,
    score: i32,
) {
    let (Ok(scale_min), Ok(scale_max)) = (i8::try_from(scale.min), i8::try_from(scale.max)) else { return };
    let month = month_index(time);
    let key = |t: &SurveyTally| (t.month, t.kind as u8, t.scale_min, t.scale_max);
    let wanted = (month, kind as u8, scale_min, scale_max);
    let at = tallies.partition_point(|t| key(t) < wanted);
    if tallies.get(at).is_none_or(|t| key(t) != wanted) {
        tallies.reserve_exact(1);
        let empty = SurveyTally {
            month,
            kind,
            scale_min,
            scale_max,
            responses: 0,
            top: 0,
            low: 0,
            sum: 0,
            sum_sq: 0,
        };
        tallies.insert(at, empty);
    }
    let Some(tally) = tallies.get_mut(at) else { return };
    let (top, low) = match kind {
        SurveyKind::Csat => (score >= scale.max - 1, false),
        SurveyKind::Ces => (score >= if scale.max == 7 { 5 } else { 4 }, false),
        SurveyKind::Nps => (score >= 9, score <= 6),
    };
    let score = u32::try_from(score).unwrap_or(0);
    tally.responses = tally.responses.saturating_add(1);
    tally.top = tally.top.saturating_add(u32::from(top));
    tally.low = tally.low.saturating_add(u32::from(low));
    tally.sum = tally.sum.saturating_add(score);
    tally.sum_sq = tally.sum_sq.saturating_add(score.saturating_mul(score));
}

/// Drops tallies of months wholly before `horizon`.
pub(crate) fn drop_before(tallies: &mut Vec<SurveyTally>, horizon: Timestamp) {
    let first = month_index(horizon);
    let old = tallies.partition_point(|t| t.month < first);
    if old > 0 {
        tallies.drain(..old);
        tallies.shrink_to_fit();
    }
}

/// The survey metrics a cohort can be scored on: the built-in ones.
pub const COHORT_SURVEY_METRICS: [&str; 5] = ["csat", "ces", "ces_easy", "nps", "survey_responses"];

/// Merged tallies of a cohort over a range of months, as the built-in
/// scorers' accumulator slots.
#[derive(Clone, Debug)]
pub struct SurveySlots {
    csat: Vec<Accumulator>,
    ces: Vec<Accumulator>,
    nps: Vec<Accumulator>,
    responses: Vec<Accumulator>,
}

impl Default for SurveySlots {
    fn default() -> Self {
        SurveySlots {
            csat: vec![Accumulator::Count(0); 2 * CSAT_SCALES.len()],
            ces: CES_SCALES
                .iter()
                .flat_map(|_| [Accumulator::Moments(Moments::default()), Accumulator::Count(0)])
                .collect(),
            nps: vec![Accumulator::Count(0); 3],
            responses: vec![Accumulator::Count(0); 2],
        }
    }
}

impl SurveySlots {
    /// Adds the tallies of months `from..to` (month indices).
    pub(crate) fn add(&mut self, tallies: &[SurveyTally], from: i32, to: i32) {
        for tally in tallies.iter().filter(|t| (from..to).contains(&t.month)) {
            let n = u64::from(tally.responses);
            bump(&mut self.responses, 0, n);
            match tally.kind {
                SurveyKind::Csat => {
                    let Some(i) = CSAT_SCALES.iter().position(|s| *s == tally.scale()) else { continue };
                    bump(&mut self.csat, 2 * i, n);
                    bump(&mut self.csat, 2 * i + 1, u64::from(tally.top));
                }
                SurveyKind::Ces => {
                    let Some(i) = CES_SCALES.iter().position(|s| *s == tally.scale()) else { continue };
                    if let Some(Accumulator::Moments(m)) = self.ces.get_mut(2 * i) {
                        m.merge(&Moments {
                            count: n,
                            sum: f64::from(tally.sum),
                            sum_sq: f64::from(tally.sum_sq),
                        });
                    }
                    bump(&mut self.ces, 2 * i + 1, u64::from(tally.top));
                }
                SurveyKind::Nps => {
                    let passives = tally.responses.saturating_sub(tally.top).saturating_sub(tally.low);
                    bump(&mut self.nps, 0, u64::from(tally.top));
                    bump(&mut self.nps, 1, u64::from(passives));
                    bump(&mut self.nps, 2, u64::from(tally.low));
                }
            }
        }
    }

    /// The value of survey metric `metric` (one of [`COHORT_SURVEY_METRICS`]),
    /// evaluated by its built-in scorer.
    pub fn evaluate(&self, metric: &str, settings: &SurveySettings) -> Result<MetricValue, ScorerError> {
        let view = |slots: &[Accumulator], scorer: &dyn Scorer, index: usize| {
            scorer.evaluate(index, AccumulatorView::new(slots))
        };
        match metric {
            "csat" => view(&self.csat, &CsatScorer::new(settings.clone()), 0),
            "ces" => view(&self.ces, &CesScorer::new(settings.clone()), 0),
            "ces_easy" => view(&self.ces, &CesScorer::new(settings.clone()), 1),
            "nps" => view(&self.nps, &NpsScorer::new(), 0),
            "survey_responses" => view(&self.responses, &ResponseCountScorer::new(), 0),
            other => Err(ScorerError::Failed(format!("{other} is not a survey metric"))),
        }
    }
}

fn bump(slots: &mut [Accumulator], slot: usize, n: u64) {
    if let Some(Accumulator::Count(count)) = slots.get_mut(slot) {
        *count += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_become_the_scorers_values() {
        let mut tallies = Vec::new();
        let t = Timestamp(1_767_225_600_000);
        for score in [10, 9, 8, 6, 0] {
            add(&mut tallies, t, SurveyKind::Nps, Scale::new(0, 10), score);
        }
        for score in [7, 5, 3] {
            add(&mut tallies, t, SurveyKind::Ces, Scale::new(1, 7), score);
        }
        assert_eq!(tallies.len(), 2);
        let mut slots = SurveySlots::default();
        let month = month_index(t);
        slots.add(&tallies, month, month + 1);
        let settings = SurveySettings::default();
        let nps = slots.evaluate("nps", &settings).unwrap_or_default();
        assert_eq!((nps.value, nps.count), (Some(0.0), 5)); // 2 promoters, 2 detractors of 5
        let ces = slots.evaluate("ces", &settings).unwrap_or_default();
        assert_eq!((ces.value, ces.count), (Some(5.0), 3));
        let easy = slots.evaluate("ces_easy", &settings).unwrap_or_default();
        assert_eq!(easy.value.map(|v| (v * 100.0).round()), Some(6667.0));
        let responses = slots.evaluate("survey_responses", &settings).unwrap_or_default();
        assert_eq!(responses.value, Some(8.0));
        let mut empty = SurveySlots::default();
        empty.add(&tallies, month + 1, month + 2);
        assert_eq!(empty.evaluate("csat", &settings).unwrap_or_default().value, None);
    }
}
