//! A kernel for the driver's tests: datagrams queued, handed out one at a
//! time when the driver reads (a `Facts` world delegates `receive` and
//! `received` to it).

#![allow(dead_code)] // Each test uses what it needs.

use std::collections::VecDeque;

use portsyncd_core::Instant;
use portsyncd_core::backend::Received;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, Failure};
use portsyncd_core::netlink::{LinkOp, LinkRepr, emit_done, iff};

#[derive(Default)]
pub struct Queued {
    queue: VecDeque<Vec<u8>>,
    current: Vec<u8>,
}

impl Queued {
    /// Queues `datagram` behind what is there.
    pub fn push(&mut self, datagram: Vec<u8>) {
        self.queue.push_back(datagram);
    }

    /// Queues the `NLMSG_DONE` that ends dump `seq`.
    pub fn push_done(&mut self, seq: u32) {
        let mut done = vec![0u8; 20];
        emit_done(&mut done, seq).unwrap();
        self.push(done);
    }

    /// The next datagram, if any.
    pub fn receive(&mut self) -> Received<'_> {
        match self.queue.pop_front() {
            Some(datagram) => {
                self.current = datagram;
                Received::Datagram(&self.current)
            }
            None => Received::Empty,
        }
    }

    /// The datagram handed out last.
    pub fn received(&self) -> &[u8] {
        &self.current
    }
}

/// A notification that Ethernet0 (ifindex 7, a veth) is up and running
/// with `mtu`.
pub fn ethernet0_up(mtu: u32) -> Vec<u8> {
    let repr = LinkRepr {
        op: LinkOp::New,
        seq: 0,
        msg_flags: 0,
        index: 7,
        flags: iff::UP | iff::RUNNING,
        name: b"Ethernet0",
        mtu: Some(mtu),
        master: None,
        kind: Some(b"veth"),
    };
    let mut buf = vec![0; repr.len()];
    repr.emit(&mut buf).unwrap();
    buf
}

/// Moves a driver's virtual clock from `*now` to `to`, stopping at every
/// deadline on the way and answering what it asks there from `facts`;
/// `Some` once the run ends.
pub fn advance_to(
    d: &mut DefaultDriver,
    facts: &mut impl Facts,
    now: &mut Instant,
    to: Instant,
) -> Option<Result<(), Failure>> {
    loop {
        let next = d.poll_timeout().filter(|t| *t <= to).unwrap_or(to).max(*now);
        *now = next;
        d.handle_timeout(next);
        if let Some(exit) = canned::answer_all(d, next, facts) {
            return Some(exit);
        }
        if next == to {
            return None;
        }
    }
}
