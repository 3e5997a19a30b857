//! Account state as older snapshot formats wrote it, so their snapshots
//! still restore. Postcard is not self-describing: each old shape is spelled
//! out field by field, in order.
//!
//! - Format 1: records before labels, milestones, usage buckets and survey
//!   tallies.
//! - Format 2: records holding their low-score comments (now in the
//!   tenant's feedback book, `followups.rs`) and usage buckets without times
//!   of day (day buckets folded into months 63 days behind the newest
//!   usage).

use serde::{Deserialize, Serialize};

use super::followups::FeedbackItem;
use super::labels::AccountLabel;
use super::record::{AccountRecord, Milestone, MrrEntry, StatusChange};
use super::surveys::SurveyTally;
use super::usage::UsageBucket;
use super::{AccountsState, Currency};
use crate::event::TenantId;
use crate::time::{Duration, Timestamp};

/// [`AccountsState`] in snapshot format 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsStateV1 {
    accounts: Vec<(TenantId, String, AccountRecordV1)>,
    currencies: Vec<(TenantId, Currency)>,
}

/// [`AccountRecord`] in snapshot format 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccountRecordV1 {
    pub(crate) start: Option<Timestamp>,
    pub(crate) activated: Option<Timestamp>,
    pub(crate) first_value: Option<Timestamp>,
    pub(crate) last_usage: Option<Timestamp>,
    pub(crate) inactivity: Option<(Timestamp, Box<str>)>,
    pub(crate) status: Vec<StatusChange>,
    pub(crate) mrr_base: i64,
    pub(crate) mrr: Vec<MrrEntry>,
    pub(crate) feedback: Vec<FeedbackItemV1>,
}

/// [`AccountsState`] in snapshot format 2.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsStateV2 {
    accounts: Vec<(TenantId, String, AccountRecordV2)>,
    currencies: Vec<(TenantId, Currency)>,
}

/// [`AccountRecord`] in snapshot format 2.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccountRecordV2 {
    pub(crate) start: Option<Timestamp>,
    pub(crate) activated: Option<Timestamp>,
    pub(crate) first_value: Option<Timestamp>,
    pub(crate) last_usage: Option<Timestamp>,
    pub(crate) inactivity: Option<(Timestamp, Box<str>)>,
    pub(crate) status: Vec<StatusChange>,
    pub(crate) mrr_base: i64,
    pub(crate) mrr_folded_before: Option<Timestamp>,
    pub(crate) mrr: Vec<MrrEntry>,
    pub(crate) feedback: Vec<FeedbackItemV1>,
    pub(crate) labels: Vec<AccountLabel>,
    pub(crate) milestones: Vec<Milestone>,
    pub(crate) usage: Vec<UsageBucketV2>,
    pub(crate) surveys: Vec<SurveyTally>,
}

/// A low-score comment as formats 1 and 2 kept it, in its account's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeedbackItemV1 {
    pub(crate) response_id: Box<str>,
    pub(crate) opened: Option<Timestamp>,
    pub(crate) addressed: Option<Timestamp>,
}

/// A usage bucket in format 2: no times of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsageBucketV2 {
    pub(crate) day: i32,
    pub(crate) month: bool,
    pub(crate) transactions: u64,
    pub(crate) amount: i64,
}

impl UsageBucketV2 {
    /// Today's bucket, its usage spread over its whole span (the times of
    /// day were not kept): earliest at its start, latest at its end.
    pub(crate) fn into_current(self) -> UsageBucket {
        let days = if self.month {
            let start = Timestamp(i64::from(self.day) * Duration::DAY.millis());
            let (year, month) = super::calendar::year_month(start);
            let next = super::calendar::month_start(year, month, 1);
            (next.millis() - start.millis()) / Duration::DAY.millis()
        } else {
            1
        };
        let last = u32::try_from(days * Duration::DAY.millis() - 1).unwrap_or(u32::MAX);
        UsageBucket {
            day: self.day,
            month: self.month,
            transactions: self.transactions,
            amount: self.amount,
            first: 0,
            last,
        }
    }
}

impl From<AccountRecordV1> for AccountRecordV2 {
    /// What format 1 did not keep starts empty: labels, milestones, usage
    /// per day (the latest usage time is kept) and survey tallies.
    fn from(old: AccountRecordV1) -> Self {
        AccountRecordV2 {
            start: old.start,
            activated: old.activated,
            first_value: old.first_value,
            last_usage: old.last_usage,
            inactivity: old.inactivity,
            status: old.status,
            mrr_base: old.mrr_base,
            mrr: old.mrr,
            feedback: old.feedback,
            ..AccountRecordV2::default()
        }
    }
}

impl From<AccountsStateV1> for AccountsStateV2 {
    fn from(old: AccountsStateV1) -> Self {
        AccountsStateV2 {
            accounts: old
                .accounts
                .into_iter()
                .map(|(tenant, id, record)| (tenant, id, record.into()))
                .collect(),
            currencies: old.currencies,
        }
    }
}

impl From<AccountsStateV2> for AccountsState {
    /// Each record's comments move to its tenant's feedback book, under the
    /// record's account.
    fn from(old: AccountsStateV2) -> Self {
        let mut feedback: Vec<(TenantId, Vec<FeedbackItem>)> = Vec::new();
        let mut accounts = Vec::with_capacity(old.accounts.len());
        for (tenant, id, mut record) in old.accounts {
            let items = std::mem::take(&mut record.feedback);
            if !items.is_empty() {
                let at = match feedback.iter().position(|(t, _)| *t == tenant) {
                    Some(at) => at,
                    None => {
                        feedback.push((tenant.clone(), Vec::new()));
                        feedback.len() - 1
                    }
                };
                if let Some((_, book)) = feedback.get_mut(at) {
                    book.extend(items.into_iter().map(|f| FeedbackItem {
                        response_id: f.response_id,
                        account: id.as_str().into(),
                        opened: f.opened,
                        addressed: f.addressed,
                    }));
                }
            }
            accounts.push((tenant, id, AccountRecord::from_v2(record)));
        }
        AccountsState { accounts, currencies: old.currencies, feedback }
    }
}

#[cfg(test)]
impl AccountsStateV1 {
    /// A format-1 state holding `record` for `tenant`'s `account`.
    pub(crate) fn with(tenant: TenantId, account: &str, record: AccountRecordV1) -> Self {
        AccountsStateV1 { accounts: vec![(tenant, account.to_owned(), record)], currencies: vec![] }
    }
}

#[cfg(test)]
impl AccountsStateV2 {
    /// A format-2 state holding `record` for `tenant`'s `account`.
    pub(crate) fn with(tenant: TenantId, account: &str, record: AccountRecordV2) -> Self {
        AccountsStateV2 { accounts: vec![(tenant, account.to_owned(), record)], currencies: vec![] }
    }
}
