//! Parsing a batch and running the engine on it allocates nothing.
//!
//! dhat's global allocator counts every heap block allocated in the process;
//! this file holds one test so nothing else runs in its process meanwhile.

mod common;

use portsyncd_core::engine::{DefaultLinkSync, StartKind, SwitchType, SyncConfig};
use portsyncd_core::netlink::{Message, messages};
use portsyncd_core::{EoiuDetector, Instant, PortName};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = dhat::HeapStats::get().total_blocks;
    let r = f();
    (r, dhat::HeapStats::get().total_blocks - before)
}

#[test]
fn parsing_and_engine_allocate_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The counter works: an armed allocation is seen.
    let (_, n) = counted(|| std::hint::black_box(vec![1u8; 64]));
    assert_eq!(n, 1);

    let fixtures = common::kernel_fixtures();
    let mut engine = Box::new(DefaultLinkSync::new(SyncConfig {
        start: StartKind::Cold,
        switch_type: SwitchType::Switch,
    }));
    for port in ["Ethernet16", "Ethernet20", "PortChannel0001"] {
        engine.add_config_port(port.as_bytes()).unwrap();
    }
    engine.begin_initial_dump().unwrap();
    let mut detector = EoiuDetector::new();
    detector.start(Instant::from_millis(0), 0x5eed_0001, core::time::Duration::from_secs(1));

    let (handled, allocations) = counted(|| {
        let mut handled = 0usize;
        let mut presence = [None::<PortName>; 64];
        for (_, bytes) in &fixtures {
            let mut ended = false;
            for message in messages(bytes) {
                let Ok(message) = message else { continue };
                ended |= detector.observe(&message).is_some();
                if let Message::Link(link) = message {
                    engine.handle_link(&link).unwrap();
                    handled += 1;
                }
            }
            let mut asked = 0;
            for name in engine.pending_presence() {
                presence[asked] = Some(*name);
                asked += 1;
            }
            for name in presence[..asked].iter().flatten() {
                engine.set_presence(name, name.as_str() != "PortChannel0001").unwrap();
            }
            engine.commit_batch().unwrap();
            while let Some(action) = engine.poll_action() {
                std::hint::black_box(action);
            }
            if ended {
                engine.end_initial_dump(true).unwrap();
                while engine.poll_action().is_some() {}
                let mut n = 0;
                for name in engine.prune_candidates() {
                    presence[n] = Some(*name);
                    n += 1;
                }
                for name in presence[..n].iter().flatten() {
                    engine.prune(name, false).unwrap();
                }
                engine.end_prune().unwrap();
                while engine.poll_action().is_some() {}
            }
        }
        handled
    });
    assert!(handled > 50, "{handled} link messages");
    assert!(engine.counters().state_sets > 5);
    assert_eq!(allocations, 0, "the core allocated while handling {handled} link messages");
}
