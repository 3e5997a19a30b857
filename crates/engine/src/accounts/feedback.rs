//! Feedback follow-up (docs/metrics.md, "Qualitative feedback follow-up"): the open
//! backlog and the share addressed within 24 hours, as a pure function over
//! the items of a tenant's feedback book (`followups.rs`).
//!
//! **Invariant:** a comment needs follow-up when it comes with a low score:
//! CSAT below the top-2-box (1..3 on 1..5), CES below "easy" (1..4 on 1..7,
//! 1..3 on 1..5), NPS detractors (0..6); a skipped score or an empty comment
//! never does, and every one counts, whether or not its response names an
//! account. A `feedback_addressed` naming the response closes it,
//! whichever arrives first.

use serde::{Deserialize, Serialize};

use crate::event::{Scale, SurveyKind};
use crate::time::{Duration, TimeRange, Timestamp};

/// Backlog at `now` and timeliness over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackFollowUp {
    /// Low-score comments not addressed yet.
    pub open: u64,
    /// Age of the oldest of them.
    pub oldest_open_age: Option<Duration>,
    /// Comments made in the window whose 24 hours have passed by `now`.
    pub due: u64,
    /// Of those, the ones addressed within 24 hours.
    pub addressed_within_24h: u64,
}

impl FeedbackFollowUp {
    /// Share of due comments addressed within 24 hours, in percent; `None`
    /// when none is due. Comments younger than 24 hours are not yet counted
    /// either way.
    pub fn addressed_within_24h_pct(&self) -> Option<f64> {
        (self.due > 0).then(|| 100.0 * self.addressed_within_24h as f64 / self.due as f64)
    }
}

/// Whether a comment on `score` (of `kind`, on `scale`) needs follow-up.
pub fn needs_follow_up(kind: SurveyKind, scale: Scale, score: i32) -> bool {
    match kind {
        SurveyKind::Csat => score < scale.max - 1,
        SurveyKind::Ces => score < if scale.max == 7 { 5 } else { 4 },
        SurveyKind::Nps => score <= 6,
    }
}

/// The backlog at `now` and the 24-hour share over comments made in
/// `window`, from items given as (opened, addressed): an item not opened
/// yet (its follow-up came first) is no comment yet.
pub fn feedback_follow_up(
    items: impl IntoIterator<Item = (Option<Timestamp>, Option<Timestamp>)>,
    window: TimeRange,
    now: Timestamp,
) -> FeedbackFollowUp {
    let mut tally = FollowUpTally::default();
    for (opened, addressed) in items {
        tally.add(opened, addressed, window, now);
    }
    tally.finish(now)
}

/// [`FeedbackFollowUp`] being counted, one item at a time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FollowUpTally {
    counts: FeedbackFollowUp,
    oldest: Option<Timestamp>,
    comments: u64,
}

impl FollowUpTally {
    /// Counts one item (see [`feedback_follow_up`]).
    pub(crate) fn add(
        &mut self,
        opened: Option<Timestamp>,
        addressed: Option<Timestamp>,
        window: TimeRange,
        now: Timestamp,
    ) {
        let Some(opened) = opened else { return };
        self.comments += 1;
        if addressed.is_none() {
            self.counts.open += 1;
            self.oldest = Some(self.oldest.map_or(opened, |t| t.min(opened)));
        }
        if window.contains(opened) && opened.plus(Duration::DAY) <= now {
            self.counts.due += 1;
            let in_time = addressed.is_some_and(|t| t <= opened.plus(Duration::DAY));
            self.counts.addressed_within_24h += u64::from(in_time);
        }
    }

    /// Adds another tally of the same window and `now`.
    pub(crate) fn merge(&mut self, other: &FollowUpTally) {
        self.counts.open += other.counts.open;
        self.counts.due += other.counts.due;
        self.counts.addressed_within_24h += other.counts.addressed_within_24h;
        self.oldest = match (self.oldest, other.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.comments += other.comments;
    }

    /// Low-score comments counted (open or addressed, in the window or not).
    pub(crate) fn comments(&self) -> u64 {
        self.comments
    }

    pub(crate) fn finish(self, now: Timestamp) -> FeedbackFollowUp {
        let oldest_open_age = self.oldest.map(|t| Duration(now.millis() - t.millis()));
        FeedbackFollowUp { oldest_open_age, ..self.counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_scores_follow_metrics_md() {
        let csat = Scale::new(1, 5);
        assert!(needs_follow_up(SurveyKind::Csat, csat, 3) && !needs_follow_up(SurveyKind::Csat, csat, 4));
        let ces = Scale::new(1, 7);
        assert!(needs_follow_up(SurveyKind::Ces, ces, 4) && !needs_follow_up(SurveyKind::Ces, ces, 5));
        let ces5 = Scale::new(1, 5);
        assert!(needs_follow_up(SurveyKind::Ces, ces5, 3) && !needs_follow_up(SurveyKind::Ces, ces5, 4));
        let nps = Scale::new(0, 10);
        assert!(needs_follow_up(SurveyKind::Nps, nps, 0) && needs_follow_up(SurveyKind::Nps, nps, 6));
        assert!(!needs_follow_up(SurveyKind::Nps, nps, 7));
    }
}
