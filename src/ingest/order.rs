//! The order in which batches take effect.
//!
//! A batch's order-sensitive steps (the currency pin, dedup reservation,
//! the log append, apply) must see batches one at a time, in an order that
//! keeps each `Ingest` stream's order; its other steps (decoding,
//! validation, encoding, waiting for the log) may overlap freely. Two
//! things give that order:
//!
//! - [`Chain`]: hands out [`Turn`]s, each coming after the one handed out
//!   before it. A stream hands one to each batch in stream order, so batch
//!   n + 1 starts its ordered step only after batch n has finished its own;
//!   the server's [`Sequencer`] hands one to each logged batch, so applies
//!   happen in log order.
//! - [`Sequencer`]: one lock around the ordered step of every batch of the
//!   server, whatever stream it came from. The order batches take it in is
//!   the order of their reservations and of their log records.
//!
//! A turn passes when it is dropped, so a batch that fails, or whose task
//! ends early, never holds up the next.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// Hands out turns in order.
#[derive(Debug, Default)]
pub struct Chain {
    last: Option<oneshot::Receiver<()>>,
}

impl Chain {
    /// A chain whose first turn waits for nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next turn: it comes after every turn handed out before.
    pub fn next_turn(&mut self) -> Turn {
        let (done, after) = oneshot::channel();
        Turn { after: self.last.replace(after), _done: done }
    }
}

/// A place in a [`Chain`]. Dropping it lets the next turn go.
#[derive(Debug)]
pub struct Turn {
    after: Option<oneshot::Receiver<()>>,
    /// Never sent: dropping it is the signal.
    _done: oneshot::Sender<()>,
}

impl Turn {
    /// A turn that waits for nothing and holds up nothing (a unary call).
    pub fn alone() -> Self {
        Chain::new().next_turn()
    }

    /// Waits until the previous turn has been dropped.
    pub async fn wait(&mut self) {
        if let Some(after) = &mut self.after {
            // An error only means the previous turn was dropped: go.
            let _ = after.await;
            self.after = None;
        }
    }
}

/// The server-wide order of batches (see the module docs).
#[derive(Debug, Default)]
pub struct Sequencer {
    applies: Arc<Mutex<Chain>>,
}

impl Sequencer {
    /// A sequencer with no batch yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the lock around the ordered step. The guard can move into
    /// a blocking task, so the step finishes whoever awaits it; it holds
    /// the chain of applies, for batches applied after the lock is gone.
    pub async fn lock(&self) -> OwnedMutexGuard<Chain> {
        Arc::clone(&self.applies).lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn a_turn_waits_for_the_previous_one_to_be_dropped() {
        let mut chain = Chain::new();
        let mut first = chain.next_turn();
        let mut second = chain.next_turn();
        let mut third = chain.next_turn();
        assert!(first.wait().now_or_never().is_some(), "the first turn waits for nothing");
        assert!(second.wait().now_or_never().is_none(), "the second went before the first was dropped");
        drop(first);
        assert!(second.wait().now_or_never().is_some());
        assert!(third.wait().now_or_never().is_none(), "the third went before the second was dropped");
        drop(second);
        assert!(third.wait().now_or_never().is_some());
        assert!(Turn::alone().wait().now_or_never().is_some());
    }
}
