//! Time as the core sees it: a monotonic instant passed in by the caller.
//!
//! The core never reads a clock. Adapters convert their clock to an
//! [`Instant`] (milliseconds since an arbitrary origin) in one line, and tests
//! move a virtual one.

use core::time::Duration;

/// A point on the caller's monotonic clock, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `millis` milliseconds after the clock's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// `self - duration`, saturating at the clock's origin.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self::from_millis(self.as_millis().saturating_sub(ms))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}
