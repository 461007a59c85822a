//! Arbitrary bytes as one receive buffer: the parser must terminate, advance,
//! never panic or read out of bounds; every message it yields then goes
//! through the EOIU detector, the filter and a small engine, which must not
//! panic either.

#![no_main]

use core::time::Duration;

use libfuzzer_sys::fuzz_target;
use portsyncd_core::engine::{LinkSync, StartKind, SwitchType, SyncConfig, SyncError};
use portsyncd_core::netlink::{Message, NLMSG_HDRLEN, messages};
use portsyncd_core::{EoiuDetector, Instant, PortName};

fuzz_target!(|data: &[u8]| {
    let mut engine: LinkSync<8, 4> =
        LinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch });
    let _ = engine.add_config_port(b"Ethernet0");
    let _ = engine.add_config_port(b"Ethernet4");
    engine.begin_initial_dump().unwrap();
    let mut eoiu = EoiuDetector::new();
    eoiu.start(Instant::from_millis(0), 1, Duration::from_millis(10));

    let mut iter = messages(data);
    let mut steps = 0usize;
    let mut last = 0usize;
    while let Some(result) = iter.next() {
        steps += 1;
        assert!(steps <= data.len() / NLMSG_HDRLEN + 1, "too many messages");
        let pos = iter.position();
        assert!(pos > last && pos <= data.len(), "no progress");
        last = pos;
        let message = match result {
            Ok(message) => message,
            Err(error) => {
                let _ = error.to_string();
                continue;
            }
        };
        assert!(message.header().len as usize <= data.len());
        if eoiu.observe(&message).is_some() {
            commit(&mut engine);
            engine.end_initial_dump(true).unwrap();
            drain(&mut engine);
            let awaited: Vec<PortName> = engine.prune_candidates().copied().collect();
            for name in awaited {
                engine.prune(&name, name.as_bytes()[0] & 1 == 0).unwrap();
            }
            engine.end_prune().unwrap();
            drain(&mut engine);
        }
        if let Message::Link(link) = message {
            match engine.handle_link(&link) {
                Ok(_) => {}
                Err(SyncError::BatchFull) => {
                    commit(&mut engine);
                    engine.handle_link(&link).unwrap();
                }
                Err(SyncError::StaleTableFull) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }
    commit(&mut engine);
});

fn commit(engine: &mut LinkSync<8, 4>) {
    let questions: Vec<PortName> = engine.pending_presence().copied().collect();
    for name in questions {
        engine.set_presence(&name, name.as_bytes().len() % 2 == 0).unwrap();
    }
    engine.commit_batch().unwrap();
    drain(engine);
}

fn drain(engine: &mut LinkSync<8, 4>) {
    let mut init_done = 0;
    while let Some(action) = engine.poll_action() {
        init_done += usize::from(action == portsyncd_core::Action::PortInitDone);
    }
    assert!(init_done <= 1);
}
