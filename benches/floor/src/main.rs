//! The floor of portsyncd's receive side.
//!
//! Opens a `NETLINK_ROUTE` socket, joins `RTNLGRP_LINK`, asks for the same
//! receive buffer as portsyncd (16 MiB, forced past `rmem_max` as root) and
//! then only receives and drops: no parsing, no counting, no output after
//! `ready`. Its CPU time per link event, read from `/proc` by
//! `benches/e2e.sh`, is the least any daemon can spend to hear the kernel.
//!
//! ```text
//! portsyncd-floor [--mode recv|recvmmsg|epoll-recv|epoll-recvmmsg|coalesce] [--rcvbuf BYTES] [--batch N]
//!                 [--window-us W]
//! ```
//!
//! - `recv` (the default: the cheapest in a storm, see benches/README.md):
//!   blocking `recv(2)` into one 256 KiB buffer, one datagram per call
//!   (netlink sends one notification per datagram).
//! - `recvmmsg`: blocking `recvmmsg(2)` with `MSG_WAITFORONE`: sleeps for the
//!   first datagram, then takes whatever else is queued, up to `--batch` (64),
//!   in the same call. Half the syscalls, but in a storm (about two datagrams
//!   per wake-up) 2–20 % more CPU; 7–10 % less in a backlog.
//! - `epoll-recv`, `epoll-recvmmsg`: a non-blocking socket, `epoll_wait(2)`,
//!   then the same reads until the queue is empty: the shape of an event loop.
//! - `coalesce`: the daemon's adaptive coalescing rule (the driver's
//!   `coalesce_window`): a blocking `recv(2)` for the first datagram of a
//!   wake-up, then `MSG_DONTWAIT` reads until the queue is empty; if that
//!   wake-up read more than one datagram, sleep `--window-us` (default 1000,
//!   1 ms) before reading again, so that what arrives meanwhile is taken in
//!   one go; a wake-up that read one datagram is answered at once (the next
//!   read blocks straight away). `--window-us 0` is `recv` plus one `EAGAIN`
//!   per wake-up.
//!
//! An overrun (`ENOBUFS`: the kernel dropped notifications) is ignored, as a
//! reader that only drops has nothing to re-read; the kernel's drop counter
//! in `/proc/PID/net/netlink` shows it from outside. It runs until killed.
//!
//! What it does not do: parse, decide, write anywhere. It is not a test double.

#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SocketFlags, SocketType, netlink::SocketAddrNetlink};

/// `RTMGRP_LINK`: the bit of `RTNLGRP_LINK` (group 1) in a bind mask.
const RTMGRP_LINK: u32 = 1;
/// portsyncd's receive buffer (`portsyncd-netlink`'s `DEFAULT_RCVBUF`).
const DEFAULT_RCVBUF: usize = 16 << 20;
/// portsyncd's single receive buffer (`RECV_BUFFER`).
const RECV_BUFFER: usize = 256 << 10;
/// One slot of a `recvmmsg` batch: a link notification is 1–2 KiB, and a
/// longer datagram would only be cut (`MSG_TRUNC`), which a reader that drops
/// everything does not mind.
const SLOT: usize = 8 << 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Recv,
    Recvmmsg,
    EpollRecv,
    EpollRecvmmsg,
    Coalesce,
}

fn usage() -> ! {
    eprintln!(
        "usage: portsyncd-floor [--mode recv|recvmmsg|epoll-recv|epoll-recvmmsg|coalesce] [--rcvbuf BYTES] [--batch N] [--window-us W]"
    );
    std::process::exit(2)
}

fn main() {
    let mut mode = Mode::Recv;
    let mut rcvbuf = DEFAULT_RCVBUF;
    let mut batch = 64usize;
    let mut window = std::time::Duration::from_millis(1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--mode" => {
                mode = match value().as_str() {
                    "recv" => Mode::Recv,
                    "recvmmsg" => Mode::Recvmmsg,
                    "epoll-recv" => Mode::EpollRecv,
                    "epoll-recvmmsg" => Mode::EpollRecvmmsg,
                    "coalesce" => Mode::Coalesce,
                    _ => usage(),
                }
            }
            "--rcvbuf" => rcvbuf = value().parse().unwrap_or_else(|_| usage()),
            "--batch" => {
                batch = value().parse().ok().filter(|&b| (1..=1024).contains(&b)).unwrap_or_else(|| usage())
            }
            "--window-us" => {
                window = std::time::Duration::from_micros(
                    value().parse().ok().filter(|&w| w <= 1_000_000).unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    let blocking = matches!(mode, Mode::Recv | Mode::Recvmmsg | Mode::Coalesce);
    let socket = open(rcvbuf, blocking).unwrap_or_else(|e| {
        eprintln!("portsyncd-floor: netlink socket: {e}");
        std::process::exit(1)
    });
    println!("ready");
    let _ = std::io::stdout().flush();
    let result = match mode {
        Mode::Recv => recv_loop(socket.as_fd(), None),
        Mode::Recvmmsg => recvmmsg_loop(socket.as_fd(), batch, None),
        Mode::Coalesce => coalesce_loop(socket.as_fd(), window),
        Mode::EpollRecv | Mode::EpollRecvmmsg => {
            let ep = epoll::create(epoll::CreateFlags::CLOEXEC).and_then(|ep| {
                epoll::add(&ep, &socket, epoll::EventData::new_u64(0), epoll::EventFlags::IN).map(|()| ep)
            });
            match ep {
                Ok(ep) if mode == Mode::EpollRecv => recv_loop(socket.as_fd(), Some(ep.as_fd())),
                Ok(ep) => recvmmsg_loop(socket.as_fd(), batch, Some(ep.as_fd())),
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        eprintln!("portsyncd-floor: {e}");
        std::process::exit(1)
    }
}

/// The socket: NETLINK_ROUTE, bound to `RTMGRP_LINK`, `rcvbuf` bytes forced
/// (falling back to the unforced option, capped by `rmem_max`, when not root).
fn open(rcvbuf: usize, blocking: bool) -> rustix::io::Result<OwnedFd> {
    let flags = if blocking { SocketFlags::CLOEXEC } else { SocketFlags::CLOEXEC | SocketFlags::NONBLOCK };
    // NETLINK_ROUTE is protocol 0, which rustix spells `None`.
    let fd = net::socket_with(AddressFamily::NETLINK, SocketType::RAW, flags, None)?;
    if net::sockopt::set_socket_recv_buffer_size_force(&fd, rcvbuf).is_err() {
        net::sockopt::set_socket_recv_buffer_size(&fd, rcvbuf)?;
    }
    net::bind(&fd, &SocketAddrNetlink::new(0, RTMGRP_LINK))?;
    Ok(fd)
}

/// Waits until the socket is readable (epoll modes only).
fn wait(ep: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let mut events =
        [epoll::Event { flags: epoll::EventFlags::empty(), data: epoll::EventData::new_u64(0) }; 1];
    loop {
        match epoll::wait(ep, &mut events, None) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One `recv` per datagram into one buffer; with `ep`, non-blocking reads
/// until `EAGAIN`, then `epoll_wait`.
fn recv_loop(socket: BorrowedFd<'_>, ep: Option<BorrowedFd<'_>>) -> rustix::io::Result<()> {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        match net::recv(socket, &mut buf[..], RecvFlags::empty()) {
            Ok(_) | Err(Errno::NOBUFS | Errno::INTR) => {}
            Err(Errno::AGAIN) => match ep {
                Some(ep) => wait(ep)?,
                None => return Err(Errno::AGAIN),
            },
            Err(e) => return Err(e),
        }
    }
}

/// The daemon's coalescing rule on a blocking socket: one wake-up is a
/// blocking `recv` and then `MSG_DONTWAIT` reads until `EAGAIN`; after a
/// wake-up that read more than one datagram, sleep `window` before the next.
fn coalesce_loop(socket: BorrowedFd<'_>, window: std::time::Duration) -> rustix::io::Result<()> {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        match net::recv(socket, &mut buf[..], RecvFlags::empty()) {
            Ok(_) => {}
            Err(Errno::NOBUFS | Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
        let mut datagrams = 1usize;
        loop {
            match net::recv(socket, &mut buf[..], RecvFlags::DONTWAIT) {
                Ok(_) => datagrams += 1,
                Err(Errno::NOBUFS | Errno::INTR) => {}
                Err(Errno::AGAIN) => break,
                Err(e) => return Err(e),
            }
        }
        if datagrams > 1 && !window.is_zero() {
            std::thread::sleep(window);
        }
    }
}

/// `recvmmsg` batches of `batch` datagrams. Blocking (no `ep`): with
/// `MSG_WAITFORONE`, one call per wake-up. With `ep`: `MSG_DONTWAIT` reads
/// until a short batch (the queue was empty), then `epoll_wait`.
fn recvmmsg_loop(socket: BorrowedFd<'_>, batch: usize, ep: Option<BorrowedFd<'_>>) -> rustix::io::Result<()> {
    let mut batch = Batch::new(batch);
    let flags = if ep.is_some() { libc::MSG_DONTWAIT } else { libc::MSG_WAITFORONE };
    loop {
        match batch.recv(socket, flags) {
            Ok(n) if n < batch.len() => {
                if let Some(ep) = ep {
                    wait(ep)?;
                }
            }
            Ok(_) | Err(Errno::NOBUFS | Errno::INTR) => {}
            Err(Errno::AGAIN) => match ep {
                Some(ep) => wait(ep)?,
                None => return Err(Errno::AGAIN),
            },
            Err(e) => return Err(e),
        }
    }
}

/// The buffers and headers of a `recvmmsg` batch, set up once: `msgs[i]`
/// points at `iov[i]`, which points at the `i`-th `SLOT` bytes of `slots`.
/// None of the three vectors is resized after `new`, so their heap storage,
/// and with it every pointer between them, stays where it is.
struct Batch {
    slots: Vec<u8>,
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Self {
        let mut slots = vec![0u8; n * SLOT];
        let mut iov: Vec<libc::iovec> = slots
            .chunks_exact_mut(SLOT)
            .map(|chunk| libc::iovec { iov_base: chunk.as_mut_ptr().cast(), iov_len: chunk.len() })
            .collect();
        let msgs = iov
            .iter_mut()
            .map(|v| {
                let mut m = zeroed_mmsghdr();
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        Self { slots, iov, msgs }
    }

    fn len(&self) -> usize {
        self.msgs.len()
    }

    /// `recvmmsg(2)` into the slots; the number of datagrams received.
    fn recv(&mut self, socket: BorrowedFd<'_>, flags: libc::c_int) -> rustix::io::Result<usize> {
        debug_assert_eq!(self.iov.len(), self.msgs.len());
        debug_assert_eq!(self.slots.len(), self.msgs.len() * SLOT);
        let vlen = libc::c_uint::try_from(self.msgs.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `self.msgs` holds `vlen` initialised `mmsghdr`s (vlen is its
        // length, at most 1024 by the argument check); the kernel reads them
        // and writes only their `msg_len` and `msg_flags`. Their only non-null
        // pointer is `msg_iov`, each to one `iovec` of `self.iov`
        // (`msg_iovlen` = 1), and each `iovec` points at a distinct
        // `SLOT`-byte chunk of `self.slots` with `iov_len` = `SLOT`: the kernel
        // writes at most that many bytes there. The three vectors are owned by
        // `self`, never resized after `new` (so the pointers still hold), and
        // borrowed mutably for the whole call (so nothing else reads or writes
        // them meanwhile). `msg_name` and `msg_control` are null with length 0:
        // no address or ancillary data is written. The timeout is null (none).
        // The fd is borrowed, hence open, for the whole call.
        #[allow(unsafe_code)]
        let got = unsafe {
            libc::recvmmsg(socket.as_raw_fd(), self.msgs.as_mut_ptr(), vlen, flags, std::ptr::null_mut())
        };
        usize::try_from(got)
            .map_err(|_| Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    }
}

/// An all-zero `mmsghdr`: null name, control and iovec pointers, zero lengths.
fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: `mmsghdr` is a plain C struct of integers and raw pointers, for
    // which all-zero bytes are a valid value (null pointers, zero lengths).
    #[allow(unsafe_code)]
    unsafe {
        std::mem::zeroed()
    }
}
