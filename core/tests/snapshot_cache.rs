//! The warm-restart snapshot is a cache: a store that cannot take it
//! degrades health with the reason, says once what is lost, is tried again
//! on the save cadence and recovers by itself; a save that fails on the way
//! out is said, and the run still ends as it would have. Timelines of the
//! driver on a virtual clock.

mod kernel;

use portsyncd_core::Instant;
use portsyncd_core::backend::StoreFault;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Failure, Input, SAVE_RETRY_FLOOR, Signal, Taken};
use portsyncd_core::event::Event;
use portsyncd_core::health::{HealthState, Reason};
use portsyncd_core::logger::Level;
use portsyncd_core::netlink::emit_done;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Saves every second (the timelines below count in seconds).
fn every_second() -> DriverConfig {
    DriverConfig { snapshot_interval: core::time::Duration::from_secs(1), ..DriverConfig::default() }
}

/// A world whose databases always answer and whose snapshot store fails
/// while `fault` is set.
#[derive(Default)]
struct Store {
    fault: Option<StoreFault>,
    /// Each save tried: whether it worked.
    tries: Vec<bool>,
    lines: Vec<Event>,
}

impl Facts for Store {
    fn save(&mut self, _ports: usize) -> Result<usize, StoreFault> {
        self.tries.push(self.fault.is_none());
        self.fault.map_or(Ok(64), Err)
    }
    fn event(&mut self, event: &Event) {
        self.lines.push(*event);
    }
}

impl Store {
    /// Lines that match, as text.
    fn said(&self, matches: impl Fn(&Event) -> bool) -> Vec<String> {
        self.lines.iter().filter(|e| matches(e)).map(ToString::to_string).collect()
    }

    fn not_saved_lines(&self) -> Vec<String> {
        self.said(|e| matches!(e, Event::SnapshotsNotSaved { .. }))
    }
}

/// The driver on a virtual clock over a [`Store`].
struct Run {
    d: Box<DefaultDriver>,
    store: Store,
    now: Instant,
    exit: Option<Result<(), Failure>>,
}

impl Run {
    /// A cold start with no ports, through its initial sync at 10 ms; the
    /// store found unusable before it, if `unusable`.
    fn synced(config: DriverConfig, unusable: Option<StoreFault>) -> Self {
        let mut d = Box::new(DefaultDriver::new(at(0), config));
        let store = Store { fault: unusable, ..Store::default() };
        if let Some(fault) = unusable {
            let _ = d.handle(at(0), Input::SnapshotStoreFailed(fault));
        }
        let mut run = Run { d, store, now: at(0), exit: None };
        run.answer();
        let mut done = [0u8; 20];
        emit_done(&mut done, 1).unwrap();
        run.now = at(10);
        assert_eq!(run.d.handle(run.now, Input::Datagram(&done)), Taken::All);
        let _ = run.d.handle(run.now, Input::QueueEmpty);
        run.answer();
        assert!(run.d.milestones().eoiu.is_some(), "synced");
        run
    }

    fn answer(&mut self) {
        if let Some(exit) = canned::answer_all(&mut self.d, self.now, &mut self.store) {
            self.exit = Some(exit);
        }
    }

    /// Time moves to `ms`, stopping at every deadline on the way.
    fn advance_to(&mut self, ms: u64) {
        if self.exit.is_none() {
            self.exit = kernel::advance_to(&mut self.d, &mut self.store, &mut self.now, at(ms));
        }
    }

    fn terminate(&mut self) -> Result<(), Failure> {
        let _ = self.d.handle(self.now, Input::Signal(Signal::Terminate));
        self.answer();
        self.advance_to(self.now.as_millis() + 1000);
        self.exit.expect("exited")
    }
}

#[test]
fn a_store_unusable_at_start_degrades_says_once_what_is_lost_and_saves_resume_by_themselves() {
    let mut run = Run::synced(every_second(), Some(StoreFault::ReadOnly));
    let reason = Reason::SnapshotNotSaved { fault: StoreFault::ReadOnly };
    assert_eq!(run.d.health(), (HealthState::Degraded, reason), "at once, before any save");
    assert_eq!(
        run.store.not_saved_lines(),
        ["warm-restart snapshot cannot be saved (the state dir is read-only): crash-safe warm restart is \
          lost until a save succeeds (a start meanwhile is cold, or warm from STATE_DB alone); the port \
          tables are kept as usual; trying again every 1000 ms"]
    );
    assert!(
        run.store
            .lines
            .iter()
            .any(|e| matches!(e, Event::SnapshotsNotSaved { .. }) && e.level() == Level::Warn)
    );
    assert_eq!(
        run.store.said(|e| matches!(e, Event::Health(_))),
        ["health: healthy => degraded (warm-restart snapshot not saved: the state dir is read-only)"]
    );
    assert!(run.store.tries.is_empty(), "nothing saved during start-up");

    // Still read-only: tried on the cadence (1 s), said no more.
    run.advance_to(5_500);
    assert_eq!(run.store.tries, [false; 5], "at 1, 2, 3, 4 and 5 s");
    assert_eq!(run.store.not_saved_lines().len(), 1);
    assert_eq!(run.d.health(), (HealthState::Degraded, reason));
    assert_eq!(run.d.counters().snapshot_failures, 5);

    // Writable again: the next try saves, and health recovers.
    run.store.fault = None;
    run.advance_to(6_000);
    assert_eq!(run.store.tries.last(), Some(&true));
    assert_eq!(run.d.health(), (HealthState::Healthy, Reason::AllWell));
    assert_eq!(
        run.store.said(|e| matches!(e, Event::SnapshotsSavedAgain | Event::Health(_))),
        [
            "health: healthy => degraded (warm-restart snapshot not saved: the state dir is read-only)",
            "warm-restart snapshot saved again: crash-safe warm restart is back",
            "health: degraded => healthy (all well)",
        ]
    );
    // Nothing owed any more: no more saves until STATE_DB changes.
    let tries = run.store.tries.len();
    run.advance_to(60_000);
    assert_eq!(run.store.tries.len(), tries);
    assert_eq!(run.terminate(), Ok(()));
    assert_eq!(run.store.tries.last(), Some(&true), "saved on the way out");
}

#[test]
fn a_save_interval_of_zero_is_not_a_busy_loop_when_saves_fail() {
    let config = DriverConfig { snapshot_interval: core::time::Duration::ZERO, ..DriverConfig::default() };
    let mut run = Run::synced(config, Some(StoreFault::Full));
    run.advance_to(10_000);
    let floor = SAVE_RETRY_FLOOR.as_millis() as usize;
    assert!(run.store.tries.len() <= 10_000 / floor, "{} tries in 10 s", run.store.tries.len());
    assert!(run.store.tries.len() >= 9, "{} tries in 10 s", run.store.tries.len());
    assert_eq!(
        run.store.not_saved_lines(),
        ["warm-restart snapshot cannot be saved (the state dir is full): crash-safe warm restart is lost \
          until a save succeeds (a start meanwhile is cold, or warm from STATE_DB alone); the port tables \
          are kept as usual; trying again every 1000 ms"]
    );
}

#[test]
fn a_failed_save_on_sigterm_is_said_at_warn_and_the_run_still_ends_well() {
    let mut run = Run::synced(DriverConfig::default(), None);
    run.advance_to(3_000);
    assert_eq!(run.d.health().0, HealthState::Healthy);
    // The disk fills up; the next save is the one on the way out.
    run.store.fault = Some(StoreFault::Full);
    assert_eq!(run.terminate(), Ok(()), "the port tables are fine: a clean stop");
    assert_eq!(run.store.tries.iter().filter(|ok| !**ok).count(), 1);
    assert_eq!(run.store.tries.last(), Some(&false), "the save on the way out");
    let last = run.store.said(|e| matches!(e, Event::StoppedWithoutSnapshot { .. }));
    assert_eq!(
        last,
        ["stopping without a warm-restart snapshot (the state dir is full): the next start is cold, or \
          warm from STATE_DB alone; the port tables are as they should be"]
    );
    let line = run.store.lines.iter().find(|e| matches!(e, Event::StoppedWithoutSnapshot { .. })).unwrap();
    assert_eq!(line.level(), Level::Warn);
    assert!(run.store.not_saved_lines().is_empty(), "one line for it, not two");

    // Failing all along: the way out says so again (that is what the next start goes without).
    let mut run = Run::synced(DriverConfig::default(), Some(StoreFault::Missing));
    run.advance_to(2_500);
    assert_eq!(run.terminate(), Ok(()));
    assert_eq!(run.store.not_saved_lines().len(), 1);
    assert_eq!(run.store.said(|e| matches!(e, Event::StoppedWithoutSnapshot { .. })).len(), 1);
}
