//! Where low-score comments wait for their follow-up: one book per tenant,
//! beside the account records, not inside them.
//!
//! Every low-score comment needs a follow-up, whether or not its response
//! names an account (docs/metrics.md, "Qualitative feedback follow-up"), so a comment
//! cannot live in an account record. A tenant's book holds one
//! [`FeedbackItem`] per response id (unique per tenant, the dedup key), found
//! by hash: a `feedback_addressed` names the response, so it closes the
//! item whatever account it names, or none. Either half may come first: a
//! follow-up that arrives before its response waits in the book for it.
//!
//! **Bounded:** an item leaves the book once it was addressed before the
//! retention horizon (`compact`), and a follow-up whose response never came
//! leaves at the same point; an open comment stays until it is addressed
//! (the backlog is the point of the metric). So a book holds the comments
//! of the retention plus the open backlog, about 80 bytes each plus the ids.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::engine::Hasher;
use crate::time::Timestamp;

/// A survey comment that needs follow-up, and when it got one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackItem {
    /// The survey response's event id.
    pub response_id: Box<str>,
    /// The response's account; empty when it names none (or while only its
    /// follow-up has been seen).
    pub account: Box<str>,
    /// When the low-score comment was made, once its response is seen.
    pub opened: Option<Timestamp>,
    /// When it was first addressed, if it was.
    pub addressed: Option<Timestamp>,
}

/// The item of one response id, keyed by it in the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FollowUp {
    account: Box<str>,
    opened: Option<Timestamp>,
    addressed: Option<Timestamp>,
}

/// One tenant's low-score comments and follow-ups, by response id.
#[derive(Default)]
pub(crate) struct FeedbackBook {
    items: HashMap<Box<str>, FollowUp, Hasher>,
}

impl FeedbackBook {
    /// A low-score comment of response `response_id` (from `account`, empty
    /// when none) made at `time`.
    pub(crate) fn open(&mut self, response_id: &str, account: &str, time: Timestamp) {
        let item = self.item(response_id);
        item.opened = earliest(item.opened, time);
        if item.account.is_empty() && !account.is_empty() {
            item.account = account.into();
        }
    }

    /// A follow-up of response `response_id` at `time`.
    pub(crate) fn address(&mut self, response_id: &str, time: Timestamp) {
        let item = self.item(response_id);
        item.addressed = earliest(item.addressed, time);
    }

    /// Whether `response_id`'s comment was made and not addressed yet.
    pub(crate) fn is_open(&self, response_id: &str) -> bool {
        self.items.get(response_id).is_some_and(|f| f.opened.is_some() && f.addressed.is_none())
    }

    /// The item of `response_id`, found by the borrowed id (the key is
    /// allocated only for a new item).
    fn item(&mut self, response_id: &str) -> &mut FollowUp {
        self.items.entry_ref(response_id).or_default()
    }

    /// Drops items addressed before `horizon` (done, history now) and
    /// follow-ups before it whose response never came. Open comments stay
    /// however old.
    pub(crate) fn compact(&mut self, horizon: Timestamp) {
        let before = self.items.len();
        self.items.retain(|_, f| f.addressed.is_none_or(|t| t >= horizon));
        if self.items.len() < before / 2 {
            self.items.shrink_to_fit();
        }
    }

    /// Whether the book holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every item, in no order: (response id, account, opened, addressed).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str, Option<Timestamp>, Option<Timestamp>)> {
        self.items.iter().map(|(id, f)| (&**id, &*f.account, f.opened, f.addressed))
    }

    /// A copy of every item, sorted by response id.
    pub(crate) fn export(&self) -> Vec<FeedbackItem> {
        let mut items: Vec<FeedbackItem> = self
            .items
            .iter()
            .map(|(id, f)| FeedbackItem {
                response_id: id.clone(),
                account: f.account.clone(),
                opened: f.opened,
                addressed: f.addressed,
            })
            .collect();
        items.sort_by(|a, b| a.response_id.cmp(&b.response_id));
        items
    }

    /// Adds `items` (a restored copy); an item of a response id already
    /// held is merged into it.
    pub(crate) fn restore(&mut self, items: Vec<FeedbackItem>) {
        self.items.reserve(items.len());
        for item in items {
            if let Some(opened) = item.opened {
                self.open(&item.response_id, &item.account, opened);
            }
            if let Some(addressed) = item.addressed {
                self.address(&item.response_id, addressed);
            }
        }
    }

    /// Bytes the book holds: its table's slots (capacity) and the strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        let slot = size_of::<(Box<str>, FollowUp)>() + 1;
        self.items.capacity() * slot
            + self.items.iter().map(|(id, f)| id.len() + f.account.len()).sum::<usize>()
    }
}

fn earliest(current: Option<Timestamp>, time: Timestamp) -> Option<Timestamp> {
    Some(current.map_or(time, |t| t.min(time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(book: &FeedbackBook) -> Vec<(String, String, Option<Timestamp>, Option<Timestamp>)> {
        book.export()
            .into_iter()
            .map(|f| (f.response_id.into(), f.account.into(), f.opened, f.addressed))
            .collect()
    }

    #[test]
    fn follow_up_closes_a_comment_in_either_order_and_done_ones_are_compacted() {
        let mut book = FeedbackBook::default();
        book.address("r2", Timestamp(5)); // before its response
        book.open("r1", "A", Timestamp(1));
        book.open("r2", "A", Timestamp(4));
        book.address("r1", Timestamp(3));
        book.open("r3", "", Timestamp(2)); // a response without an account
        let t = |n| Some(Timestamp(n));
        assert_eq!(
            state(&book),
            vec![
                ("r1".into(), "A".into(), t(1), t(3)),
                ("r2".into(), "A".into(), t(4), t(5)),
                ("r3".into(), String::new(), t(2), None),
            ]
        );
        book.compact(Timestamp(4));
        let left: Vec<String> = state(&book).into_iter().map(|f| f.0).collect();
        assert_eq!(left, vec!["r2", "r3"], "r1 was done before the horizon; r3 is still open");
    }
}
