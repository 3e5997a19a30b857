//! One lifecycle query's answer, group by group: each metric's value with
//! its details, the ranks of peer cohorts, and the table-shaped parts
//! (account lists, cohort triangles), built from the pure metric functions.

use std::collections::BTreeMap;

use super::calendar::{month_index, month_start_of_index};
use super::catalog::{INACTIVE_DAYS, Metric};
use super::cohorts::{CohortRow, cohort_row};
use super::feedback::FollowUpTally;
use super::onboarding::{activation, inactive_after_activation, onboarding_timeliness, time_to_value};
use super::query::Group;
use super::retention::retention;
use super::surveys::SurveySlots;
use super::table::{Cell, Table};
use super::usage::{change_pct, volume_in};
use crate::engine::Engine;
use crate::event::Labels;
use crate::query::{GroupResult, QueryError};
use crate::scorer::MetricValue;
use crate::time::{Duration, TimeRange, Timestamp};

/// One query being answered: the per-group values and the tables.
pub(super) struct Answering<'a> {
    pub(super) engine: &'a Engine,
    pub(super) group_by: &'a [String],
    pub(super) window: TimeRange,
    /// The window before `window` that processing volume compares with.
    pub(super) previous_window: TimeRange,
    pub(super) now: Timestamp,
    /// Whether the tenant holds events though no account is in the groups:
    /// a count then answers 0 for the (one, unfiltered) group, not "no
    /// data".
    pub(super) tenant_has_data: bool,
    pub(super) tables: Vec<Table>,
}

impl Answering<'_> {
    pub(super) fn run(
        &mut self,
        metric: Metric,
        groups: BTreeMap<Labels, Group>,
        inactive_days: i64,
    ) -> Result<Vec<GroupResult>, QueryError> {
        let mut results = Vec::with_capacity(groups.len());
        for (labels, group) in groups {
            let accounts = || group.iter().map(|(id, record)| (&**id, record));
            let value = match metric {
                Metric::Grr | Metric::Nrr | Metric::LogoChurn => {
                    let r = retention(accounts(), self.window);
                    let value = match metric {
                        Metric::Grr => r.grr(),
                        Metric::Nrr => r.nrr(),
                        _ => r.logo_churn(),
                    };
                    let mut details = vec![
                        ("accounts_at_start", r.accounts_at_start as f64),
                        ("churned_accounts", r.churned_accounts as f64),
                        ("starting_mrr_minor", r.starting_mrr as f64),
                        ("expansion_minor", r.expansion as f64),
                        ("contraction_minor", r.contraction as f64),
                        ("churned_mrr_minor", r.churned_mrr as f64),
                        ("capped_minor", r.capped as f64),
                    ];
                    for (name, v) in [("grr", r.grr()), ("nrr", r.nrr()), ("logo_churn", r.logo_churn())] {
                        details.extend(v.map(|v| (name, v)));
                    }
                    metric_value(value, r.accounts_at_start, details)
                }
                Metric::ActivationRate => {
                    let a = activation(accounts(), self.window);
                    let details =
                        vec![("deals_closed", a.deals_closed as f64), ("activated", a.activated as f64)];
                    metric_value(a.rate(), a.deals_closed, details)
                }
                Metric::Ttfv | Metric::TimeToActivation => {
                    let t = time_to_value(accounts(), self.window, self.now);
                    let (main, beside, beside_name) = if metric == Metric::Ttfv {
                        (t.first_value, t.activation, "time_to_activation")
                    } else {
                        (t.activation, t.first_value, "ttfv")
                    };
                    let mut details = vec![("open_accounts", t.open.len() as f64)];
                    details.extend(days(main.p90).map(|d| ("p90_days", d)));
                    details.extend(t.open.first().map(|o| ("oldest_open_days", o.age.millis() as f64 / DAY)));
                    let beside_details = [
                        (format!("{beside_name}_median_days"), days(beside.median)),
                        (format!("{beside_name}_p90_days"), days(beside.p90)),
                        (format!("{beside_name}_count"), Some(beside.count as f64)),
                    ];
                    let mut value = metric_value(days(main.median), main.count, details);
                    value.details.extend(beside_details.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
                    if metric == Metric::Ttfv {
                        let table = self.table("open_accounts", [("account", ""), ("age_days", "days")]);
                        for open in &t.open {
                            let row = vec![
                                Cell::Text(open.account.clone()),
                                Cell::Number(open.age.millis() as f64 / DAY),
                            ];
                            self.row(table, &labels, row);
                        }
                    }
                    value
                }
                Metric::OnboardingTimeliness => {
                    let t = onboarding_timeliness(accounts(), self.window);
                    let details =
                        vec![("on_time", t.on_time as f64), ("late", (t.reached - t.on_time) as f64)];
                    metric_value(t.pct(), t.reached, details)
                }
                Metric::ProcessingVolume => self.processing_volume(&labels, &group),
                Metric::InactiveAccounts => self.inactive(&labels, &group, inactive_days),
                // Answered from the tenant's feedback book, not from groups of
                // records (`Engine::feedback_groups`, query.rs).
                Metric::FeedbackBacklog | Metric::FeedbackAddressed24h => {
                    let has_data = !group.is_empty() || self.tenant_has_data;
                    feedback_value(metric, has_data, &FollowUpTally::default(), self.now)
                }
                Metric::Cohorts => {
                    let in_window =
                        accounts().filter(|(_, r)| r.start().is_some_and(|s| self.window.contains(s)));
                    let row = cohort_row(String::new(), in_window, self.now);
                    if row.size == 0 {
                        continue;
                    }
                    self.cohort_tables(&labels, &row);
                    let details = vec![("months", row.cells.len() as f64)];
                    metric_value(Some(row.size as f64), row.size, details)
                }
                Metric::CohortSurvey(survey) => {
                    let (from, to) = month_range(self.window);
                    let mut slots = SurveySlots::default();
                    for (_, record) in accounts() {
                        slots.add(record.surveys(), from, to);
                    }
                    slots.evaluate(survey, &self.engine.config().surveys)?
                }
            };
            results.push(GroupResult { labels, value, points: Vec::new() });
        }
        if let Metric::CohortSurvey(_) = metric {
            rank(&mut results, self.group_by.len());
        }
        // Younger cohorts have fewer months: their rows end in empty cells.
        for table in &mut self.tables {
            let width = table.columns.len();
            for row in &mut table.rows {
                row.resize(width, Cell::Empty);
            }
        }
        Ok(results)
    }

    fn processing_volume(&mut self, labels: &Labels, group: &Group) -> MetricValue {
        let v = volume_in(group.iter().map(|(id, r)| (&**id, r)), self.window, self.previous_window);
        let table = self.table(
            "processing_volume_by_account",
            [
                ("account", ""),
                ("transactions", "count"),
                ("amount_minor", "minor_units"),
                ("previous_transactions", "count"),
                ("previous_amount_minor", "minor_units"),
                ("amount_change_pct", "percent"),
            ],
        );
        for a in &v.accounts {
            let row = vec![
                Cell::Text(a.account.clone()),
                Cell::Number(a.current.transactions as f64),
                Cell::Number(a.current.amount as f64),
                Cell::Number(a.previous.transactions as f64),
                Cell::Number(a.previous.amount as f64),
                Cell::number(change_pct(a.previous.amount as f64, a.current.amount as f64)),
            ];
            self.row(table, labels, row);
        }
        let active = v.accounts.iter().filter(|a| a.current.transactions > 0 || a.current.amount > 0).count();
        let mut details = vec![
            ("amount_minor", v.current.amount as f64),
            ("previous_transactions", v.previous.transactions as f64),
            ("previous_amount_minor", v.previous.amount as f64),
            ("previous_window_days", v.previous_window.len().millis() as f64 / DAY),
        ];
        let (tx, prev_tx) = (v.current.transactions as f64, v.previous.transactions as f64);
        details.extend(change_pct(prev_tx, tx).map(|c| ("transactions_change_pct", c)));
        details.extend(
            change_pct(v.previous.amount as f64, v.current.amount as f64).map(|c| ("amount_change_pct", c)),
        );
        // A count: 0 for a group of accounts without usage, absent only for
        // a group without accounts.
        let value = (!group.is_empty() || self.tenant_has_data).then_some(tx);
        metric_value(value, active as u64, details)
    }

    fn inactive(&mut self, labels: &Labels, group: &Group, inactive_days: i64) -> MetricValue {
        let at = self.window.end.min(self.now);
        let inactive = inactive_after_activation(
            group.iter().map(|(id, r)| (&**id, r)),
            at,
            Duration::days(inactive_days),
        );
        let activated = group
            .iter()
            .filter(|(_, r)| {
                r.activated().is_some_and(|t| t <= at) && !r.churned_before(at.plus(Duration(1)))
            })
            .count() as u64;
        let list = self.table(
            "inactive_accounts",
            [("account", ""), ("last_usage", ""), ("days_since_usage", "days"), ("reason", "")],
        );
        for account in &inactive.accounts {
            let row = vec![
                Cell::Text(account.account.clone()),
                account.last_usage.map_or(Cell::Empty, Cell::Time),
                Cell::number(account.last_usage.map(|t| (at.millis() - t.millis()) as f64 / DAY)),
                account.reason.clone().map_or(Cell::Empty, Cell::Text),
            ];
            self.row(list, labels, row);
        }
        let per_reason = self.table("inactive_per_reason", [("reason", ""), ("accounts", "count")]);
        let mut details = vec![
            (INACTIVE_DAYS.to_owned(), inactive_days as f64),
            ("activated_accounts".to_owned(), activated as f64),
        ];
        for (reason, count) in &inactive.per_reason {
            let row = vec![reason.clone().map_or(Cell::Empty, Cell::Text), Cell::Number(*count as f64)];
            self.row(per_reason, labels, row);
            let name = reason.as_ref().map_or_else(|| "no_reason".to_owned(), |r| format!("reason.{r}"));
            details.push((name, *count as f64));
        }
        // A count: 0 for a group of accounts none of which is inactive (or
        // activated), absent only for a group without accounts.
        let count = inactive.accounts.len() as f64;
        let value = (!group.is_empty() || self.tenant_has_data).then_some(count);
        MetricValue { value, count: activated, intervals: vec![], details }
    }

    fn cohort_tables(&mut self, labels: &Labels, row: &CohortRow) {
        let months = |first: (&'static str, &'static str)| {
            let mut columns = vec![(first.0.to_owned(), first.1)];
            columns.extend((0..row.cells.len()).map(|k| (format!("m{k}"), "percent")));
            columns
        };
        let logo = self.table_owned("cohort_logo_retention", months(("accounts", "count")));
        let mut cells = vec![Cell::Number(row.size as f64)];
        cells.extend((0..row.cells.len()).map(|k| Cell::number(row.logo_retention(k))));
        self.row(logo, labels, cells);
        let revenue = self.table_owned("cohort_revenue_retention", months(("m0_mrr_minor", "minor_units")));
        let mut cells = vec![Cell::number(row.cells.first().map(|c| c.mrr as f64))];
        cells.extend((0..row.cells.len()).map(|k| Cell::number(row.revenue_retention(k))));
        self.row(revenue, labels, cells);
    }

    /// The index of table `name`, created with the group-by columns and
    /// `columns` on first use.
    fn table<const N: usize>(&mut self, name: &str, columns: [(&'static str, &'static str); N]) -> usize {
        self.table_owned(name, columns.iter().map(|(n, u)| ((*n).to_owned(), *u)).collect())
    }

    fn table_owned(&mut self, name: &str, columns: Vec<(String, &'static str)>) -> usize {
        if let Some(index) = self.tables.iter().position(|t| t.name == name) {
            // A triangle grows as older cohorts come: keep the widest header.
            let wanted = self.group_by.len() + columns.len();
            if let Some(table) = self.tables.get_mut(index).filter(|t| t.columns.len() < wanted) {
                table.columns = header(name, self.group_by, columns).columns;
            }
            return index;
        }
        self.tables.push(header(name, self.group_by, columns));
        self.tables.len() - 1
    }

    fn row(&mut self, table: usize, labels: &Labels, cells: Vec<Cell>) {
        let cap = self.engine.config().max_groups;
        let mut row: Vec<Cell> = self
            .group_by
            .iter()
            .map(|k| labels.get(k).map_or(Cell::Empty, |v| Cell::Text(v.to_owned())))
            .collect();
        row.extend(cells);
        if let Some(table) = self.tables.get_mut(table) {
            table.push(row, cap);
        }
    }
}

/// The value of a feedback metric for a group whose comments `tally`
/// counted (`has_data`: the group holds accounts, or is the tenant's only
/// group and the tenant holds events). The backlog is a count: 0 for a
/// group with data or comments but nothing open, absent only for a group
/// with neither.
pub(super) fn feedback_value(
    metric: Metric,
    has_data: bool,
    tally: &FollowUpTally,
    now: Timestamp,
) -> MetricValue {
    let has_data = has_data || tally.comments() > 0;
    let f = tally.finish(now);
    let mut details = vec![
        ("open", f.open as f64),
        ("due", f.due as f64),
        ("addressed_within_24h", f.addressed_within_24h as f64),
    ];
    details.extend(f.oldest_open_age.map(|age| ("oldest_open_hours", age.millis() as f64 / HOUR)));
    if metric == Metric::FeedbackBacklog {
        metric_value(has_data.then_some(f.open as f64), f.open, details)
    } else {
        metric_value(f.addressed_within_24h_pct(), f.due, details)
    }
}

fn header(name: &str, group_by: &[String], columns: Vec<(String, &'static str)>) -> Table {
    Table::new(name, group_by.iter().map(|k| (k.clone(), "")).chain(columns))
}

const DAY: f64 = 86_400_000.0;
const HOUR: f64 = 3_600_000.0;

fn days(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.millis() as f64 / DAY)
}

fn metric_value<K: Into<String>>(value: Option<f64>, count: u64, details: Vec<(K, f64)>) -> MetricValue {
    MetricValue {
        value,
        count,
        intervals: vec![],
        details: details.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    }
}

/// Adds `rank` (1 = highest value; ties share a rank) and `peers` to every
/// group with a value and all its group-by labels: a group missing the
/// cohort key is no peer.
fn rank(results: &mut [GroupResult], keys: usize) {
    let is_peer = |g: &GroupResult| g.labels.len() == keys && g.value.value.is_some();
    let values: Vec<f64> = results.iter().filter(|g| is_peer(g)).filter_map(|g| g.value.value).collect();
    for group in results.iter_mut().filter(|g| is_peer(g)) {
        let Some(value) = group.value.value else { continue };
        let above = values.iter().filter(|v| **v > value).count();
        group.value.details.push(("rank".to_owned(), (above + 1) as f64));
        group.value.details.push(("peers".to_owned(), values.len() as f64));
    }
}

/// Month indices `[from, to)` the window touches.
pub(super) fn month_range(window: TimeRange) -> (i32, i32) {
    (month_index(window.start), month_index(window.end.minus(Duration(1))) + 1)
}

/// The window widened to whole UTC months.
pub(super) fn month_window(window: TimeRange) -> TimeRange {
    let (from, to) = month_range(window);
    TimeRange { start: month_start_of_index(i64::from(from)), end: month_start_of_index(i64::from(to)) }
}
