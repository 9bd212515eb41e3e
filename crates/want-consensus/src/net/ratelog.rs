//! A warning that can repeat at the rate of an attacker's requests (a refused envelope, a
//! refused connection) is let through at most once per interval, with the count of those held
//! back: logs must not fill the disk either.

use std::time::{Duration, Instant};

/// Default interval between two reports of one repeated warning, in milliseconds.
pub const LOG_EVERY_MS: u64 = 10_000;

/// Lets a repeated warning through at most once per interval (the first one at once).
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl RateLimitedLog {
    pub fn new(every_ms: u64) -> RateLimitedLog {
        RateLimitedLog {
            every: Duration::from_millis(every_ms),
            last: None,
            held: 0,
        }
    }

    /// Records one occurrence at `now`: `Some(n)` when it is to be logged, `n` counting the
    /// occurrences since the last report (this one included); `None` when held back.
    pub fn tick_at(&mut self, now: Instant) -> Option<u64> {
        self.held = self.held.saturating_add(1);
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if !due {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }

    /// [`RateLimitedLog::tick_at`] now.
    pub fn tick(&mut self) -> Option<u64> {
        self.tick_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_warnings_is_reported_once_per_interval_with_its_count() {
        let mut log = RateLimitedLog::new(1_000);
        let t0 = Instant::now();
        assert_eq!(log.tick_at(t0), Some(1));
        for i in 1..1_000 {
            assert_eq!(log.tick_at(t0 + Duration::from_micros(i)), None);
        }
        assert_eq!(log.tick_at(t0 + Duration::from_millis(1_000)), Some(1_000));
        assert_eq!(log.tick_at(t0 + Duration::from_millis(1_500)), None);
    }
}
