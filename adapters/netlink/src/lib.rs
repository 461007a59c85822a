//! rtnetlink for portsyncd (Linux only).
//!
//! This crate owns the kernel sockets: a monitor subscribed to `RTNLGRP_LINK`
//! that also carries our own `RTM_GETLINK` dumps, and a control socket that
//! brings links down with `RTM_SETLINK` and waits for the kernel's answer. It
//! hands whole receive buffers to the core's parser and reports a socket
//! overrun (`ENOBUFS`: notifications were dropped) as an event of its own, so
//! that the daemon can dump again. It decides nothing about ports.

#![cfg(target_os = "linux")]
#![deny(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use portsyncd_core::netlink::{IFINFOMSG_LEN, Message, NLMSG_HDRLEN, iff, messages, msg_flags, msg_type};
use portsyncd_reactor::Source;

/// `RTNLGRP_LINK`.
const RTNLGRP_LINK: u32 = 1;

/// Default receive buffer: room for a full dump of many ports plus a storm of
/// notifications (the C++ daemon asks for 16 MiB too).
pub const DEFAULT_RCVBUF: usize = 16 << 20;
/// Largest single datagram we read; the kernel sends at most ~32 KiB per
/// dump datagram, and a notification is far smaller.
pub const RECV_BUFFER: usize = 256 << 10;

pub use portsyncd_core::backend::Received;
use portsyncd_core::backend::{LinkController, LinkSource};
pub use portsyncd_core::link_filter::LinkDenial;

/// Counters of the monitor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorCounters {
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Overruns (ENOBUFS).
    pub overruns: u64,
    /// Dumps requested.
    pub dumps: u64,
    /// Times the socket was opened again.
    pub reopens: u64,
}

/// The link monitor socket.
pub struct LinkMonitor {
    socket: Source<Socket>,
    buf: Vec<u8>,
    /// Length of the last datagram in `buf` (0 after an overrun or nothing).
    last: usize,
    seq: u32,
    port_id: u32,
    rcvbuf: usize,
    counters: MonitorCounters,
    /// Link notifications dropped in the kernel (see [`LinkMonitor::deny_links`]).
    denied: Vec<u32>,
    keep_port_names: bool,
}

/// A netlink socket operation failed.
#[derive(Debug, thiserror::Error)]
#[error("netlink: {op}: {source}")]
pub struct NetlinkError {
    /// What was being done.
    pub op: &'static str,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    /// The errno, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// Whether it was a permission problem (not root, no CAP_NET_ADMIN).
    pub fn is_permission_denied(&self) -> bool {
        self.source.kind() == io::ErrorKind::PermissionDenied
    }
}

fn with_context(source: io::Error, op: &'static str) -> NetlinkError {
    NetlinkError { op, source }
}

/// Result of a netlink operation.
pub type Result<T> = std::result::Result<T, NetlinkError>;

impl LinkMonitor {
    /// Opens a NETLINK_ROUTE socket subscribed to link notifications, asking
    /// for `rcvbuf` bytes of receive buffer.
    pub fn open(rcvbuf: usize) -> Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| with_context(e, "socket"))?;
        let addr = socket.bind_auto().map_err(|e| with_context(e, "bind"))?;
        socket.add_membership(RTNLGRP_LINK).map_err(|e| with_context(e, "join RTNLGRP_LINK"))?;
        socket.set_non_blocking(true).map_err(|e| with_context(e, "non-blocking"))?;
        let granted = set_receive_buffer(&socket, rcvbuf);
        Ok(Self {
            socket: Source::new(socket).map_err(|e| with_context(e, "register with the reactor"))?,
            buf: Vec::with_capacity(RECV_BUFFER),
            last: 0,
            seq: 0x5eed_0000,
            port_id: addr.port_number(),
            rcvbuf: granted,
            denied: Vec::new(),
            keep_port_names: false,
            counters: MonitorCounters::default(),
        })
    }

    /// Closes the socket and opens a new one, subscribed and sized as this
    /// one (after a failure other than an overrun). Sequence numbers go on
    /// from this one's, so that a late reply of an old dump is not taken
    /// for a new one's.
    pub fn reopen(&mut self) -> Result<()> {
        let mut fresh = Self::open(self.rcvbuf)?;
        fresh.seq = self.seq;
        fresh.counters = self.counters;
        fresh.counters.reopens += 1;
        let denied = std::mem::take(&mut self.denied);
        let keep_port_names = self.keep_port_names;
        *self = fresh;
        if !denied.is_empty() {
            self.deny_links(LinkDenial { ifindexes: &denied, keep_port_names })?;
        }
        Ok(())
    }

    /// From now on the kernel drops the link notifications `denial` names
    /// before they reach this socket (they do not wake the process); dump
    /// replies still come for every link. Replaces the previous denial.
    pub fn deny_links(&mut self, denial: LinkDenial<'_>) -> Result<()> {
        use portsyncd_core::link_filter::{Insn, deny_ifindexes, program_len};
        let mut program = vec![Insn::default(); program_len(denial.ifindexes.len(), denial.keep_port_names)];
        let len = deny_ifindexes(denial, &mut program)
            .map_err(|e| with_context(io::Error::new(io::ErrorKind::InvalidInput, e), "link filter"))?;
        let filter: Vec<libc::sock_filter> = program[..len]
            .iter()
            .map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k })
            .collect();
        let fprog = libc::sock_fprog {
            len: u16::try_from(filter.len()).unwrap_or(u16::MAX),
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: setsockopt reads `size_of::<sock_fprog>()` bytes from a
        // pointer to a live, aligned sock_fprog on this stack frame, whose
        // `filter` points at `len` sock_filter values in `filter`, alive
        // until after the call (the kernel copies the program); the fd is
        // owned by `self.socket`. A failure leaves the previous filter.
        #[allow(unsafe_code)]
        let done = unsafe {
            libc::setsockopt(
                self.socket.get_ref().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&raw const fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if done != 0 {
            return Err(with_context(io::Error::last_os_error(), "attach link filter"));
        }
        self.denied = denial.ifindexes.to_vec();
        self.keep_port_names = denial.keep_port_names;
        Ok(())
    }

    /// The socket's netlink port id (dump replies carry it).
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn receive_buffer(&self) -> usize {
        self.rcvbuf
    }

    /// What the monitor has seen.
    pub fn counters(&self) -> MonitorCounters {
        self.counters
    }

    /// Sends an `RTM_GETLINK` dump request; returns its sequence number, which
    /// every reply and the closing `NLMSG_DONE` carry.
    pub fn request_dump(&mut self) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let request =
            link_request(msg_type::RTM_GETLINK, msg_flags::REQUEST | msg_flags::DUMP, self.seq, 0, 0, 0);
        let kernel = SocketAddr::new(0, 0);
        self.socket
            .get_ref()
            .send_to(&request, &kernel, 0)
            .map_err(|e| with_context(e, "send dump request"))?;
        self.counters.dumps += 1;
        Ok(self.seq)
    }

    /// Waits for the next datagram (or overrun).
    pub async fn recv(&mut self) -> Result<Received<'_>> {
        loop {
            match self.receive() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.socket.next_readable().await.map_err(|e| with_context(e, "wait"))?;
                }
                Err(e) => return Err(with_context(e, "receive")),
                Ok(n) => return Ok(self.received(n)),
            }
        }
    }

    /// The next datagram if one is waiting, else [`Received::Empty`].
    pub fn try_recv(&mut self) -> Result<Received<'_>> {
        match self.receive() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Empty),
            Err(e) => Err(with_context(e, "receive")),
            Ok(n) => Ok(self.received(n)),
        }
    }

    /// `Ok(Some(len))` for a datagram, `Ok(None)` for an overrun.
    fn receive(&mut self) -> io::Result<Option<usize>> {
        self.buf.clear();
        self.last = 0;
        match self.socket.get_ref().recv(&mut self.buf, 0) {
            Ok(n) => Ok(Some(n.min(self.buf.len()))),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    }

    fn received(&mut self, n: Option<usize>) -> Received<'_> {
        match n {
            Some(n) => {
                self.counters.datagrams += 1;
                self.counters.bytes += n as u64;
                self.last = n;
                Received::Datagram(&self.buf[..n])
            }
            None => {
                self.counters.overruns += 1;
                Received::Overrun
            }
        }
    }
}

/// Asks for `bytes` of receive buffer, beyond `net.core.rmem_max` when
/// allowed (root), else within it. Returns what the kernel granted.
fn set_receive_buffer(socket: &Socket, bytes: usize) -> usize {
    let wanted = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a pointer to a
    // live, aligned c_int on this stack frame; the fd is owned by `socket`,
    // which outlives the call. A failure only leaves the buffer as it was.
    #[allow(unsafe_code)]
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const wanted).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if forced != 0 {
        let _ = socket.set_rx_buf_sz(wanted);
    }
    // The kernel reports double what it reserves for data.
    socket.get_rx_buf_sz().map(|b| b / 2).unwrap_or(0)
}

/// Builds an `ifinfomsg` request.
fn link_request(kind: u16, flags: u16, seq: u32, index: u32, ifi_flags: u32, change: u32) -> [u8; 32] {
    let mut out = [0u8; NLMSG_HDRLEN + IFINFOMSG_LEN];
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_ne_bytes());
    out[4..6].copy_from_slice(&kind.to_ne_bytes());
    out[6..8].copy_from_slice(&flags.to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0: the kernel fills in our port id. ifinfomsg: family AF_UNSPEC.
    out[20..24].copy_from_slice(&index.to_ne_bytes());
    out[24..28].copy_from_slice(&ifi_flags.to_ne_bytes());
    out[28..32].copy_from_slice(&change.to_ne_bytes());
    out
}

/// A socket for link changes, one request at a time.
pub struct LinkControl {
    socket: Source<Socket>,
    buf: Vec<u8>,
    seq: u32,
}

impl LinkControl {
    /// Opens the control socket.
    pub fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| with_context(e, "socket"))?;
        socket.bind_auto().map_err(|e| with_context(e, "bind"))?;
        socket.set_non_blocking(true).map_err(|e| with_context(e, "non-blocking"))?;
        Ok(Self {
            socket: Source::new(socket).map_err(|e| with_context(e, "register with the reactor"))?,
            // Answers here are ACKs and errors: an nlmsgerr and the request echoed.
            buf: Vec::with_capacity(4 << 10),
            seq: 0,
        })
    }

    /// Brings link `ifindex` administratively down (clears `IFF_UP` with
    /// `RTM_SETLINK`) and waits for the kernel's acknowledgement.
    pub async fn set_admin_down(&mut self, ifindex: u32) -> Result<()> {
        self.set_link(ifindex, iff::UP).await
    }

    /// Whether this process may change links: an `RTM_SETLINK` that changes
    /// nothing (empty change mask) on the loopback device, which every network
    /// namespace has. The kernel checks CAP_NET_ADMIN before looking at it.
    pub async fn check_permission(&mut self) -> Result<()> {
        const LOOPBACK_IFINDEX: u32 = 1;
        self.set_link(LOOPBACK_IFINDEX, 0).await
    }

    /// `RTM_SETLINK` clearing the flags in `change` on `ifindex`; waits for the ACK.
    async fn set_link(&mut self, ifindex: u32, change: u32) -> Result<()> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let request =
            link_request(msg_type::RTM_SETLINK, msg_flags::REQUEST | msg_flags::ACK, seq, ifindex, 0, change);
        self.socket
            .get_ref()
            .send_to(&request, &SocketAddr::new(0, 0), 0)
            .map_err(|e| with_context(e, "send RTM_SETLINK"))?;
        loop {
            self.buf.clear();
            let n = match self.socket.get_ref().recv(&mut self.buf, 0) {
                Ok(n) => n.min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                    self.socket.next_readable().await.map_err(|e| with_context(e, "wait"))?;
                    continue;
                }
                Err(e) => return Err(with_context(e, "receive RTM_SETLINK answer")),
            };
            for message in messages(&self.buf[..n]).flatten() {
                if let Message::Error { header, errno } = message {
                    if header.seq == seq {
                        return match errno {
                            0 => Ok(()),
                            errno => Err(with_context(io::Error::from_raw_os_error(errno), "RTM_SETLINK")),
                        };
                    }
                }
            }
        }
    }
}

impl LinkSource for LinkMonitor {
    type Error = NetlinkError;

    fn reopen(&mut self) -> Result<()> {
        LinkMonitor::reopen(self)
    }

    fn deny_links(&mut self, denial: LinkDenial<'_>) -> Result<()> {
        LinkMonitor::deny_links(self, denial)
    }

    fn request_dump(&mut self) -> Result<u32> {
        LinkMonitor::request_dump(self)
    }

    async fn recv(&mut self) -> Result<Received<'_>> {
        LinkMonitor::recv(self).await
    }

    fn try_recv(&mut self) -> Result<Received<'_>> {
        LinkMonitor::try_recv(self)
    }

    fn last_datagram(&self) -> &[u8] {
        self.buf.get(..self.last).unwrap_or_default()
    }
}

impl LinkController for LinkControl {
    type Error = NetlinkError;

    async fn set_admin_down(&mut self, ifindex: u32) -> Result<()> {
        LinkControl::set_admin_down(self, ifindex).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_well_formed() {
        let r = link_request(msg_type::RTM_SETLINK, msg_flags::REQUEST | msg_flags::ACK, 7, 42, 0, iff::UP);
        let h = portsyncd_core::netlink::Header::decode(&r).unwrap();
        assert_eq!((h.len, h.kind, h.flags, h.seq), (32, msg_type::RTM_SETLINK, 0x5, 7));
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 42);
        assert_eq!(u32::from_ne_bytes(r[28..32].try_into().unwrap()), iff::UP);
    }
}
