//! An account's labels: what label cohorts, filters and group-by of the
//! lifecycle metrics read.
//!
//! **Where they come from:** the labels of the account's own events
//! (`deal_closed`, `activated`, MRR changes, usage, ...; not survey
//! responses, whose labels describe the response). Per key, the value on the
//! latest event (by event time) wins, so a late event never overwrites a
//! newer segment. At most [`MAX_LABELS`] keys per account: keys beyond that
//! are not kept (the event itself is still applied). Besides these, every
//! account has the derived label `start_month` (`YYYY-MM` of its earliest
//! `deal_closed`), the default cohort key.

use serde::{Deserialize, Serialize};

use crate::event::Labels;
use crate::time::Timestamp;

/// Most label keys kept per account (the per-event limit's default).
pub const MAX_LABELS: usize = 16;

/// The derived label holding the start month.
pub const START_MONTH: &str = "start_month";

/// One label of an account, with the time of the event that set it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLabel {
    /// Label key.
    pub key: Box<str>,
    /// Its latest value.
    pub value: Box<str>,
    /// Time of the event that set it.
    pub at: Timestamp,
}

/// Merges the `labels` of an event at `time` into `current` (sorted by key).
pub(crate) fn merge(current: &mut Vec<AccountLabel>, labels: &Labels, time: Timestamp) {
    for (key, value) in labels.iter() {
        match current.binary_search_by(|l| (*l.key).cmp(key)) {
            Ok(at) => {
                if let Some(label) = current.get_mut(at).filter(|l| l.at <= time) {
                    if *label.value != *value {
                        label.value = value.into();
                    }
                    label.at = time;
                }
            }
            Err(at) if current.len() < MAX_LABELS => {
                current.reserve_exact(1);
                current.insert(at, AccountLabel { key: key.into(), value: value.into(), at: time });
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_event_wins_per_key_whatever_the_arrival_order() {
        let mut labels = Vec::new();
        merge(&mut labels, &Labels::from_pairs([("segment", "smb"), ("region", "eu")]), Timestamp(20));
        merge(&mut labels, &Labels::from_pairs([("segment", "mid"), ("plan", "pro")]), Timestamp(10));
        let read: Vec<(&str, &str)> = labels.iter().map(|l| (&*l.key, &*l.value)).collect();
        assert_eq!(read, vec![("plan", "pro"), ("region", "eu"), ("segment", "smb")]);
        merge(&mut labels, &Labels::from_pairs([("segment", "enterprise")]), Timestamp(30));
        assert_eq!(labels.iter().find(|l| &*l.key == "segment").map(|l| &*l.value), Some("enterprise"));
    }
}
