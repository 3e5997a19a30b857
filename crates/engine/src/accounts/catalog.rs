//! The lifecycle metrics by name, as `ListMetrics` shows them.

use super::labels::START_MONTH;
use super::surveys::COHORT_SURVEY_METRICS;
use crate::scorer::MetricSpec;

/// One lifecycle metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metric {
    Grr,
    Nrr,
    LogoChurn,
    ActivationRate,
    Ttfv,
    TimeToActivation,
    OnboardingTimeliness,
    ProcessingVolume,
    InactiveAccounts,
    FeedbackBacklog,
    FeedbackAddressed24h,
    Cohorts,
    /// A survey metric per cohort, with its rank among peer cohorts.
    CohortSurvey(&'static str),
}

/// A metric, its name, description, unit, least and greatest value.
type Entry = (Metric, &'static str, &'static str, &'static str, Option<f64>, Option<f64>);

/// Query parameter of `inactive_accounts`: the inactivity period in days.
pub const INACTIVE_DAYS: &str = "inactive_days";

/// The default inactivity period (docs/metrics.md).
pub const DEFAULT_INACTIVE_DAYS: i64 = 30;

/// Prefix of the survey-per-cohort metrics (`cohort_nps`, ...).
const COHORT_PREFIX: &str = "cohort_";

impl Metric {
    /// Every lifecycle metric but the per-cohort survey ones.
    const PLAIN: [Entry; 12] = [
        (
            Metric::Grr,
            "grr",
            "Gross revenue retention over the window: (starting MRR - contraction - churned MRR) / starting MRR of accounts active at its start.",
            "percent",
            Some(0.0),
            Some(100.0),
        ),
        (
            Metric::Nrr,
            "nrr",
            "Net revenue retention over the window: (starting MRR + expansion - contraction - churned MRR) / starting MRR of accounts active at its start.",
            "percent",
            Some(0.0),
            None,
        ),
        (
            Metric::LogoChurn,
            "logo_churn",
            "Accounts that churned in the window / accounts active at its start.",
            "percent",
            Some(0.0),
            Some(100.0),
        ),
        (
            Metric::ActivationRate,
            "activation_rate",
            "Accounts activated / accounts whose deal closed, for deals closed in the window.",
            "percent",
            Some(0.0),
            Some(100.0),
        ),
        (
            Metric::Ttfv,
            "ttfv",
            "Time to first value: median days from deal closed to the first value realized, for deals closed in the window; p90, open accounts and time to activation beside it.",
            "days",
            Some(0.0),
            None,
        ),
        (
            Metric::TimeToActivation,
            "time_to_activation",
            "Median days from deal closed to activation (go-live), for deals closed in the window; p90 and time to first value beside it.",
            "days",
            Some(0.0),
            None,
        ),
        (
            Metric::OnboardingTimeliness,
            "onboarding_timeliness",
            "Share of onboarding milestones reached in the window that were reached by their due time.",
            "percent",
            Some(0.0),
            Some(100.0),
        ),
        (
            Metric::ProcessingVolume,
            "processing_volume",
            "Transactions processed in the window (whole UTC days, exact for the window reported), with their amount and the change against the previous window of the same length; per account in a table.",
            "count",
            Some(0.0),
            None,
        ),
        (
            Metric::InactiveAccounts,
            "inactive_accounts",
            "Activated accounts with no usage in the inactive_days days (default 30) before the window's end, judged as of that end, counted per latest reason and listed in a table.",
            "count",
            Some(0.0),
            None,
        ),
        (
            Metric::FeedbackBacklog,
            "feedback_backlog",
            "Low-score survey comments (with or without an account) not yet addressed, now, with the oldest one's age.",
            "count",
            Some(0.0),
            None,
        ),
        (
            Metric::FeedbackAddressed24h,
            "feedback_addressed_24h",
            "Share of low-score comments (with or without an account) made in the window that were addressed within 24 hours.",
            "percent",
            Some(0.0),
            Some(100.0),
        ),
        (
            Metric::Cohorts,
            "cohorts",
            "Cohort triangle of accounts whose deal closed in the window: size, logo and revenue retention per month since start (tables); cohort key start_month unless grouped by an account label.",
            "accounts",
            Some(0.0),
            None,
        ),
    ];

    /// The metric called `name`, if it is a lifecycle metric.
    pub(crate) fn lookup(name: &str) -> Option<Metric> {
        if let Some(survey) = name.strip_prefix(COHORT_PREFIX) {
            return COHORT_SURVEY_METRICS.iter().find(|m| **m == survey).map(|m| Metric::CohortSurvey(m));
        }
        Self::PLAIN.iter().find(|entry| entry.1 == name).map(|entry| entry.0)
    }

    /// Whether its groups are cohorts (start month unless grouped).
    pub(crate) fn by_cohort(self) -> bool {
        matches!(self, Metric::Cohorts | Metric::CohortSurvey(_))
    }

    /// The query parameters it takes.
    pub(crate) fn parameters(self) -> &'static [&'static str] {
        match self {
            Metric::InactiveAccounts => &[INACTIVE_DAYS],
            _ => &[],
        }
    }
}

/// Whether `name` is a lifecycle metric (answered by
/// [`crate::Engine::query_accounts`], not by the scorers).
pub fn is_account_metric(name: &str) -> bool {
    Metric::lookup(name).is_some()
}

/// The lifecycle metrics, sorted by name. Each groups and filters by any
/// account label and by `start_month`.
pub fn account_metrics() -> Vec<MetricSpec> {
    let spec = |name: String, description: String, unit: &str, min, max| MetricSpec {
        name,
        description,
        unit: unit.to_owned(),
        min,
        max,
    };
    let mut metrics: Vec<MetricSpec> = Metric::PLAIN
        .iter()
        .map(|(_, name, description, unit, min, max)| {
            spec((*name).to_owned(), (*description).to_owned(), unit, *min, *max)
        })
        .collect();
    for survey in COHORT_SURVEY_METRICS {
        let (unit, min, max) = match survey {
            "csat" | "ces_easy" => ("percent", Some(0.0), Some(100.0)),
            "ces" => ("score", Some(1.0), Some(7.0)),
            "nps" => ("points", Some(-100.0), Some(100.0)),
            _ => ("count", Some(0.0), None),
        };
        metrics.push(spec(
            format!("{COHORT_PREFIX}{survey}"),
            format!(
                "{survey} of each cohort's survey responses (whole UTC months of the window), with its rank among peer cohorts; cohort key {START_MONTH} unless grouped by an account label."
            ),
            unit,
            min,
            max,
        ));
    }
    metrics.sort_by(|a, b| a.name.cmp(&b.name));
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_metric_is_found_by_name_and_nothing_else() {
        let metrics = account_metrics();
        assert_eq!(metrics.len(), 17);
        for m in &metrics {
            assert!(Metric::lookup(&m.name).is_some(), "{}", m.name);
        }
        assert_eq!(Metric::lookup("cohort_nps"), Some(Metric::CohortSurvey("nps")));
        assert_eq!(Metric::lookup("cohort_x"), None);
        assert_eq!(Metric::lookup("nps"), None);
    }
}
