//! A scripted link source and a recording link controller, for running the
//! daemon's whole loop without a kernel (any OS).
//!
//! The test decides what the "kernel" says: [`LinkScript::push`] queues a
//! datagram; a dump request answers with the scripted links
//! ([`LinkScript::set_links`]) as one datagram of replies carrying the dump's
//! sequence number, closed by `NLMSG_DONE` unless
//! [`LinkScript::never_complete_dumps`] was called.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;
use std::task::{Poll, Waker};

use portsyncd_core::backend::{LinkController, LinkSource, Received};
use portsyncd_core::link_filter::{Insn, LinkDenial, deny_ifindexes, program_len};
use portsyncd_core::netlink::{IFINFOMSG_LEN, NLMSG_HDRLEN, ifla, msg_flags, msg_type};

enum Queued {
    Datagram(Vec<u8>),
    Overrun,
    /// The source breaks: every receive fails until it is opened again.
    Break,
}

/// The scripted source broke ([`LinkScript::push_failure`]), or would not
/// open again ([`LinkScript::fail_reopens`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFault;

impl std::fmt::Display for LinkFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("netlink socket failed (scripted)")
    }
}

impl std::error::Error for LinkFault {}

#[derive(Default)]
struct Script {
    queue: VecDeque<Queued>,
    links: Vec<Vec<u8>>,
    never_complete: bool,
    dumps: Vec<u32>,
    waker: Option<Waker>,
    downs: Vec<u32>,
    broken: bool,
    reopen_failures: u32,
    reopens: u32,
    /// Notifications of these ifindexes are not delivered (a socket filter).
    denied: Vec<u32>,
    /// The socket filter those make (empty: none).
    filter: Vec<Insn>,
}

/// The test's side: what the "kernel" says next.
#[derive(Clone, Default)]
pub struct LinkScript {
    script: Rc<RefCell<Script>>,
}

/// The daemon's side: a [`LinkSource`].
pub struct ScriptedLinks {
    script: Rc<RefCell<Script>>,
    current: Vec<u8>,
    seq: u32,
}

/// The daemon's side: a [`LinkController`] that records what it was asked.
pub struct RecordingControl {
    script: Rc<RefCell<Script>>,
}

impl LinkScript {
    /// A script with no links.
    pub fn new() -> Self {
        Self::default()
    }

    /// The source and controller to hand to the daemon.
    pub fn endpoints(&self) -> (ScriptedLinks, RecordingControl) {
        (
            ScriptedLinks { script: self.script.clone(), current: Vec::new(), seq: 0x5eed_0000 },
            RecordingControl { script: self.script.clone() },
        )
    }

    /// The links a dump reports (each a whole `RTM_NEWLINK` message).
    pub fn set_links(&self, links: Vec<Vec<u8>>) {
        self.script.borrow_mut().links = links;
    }

    /// From now on dumps send their replies but never their `NLMSG_DONE`.
    pub fn never_complete_dumps(&self) {
        self.script.borrow_mut().never_complete = true;
    }

    /// Queues a datagram (a notification, say).
    pub fn push(&self, datagram: Vec<u8>) {
        let mut s = self.script.borrow_mut();
        s.queue.push_back(Queued::Datagram(datagram));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    /// Queues an overrun (notifications lost).
    pub fn push_overrun(&self) {
        let mut s = self.script.borrow_mut();
        s.queue.push_back(Queued::Overrun);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    /// Queues a failure of the source: from it on, every receive fails
    /// until the source is opened again (what was queued after it is lost).
    pub fn push_failure(&self) {
        let mut s = self.script.borrow_mut();
        s.queue.push_back(Queued::Break);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    /// The next `n` attempts to open the source again fail.
    pub fn fail_reopens(&self, n: u32) {
        self.script.borrow_mut().reopen_failures = n;
    }

    /// The ifindexes whose notifications the source was asked to drop.
    pub fn denied(&self) -> Vec<u32> {
        self.script.borrow().denied.clone()
    }

    /// Times the source was opened again.
    pub fn reopens(&self) -> u32 {
        self.script.borrow().reopens
    }

    /// Sequence numbers of the dumps requested so far.
    pub fn dumps(&self) -> Vec<u32> {
        self.script.borrow().dumps.clone()
    }

    /// Links the controller was asked to bring down.
    pub fn brought_down(&self) -> Vec<u32> {
        self.script.borrow().downs.clone()
    }
}

impl ScriptedLinks {
    fn take(&mut self) -> Result<Option<Received<'_>>, LinkFault> {
        self.current.clear();
        let mut s = self.script.borrow_mut();
        if s.broken {
            return Err(LinkFault);
        }
        let next = loop {
            let Some(next) = s.queue.pop_front() else { return Ok(None) };
            // The kernel's socket filter, the very program a real socket
            // gets: what it drops never arrives.
            if let Queued::Datagram(d) = &next {
                if !s.filter.is_empty() && portsyncd_core::link_filter::kept(&s.filter, d) == 0 {
                    continue;
                }
            }
            break next;
        };
        drop(s);
        Ok(Some(match next {
            Queued::Datagram(d) => {
                self.current = d;
                Received::Datagram(&self.current)
            }
            Queued::Overrun => Received::Overrun,
            Queued::Break => {
                let mut s = self.script.borrow_mut();
                s.broken = true;
                s.queue.clear();
                return Err(LinkFault);
            }
        }))
    }
}

impl LinkSource for ScriptedLinks {
    type Error = LinkFault;

    fn request_dump(&mut self) -> Result<u32, LinkFault> {
        self.seq += 1;
        let seq = self.seq;
        let mut s = self.script.borrow_mut();
        s.dumps.push(seq);
        let mut datagram = Vec::new();
        for link in &s.links {
            let mut m = link.clone();
            set_header(&mut m, seq, msg_flags::MULTI);
            datagram.extend_from_slice(&m);
        }
        if !s.never_complete {
            datagram.extend_from_slice(&message(msg_type::DONE, msg_flags::MULTI, seq, &0i32.to_ne_bytes()));
        }
        if !datagram.is_empty() {
            s.queue.push_back(Queued::Datagram(datagram));
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        Ok(seq)
    }

    async fn recv(&mut self) -> Result<Received<'_>, LinkFault> {
        std::future::poll_fn(|cx| {
            let mut s = self.script.borrow_mut();
            if s.queue.is_empty() && !s.broken {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        Ok(self.take()?.unwrap_or(Received::Empty))
    }

    fn try_recv(&mut self) -> Result<Received<'_>, LinkFault> {
        Ok(self.take()?.unwrap_or(Received::Empty))
    }

    fn deny_links(&mut self, denial: LinkDenial<'_>) -> Result<(), LinkFault> {
        let mut program = vec![Insn::default(); program_len(denial.ifindexes.len(), denial.keep_port_names)];
        let len = deny_ifindexes(denial, &mut program).map_err(|_| LinkFault)?;
        program.truncate(len);
        let mut s = self.script.borrow_mut();
        s.denied = denial.ifindexes.to_vec();
        s.filter = program;
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), LinkFault> {
        let mut s = self.script.borrow_mut();
        if s.reopen_failures > 0 {
            s.reopen_failures -= 1;
            return Err(LinkFault);
        }
        // A new socket: nothing of the old one's queue.
        s.broken = false;
        s.queue.clear();
        s.reopens += 1;
        Ok(())
    }

    fn last_datagram(&self) -> &[u8] {
        &self.current
    }
}

impl LinkController for RecordingControl {
    type Error = Infallible;

    async fn set_admin_down(&mut self, ifindex: u32) -> Result<(), Infallible> {
        self.script.borrow_mut().downs.push(ifindex);
        Ok(())
    }
}

fn set_header(m: &mut [u8], seq: u32, flags: u16) {
    let old = u16::from_ne_bytes([m[6], m[7]]);
    m[6..8].copy_from_slice(&(old | flags).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
}

fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut m = Vec::with_capacity(len.next_multiple_of(4));
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize(len.next_multiple_of(4), 0);
    m
}

/// An `RTM_NEWLINK` (or, with `del`, `RTM_DELLINK`) notification as the
/// kernel would send it: ifinfomsg plus IFLA_IFNAME and IFLA_MTU.
pub fn link_message(del: bool, name: &str, ifindex: u32, flags: u32, mtu: u32) -> Vec<u8> {
    let mut payload = vec![0u8; IFINFOMSG_LEN];
    payload[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    payload[8..12].copy_from_slice(&flags.to_ne_bytes());
    let mut attr = |kind: u16, value: &[u8]| {
        payload.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&kind.to_ne_bytes());
        payload.extend_from_slice(value);
        payload.resize(payload.len().next_multiple_of(4), 0);
    };
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    attr(ifla::IFNAME, &ifname);
    attr(ifla::MTU, &mtu.to_ne_bytes());
    let kind = if del { msg_type::RTM_DELLINK } else { msg_type::RTM_NEWLINK };
    message(kind, 0, 0, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portsyncd_core::netlink::{Message, messages};

    #[test]
    fn dumps_carry_their_sequence_and_end_unless_told_not_to() {
        let script = LinkScript::new();
        script.set_links(vec![link_message(false, "Ethernet0", 5, 0x41, 9100)]);
        let (mut links, _) = script.endpoints();
        let seq = links.request_dump().unwrap();
        let Ok(Received::Datagram(d)) = links.try_recv() else { panic!() };
        let msgs: Vec<_> = messages(d).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 2);
        assert!(
            matches!(msgs[0], Message::Link(l) if l.header.seq == seq && l.name == Some(&b"Ethernet0"[..]) && l.mtu == Some(9100))
        );
        assert!(matches!(msgs[1], Message::Done { header, .. } if header.seq == seq));
        script.never_complete_dumps();
        links.request_dump().unwrap();
        let Ok(Received::Datagram(d)) = links.try_recv() else { panic!() };
        assert_eq!(messages(d).count(), 1);
        assert_eq!(links.try_recv().unwrap(), Received::Empty);
    }
}
