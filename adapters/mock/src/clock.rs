//! A clock that only the test moves.
//!
//! [`ManualClock`] holds one [`Instant`] of the core's clock, shared by its
//! clones: the test keeps one and moves it ([`advance`](ManualClock::advance),
//! [`set`](ManualClock::set)), the code under test keeps another and reads it
//! ([`now`](ManualClock::now)). It decides nothing about when to move: a
//! deterministic test moves it to the core's next `poll_timeout()`. It does
//! not sleep, wake tasks or read the system clock.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use portsyncd_core::time::Instant;

/// A shared, manually moved [`Instant`]; clones share it.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Rc<Cell<Instant>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Instant) -> Self {
        Self { now: Rc::new(Cell::new(start)) }
    }

    /// What the clock shows.
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Moves the clock forward by `by` (saturating at the end of time);
    /// returns the new time.
    pub fn advance(&self, by: Duration) -> Instant {
        let next = self.now.get().saturating_add(by);
        self.now.set(next);
        next
    }

    /// Shows `at` from now on. Unlike [`advance`](Self::advance) this may
    /// move the clock backwards, for tests of code that must not trust a
    /// clock to be monotonic; the core's own clocks never go back.
    pub fn set(&self, at: Instant) {
        self.now.set(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_time_that_only_the_test_moves() {
        let test_side = ManualClock::new(Instant::from_millis(1_000));
        let code_side = test_side.clone();
        assert_eq!(code_side.now(), Instant::from_millis(1_000));
        assert_eq!(test_side.advance(Duration::from_millis(250)), Instant::from_millis(1_250));
        assert_eq!(code_side.now(), Instant::from_millis(1_250), "the clone sees the move");
        code_side.set(Instant::from_millis(10));
        assert_eq!(test_side.now(), Instant::from_millis(10), "set may go back");
        test_side.set(Instant::from_millis(u64::MAX - 1));
        assert_eq!(test_side.advance(Duration::from_secs(1)), Instant::from_millis(u64::MAX), "saturates");
        assert_eq!(ManualClock::default().now(), Instant::from_millis(0));
    }
}
