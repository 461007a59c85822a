//! A save handed off to run beside the loop (a slow disk must not stall the
//! link events): its outcome comes back as an input; no other save is asked
//! for meanwhile; a change made during it is saved right after; the stop
//! waits for it, then saves last, and gives up after `shutdown_flush` on a
//! save that never finishes. Timelines of the driver on a virtual clock.

use core::time::Duration;

mod kernel;

use kernel::{Queued, ethernet0_up};
use portsyncd_core::Instant;
use portsyncd_core::backend::{Received, StoreFault};
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Failure, Input, Signal, Taken};
use portsyncd_core::event::Event;
use portsyncd_core::netlink::emit_done;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// One configured port whose link the test changes; every save is handed
/// off, and its outcome handed in when the test says.
#[derive(Default)]
struct World {
    kernel: Queued,
    /// Saves handed off so far.
    handed_off: usize,
    lines: Vec<Event>,
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        key(b"Ethernet0");
    }
    fn save_beside(&mut self, _ports: usize) -> bool {
        self.handed_off += 1;
        true
    }
    fn save(&mut self, _ports: usize) -> Result<usize, StoreFault> {
        panic!("every save is handed off here");
    }
    fn receive(&mut self) -> Received<'_> {
        self.kernel.receive()
    }
    fn received(&self) -> &[u8] {
        self.kernel.received()
    }
    fn event(&mut self, event: &Event) {
        self.lines.push(*event);
    }
}

struct Run {
    d: Box<DefaultDriver>,
    world: World,
    now: Instant,
    exit: Option<Result<(), Failure>>,
}

impl Run {
    /// Past its initial sync and PortInitDone (Ethernet0 published at 5 ms:
    /// a save is owed at 1 s).
    fn started() -> Self {
        let config = DriverConfig {
            shutdown_flush: Duration::from_millis(500),
            snapshot_interval: Duration::from_secs(1),
            ..DriverConfig::default()
        };
        let mut run = Run {
            d: Box::new(DefaultDriver::new(at(0), config)),
            world: World::default(),
            now: at(0),
            exit: None,
        };
        run.answer();
        let mut done = [0u8; 20];
        emit_done(&mut done, 1).unwrap();
        assert_eq!(run.d.handle(at(1), Input::Datagram(&done)), Taken::All);
        canned::end_batch(&mut run.d, at(1));
        run.answer();
        run.change_at(5, 9100);
        assert!(run.d.milestones().port_init_done.is_some());
        run
    }

    fn answer(&mut self) {
        if let Some(exit) = canned::answer_all(&mut self.d, self.now, &mut self.world) {
            self.exit = Some(exit);
        }
    }

    /// Time moves to `ms`, stopping at every deadline on the way.
    fn advance_to(&mut self, ms: u64) {
        if self.exit.is_none() {
            self.exit = kernel::advance_to(&mut self.d, &mut self.world, &mut self.now, at(ms));
        }
    }

    /// The link changes at `ms` (its MTU becomes `mtu`).
    fn change_at(&mut self, ms: u64, mtu: u32) {
        self.advance_to(ms);
        self.world.kernel.push(ethernet0_up(mtu));
        self.answer();
    }

    /// The save under way finishes at `ms` with `saved`.
    fn saved_at(&mut self, ms: u64, saved: Result<usize, StoreFault>) {
        self.advance_to(ms);
        let _ = self.d.handle(self.now, Input::SnapshotSaved(saved));
        self.d.handle_timeout(self.now);
        self.answer();
    }

    fn terminate_at(&mut self, ms: u64) {
        self.advance_to(ms);
        let _ = self.d.handle(self.now, Input::Signal(Signal::Terminate));
        self.answer();
    }

    fn said(&self, matches: impl Fn(&Event) -> bool) -> Vec<String> {
        self.world.lines.iter().filter(|e| matches(e)).map(ToString::to_string).collect()
    }
}

#[test]
fn no_save_is_asked_while_one_is_under_way_and_a_change_meanwhile_is_saved_right_after() {
    let mut run = Run::started();
    run.advance_to(1_000);
    assert_eq!(run.world.handed_off, 1, "owed since 5 ms: handed off at 1 s");
    // The port changes while the save is under way: its snapshot is older.
    run.change_at(1_200, 1500);
    run.advance_to(2_900);
    assert_eq!(run.world.handed_off, 1, "nothing more while one is under way");
    assert_eq!(run.d.counters().snapshots, 0);
    run.saved_at(3_000, Ok(64));
    assert_eq!(run.d.counters().snapshots, 1);
    assert_eq!(run.world.handed_off, 2, "the change of 1.2 s is saved at once: its save was due at 2 s");
    run.saved_at(3_100, Ok(64));
    run.advance_to(10_000);
    assert_eq!(run.world.handed_off, 2, "nothing changed since: no more saves");
    assert_eq!(run.d.counters().snapshots, 2);
}

#[test]
fn a_failed_save_beside_the_loop_is_said_and_tried_again_on_the_cadence() {
    let mut run = Run::started();
    run.advance_to(1_000);
    run.saved_at(1_050, Err(StoreFault::Full));
    assert_eq!(
        run.said(|e| matches!(e, Event::SnapshotsNotSaved { .. })).len(),
        1,
        "said once, as a save answered at once is"
    );
    assert_eq!(run.d.counters().snapshot_failures, 1);
    run.advance_to(2_049);
    assert_eq!(run.world.handed_off, 1);
    run.advance_to(2_050);
    assert_eq!(run.world.handed_off, 2, "tried again a save interval after the outcome");
}

#[test]
fn the_stop_hands_off_its_last_save_and_exits_on_its_outcome() {
    let mut run = Run::started();
    run.terminate_at(500);
    assert_eq!(run.world.handed_off, 1, "the stop's last save");
    run.advance_to(700);
    assert_eq!(run.exit, None, "waits for the last save's outcome");
    run.saved_at(800, Ok(64));
    assert_eq!(run.exit, Some(Ok(())));
    assert_eq!(run.d.counters().snapshots, 1);
}

#[test]
fn the_stop_waits_for_an_earlier_save_then_saves_last() {
    let mut run = Run::started();
    run.advance_to(1_000);
    run.change_at(1_100, 1500);
    run.terminate_at(1_200);
    assert_eq!(run.world.handed_off, 1, "no last save while the earlier one is under way");
    assert_eq!(run.exit, None);
    run.saved_at(1_300, Ok(64));
    assert_eq!(run.world.handed_off, 2, "then the last, with the change of 1.1 s");
    assert_eq!(run.exit, None);
    run.saved_at(1_400, Ok(64));
    assert_eq!(run.exit, Some(Ok(())));
    assert!(run.said(|e| matches!(e, Event::StoppedWithoutSnapshot { .. })).is_empty());
}

#[test]
fn a_save_that_never_finishes_holds_the_stop_for_shutdown_flush_at_most() {
    let mut run = Run::started();
    run.advance_to(1_000);
    run.terminate_at(1_100);
    run.advance_to(1_599);
    assert_eq!(run.exit, None, "waiting, up to shutdown_flush (500 ms)");
    run.advance_to(1_600);
    assert_eq!(run.exit, Some(Ok(())), "the port tables are fine: a clean exit");
    assert_eq!(
        run.said(|e| matches!(e, Event::StoppedWithoutSnapshot { .. })),
        ["stopping without a warm-restart snapshot (a save is still under way, on a slow or stuck disk): \
          the next start is cold, or warm from STATE_DB alone; the port tables are as they should be"]
    );
    assert_eq!(run.world.handed_off, 1, "no last save over a stuck one");
}

#[test]
fn a_save_under_way_for_a_minute_degrades_health_until_it_lands() {
    use portsyncd_core::driver::SAVE_STUCK_AFTER;
    use portsyncd_core::health::{HealthState, Reason};

    let mut run = Run::started();
    run.advance_to(1_000);
    assert_eq!(run.world.handed_off, 1);
    run.advance_to(1_000 + SAVE_STUCK_AFTER.as_millis() as u64 - 1_000);
    assert_eq!(run.d.health().0, HealthState::Healthy, "a slow save is not yet a stuck one");
    run.advance_to(1_000 + SAVE_STUCK_AFTER.as_millis() as u64 + 1_000);
    assert_eq!(
        run.d.health(),
        (HealthState::Degraded, Reason::SnapshotNotSaved { fault: StoreFault::Unfinished }),
        "stuck: warm restart is not being kept"
    );
    assert_eq!(run.world.handed_off, 1, "no other save over a stuck one");
    run.saved_at(63_000, Ok(64));
    assert_eq!(run.d.health().0, HealthState::Healthy);
    assert_eq!(run.said(|e| matches!(e, Event::SnapshotsSavedAgain)).len(), 1, "its landing is said");
}

#[test]
fn a_failed_save_that_outlasted_the_interval_is_tried_again_after_the_retry_delay_not_at_once() {
    let mut run = Run::started();
    run.advance_to(1_000);
    run.change_at(1_100, 1500);
    // The next save fell due at 2 s, while this one was still under way.
    run.advance_to(2_500);
    run.saved_at(2_600, Err(StoreFault::Full));
    run.advance_to(3_599);
    assert_eq!(run.world.handed_off, 1, "not at once");
    run.advance_to(3_600);
    assert_eq!(run.world.handed_off, 2, "a save interval after the failure");
}
