//! One subscriber's side: the stream a `Subscribe` call answers with.
//!
//! It reads its feed's `watch` channel directly, with no task or queue of
//! its own: the HTTP/2 layer polls it only when the stream has send
//! window, so a slow reader is simply polled later and then gets the
//! latest answer (the channel keeps nothing else). One message per answer
//! it sees, the update's bytes shared with the feed's other subscribers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration as StdDuration;

use futures::Stream;
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::WatchStream;
use tonic::Status;

use super::wire::{SharedKind, SharedResponse};
use super::{FeedState, Permit};
use crate::clock::Clock;
use crate::convert;

/// The messages of one subscription: answers as the feed publishes them,
/// heartbeats after a quiet `heartbeat` interval, the feed's error last.
/// Dropping it (the client left) releases its slot in the limits and, for
/// the feed's last subscriber, stops the feed.
pub struct UpdateStream {
    answers: WatchStream<FeedState>,
    /// Fires at or before the next heartbeat is due; see `poll_heartbeat`.
    timer: Pin<Box<Sleep>>,
    heartbeat: StdDuration,
    last_sent: Instant,
    sequence: u64,
    clock: Arc<dyn Clock>,
    ended: bool,
    _permit: Permit,
}

impl UpdateStream {
    pub(super) fn new(
        answers: tokio::sync::watch::Receiver<FeedState>,
        heartbeat: StdDuration,
        clock: Arc<dyn Clock>,
        permit: Permit,
    ) -> Self {
        let now = Instant::now();
        UpdateStream {
            // Yields the current answer first, if the feed has one.
            answers: WatchStream::new(answers),
            timer: Box::pin(tokio::time::sleep_until(now + heartbeat)),
            heartbeat,
            last_sent: now,
            sequence: 0,
            clock,
            ended: false,
            _permit: permit,
        }
    }

    fn message(&mut self, kind: SharedKind) -> SharedResponse {
        self.last_sent = Instant::now();
        SharedResponse {
            sequence: self.sequence,
            sent_at: Some(convert::to_timestamp(self.clock.now())),
            kind: Some(kind),
        }
    }

    /// Ready when `heartbeat` has passed since the last message. The timer
    /// is not reset per message (that would touch the timer wheel for every
    /// update of every subscriber): when it fires early, it is moved to the
    /// real deadline then.
    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let due = self.last_sent + self.heartbeat;
            if Instant::now() >= due {
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl Stream for UpdateStream {
    type Item = Result<SharedResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.answers).poll_next(cx) {
                Poll::Ready(Some(Some(Ok(published)))) => {
                    this.sequence = published.sequence;
                    return Poll::Ready(Some(Ok(this.message(SharedKind::Update(published.update)))));
                }
                Poll::Ready(Some(Some(Err(status)))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(status)));
                }
                // The feed has no answer yet: wait for one.
                Poll::Ready(Some(None)) => continue,
                // The feed is gone (the server is stopping).
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        ready!(this.poll_heartbeat(cx));
        Poll::Ready(Some(Ok(this.message(SharedKind::Heartbeat))))
    }
}
