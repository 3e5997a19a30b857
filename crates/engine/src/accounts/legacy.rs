//! Account state as snapshot format 1 wrote it (before labels, milestones,
//! usage buckets and survey tallies), so a snapshot written then still
//! restores. Postcard is not self-describing: the old shape must be spelled
//! out field by field, in order.

use serde::{Deserialize, Serialize};

use super::record::{AccountRecord, FeedbackItem, MrrEntry, StatusChange};
use super::{AccountsState, Currency};
use crate::event::TenantId;
use crate::time::Timestamp;

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
    pub(crate) feedback: Vec<FeedbackItem>,
}

impl From<AccountsStateV1> for AccountsState {
    /// What format 1 did not keep starts empty: labels, milestones, usage
    /// per day (the latest usage time is kept) and survey tallies.
    fn from(old: AccountsStateV1) -> Self {
        AccountsState {
            accounts: old
                .accounts
                .into_iter()
                .map(|(tenant, id, record)| (tenant, id, AccountRecord::from_v1(record)))
                .collect(),
            currencies: old.currencies,
        }
    }
}

#[cfg(test)]
impl AccountsStateV1 {
    /// A format-1 state holding `record` for `tenant`'s `account`.
    pub(crate) fn with(tenant: TenantId, account: &str, record: AccountRecordV1) -> Self {
        AccountsStateV1 { accounts: vec![(tenant, account.to_owned(), record)], currencies: vec![] }
    }
}
