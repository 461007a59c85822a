//! Bounded exponential backoff with jitter, for reconnecting to a backend.
//!
//! This module decides how long to wait before the next attempt: the delay
//! doubles from `base` up to `max`, and a seeded jitter spreads it over
//! `[delay/2, delay]` so that several daemons do not retry in lockstep. It
//! does not sleep or read a clock; the caller waits.

use core::time::Duration;

/// The delay schedule of one reconnecting backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A schedule starting at `base`, never above `max`, jittered from `seed`.
    pub const fn new(base: Duration, max: Duration, seed: u64) -> Self {
        let max = if max.as_nanos() < base.as_nanos() { base } else { max };
        Self { base, max, attempt: 0, rng: seed | 1 }
    }

    /// New bounds for the delays to come; the failed attempts so far still count.
    pub fn set_bounds(&mut self, base: Duration, max: Duration) {
        self.base = base;
        self.max = max.max(base);
    }

    /// The delay before the next attempt; each call counts one failed attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        let full = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: cheap and good enough to decorrelate retries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = full / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 { 0 } else { self.rng % (spread + 1) };
        half + Duration::from_micros(jitter)
    }

    /// Attempts that failed since the last success.
    pub const fn attempts(&self) -> u32 {
        self.attempt
    }

    /// An attempt succeeded: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::{Backoff, Duration};

    #[test]
    fn grows_within_bounds_and_resets() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        let mut b = Backoff::new(base, max, 42);
        let mut ceiling = base;
        for _ in 0..40 {
            let d = b.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
            ceiling = (ceiling * 2).min(max);
        }
        assert_eq!(b.attempts(), 40);
        b.reset();
        assert!(b.next_delay() <= base);
    }

    #[test]
    fn seeds_decorrelate() {
        let mk = |seed| {
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), seed);
            [b.next_delay(), b.next_delay(), b.next_delay(), b.next_delay()]
        };
        assert_ne!(mk(1), mk(2));
        assert_eq!(mk(7), mk(7));
    }
}
