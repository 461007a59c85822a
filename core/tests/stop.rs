//! How a run ends: a SIGTERM while the initial dump is still under way ends
//! it without saving a snapshot (the engine knows less than the snapshot
//! there is: saving would replace a good one with a near-empty one); once
//! the initial sync is over, the stop sequence saves it.

mod kernel;

use kernel::Queued;
use portsyncd_core::Instant;
use portsyncd_core::backend::Received;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Input, Signal};

#[derive(Default)]
struct World {
    /// Whether the dump ends (its NLMSG_DONE queued).
    dump_ends: bool,
    kernel: Queued,
    saves: usize,
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        key(b"Ethernet0");
    }
    fn dump(&mut self) -> Option<u32> {
        if self.dump_ends {
            self.kernel.push_done(1);
        }
        Some(1)
    }
    fn save(&mut self, _ports: usize) -> Result<usize, portsyncd_core::backend::StoreFault> {
        self.saves += 1;
        Ok(64)
    }
    fn receive(&mut self) -> Received<'_> {
        self.kernel.receive()
    }
    fn received(&self) -> &[u8] {
        self.kernel.received()
    }
}

fn stopped(dump_ends: bool) -> World {
    let at = Instant::from_millis;
    let mut world = World { dump_ends, ..World::default() };
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    assert!(canned::answer_all(&mut d, at(0), &mut world).is_none());
    let _ = d.handle(at(10), Input::Signal(Signal::Terminate));
    let end = canned::answer_all(&mut d, at(10), &mut world);
    assert_eq!(end, Some(Ok(())), "a clean stop");
    world
}

#[test]
fn a_stop_during_the_initial_dump_saves_no_snapshot() {
    assert_eq!(stopped(false).saves, 0);
}

#[test]
fn a_stop_after_the_initial_sync_saves_the_snapshot() {
    assert_eq!(stopped(true).saves, 1);
}
