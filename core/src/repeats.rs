//! Which repeated log lines are said, and when.
//!
//! Trouble that repeats — a link whose name cannot be a key flapping, Redis
//! answering every batch with an error — would otherwise be one line per
//! netlink message or per batch. [`Repeats`] decides, per kind of trouble:
//! the first line is said at once and opens a window; lines of that kind
//! within the window are held back and counted; when the window ends with
//! lines held back, their count is said (and a new window opens); when it
//! ends with none, the kind is quiet again and its next line is said at
//! once. When the trouble is known to be over, the caller asks for the
//! count held so far ([`Repeats::ended`]) and says it before its
//! "recovered" line.
//!
//! It does not format or emit anything, and keeps no text: the caller says
//! what the kinds are (an index below `K`) and words the lines. Time is
//! passed in.

use core::time::Duration;

use crate::time::Instant;

/// What to do with one occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Say {
    /// Say it (the first of its kind in a while).
    Line,
    /// Hold it back; it is counted.
    Quiet,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// End of the current window; `None`: quiet, the next line is said.
    until: Option<Instant>,
    held: u32,
}

/// Per kind of trouble (an index below `K`), what is said and what is held
/// back. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeats<const K: usize> {
    slots: [Slot; K],
    window: Duration,
}

impl<const K: usize> Repeats<K> {
    /// Nothing said yet; windows of `window`.
    pub const fn new(window: Duration) -> Self {
        Self { slots: [Slot { until: None, held: 0 }; K], window }
    }

    /// The window length.
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// Changes the window length (windows already open keep their end).
    pub fn set_window(&mut self, window: Duration) {
        self.window = window;
    }

    /// Trouble of `kind` happened at `now`: say it, or hold it back. A kind
    /// at or beyond `K` is always said.
    pub fn happened(&mut self, now: Instant, kind: usize) -> Say {
        let Some(slot) = self.slots.get_mut(kind) else { return Say::Line };
        match slot.until {
            Some(until) if now < until => {
                slot.held = slot.held.saturating_add(1);
                Say::Quiet
            }
            // A window that ended unpolled: its count is said first by
            // `poll`; this line opens a new window only if it was quiet.
            Some(_) if slot.held > 0 => {
                slot.held = slot.held.saturating_add(1);
                Say::Quiet
            }
            _ => {
                slot.until = Some(now.saturating_add(self.window));
                Say::Line
            }
        }
    }

    /// A window that ended by `now` with lines held back: its kind and the
    /// count (a new window opens). Windows that ended with none close.
    /// Call until `None`.
    pub fn poll(&mut self, now: Instant) -> Option<(usize, u32)> {
        let window = self.window;
        for (kind, slot) in self.slots.iter_mut().enumerate() {
            let Some(until) = slot.until else { continue };
            if now < until {
                continue;
            }
            if slot.held == 0 {
                slot.until = None;
                continue;
            }
            let held = core::mem::take(&mut slot.held);
            slot.until = Some(now.saturating_add(window));
            return Some((kind, held));
        }
        None
    }

    /// The trouble of `kind` is over: the count held back so far, if any
    /// (say it before the line that says it is over). The kind is quiet
    /// again.
    pub fn ended(&mut self, kind: usize) -> Option<u32> {
        let slot = self.slots.get_mut(kind)?;
        let held = core::mem::take(slot).held;
        (held > 0).then_some(held)
    }

    /// When [`poll`](Self::poll) has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|s| s.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Instant, Repeats, Say};

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn first_said_then_counted_per_window_then_quiet() {
        let mut r = Repeats::<2>::new(Duration::from_secs(10));
        assert_eq!(r.happened(at(0), 0), Say::Line);
        assert_eq!(r.poll_timeout(), Some(at(10_000)));
        for t in 1..=50 {
            assert_eq!(r.happened(at(t * 100), 0), Say::Quiet);
        }
        assert_eq!(r.happened(at(100), 1), Say::Line, "kinds are apart");
        assert_eq!(r.poll(at(9_999)), None);
        assert_eq!(r.poll(at(10_000)), Some((0, 50)));
        assert_eq!(r.poll(at(10_000)), None, "kind 1 held nothing: it closes");
        assert_eq!(r.happened(at(10_200), 1), Say::Line, "kind 1 quiet again");
        // Kind 0's new window: nothing more, then it closes and speaks again.
        assert_eq!(r.poll(at(20_000)), None);
        assert_eq!(r.happened(at(20_001), 0), Say::Line);
    }

    #[test]
    fn a_window_not_polled_in_time_keeps_counting_until_polled() {
        let mut r = Repeats::<1>::new(Duration::from_secs(1));
        assert_eq!(r.happened(at(0), 0), Say::Line);
        assert_eq!(r.happened(at(500), 0), Say::Quiet);
        assert_eq!(r.happened(at(5_000), 0), Say::Quiet, "the count is said first");
        assert_eq!(r.poll(at(5_000)), Some((0, 2)));
    }

    #[test]
    fn ended_hands_back_the_count_and_quiets_the_kind() {
        let mut r = Repeats::<1>::new(Duration::from_secs(10));
        assert_eq!(r.ended(0), None);
        r.happened(at(0), 0);
        r.happened(at(1), 0);
        r.happened(at(2), 0);
        assert_eq!(r.ended(0), Some(2));
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.happened(at(3), 0), Say::Line);
        assert_eq!(r.happened(at(3), 7), Say::Line, "an unknown kind is always said");
    }
}
