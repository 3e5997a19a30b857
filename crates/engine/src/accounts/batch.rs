//! One batch's account work, filed by account so each account's record is
//! looked up (hashed and locked) once per batch, not once per event.
//!
//! `Engine::apply` files every account event and every scored survey
//! response from a named account here, in batch order, then applies them
//! account by account. Within an account the batch order is kept (a
//! `feedback_addressed` after the response it answers still finds its
//! item), and records of different accounts are independent, so the result
//! is the same as applying the events one by one. Low-score comments and
//! follow-ups (with or without an account) go to the tenant's feedback book,
//! locked once per batch, after the records.

use std::borrow::Borrow;
use std::hash::Hash;

use hashbrown::HashTable;

use super::{AccountKey, AccountPayload, needs_follow_up};
use crate::engine::{Engine, Hasher};
use crate::event::{Event, Scale, SurveyKind, TenantId};
use crate::validate::resolve_scale;

/// What one event does to its account's record.
enum Work<'a> {
    /// An account event, with its payload.
    Event(&'a AccountPayload),
    /// A scored survey response: its tally entry.
    Survey { kind: SurveyKind, scale: Scale, score: i32 },
}

/// What one event does to the tenant's feedback book: a low-score comment
/// of response event number `.0` opens its item; a `feedback_addressed`
/// (event number `.0`, naming response `.1`) closes one.
enum FollowUp<'a> {
    Open(u32),
    Address(u32, &'a str),
}

/// One filed event: its account (an index into `AccountBatch::accounts`),
/// its index in the batch, and what it does.
struct Filed<'a> {
    account: u32,
    event: u32,
    work: Work<'a>,
}

/// Account work of one batch, by account.
pub(crate) struct AccountBatch<'a> {
    hasher: Hasher,
    /// Account ids in order of first appearance.
    accounts: Vec<&'a str>,
    /// Indexes into `accounts`, by the hash of the id.
    table: HashTable<u32>,
    filed: Vec<Filed<'a>>,
    /// The batch's comments and follow-ups, in batch order.
    follow_ups: Vec<FollowUp<'a>>,
}

impl<'a> AccountBatch<'a> {
    pub(crate) fn new() -> Self {
        AccountBatch {
            hasher: Hasher::new(),
            accounts: Vec::new(),
            table: HashTable::new(),
            filed: Vec::new(),
            follow_ups: Vec::new(),
        }
    }

    /// Files account event number `index` (whose payload is `payload`),
    /// already checked (and its currency pinned) in batch order. A
    /// `feedback_addressed` goes to the feedback book, and to its account's
    /// record (for its labels) only if it names one.
    pub(crate) fn file_event(&mut self, index: usize, event: &'a Event, payload: &'a AccountPayload) {
        if let AccountPayload::FeedbackAddressed { response_id } = payload {
            self.follow_ups.push(FollowUp::Address(index as u32, response_id));
            if event.account_id.is_empty() {
                return;
            }
        }
        self.file(index, &event.account_id, Work::Event(payload));
    }

    /// Files event number `index` if it is a scored survey response: its
    /// low-score comment for the feedback book, and, from a named account,
    /// its entry in the account's monthly survey tally (see `surveys.rs`).
    /// Other events are left alone.
    pub(crate) fn file_survey(&mut self, engine: &Engine, index: usize, event: &'a Event) {
        let Some(survey) = event.payload.as_survey() else { return };
        let (Some(kind), Some(score)) = (survey.kind, survey.score) else { return };
        let Ok(scale) = resolve_scale(kind, survey.scale, &engine.config().surveys) else { return };
        if !survey.comment.trim().is_empty() && needs_follow_up(kind, scale, score) {
            self.follow_ups.push(FollowUp::Open(index as u32));
        }
        if !event.account_id.is_empty() {
            self.file(index, &event.account_id, Work::Survey { kind, scale, score });
        }
    }

    fn file(&mut self, index: usize, account: &'a str, work: Work<'a>) {
        let hash = self.hasher.hash_one(account);
        let accounts = &mut self.accounts;
        let found = self.table.find(hash, |&a| accounts[a as usize] == account).copied();
        let account = match found {
            Some(a) => a,
            None => {
                let a = accounts.len() as u32;
                accounts.push(account);
                let hasher = &self.hasher;
                self.table.insert_unique(hash, a, |&a| hasher.hash_one(accounts[a as usize]));
                a
            }
        };
        self.filed.push(Filed { account, event: index as u32, work });
    }

    /// Applies the filed work to the records of `tenant`, one record (one
    /// map guard) at a time. `events` is the batch the indexes refer to.
    pub(crate) fn apply(self, engine: &Engine, tenant: &TenantId, events: &[Event]) {
        let order = crate::apply::by_group(self.accounts.len(), self.filed.iter().map(|f| f.account));
        for (account, filed) in self.accounts.iter().zip(order.groups()) {
            let apply = |record: &mut super::AccountRecord| {
                for &at in filed {
                    let filed = &self.filed[at as usize];
                    let Some(event) = events.get(filed.event as usize) else { continue };
                    match filed.work {
                        Work::Event(payload) => record.apply_event(event.time, &event.labels, payload),
                        Work::Survey { kind, scale, score } => {
                            record.note_survey(event.time, kind, scale, score);
                        }
                    }
                }
            };
            // Found by a borrowed key; the key is allocated only for a new
            // account.
            let view = (tenant.as_str(), *account);
            let records = &engine.accounts.accounts;
            match records.get_mut(&view as &dyn KeyView) {
                Some(mut record) => apply(&mut record),
                None => {
                    let key = AccountKey { tenant: tenant.clone(), account: (*account).into() };
                    apply(&mut records.entry(key).or_default());
                }
            }
        }
        if self.follow_ups.is_empty() {
            return;
        }
        let mut book = engine.feedback_book(tenant);
        let mut shelf = engine.comment_shelf(tenant);
        for follow_up in &self.follow_ups {
            match *follow_up {
                FollowUp::Open(at) => {
                    if let Some(event) = events.get(at as usize) {
                        book.open(&event.id, &event.account_id, event.time);
                        if let (true, Some(scale)) = (book.is_open(&event.id), engine.comment_scale(event)) {
                            shelf.keep(event, scale);
                        }
                    }
                }
                FollowUp::Address(at, response_id) => {
                    if let Some(event) = events.get(at as usize) {
                        book.address(response_id, event.time);
                        shelf.forget(response_id);
                    }
                }
            }
        }
    }
}

// === Looking up an AccountKey by borrowed parts ===

/// (tenant, account) as borrowed strings, so the account map can be
/// searched without building an `AccountKey` (an `Arc` count and a string
/// allocation per lookup).
pub(crate) trait KeyView {
    fn tenant(&self) -> &str;
    fn account(&self) -> &str;
}

impl KeyView for (&str, &str) {
    fn tenant(&self) -> &str {
        self.0
    }

    fn account(&self) -> &str {
        self.1
    }
}

impl KeyView for AccountKey {
    fn tenant(&self) -> &str {
        self.tenant.as_str()
    }

    fn account(&self) -> &str {
        &self.account
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for AccountKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_key(self.tenant(), self.account(), state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.tenant() == other.tenant() && self.account() == other.account()
    }
}

impl Eq for dyn KeyView + '_ {}

/// The one hash of an account key, owned or borrowed (the map requires
/// both to agree).
pub(crate) fn hash_key<H: std::hash::Hasher>(tenant: &str, account: &str, state: &mut H) {
    tenant.hash(state);
    account.hash(state);
}
