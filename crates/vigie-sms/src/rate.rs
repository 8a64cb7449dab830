//! A provider's rate limit: at most so many requests a second, evenly spaced.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests `1 / per_second` apart. Each caller reserves the next free slot
/// and sleeps until it; callers are few at a time, as the provider's window bounds
/// them, so the queue of reservations is bounded too.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `per_second` requests a second (at least 1).
    pub(crate) fn new(per_second: u32) -> RateLimiter {
        let interval = Duration::from_secs(1) / per_second.max(1);
        RateLimiter { interval, next: Mutex::new(None) }
    }

    /// Waits for the next slot.
    pub(crate) async fn acquire(&self) {
        let at = {
            // A poisoned lock only means another task panicked while holding two
            // instants; the value is still usable.
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced() {
        let limiter = RateLimiter::new(10);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // The first goes at once, the fifth 4 intervals of 100 ms later.
        assert_eq!(Instant::now() - start, Duration::from_millis(400));
        // An idle limiter does not bank slots: after a pause, one goes at once and
        // the next waits a full interval.
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(Instant::now() - later, Duration::from_millis(100));
    }
}
