//! Lifecycle, revenue, usage and follow-up events as the engine sees them.
//!
//! These are the payloads of the customer-lifecycle metrics (docs/metrics.md,
//! "Accounts"). Each names
//! one account (the event's `account_id`, required) and is kept in that
//! account's record, never in a series per account.
//!
//! **Currency.** Money is an `i64` in minor units (cents) with an ISO 4217
//! style code. A tenant has one currency: the first revenue or usage event
//! applied for it pins it, and an event in another currency is refused
//! ([`crate::Engine::validate_account`]), never converted. Once tenants
//! have settings, the currency becomes one of them.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What happened to one account. One variant per event type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AccountPayload {
    /// The deal closed: the account starts. Its cohort is the UTC month of
    /// the earliest `deal_closed`.
    DealClosed,
    /// The account went live (activation). Not value: see `ValueRealized`.
    Activated,
    /// A goal the customer set was met: the account got value.
    ValueRealized {
        /// The goal that was met.
        goal: String,
    },
    /// An onboarding milestone was reached.
    MilestoneReached {
        /// Which milestone.
        milestone: String,
        /// When it was due.
        due: Timestamp,
    },
    /// The customer left. Logo churn counts it in the period it happened,
    /// even if the account later reactivates.
    Churned,
    /// A churned customer came back; its revenue from then on is new
    /// business.
    Reactivated,
    /// A change of monthly recurring revenue.
    Mrr(MrrChange),
    /// Transactions the account processed.
    Usage(Usage),
    /// Why the CS team thinks the account is inactive (a reason code).
    InactivityReason {
        /// Free-text reason code, such as `seasonal` or `integration_blocked`.
        reason: String,
    },
    /// A survey response's comment got a follow-up.
    FeedbackAddressed {
        /// The id of the survey response event it answers.
        response_id: String,
    },
}

impl AccountPayload {
    /// Event type names of all account payloads, in variant order.
    pub const EVENT_TYPES: [&'static str; 10] = [
        "deal_closed",
        "activated",
        "value_realized",
        "milestone_reached",
        "churned",
        "reactivated",
        "mrr_change",
        "usage",
        "inactivity_reason",
        "feedback_addressed",
    ];

    /// The event type name scorers would subscribe to.
    pub fn event_type(&self) -> &'static str {
        let index = match self {
            AccountPayload::DealClosed => 0,
            AccountPayload::Activated => 1,
            AccountPayload::ValueRealized { .. } => 2,
            AccountPayload::MilestoneReached { .. } => 3,
            AccountPayload::Churned => 4,
            AccountPayload::Reactivated => 5,
            AccountPayload::Mrr(_) => 6,
            AccountPayload::Usage(_) => 7,
            AccountPayload::InactivityReason { .. } => 8,
            AccountPayload::FeedbackAddressed { .. } => 9,
        };
        Self::EVENT_TYPES[index]
    }

    /// The currency the payload carries money in, if it carries money.
    pub fn currency(&self) -> Option<&str> {
        match self {
            AccountPayload::Mrr(change) => Some(&change.currency),
            AccountPayload::Usage(usage) => Some(&usage.currency),
            _ => None,
        }
    }
}

/// Which way an MRR change goes. Amounts are always positive; the kind
/// gives the sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MrrKind {
    /// A new (or returning) customer's revenue: new business, in no
    /// retention ratio.
    New,
    /// An existing customer pays more.
    Expansion,
    /// An existing customer pays less.
    Contraction,
    /// An existing customer's revenue ends.
    Churn,
}

impl MrrKind {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            MrrKind::New => "new",
            MrrKind::Expansion => "expansion",
            MrrKind::Contraction => "contraction",
            MrrKind::Churn => "churn",
        }
    }

    /// `amount` with the sign this kind gives MRR.
    pub const fn signed(self, amount: i64) -> i64 {
        match self {
            MrrKind::New | MrrKind::Expansion => amount,
            MrrKind::Contraction | MrrKind::Churn => -amount,
        }
    }

    /// This change of `amount` applied to an MRR of `mrr`: the new MRR and
    /// the part of `amount` that counted. Money never goes below zero: a
    /// contraction or churn larger than the MRR counts as the MRR (the rest
    /// is capped, `amount` minus what counted).
    pub const fn apply(self, mrr: i64, amount: i64) -> (i64, i64) {
        let mrr = if mrr < 0 { 0 } else { mrr };
        match self {
            MrrKind::New | MrrKind::Expansion => (mrr.saturating_add(amount), amount),
            MrrKind::Contraction | MrrKind::Churn => {
                let counted = if amount < mrr { amount } else { mrr };
                (mrr - counted, counted)
            }
        }
    }

    /// Where changes at one instant go: increases before decreases, so a
    /// decrease is capped against everything that instant added, whatever
    /// the arrival order.
    pub(crate) const fn order_at_same_time(self) -> u8 {
        match self {
            MrrKind::New => 0,
            MrrKind::Expansion => 1,
            MrrKind::Contraction => 2,
            MrrKind::Churn => 3,
        }
    }
}

/// A change of monthly recurring revenue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrrChange {
    /// New, expansion, contraction or churn.
    pub kind: MrrKind,
    /// Positive amount in minor units (cents) per month.
    pub amount_minor: i64,
    /// Currency code (three upper-case letters); the tenant's currency.
    pub currency: String,
}

/// Transactions processed by an account since its previous usage event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Number of transactions processed.
    pub transactions: u64,
    /// Their total amount in minor units, not negative.
    pub amount_minor: i64,
    /// Currency code (three upper-case letters); the tenant's currency.
    pub currency: String,
}

/// A currency code: three upper-case ASCII letters, stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a code such as `EUR`; `None` unless three upper-case letters.
    pub fn parse(code: &str) -> Option<Self> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Some(Currency([a, b, c])),
            _ => None,
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_distinct_snake_case_names() {
        let mrr =
            AccountPayload::Mrr(MrrChange { kind: MrrKind::New, amount_minor: 1, currency: "EUR".into() });
        assert_eq!(mrr.event_type(), "mrr_change");
        assert_eq!(AccountPayload::DealClosed.event_type(), "deal_closed");
        let mut names = AccountPayload::EVENT_TYPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 10);
        assert!(!names.contains(&"survey_response"));
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").map(|c| c.as_str().to_owned()), Some("EUR".into()));
        assert_eq!(Currency::parse("eur"), None);
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("€"), None);
    }

    #[test]
    fn mrr_kind_gives_the_sign() {
        assert_eq!(MrrKind::Expansion.signed(5), 5);
        assert_eq!(MrrKind::Churn.signed(5), -5);
    }

    #[test]
    fn a_decrease_counts_at_most_the_mrr() {
        assert_eq!(MrrKind::Contraction.apply(1_000, 300), (700, 300));
        assert_eq!(MrrKind::Contraction.apply(1_000, 3_000), (0, 1_000));
        assert_eq!(MrrKind::Churn.apply(0, 50), (0, 0));
        assert_eq!(MrrKind::Expansion.apply(-20, 50), (50, 50), "a negative start reads as zero");
    }
}
