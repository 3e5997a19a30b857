//! One account's state: the per-account record every lifecycle metric reads.
//!
//! **Invariant:** one bounded record per (tenant, account), whatever the
//! number of events: timestamps kept as earliest or latest, a reason and
//! labels as the latest, and histories sorted by event time (so late events
//! land in place and metrics never depend on arrival order), each folded or
//! dropped by [`AccountRecord::compact`] once behind the retention horizon:
//! churn/reactivation changes, MRR changes, onboarding milestones, usage
//! buckets (one per day with usage: `usage.rs`) and monthly survey tallies
//! (`surveys.rs`). Low-score comments are not account state: they wait in
//! the tenant's feedback book (`followups.rs`), since not every response
//! names an account.
//!
//! **Churn ends revenue.** A lifecycle `churned` event sets the account's
//! MRR to 0 at its time (after any MRR change at that same time), whether or
//! not an MRR `churn` change was sent: a churned customer pays nothing, and
//! on reactivation its revenue starts again from its new MRR changes.

use serde::{Deserialize, Serialize};

use super::calendar::month_name;
use super::event::{AccountPayload, MrrKind};
use super::growth::reserve_one;
use super::labels::{self, AccountLabel};
use super::names::NameIndex;
use super::surveys::{self, SurveyTally};
use super::usage::{self, UsageBucket};
use crate::event::{Labels, Scale, SurveyKind};
use crate::time::Timestamp;

/// A churn or a reactivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// When it happened.
    pub time: Timestamp,
    /// `true` for a churn, `false` for a reactivation.
    pub churned: bool,
}

/// One MRR change: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrrEntry {
    /// When it took effect.
    pub time: Timestamp,
    /// Positive amount in minor units; `kind` gives the sign.
    pub amount: i64,
    /// New, expansion, contraction or churn.
    pub kind: MrrKind,
}

/// An onboarding milestone, reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// Which milestone.
    pub name: Box<str>,
    /// When it was due.
    pub due: Timestamp,
    /// When it was (first) reached.
    pub reached: Timestamp,
}

/// Everything the lifecycle metrics need about one account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    start: Option<Timestamp>,
    activated: Option<Timestamp>,
    first_value: Option<Timestamp>,
    last_usage: Option<Timestamp>,
    inactivity: Option<(Timestamp, Box<str>)>,
    /// Churns and reactivations, by time (arrival order among equal times).
    status: Vec<StatusChange>,
    /// MRR of the changes folded away by `compact`.
    mrr_base: i64,
    /// Churns before this time are already folded into `mrr_base`.
    mrr_folded_before: Option<Timestamp>,
    /// MRR changes, by time; at one instant increases first, then
    /// decreases (`MrrKind::order_at_same_time`), else in arrival order.
    mrr: Vec<MrrEntry>,
    /// Labels from the account's events, by key (see `labels.rs`).
    labels: Vec<AccountLabel>,
    /// Milestones reached, one per name (the earliest report).
    milestones: Vec<Milestone>,
    /// Where each milestone is, by name, once there are many (`names.rs`).
    #[serde(skip)]
    milestone_index: NameIndex,
    /// Usage per day (see `usage.rs`).
    usage: Vec<UsageBucket>,
    /// Scored survey responses per month, kind and scale (see `surveys.rs`).
    surveys: Vec<SurveyTally>,
}

impl AccountRecord {
    /// Records one account event with its labels: the payload, then the
    /// labels merged (the one step both the batch path and
    /// [`Engine::apply_account_event`](crate::Engine::apply_account_event)
    /// take, so they cannot drift apart).
    pub(crate) fn apply_event(&mut self, time: Timestamp, labels: &Labels, payload: &AccountPayload) {
        self.apply(time, payload);
        self.apply_labels(labels, time);
    }

    /// Records one event of this account at `time`. Events may come in any
    /// order; the result is the same.
    pub fn apply(&mut self, time: Timestamp, payload: &AccountPayload) {
        match payload {
            AccountPayload::DealClosed => self.start = earliest(self.start, time),
            AccountPayload::Activated => self.activated = earliest(self.activated, time),
            AccountPayload::ValueRealized { .. } => self.first_value = earliest(self.first_value, time),
            AccountPayload::Usage(used) => {
                self.last_usage = Some(self.last_usage.map_or(time, |t| t.max(time)));
                usage::add(&mut self.usage, time, used);
            }
            AccountPayload::MilestoneReached { milestone, due } => self.reach(milestone, *due, time),
            AccountPayload::Churned => insert_by_time(&mut self.status, StatusChange { time, churned: true }),
            AccountPayload::Reactivated => {
                insert_by_time(&mut self.status, StatusChange { time, churned: false });
            }
            AccountPayload::Mrr(change) => insert_by_time(
                &mut self.mrr,
                MrrEntry { time, amount: change.amount_minor, kind: change.kind },
            ),
            AccountPayload::InactivityReason { reason } => {
                if self.inactivity.as_ref().is_none_or(|(at, _)| *at <= time) {
                    self.inactivity = Some((time, reason.as_str().into()));
                }
            }
            // A follow-up goes to the tenant's feedback book (`followups.rs`);
            // its account keeps only the event's labels.
            AccountPayload::FeedbackAddressed { .. } => {}
        }
    }

    /// A record restored from snapshot format 2 (see `legacy.rs`), whose
    /// usage buckets carry no times of day: each counts as usage over its
    /// whole span. Its feedback items go to the tenant's book.
    pub(crate) fn from_v2(old: super::legacy::AccountRecordV2) -> Self {
        AccountRecord {
            start: old.start,
            activated: old.activated,
            first_value: old.first_value,
            last_usage: old.last_usage,
            inactivity: old.inactivity,
            status: old.status,
            mrr_base: old.mrr_base,
            mrr_folded_before: old.mrr_folded_before,
            mrr: old.mrr,
            labels: old.labels,
            milestones: old.milestones,
            milestone_index: NameIndex::default(),
            usage: old.usage.into_iter().map(super::legacy::UsageBucketV2::into_current).collect(),
            surveys: old.surveys,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_usage(usage: Vec<UsageBucket>) -> Self {
        AccountRecord { usage, ..AccountRecord::default() }
    }

    /// Puts a restored record's MRR changes in today's order: a snapshot
    /// written before changes at one instant were ordered (increases
    /// first) holds them in arrival order.
    pub(crate) fn reorder_restored(&mut self) {
        self.mrr.sort_by_key(ByTime::key);
    }

    /// Merges the labels of one of this account's events at `time` (see
    /// `labels.rs`: the latest event wins per key).
    pub fn apply_labels(&mut self, labels: &Labels, time: Timestamp) {
        if !labels.is_empty() {
            labels::merge(&mut self.labels, labels, time);
        }
    }

    /// Counts one scored survey response of this account (for survey
    /// metrics per cohort).
    pub fn note_survey(&mut self, time: Timestamp, kind: SurveyKind, scale: Scale, score: i32) {
        surveys::add(&mut self.surveys, time, kind, scale, score);
    }

    fn reach(&mut self, name: &str, due: Timestamp, time: Timestamp) {
        let found = self.milestone_index.position(&self.milestones, name);
        match found.and_then(|at| self.milestones.get_mut(at)) {
            // The earliest report of a milestone is when it was reached.
            Some(m) if time < m.reached => {
                m.reached = time;
                m.due = due;
            }
            Some(_) => {}
            None => {
                reserve_one(&mut self.milestones);
                self.milestones.push(Milestone { name: name.into(), due, reached: time });
                self.milestone_index.pushed(&self.milestones);
            }
        }
    }

    /// Labels from the account's events, sorted by key.
    pub fn labels(&self) -> &[AccountLabel] {
        &self.labels
    }

    /// The value of label `key`; `start_month` is derived from the start.
    pub fn label(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        if key == labels::START_MONTH {
            return self.start_month().map(std::borrow::Cow::Owned);
        }
        let at = self.labels.binary_search_by(|l| (*l.key).cmp(key)).ok()?;
        self.labels.get(at).map(|l| std::borrow::Cow::Borrowed(&*l.value))
    }

    /// Milestones reached, one per name.
    pub fn milestones(&self) -> &[Milestone] {
        &self.milestones
    }

    /// Usage buckets, by day.
    pub fn usage(&self) -> &[UsageBucket] {
        &self.usage
    }

    /// Monthly survey tallies, by month.
    pub fn surveys(&self) -> &[SurveyTally] {
        &self.surveys
    }

    /// When the deal closed (the earliest `deal_closed`), if it did.
    pub fn start(&self) -> Option<Timestamp> {
        self.start
    }

    /// When the account was first activated (went live).
    pub fn activated(&self) -> Option<Timestamp> {
        self.activated
    }

    /// When the account first realised value.
    pub fn first_value(&self) -> Option<Timestamp> {
        self.first_value
    }

    /// Time of the latest usage event.
    pub fn last_usage(&self) -> Option<Timestamp> {
        self.last_usage
    }

    /// Time of the latest usage event at or before `at`: as of `at`, usage
    /// after it has not happened yet. Exact but within `at`'s own UTC day,
    /// where it may be that day's earliest usage instead (see
    /// `usage::latest_by`); `None` when none is known (or it is past
    /// retention and a later one exists).
    pub fn last_usage_by(&self, at: Timestamp) -> Option<Timestamp> {
        match self.last_usage {
            Some(last) if last <= at => Some(last),
            Some(_) => usage::latest_by(&self.usage, at),
            None => None,
        }
    }

    /// The latest recorded inactivity reason.
    pub fn inactivity_reason(&self) -> Option<&str> {
        self.inactivity.as_ref().map(|(_, reason)| &**reason)
    }

    /// Churns and reactivations in time order.
    pub fn status_changes(&self) -> &[StatusChange] {
        &self.status
    }

    /// MRR changes in time order (those not yet folded by `compact`).
    pub fn mrr_changes(&self) -> &[MrrEntry] {
        &self.mrr
    }

    /// The cohort key by start month: `YYYY-MM` of the deal's UTC date.
    pub fn start_month(&self) -> Option<String> {
        self.start.map(month_name)
    }

    /// Whether the account is churned just before `t`: its latest churn or
    /// reactivation before `t` is a churn.
    pub fn churned_before(&self, t: Timestamp) -> bool {
        let before = self.status.partition_point(|c| c.time < t);
        before > 0 && self.status[before - 1].churned
    }

    /// Whether the account is active at `t`: its deal closed before `t` and
    /// it is not churned. Events at exactly `t` belong to the period that
    /// starts at `t`, not to the state at its start.
    pub fn active_at(&self, t: Timestamp) -> bool {
        self.start.is_some_and(|start| start < t) && !self.churned_before(t)
    }

    /// MRR in minor units from the changes before `t`; a `churned` event
    /// sets it to 0 (after the MRR changes at its own time). Never below
    /// zero: a decrease larger than the MRR takes it to 0 (see
    /// [`MrrKind::apply`]).
    pub fn mrr_at(&self, t: Timestamp) -> i64 {
        let before = self.mrr.partition_point(|e| e.time < t);
        let folded = self.mrr_folded_before;
        let mut churns = self
            .status
            .iter()
            .filter(|c| c.churned && c.time < t && folded.is_none_or(|f| c.time >= f))
            .map(|c| c.time)
            .peekable();
        let mut mrr = self.mrr_base.max(0);
        for entry in &self.mrr[..before] {
            while churns.next_if(|c| *c < entry.time).is_some() {
                mrr = 0;
            }
            mrr = entry.kind.apply(mrr, entry.amount).0;
        }
        if churns.next().is_some() {
            mrr = 0;
        }
        mrr
    }

    /// Folds history before `horizon` so memory stays bounded: MRR changes
    /// before it become a base amount, and of the churns and reactivations
    /// before it only the latest is kept. Answers for periods starting at or
    /// after `horizon` do not change.
    pub fn compact(&mut self, horizon: Timestamp) {
        if self.mrr_folded_before.is_none_or(|f| f < horizon) {
            self.mrr_base = self.mrr_at(horizon);
            self.mrr_folded_before = Some(horizon);
            let old = self.mrr.partition_point(|e| e.time < horizon);
            if old > 0 {
                self.mrr.drain(..old);
                self.mrr.shrink_to_fit();
            }
        }
        let old = self.status.partition_point(|c| c.time < horizon);
        if old > 1 {
            self.status.drain(..old - 1);
            self.status.shrink_to_fit();
        }
        let before = self.milestones.len();
        self.milestones.retain(|m| m.reached >= horizon);
        if self.milestones.len() < before {
            self.milestone_index.clear();
            self.milestones.shrink_to_fit();
        }
        usage::drop_before(&mut self.usage, horizon);
        surveys::drop_before(&mut self.surveys, horizon);
    }

    /// Bytes this record holds on the heap (its histories and reason), for
    /// the memory figure in BENCHMARKS.md.
    pub fn heap_bytes(&self) -> usize {
        self.status.capacity() * size_of::<StatusChange>()
            + self.mrr.capacity() * size_of::<MrrEntry>()
            + self.inactivity.as_ref().map_or(0, |(_, reason)| reason.len())
            + self.labels.capacity() * size_of::<AccountLabel>()
            + self.labels.iter().map(|l| l.key.len() + l.value.len()).sum::<usize>()
            + self.milestones.capacity() * size_of::<Milestone>()
            + self.milestones.iter().map(|m| m.name.len()).sum::<usize>()
            + self.milestone_index.heap_bytes()
            + self.usage.capacity() * size_of::<UsageBucket>()
            + self.surveys.capacity() * size_of::<SurveyTally>()
    }
}

/// One account as the metric functions read it: its id and its record.
/// Implemented for `(&str, &AccountRecord)` and for the engine's map entries,
/// so metrics run over the live map without copying records.
pub trait AccountEntry {
    /// The account id.
    fn id(&self) -> &str;
    /// Its record.
    fn record(&self) -> &AccountRecord;
}

impl AccountEntry for (&str, &AccountRecord) {
    fn id(&self) -> &str {
        self.0
    }

    fn record(&self) -> &AccountRecord {
        self.1
    }
}

fn earliest(current: Option<Timestamp>, time: Timestamp) -> Option<Timestamp> {
    Some(current.map_or(time, |t| t.min(time)))
}

/// Keeps `items` sorted by their key (time first); among equal keys, in
/// arrival order. Items mostly come in time order: those go at the end
/// without a search.
fn insert_by_time<T: Copy + ByTime>(items: &mut Vec<T>, item: T) {
    let at = match items.last() {
        Some(last) if last.key() > item.key() => items.partition_point(|x| x.key() <= item.key()),
        _ => items.len(),
    };
    reserve_one(items);
    items.insert(at, item);
}

/// The order of a history: by time, then by what happens first at one
/// instant.
trait ByTime {
    fn key(&self) -> (Timestamp, u8);
}

impl ByTime for StatusChange {
    fn key(&self) -> (Timestamp, u8) {
        (self.time, 0)
    }
}

impl ByTime for MrrEntry {
    fn key(&self) -> (Timestamp, u8) {
        (self.time, self.kind.order_at_same_time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::event::MrrChange;

    fn mrr(kind: MrrKind, amount: i64) -> AccountPayload {
        AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() })
    }

    #[test]
    fn start_month_is_the_utc_month_of_the_earliest_deal() {
        let mut record = AccountRecord::default();
        record.apply(Timestamp(1_709_251_200_000), &AccountPayload::DealClosed); // 2024-03-01T00:00Z
        assert_eq!(record.start_month().as_deref(), Some("2024-03"));
        record.apply(Timestamp(1_709_251_199_999), &AccountPayload::DealClosed); // a late, earlier deal
        assert_eq!(record.start_month().as_deref(), Some("2024-02"));
    }

    #[test]
    fn late_events_land_in_time_order() {
        let mut record = AccountRecord::default();
        record.apply(Timestamp(30), &mrr(MrrKind::Expansion, 5));
        record.apply(Timestamp(10), &mrr(MrrKind::New, 100));
        record.apply(Timestamp(20), &AccountPayload::Churned);
        record.apply(Timestamp(5), &AccountPayload::DealClosed);
        assert_eq!(record.mrr_at(Timestamp(11)), 100);
        assert_eq!(record.mrr_at(Timestamp(31)), 5, "the churn on 20 ended the 100");
        assert!(record.active_at(Timestamp(20)), "a churn at t is not yet the state at t");
        assert!(!record.active_at(Timestamp(21)));
        record.apply(Timestamp(25), &AccountPayload::Reactivated);
        assert!(record.active_at(Timestamp(26)));
        record.apply(Timestamp(20), &mrr(MrrKind::New, 7)); // same time as the churn: before it
        assert_eq!((record.mrr_at(Timestamp(21)), record.mrr_at(Timestamp(31))), (0, 5));
    }

    #[test]
    fn latest_inactivity_reason_wins_by_event_time() {
        let mut record = AccountRecord::default();
        let reason = |r: &str| AccountPayload::InactivityReason { reason: r.into() };
        record.apply(Timestamp(20), &reason("seasonal"));
        record.apply(Timestamp(10), &reason("integration_blocked"));
        assert_eq!(record.inactivity_reason(), Some("seasonal"));
    }

    #[test]
    fn compaction_keeps_answers_after_the_horizon() {
        let mut record = AccountRecord::default();
        record.apply(Timestamp(1), &AccountPayload::DealClosed);
        record.apply(Timestamp(2), &mrr(MrrKind::New, 100));
        record.apply(Timestamp(3), &AccountPayload::Churned);
        record.apply(Timestamp(4), &AccountPayload::Reactivated);
        record.apply(Timestamp(5), &mrr(MrrKind::New, 70));
        record.apply(Timestamp(9), &mrr(MrrKind::Expansion, 30));
        let before = record.clone();
        record.compact(Timestamp(6));
        assert_eq!(record.mrr_changes().len(), 1);
        assert_eq!(record.status_changes().len(), 1);
        for t in 6..12 {
            assert_eq!(record.mrr_at(Timestamp(t)), before.mrr_at(Timestamp(t)));
            assert_eq!(record.active_at(Timestamp(t)), before.active_at(Timestamp(t)));
        }
    }
}
