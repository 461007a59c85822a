//! The driver's timers: one enum of timers, one array of deadlines
//! (quinn-proto's `TimerTable` is the model). A timer is stopped, armed for
//! an instant, or fired (its instant came and the work it makes due has not
//! been taken yet). [`poll_timeout`](super::Driver::poll_timeout) is the
//! earliest armed deadline of the timers that run in the driver's stage.
//!
//! It decides nothing about what a timer's work is: that is
//! `Driver::handle_timeout`'s (which timers re-arm themselves) and
//! `next_run`'s (in which order fired timers' work is taken).

use crate::time::Instant;

/// Every timer the driver has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Backend maintenance (reconnects, kept writes), periodic.
    Maintain,
    /// CONFIG_DB's LOGGER read again, periodic.
    LoggerPoll,
    /// Refused writes written again, and a dump after something could not
    /// be asked or dumped.
    Retry,
    /// The engine's per-port flap window rolls, periodic.
    FlapWindow,
    /// The periodic reconciliation.
    Reconcile,
    /// The link source opened again after a failure.
    Reopen,
    /// Partitioned instances read each other's keys.
    Coordination,
    /// A change of the link filter waits for this (changes are spaced).
    LinkFilter,
    /// The warm-restart snapshot is saved (armed while it is out of date).
    Snapshot,
    /// The service manager is told the loop is alive.
    Liveness,
    /// Shutdown stops waiting for the backend's kept writes.
    StopFlush,
    /// PortInitDone not reached this long after the start: the ports still
    /// awaiting their host interface are named, once.
    AwaitingReport,
    /// The coalescing window: the link source is read again (after a
    /// wake-up that found several datagrams).
    NextRead,
}

impl Timer {
    /// How many there are.
    pub(super) const COUNT: usize = 13;
    /// All of them, in the order of the table.
    pub(super) const ALL: [Timer; Self::COUNT] = [
        Timer::Maintain,
        Timer::LoggerPoll,
        Timer::Retry,
        Timer::FlapWindow,
        Timer::Reconcile,
        Timer::Reopen,
        Timer::Coordination,
        Timer::LinkFilter,
        Timer::Snapshot,
        Timer::Liveness,
        Timer::StopFlush,
        Timer::AwaitingReport,
        Timer::NextRead,
    ];

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The deadlines, and which timers fired and wait for their work to be taken.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    at: [Option<Instant>; Timer::COUNT],
    fired: u16,
}

impl Timers {
    /// None armed (what `Default` gives), in a `const`.
    pub(super) const NONE: Self = Self { at: [None; Timer::COUNT], fired: 0 };
}

impl Timers {
    /// Arms `timer` for `at` (re-arming it if it was armed).
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer as usize] = Some(at);
    }

    /// Arms `timer` for `at` unless it is armed for sooner.
    pub(super) fn set_by(&mut self, timer: Timer, at: Instant) {
        let slot = &mut self.at[timer as usize];
        *slot = Some(slot.map_or(at, |t| t.min(at)));
    }

    /// Stops `timer` and forgets that it fired.
    pub(super) fn stop(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
        self.fired &= !timer.bit();
    }

    /// When `timer` is armed for.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// Whether `timer` is armed or fired and not yet taken.
    pub(super) fn is_pending(&self, timer: Timer) -> bool {
        self.at[timer as usize].is_some() || self.fired & timer.bit() != 0
    }

    /// Whether `timer` fired and its work waits.
    pub(super) fn has_fired(&self, timer: Timer) -> bool {
        self.fired & timer.bit() != 0
    }

    /// Marks `timer` fired now (its work is due at once), stopping it.
    pub(super) fn fire(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
        self.fired |= timer.bit();
    }

    /// Takes the work of a fired `timer`: whether it had fired.
    pub(super) fn take(&mut self, timer: Timer) -> bool {
        let fired = self.has_fired(timer);
        self.fired &= !timer.bit();
        fired
    }

    /// Whether `timer` is armed for `now` or earlier: it is stopped, and the
    /// caller does its work (and re-arms it, for a periodic one).
    pub(super) fn expired(&mut self, timer: Timer, now: Instant) -> bool {
        let slot = &mut self.at[timer as usize];
        if slot.is_some_and(|at| now >= at) {
            *slot = None;
            return true;
        }
        false
    }

    /// The earliest deadline among the timers `runs` lets through.
    pub(super) fn next(&self, runs: impl Fn(Timer) -> bool) -> Option<Instant> {
        Timer::ALL.iter().filter(|t| runs(**t)).filter_map(|t| self.get(*t)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::{Instant, Timer, Timers};

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn the_table_lists_every_timer_once_in_order() {
        for (i, t) in Timer::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }

    #[test]
    fn a_timer_is_stopped_armed_or_fired() {
        let mut t = Timers::default();
        assert!(!t.is_pending(Timer::Retry));
        t.set(Timer::Retry, at(10));
        assert!(t.is_pending(Timer::Retry) && !t.has_fired(Timer::Retry));
        assert!(!t.expired(Timer::Retry, at(9)));
        assert!(t.expired(Timer::Retry, at(10)));
        assert_eq!(t.get(Timer::Retry), None);
        t.fire(Timer::Retry);
        assert!(t.is_pending(Timer::Retry));
        assert!(t.take(Timer::Retry));
        assert!(!t.take(Timer::Retry));
    }

    #[test]
    fn the_next_deadline_is_the_earliest_of_those_that_run() {
        let mut t = Timers::default();
        t.set(Timer::Maintain, at(30));
        t.set(Timer::Liveness, at(20));
        t.set_by(Timer::Maintain, at(40));
        assert_eq!(t.get(Timer::Maintain), Some(at(30)));
        assert_eq!(t.next(|_| true), Some(at(20)));
        assert_eq!(t.next(|timer| timer != Timer::Liveness), Some(at(30)));
        t.stop(Timer::Liveness);
        assert_eq!(t.next(|_| true), Some(at(30)));
    }
}
