//! The clocks time-dependent rules read. Low in the module graph: configuration holds a
//! clock, and the rate limiter measures its buckets by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock as GovernorClock;
use governor::nanos::Nanos;

use crate::domain::Timestamp;

/// The clock buckets are measured by: monotonic time plus an offset that tests advance, so
/// a test can wait out a `Retry-After` without sleeping. Clones share the offset.
#[derive(Debug, Clone)]
pub struct RateLimitClock {
    start: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl Default for RateLimitClock {
    fn default() -> Self {
        RateLimitClock {
            start: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl RateLimitClock {
    /// Moves this clock (and its clones) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl GovernorClock for RateLimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed()) + Nanos::from(self.offset_nanos.load(Ordering::Relaxed))
    }
}

/// The server's clock, which every time-dependent rule reads (timestamps written,
/// connectivity, token expiry, round deadlines): wall time plus an offset that an
/// ephemeral server's test control (`POST /_devreg/clock`, [`crate::testing::TestServer`])
/// moves forward, never back. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// The current time as the server sees it, in whole seconds.
    pub fn now(&self) -> Timestamp {
        Timestamp(crate::domain::now().0 + self.offset_secs.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: u64) {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }

    /// Moves the clock forward to `to`. A time before the clock's present is refused: time
    /// that went backwards would undo what was written at the later time.
    pub fn set(&self, to: Timestamp) -> Result<(), Timestamp> {
        let now = self.now();
        if to < now {
            return Err(now);
        }
        self.offset_secs.fetch_add(to.0 - now.0, Ordering::Relaxed);
        Ok(())
    }

    /// How far ahead of wall time the clock runs, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }
}
