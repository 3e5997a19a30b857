//! CSAT, CES, NPS and response count, exactly as docs/metrics.md defines them.
//!
//! CSAT and CES keep separate slots per scale, so a window that mixes scales
//! is detected and refused instead of averaged into a meaningless number.

use crate::accumulator::{AccumulatorKind, AccumulatorView};
use crate::event::{Event, Scale, SurveyKind, SurveyResponse};
use crate::scorer::{MetricSpec, MetricValue, Observations, Scorer, ScorerError, ScorerSpec};
use crate::stats;
use crate::validate::{CES_SCALES, CSAT_SCALES, SurveySettings, resolve_scale};

// === Shared helpers ===

fn metric(name: &str, description: &str, unit: &str, min: Option<f64>, max: Option<f64>) -> MetricSpec {
    MetricSpec { name: name.into(), description: description.into(), unit: unit.into(), min, max }
}

fn spec(name: &str, accumulators: Vec<AccumulatorKind>, metrics: Vec<MetricSpec>) -> ScorerSpec {
    ScorerSpec {
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        consumes: vec![SurveyResponse::EVENT_TYPE.into()],
        dimensions: vec![],
        accumulators,
        metrics,
    }
}

/// The survey response of `kind` carried by `event` with its resolved scale
/// and score; `None` for other kinds and for skipped answers.
fn scored<'a>(
    event: &'a Event,
    kind: SurveyKind,
    settings: &SurveySettings,
) -> Result<Option<(Scale, i32, &'a SurveyResponse)>, ScorerError> {
    let Some(survey) = event.payload.as_survey() else { return Ok(None) };
    if survey.kind != Some(kind) {
        return Ok(None);
    }
    let Some(score) = survey.score else { return Ok(None) };
    let scale = resolve_scale(kind, survey.scale, settings).map_err(|r| ScorerError::Failed(r.message))?;
    Ok(Some((scale, score, survey)))
}

fn scale_index(scales: &[Scale], scale: Scale) -> Result<usize, ScorerError> {
    scales
        .iter()
        .position(|s| *s == scale)
        .ok_or_else(|| ScorerError::Failed(format!("scale {scale} passed validation but has no slot")))
}

/// The one scale among `scales` that has responses in the window, if any.
/// Two or more is a precondition failure: their numbers do not combine.
fn single_scale(
    kind: SurveyKind,
    scales: &[Scale],
    count_of: impl Fn(usize) -> u64,
) -> Result<Option<usize>, ScorerError> {
    let used: Vec<usize> = (0..scales.len()).filter(|&i| count_of(i) > 0).collect();
    match used.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => {
            let names: Vec<String> = many.iter().map(|&i| scales[i].to_string()).collect();
            Err(ScorerError::Precondition(format!(
                "the window mixes {} responses on scales {}; filter or group by a label that separates the surveys",
                kind.name(),
                names.join(" and ")
            )))
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole as f64
}

// === CSAT ===

/// CSAT: share of top-2-box answers (the two highest scores), in percent,
/// with a Wilson interval. Slots: per CSAT scale, [responses, top-2].
#[derive(Debug)]
pub struct CsatScorer {
    spec: ScorerSpec,
    settings: SurveySettings,
}

impl CsatScorer {
    /// A CSAT scorer using `settings` for the default scale.
    pub fn new(settings: SurveySettings) -> Self {
        let slots = vec![AccumulatorKind::Count; 2 * CSAT_SCALES.len()];
        let metrics = vec![metric(
            "csat",
            "Customer satisfaction: share of responses in the top two scores (4 or 5 on 1..5), in percent.",
            "percent",
            Some(0.0),
            Some(100.0),
        )];
        CsatScorer { spec: spec("csat", slots, metrics), settings }
    }
}

impl Scorer for CsatScorer {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        if let Some((scale, score, _)) = scored(event, SurveyKind::Csat, &self.settings)? {
            let base = 2 * scale_index(&CSAT_SCALES, scale)?;
            out.count(base);
            if score >= scale.max - 1 {
                out.count(base + 1);
            }
        }
        Ok(())
    }

    fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let Some(i) = single_scale(SurveyKind::Csat, &CSAT_SCALES, |i| window.count(2 * i))? else {
            return Ok(MetricValue::no_data());
        };
        let (n, top2) = (window.count(2 * i), window.count(2 * i + 1));
        Ok(MetricValue {
            value: Some(percent(top2, n)),
            count: n,
            intervals: stats::wilson_percent(top2, n).into_iter().collect(),
            details: vec![("top2".into(), top2 as f64), ("scale_max".into(), f64::from(CSAT_SCALES[i].max))],
        })
    }
}

// === CES ===

/// CES: mean score with a normal interval (`ces`) and share of "easy"
/// answers with a Wilson interval (`ces_easy`). Easy is 5..7 on 1..7 and
/// 4..5 on 1..5. Slots: per CES scale, [moments of score, easy count].
#[derive(Debug)]
pub struct CesScorer {
    spec: ScorerSpec,
    settings: SurveySettings,
}

impl CesScorer {
    const MEAN: usize = 0;

    /// A CES scorer using `settings` for the default scale.
    pub fn new(settings: SurveySettings) -> Self {
        let slots =
            CES_SCALES.iter().flat_map(|_| [AccumulatorKind::Moments, AccumulatorKind::Count]).collect();
        let metrics = vec![
            metric(
                "ces",
                "Customer effort: mean score (7 = very easy on 1..7).",
                "score",
                Some(1.0),
                Some(7.0),
            ),
            metric(
                "ces_easy",
                "Customer effort: share of easy answers (5, 6, 7 on 1..7; 4, 5 on 1..5), in percent.",
                "percent",
                Some(0.0),
                Some(100.0),
            ),
        ];
        CesScorer { spec: spec("ces", slots, metrics), settings }
    }

    /// Lowest "easy" score: the answers above the neutral midpoint.
    fn easy_threshold(scale: Scale) -> i32 {
        if scale.max == 7 { 5 } else { 4 }
    }
}

impl Scorer for CesScorer {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        if let Some((scale, score, _)) = scored(event, SurveyKind::Ces, &self.settings)? {
            let base = 2 * scale_index(&CES_SCALES, scale)?;
            out.record(base, f64::from(score));
            if score >= Self::easy_threshold(scale) {
                out.count(base + 1);
            }
        }
        Ok(())
    }

    fn evaluate(&self, metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let Some(i) = single_scale(SurveyKind::Ces, &CES_SCALES, |i| window.moments(2 * i).count)? else {
            return Ok(MetricValue::no_data());
        };
        let scale = CES_SCALES[i];
        let moments = window.moments(2 * i);
        let (n, easy) = (moments.count, window.count(2 * i + 1));
        let easy_pct = percent(easy, n);
        let scale_details =
            [("scale_min".to_owned(), f64::from(scale.min)), ("scale_max".to_owned(), f64::from(scale.max))];
        if metric == Self::MEAN {
            let mean = moments.mean().unwrap_or_default();
            let range = (f64::from(scale.min), f64::from(scale.max));
            let interval = moments.sample_std_dev().and_then(|s| stats::mean_interval(mean, s, n, range));
            let mut details = vec![("easy_pct".to_owned(), easy_pct)];
            details.extend(scale_details);
            Ok(MetricValue {
                value: Some(mean),
                count: n,
                intervals: interval.into_iter().collect(),
                details,
            })
        } else {
            let mut details = vec![("easy".to_owned(), easy as f64)];
            details.extend(scale_details);
            Ok(MetricValue {
                value: Some(easy_pct),
                count: n,
                intervals: stats::wilson_percent(easy, n).into_iter().collect(),
                details,
            })
        }
    }
}

// === NPS ===

/// NPS: percent promoters (9, 10) minus percent detractors (0..6), with the
/// standard-error interval first and the adjusted Wald interval second.
/// Slots: [promoters, passives, detractors].
#[derive(Debug)]
pub struct NpsScorer {
    spec: ScorerSpec,
}

impl NpsScorer {
    /// The NPS scorer.
    pub fn new() -> Self {
        let slots = vec![AccumulatorKind::Count; 3];
        let metrics = vec![metric(
            "nps",
            "Net promoter score: percent promoters (9-10) minus percent detractors (0-6).",
            "points",
            Some(-100.0),
            Some(100.0),
        )];
        NpsScorer { spec: spec("nps", slots, metrics) }
    }
}

impl Default for NpsScorer {
    fn default() -> Self {
        Self::new()
    }
}

impl Scorer for NpsScorer {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        if let Some((_, score, _)) = scored(event, SurveyKind::Nps, &SurveySettings::default())? {
            out.count(match score {
                9.. => 0,
                7 | 8 => 1,
                _ => 2,
            });
        }
        Ok(())
    }

    fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let (promoters, passives, detractors) = (window.count(0), window.count(1), window.count(2));
        let n = promoters + passives + detractors;
        let Some(value) = stats::nps(promoters, detractors, n) else {
            return Ok(MetricValue::no_data());
        };
        let intervals = [
            stats::nps_standard_error(promoters, detractors, n),
            stats::nps_adjusted_wald(promoters, detractors, n),
        ];
        Ok(MetricValue {
            value: Some(value),
            count: n,
            intervals: intervals.into_iter().flatten().collect(),
            details: vec![
                ("promoters".into(), promoters as f64),
                ("passives".into(), passives as f64),
                ("detractors".into(), detractors as f64),
                ("promoters_pct".into(), percent(promoters, n)),
                ("passives_pct".into(), percent(passives, n)),
                ("detractors_pct".into(), percent(detractors, n)),
            ],
        })
    }
}

// === Response count ===

/// Survey responses in the window, of any kind, groupable by `kind`.
/// Skipped or dismissed answers are not responses; they are reported apart
/// as the `skipped` detail. Slots: [responses, skipped].
#[derive(Debug)]
pub struct ResponseCountScorer {
    spec: ScorerSpec,
}

impl ResponseCountScorer {
    /// The response count scorer.
    pub fn new() -> Self {
        let mut spec = spec(
            "survey_responses",
            vec![AccumulatorKind::Count; 2],
            vec![metric(
                "survey_responses",
                "Survey responses with a score, of any kind; skipped answers are reported apart.",
                "count",
                Some(0.0),
                None,
            )],
        );
        spec.dimensions = vec!["kind".into()];
        ResponseCountScorer { spec }
    }
}

impl Default for ResponseCountScorer {
    fn default() -> Self {
        Self::new()
    }
}

impl Scorer for ResponseCountScorer {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        let Some(survey) = event.payload.as_survey() else { return Ok(()) };
        out.count(if survey.score.is_some() { 0 } else { 1 });
        Ok(())
    }

    fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let (responses, skipped) = (window.count(0), window.count(1));
        if responses + skipped == 0 {
            return Ok(MetricValue::no_data());
        }
        Ok(MetricValue {
            value: Some(responses as f64),
            count: responses,
            intervals: vec![],
            details: vec![("skipped".into(), skipped as f64)],
        })
    }
}
