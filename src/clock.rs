//! The server's clock. Event time is compared against it (retention, clock
//! skew) and rolling windows end at it. Tests use [`ManualClock`] to move
//! time without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use rapport_engine::{Duration, Timestamp};

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(millis)
    }
}

/// Wall-clock time plus an offset that tests move forward.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_millis: AtomicI64,
}

impl ManualClock {
    /// A clock at wall-clock time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_millis.fetch_add(by.millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        SystemClock.now().plus(Duration(self.offset_millis.load(Ordering::SeqCst)))
    }
}
