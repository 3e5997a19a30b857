//! Graceful shutdown as the services see it: a flag that turns on once,
//! when the server starts shutting down, and that calls can wait for.
//!
//! On SIGTERM the server turns it on before it stops accepting
//! connections. From then on `Ingest` streams take no new batch: they
//! finish the batches in process, send their acks and end with
//! `UNAVAILABLE`; `Record` calls and new streams are refused with
//! `UNAVAILABLE`; subscriptions end with `UNAVAILABLE`. So every call
//! ends by itself and the process exits as soon as the work in flight is
//! done; the grace period only caps a call that does not end (a client
//! that stopped reading its acks).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::watch;
use tonic::Status;

use crate::status;

/// Turns shutdown on: the server's side.
#[derive(Debug)]
pub struct ShutdownSwitch(watch::Sender<bool>);

impl ShutdownSwitch {
    /// Begins shutdown (again: no effect).
    pub fn begin(&self) {
        self.0.send_replace(true);
    }
}

/// Whether shutdown has begun: the services' side. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// A switch and the flag it turns on.
pub fn shutdown() -> (ShutdownSwitch, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownSwitch(tx), Shutdown(rx))
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown has begun; never, if its switch is dropped
    /// unused.
    pub async fn begun(mut self) {
        if self.0.wait_for(|begun| *begun).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A server stream that ends with `UNAVAILABLE` once shutdown begins
/// (subscriptions: they never end by themselves).
pub struct UntilShutdown<S> {
    inner: S,
    begun: Pin<Box<dyn Future<Output = ()> + Send>>,
    ended: bool,
}

impl<S> UntilShutdown<S> {
    /// `inner` until `shutdown` begins.
    pub fn new(inner: S, shutdown: Shutdown) -> Self {
        UntilShutdown { inner, begun: Box::pin(shutdown.begun()), ended: false }
    }
}

impl<S, T> Stream for UntilShutdown<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.begun.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(Some(Err(status::shutting_down())));
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_stream_ends_unavailable_once_shutdown_begins() {
        let (switch, shutdown) = shutdown();
        let mut stream = UntilShutdown::new(futures::stream::repeat(Ok::<u8, Status>(1)), shutdown.clone());
        assert_eq!(stream.next().await.and_then(Result::ok), Some(1));
        assert!(!shutdown.has_begun());
        switch.begin();
        assert!(shutdown.has_begun());
        let code = stream.next().await.and_then(Result::err).map(|s| s.code());
        assert_eq!(code, Some(tonic::Code::Unavailable));
        assert!(stream.next().await.is_none());
    }
}
