//! When the link source is read next is the driver's decision: after a
//! wake-up that read several datagrams it waits for the coalescing window
//! (a deadline from `poll_timeout`, not a sleep in the caller); a wake-up
//! with one datagram is answered at once; a window of zero is off; until
//! PortInitDone the start-up window is in force, when longer.

use core::time::Duration;

mod kernel;

use kernel::{Queued, ethernet0_up};
use portsyncd_core::Instant;
use portsyncd_core::backend::Received;
use portsyncd_core::driver::canned::{self, Facts, Served};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Input, Receive, Taken};
use portsyncd_core::netlink::emit_done;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// One configured port, and a kernel queue the driver reads when it asks.
#[derive(Default)]
struct World {
    kernel: Queued,
    /// Write batches.
    written: usize,
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        key(b"Ethernet0");
    }
    fn write(
        &mut self,
        _ops: &[portsyncd_core::writes::WriteOp],
        _absent: &mut [bool],
    ) -> portsyncd_core::driver::WriteResult {
        self.written += 1;
        portsyncd_core::driver::WriteResult::Done
    }
    fn receive(&mut self) -> Received<'_> {
        self.kernel.receive()
    }
    fn received(&self) -> &[u8] {
        self.kernel.received()
    }
}

/// A driver past its initial sync, with `window`, and past PortInitDone
/// (Ethernet0's host interface seen, alone in its wake-up).
fn running(window: Duration, world: &mut World) -> Box<DefaultDriver> {
    let config = DriverConfig { coalesce_window: window, ..DriverConfig::default() };
    let mut d = started(config, world);
    world.kernel.push(ethernet0_up(9100));
    assert!(canned::answer_all(&mut d, at(2), world).is_none());
    assert!(d.milestones().port_init_done.is_some());
    d
}

/// A driver past its initial sync: Ethernet0 awaits its host interface.
fn started(config: DriverConfig, world: &mut World) -> Box<DefaultDriver> {
    let mut d = Box::new(DefaultDriver::new(at(0), config));
    assert!(canned::answer_all(&mut d, at(0), world).is_none());
    let mut done = [0u8; 20];
    emit_done(&mut done, 1).unwrap();
    assert_eq!(d.handle(at(1), Input::Datagram(&done)), Taken::All);
    canned::end_batch(&mut d, at(1));
    assert!(canned::answer_all(&mut d, at(1), world).is_none());
    assert_eq!(d.milestones().port_init_done, None);
    d
}

#[test]
fn a_busy_wake_up_defers_the_next_read_by_the_window() {
    let mut world = World::default();
    let mut d = running(Duration::from_millis(2), &mut world);
    let before = world.written;
    // Three datagrams queued: one batch, one write with the latest state.
    [ethernet0_up(1500), ethernet0_up(9000), ethernet0_up(9100)]
        .into_iter()
        .for_each(|d| world.kernel.push(d));
    assert!(canned::answer_all(&mut d, at(10), &mut world).is_none());
    assert_eq!(world.written, before + 1, "one write for the batch");
    // More arrives at once, but the driver does not read until the window ends.
    world.kernel.push(ethernet0_up(1500));
    assert_eq!(canned::serve(&mut d, at(10), &mut world), Served::Idle, "no read inside the window");
    assert_eq!(d.poll_timeout(), Some(at(12)), "the window is the next deadline");
    d.handle_timeout(at(11));
    assert_eq!(canned::serve(&mut d, at(11), &mut world), Served::Idle);
    d.handle_timeout(at(12));
    assert_eq!(canned::serve(&mut d, at(12), &mut world), Served::Receive(Receive::Wait));
    assert!(canned::answer_all(&mut d, at(12), &mut world).is_none());
    assert_eq!(world.written, before + 2);
}

#[test]
fn a_wake_up_with_one_datagram_reads_again_at_once() {
    let mut world = World::default();
    let mut d = running(Duration::from_millis(2), &mut world);
    world.kernel.push(ethernet0_up(1500));
    assert!(canned::answer_all(&mut d, at(10), &mut world).is_none());
    assert_eq!(canned::serve(&mut d, at(10), &mut world), Served::Receive(Receive::Wait));
}

#[test]
fn a_window_of_zero_is_off() {
    let mut world = World::default();
    let mut d = running(Duration::ZERO, &mut world);
    [ethernet0_up(1500), ethernet0_up(9000), ethernet0_up(9100)]
        .into_iter()
        .for_each(|d| world.kernel.push(d));
    assert!(canned::answer_all(&mut d, at(10), &mut world).is_none());
    assert_eq!(canned::serve(&mut d, at(10), &mut world), Served::Receive(Receive::Wait));
}

#[test]
fn until_port_init_done_the_start_up_window_is_in_force() {
    let mut world = World::default();
    // Ethernet0 has no host interface yet: PortInitDone is still owed.
    let config = DriverConfig {
        coalesce_window: Duration::from_millis(1),
        startup_coalesce_window: Duration::from_millis(10),
        ..DriverConfig::default()
    };
    let mut d = started(config, &mut world);
    // A busy wake-up before PortInitDone: its host interface appears (and
    // PortInitDone follows), and the next read waits for the start-up window.
    [ethernet0_up(1500), ethernet0_up(9100)].into_iter().for_each(|d| world.kernel.push(d));
    assert!(canned::answer_all(&mut d, at(10), &mut world).is_none());
    assert!(d.milestones().port_init_done.is_some(), "the port's wait is over");
    assert_eq!(d.poll_timeout(), Some(at(20)), "the start-up window, decided before PortInitDone");
    d.handle_timeout(at(20));
    // From now on the running window.
    [ethernet0_up(1500), ethernet0_up(9000)].into_iter().for_each(|d| world.kernel.push(d));
    assert!(canned::answer_all(&mut d, at(30), &mut world).is_none());
    assert_eq!(d.poll_timeout(), Some(at(31)), "the running window after PortInitDone");
}
