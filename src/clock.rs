//! The clocks time-dependent rules read. Low in the module graph: configuration holds a
//! clock, and the rate limiter measures its buckets by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::nanos::Nanos;

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

impl Clock for RateLimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed()) + Nanos::from(self.offset_nanos.load(Ordering::Relaxed))
    }
}
