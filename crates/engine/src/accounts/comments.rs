//! The comments behind the feedback backlog: the text, score, account and
//! labels of each open low-score comment, per tenant, so a person can read
//! and act on them (`FeedbackService.ListFeedback`).
//!
//! The feedback book (`followups.rs`) knows which items are open; this
//! shelf keeps what a reader needs of each, and only that long:
//!
//! - **Only while open.** A comment is put on the shelf when its response
//!   opens an item that is still open, and taken off when a
//!   `feedback_addressed` names its response. A follow-up that came first
//!   leaves nothing on the shelf.
//! - **Bounded:** at most [`MAX_COMMENTS_PER_TENANT`] per tenant. Beyond
//!   that a new comment is not kept (its item still counts in
//!   `feedback_backlog`) and the shelf counts it in `not_kept`, so the
//!   oldest open comments, the ones most overdue, are the ones kept.
//!
//! The server snapshots the shelf beside the engine state
//! ([`Engine::export_comments`], [`Engine::restore_comments`]); log replay
//! rebuilds it like every other aggregate.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Hasher};
use crate::event::{Event, Labels, Scale, SurveyKind, TenantId};
use crate::query::{LabelFilter, Query, QueryError, Window};
use crate::time::{Duration, Timestamp};
use crate::validate::resolve_scale;

/// Comments kept per tenant at most (about 300 bytes each with a short
/// comment and a few labels: under 3 MB per tenant).
pub const MAX_COMMENTS_PER_TENANT: usize = 10_000;

/// An open low-score comment as a reader sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenComment {
    /// The survey response's event id (what a `feedback_addressed` names).
    pub response_id: Box<str>,
    /// The response's account; empty when it names none.
    pub account: Box<str>,
    /// When the response was made.
    pub made: Timestamp,
    /// Which survey.
    pub kind: SurveyKind,
    /// The score.
    pub score: i32,
    /// The scale the score is on.
    pub scale: Scale,
    /// The comment.
    pub comment: Box<str>,
    /// The response's own labels.
    pub labels: Labels,
}

/// One tenant's open comments, by response id.
#[derive(Default)]
pub(crate) struct CommentShelf {
    items: HashMap<Box<str>, OpenComment, Hasher>,
    /// Open comments not kept because the shelf was full.
    not_kept: u64,
}

impl CommentShelf {
    /// Keeps the comment of survey response `event` (on `scale`), unless
    /// the shelf is full.
    pub(crate) fn keep(&mut self, event: &Event, scale: Scale) {
        let Some(survey) = event.payload.as_survey() else { return };
        let (Some(kind), Some(score)) = (survey.kind, survey.score) else { return };
        if self.items.contains_key(event.id.as_str()) {
            return;
        }
        if self.items.len() >= MAX_COMMENTS_PER_TENANT {
            self.not_kept += 1;
            return;
        }
        let comment = OpenComment {
            response_id: event.id.as_str().into(),
            account: event.account_id.as_str().into(),
            made: event.time,
            kind,
            score,
            scale,
            comment: survey.comment.as_str().into(),
            labels: event.labels.clone(),
        };
        self.items.insert(comment.response_id.clone(), comment);
    }

    /// The item of `response_id` was addressed: its comment goes.
    pub(crate) fn forget(&mut self, response_id: &str) {
        self.items.remove(response_id);
    }
}

/// Open comments that pass a list's filters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenComments {
    /// The oldest first, at most the limit asked for.
    pub items: Vec<OpenComment>,
    /// Kept comments that pass the filters (`items` may hold fewer).
    pub matched: u64,
    /// Open items of the tenant, filters not applied (the
    /// `feedback_backlog` count).
    pub open: u64,
    /// Open comments not kept because the tenant's shelf was full.
    pub not_kept: u64,
}

/// A copy of every tenant's shelf, as a serde value (for snapshots).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommentsState {
    shelves: Vec<(TenantId, Vec<OpenComment>, u64)>,
}

impl Engine {
    /// `tenant`'s shelf, write-locked (created on first use). Taken after
    /// the feedback book when both are held.
    pub(crate) fn comment_shelf(
        &self,
        tenant: &TenantId,
    ) -> dashmap::mapref::one::RefMut<'_, TenantId, CommentShelf> {
        match self.accounts.comments.get_mut(tenant) {
            Some(shelf) => shelf,
            None => self.accounts.comments.entry(tenant.clone()).or_default(),
        }
    }

    /// The scale a survey response's score is on, as validation resolved it.
    pub(crate) fn comment_scale(&self, event: &Event) -> Option<Scale> {
        let survey = event.payload.as_survey()?;
        resolve_scale(survey.kind?, survey.scale, &self.config().surveys).ok()
    }

    /// `tenant`'s open comments whose response labels pass every filter,
    /// the oldest first (ties by response id), at most `limit`. A filter
    /// label no event could carry, or without values, is an error, as in a
    /// query.
    pub fn open_comments(
        &self,
        tenant: &TenantId,
        filters: &[LabelFilter],
        limit: usize,
    ) -> Result<OpenComments, QueryError> {
        let query =
            Query { filters: filters.to_vec(), ..Query::new("feedback_backlog", Window::Last(Duration(1))) };
        query.check_labels(&self.config().limits)?;
        let open = self.accounts.feedback.get(tenant).map_or(0, |book| {
            book.iter().filter(|(_, _, opened, addressed)| opened.is_some() && addressed.is_none()).count()
                as u64
        });
        let Some(shelf) = self.accounts.comments.get(tenant) else {
            return Ok(OpenComments { open, ..OpenComments::default() });
        };
        let mut matching: Vec<&OpenComment> =
            shelf.items.values().filter(|c| filters.iter().all(|f| f.matches(&c.labels))).collect();
        matching.sort_by(|a, b| (a.made, &a.response_id).cmp(&(b.made, &b.response_id)));
        Ok(OpenComments {
            matched: matching.len() as u64,
            items: matching.into_iter().take(limit).cloned().collect(),
            open,
            not_kept: shelf.not_kept,
        })
    }

    /// A copy of every tenant's shelf.
    pub fn export_comments(&self) -> CommentsState {
        let mut shelves: Vec<(TenantId, Vec<OpenComment>, u64)> = self
            .accounts
            .comments
            .iter()
            .map(|shelf| {
                let mut items: Vec<OpenComment> = shelf.items.values().cloned().collect();
                items.sort_by(|a, b| a.response_id.cmp(&b.response_id));
                (shelf.key().clone(), items, shelf.not_kept)
            })
            .collect();
        shelves.sort_by(|a, b| a.0.cmp(&b.0));
        CommentsState { shelves }
    }

    /// Puts a copied state back (into a fresh engine, before serving).
    pub fn restore_comments(&self, state: CommentsState) {
        for (tenant, items, not_kept) in state.shelves {
            let mut shelf = self.comment_shelf(&tenant);
            shelf.not_kept += not_kept;
            for item in items {
                shelf.items.insert(item.response_id.clone(), item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::event::{Payload, SurveyResponse};

    fn response(id: &str, score: i32, time: i64, labels: &[(&str, &str)]) -> Event {
        Event {
            id: id.into(),
            account_id: "acme".into(),
            time: Timestamp(time),
            labels: Labels::from_pairs(labels.iter().copied()),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(SurveyKind::Nps),
                score: Some(score),
                scale: None,
                comment: format!("comment of {id}"),
            }),
        }
    }

    #[test]
    fn the_shelf_keeps_open_comments_up_to_its_bound() {
        let mut shelf = CommentShelf::default();
        let nps = Scale { min: 0, max: 10 };
        for n in 0..MAX_COMMENTS_PER_TENANT + 2 {
            shelf.keep(&response(&format!("r{n}"), 3, n as i64, &[]), nps);
        }
        assert_eq!(shelf.items.len(), MAX_COMMENTS_PER_TENANT);
        assert_eq!(shelf.not_kept, 2);
        // The oldest are kept: the two newest were not.
        assert!(shelf.items.contains_key("r0"));
        assert!(!shelf.items.contains_key(format!("r{}", MAX_COMMENTS_PER_TENANT).as_str()));
        shelf.forget("r0");
        assert!(!shelf.items.contains_key("r0"));
        // Kept once: the same response again changes nothing.
        shelf.keep(&response("r1", 9, 99, &[]), nps);
        assert_eq!(shelf.items.get("r1").map(|c| c.score), Some(3));
    }

    #[test]
    fn a_comment_reads_as_its_response_said_it() {
        let mut shelf = CommentShelf::default();
        shelf.keep(&response("r1", 2, 1_000, &[("segment", "smb")]), Scale { min: 0, max: 10 });
        let comment = shelf.items.get("r1").unwrap();
        assert_eq!(
            (
                &*comment.account,
                comment.made,
                comment.score,
                &*comment.comment,
                comment.labels.get("segment")
            ),
            ("acme", Timestamp(1_000), 2, "comment of r1", Some("smb"))
        );
    }
}
