//! Arbitrary bytes as one receive buffer: the parser must terminate, advance,
//! never panic or read out of bounds; the same bytes then go, as a datagram,
//! through the core's driver (EOIU detector, filter, engine, presence,
//! writes) during the initial dump and again in normal operation, which must
//! not panic either and must produce PortInitDone at most once.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{Driver, DriverConfig, Io, Receive};
use portsyncd_core::netlink::{NLMSG_HDRLEN, emit_done, messages};
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName};

/// Two ports configured; presence and the prune decided by the name.
#[derive(Default)]
struct World {
    init_done: usize,
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        key(b"Ethernet0");
        key(b"Ethernet4");
    }
    fn log_level(&self) -> Option<&[u8]> {
        Some(b"DEBUG")
    }
    fn in_appl(&self, name: &PortName) -> bool {
        name.as_bytes().len() % 2 == 0
    }
    fn has_admin_status(&self, name: &PortName) -> bool {
        name.as_bytes()[0] & 1 == 0
    }
    fn written(&mut self, op: &WriteOp) {
        self.init_done += usize::from(*op == WriteOp::PortInitDone);
        assert!(self.init_done <= 1, "PortInitDone twice");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut iter = messages(data);
    let mut steps = 0usize;
    let mut last = 0usize;
    while let Some(result) = iter.next() {
        steps += 1;
        assert!(steps <= data.len() / NLMSG_HDRLEN + 1, "too many messages");
        let pos = iter.position();
        assert!(pos > last && pos <= data.len(), "no progress");
        last = pos;
        match result {
            Ok(message) => assert!(message.header().len as usize <= data.len()),
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }

    let mut world = World::default();
    let mut driver = Box::new(Driver::<8, 4>::new(Instant::from_millis(0), DriverConfig::default()));
    let mut now = Instant::from_millis(0);
    assert!(canned::answer_all(&mut driver, now, &mut world).is_none());
    // During the initial dump (its seq is 1), then after it ended.
    for round in 0..2 {
        now = Instant::from_millis(now.as_millis() + 10);
        canned::feed(&mut driver, now, data, &mut world);
        if round == 0 {
            let mut done = [0u8; 20];
            emit_done(&mut done, 1).unwrap();
            canned::feed(&mut driver, now, &done, &mut world);
        }
        canned::end_batch(&mut driver, now);
        assert!(canned::answer_all(&mut driver, now, &mut world).is_none());
        assert!(
            matches!(driver.poll_io(), Some(Io::Receive(Receive::Wait))),
            "the driver is idle again after a batch (it waits for input)"
        );
    }
});
