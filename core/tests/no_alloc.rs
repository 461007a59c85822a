//! The driver — parser, engine, EOIU, presence answers, start-up, batches,
//! timers — allocates nothing: the whole kernel capture is replayed through
//! it, start-up included.
//!
//! dhat's global allocator counts every heap block allocated in the process;
//! this file holds one test so nothing else runs in its process meanwhile.

mod common;

use core::time::Duration;

use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig};
use portsyncd_core::name::LinkLabel;
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = dhat::HeapStats::get().total_blocks;
    let r = f();
    (r, dhat::HeapStats::get().total_blocks - before)
}

/// Ports configured; PortChannel0001 is not in APPL_DB. Counts, in place.
struct Capture {
    state_sets: usize,
    downs: usize,
}

impl Facts for Capture {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        let ports: [&[u8]; 3] = [b"Ethernet16", b"Ethernet20", b"PortChannel0001"];
        ports.into_iter().for_each(key);
    }
    fn log_level(&self) -> Option<&[u8]> {
        // Every event is made (and dropped by the test), INFO and DEBUG lines included.
        Some(b"DEBUG")
    }
    fn in_appl(&self, name: &PortName) -> bool {
        name.as_str() != "PortChannel0001"
    }
    fn dump(&mut self) -> Option<u32> {
        Some(common::DUMP_SEQ)
    }
    fn written(&mut self, op: &WriteOp) {
        self.state_sets += usize::from(matches!(op, WriteOp::SetStatePort { .. }));
    }
    fn bring_down(&mut self, _ifindex: u32, _name: &LinkLabel) {
        self.downs += 1;
    }
}

#[test]
fn the_driver_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The counter works: an armed allocation is seen (at least it: the
    // count is the process's, and the test harness's own thread may
    // allocate meanwhile on a loaded machine — seen once in CI).
    let (_, n) = counted(|| std::hint::black_box(vec![1u8; 64]));
    assert!(n >= 1, "the counter saw {n} allocations");

    let fixtures = common::kernel_fixtures();
    let mut driver = Box::new(DefaultDriver::new(Instant::from_millis(0), DriverConfig::default()));
    let mut facts = Capture { state_sets: 0, downs: 0 };
    let (datagrams, allocations) = counted(|| {
        let mut now = Instant::from_millis(0);
        assert!(canned::answer_all(&mut driver, now, &mut facts).is_none());
        for (_, bytes) in &fixtures {
            now = now.saturating_add(Duration::from_millis(300));
            canned::feed(&mut driver, now, bytes, &mut facts);
            canned::end_batch(&mut driver, now);
            assert!(canned::answer_all(&mut driver, now, &mut facts).is_none());
        }
        driver.counters().datagrams
    });
    assert_eq!(datagrams, fixtures.len() as u64);
    assert_eq!(facts.downs, 4, "Ethernet0/4/8/12 existed before the start");
    assert!(facts.state_sets > 5, "{} STATE_DB writes", facts.state_sets);
    assert_eq!(allocations, 0, "the driver allocated while handling {datagrams} datagrams");
}
