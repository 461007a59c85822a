//! The one system interface under the reactor: a set of sockets whose
//! readiness edges one thread waits for, and a way for other threads to
//! wake it. Two backends behind one shape, chosen at build time:
//!
//! - the default: `epoll` through rustix, one `epoll_wait` per wait and
//!   nothing else (the eventfd other threads write is read only when it
//!   fired);
//! - `--features polling`: smol's `polling` crate in edge mode. On Linux it
//!   is epoll too, but each of its waits also arms a timerfd for the
//!   timeout and re-arms its one-shot notifier (`timerfd_settime` and two
//!   `epoll_ctl`), and reads its notifier: measured against the default in
//!   one run in benches/README.md ("The hot loop's reactor").
//!
//! It decides nothing about who waits for what: that is the reactor's.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Which edges a socket's registration reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// One readiness edge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Edge {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

/// Edges taken from the kernel per wait (more wait for the next one).
const EDGES_PER_WAIT: usize = 32;

#[cfg(not(feature = "polling"))]
pub(crate) use self::epoll_backend::Poller;
#[cfg(feature = "polling")]
pub(crate) use self::polling_backend::Poller;

#[cfg(not(feature = "polling"))]
mod epoll_backend {
    use std::os::fd::OwnedFd;

    use rustix::event::epoll::{self, EventData, EventFlags};
    use rustix::event::{EventfdFlags, eventfd};

    use super::*;

    /// The key of the eventfd other threads wake the loop with.
    const WAKE_KEY: u64 = u64::MAX;

    pub(crate) struct Poller {
        epoll: OwnedFd,
        wake_fd: OwnedFd,
    }

    fn flags(interest: Interest) -> EventFlags {
        let mut flags = EventFlags::RDHUP | EventFlags::ET;
        if interest.read {
            flags |= EventFlags::IN;
        }
        if interest.write {
            flags |= EventFlags::OUT;
        }
        flags
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Self> {
            let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
            let wake_fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            epoll::add(&epoll, &wake_fd, EventData::new_u64(WAKE_KEY), EventFlags::IN)?;
            Ok(Self { epoll, wake_fd })
        }

        pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
            Ok(epoll::add(&self.epoll, fd, EventData::new_u64(key as u64), flags(interest))?)
        }

        pub(crate) fn modify(&self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
            Ok(epoll::modify(&self.epoll, fd, EventData::new_u64(key as u64), flags(interest))?)
        }

        pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
            Ok(epoll::delete(&self.epoll, fd)?)
        }

        /// Sleeps until an edge, a wake from another thread or `timeout`;
        /// calls `awake` first thing after, then `edge` for each edge.
        pub(crate) fn wait(
            &self,
            timeout: Option<Duration>,
            awake: impl FnOnce(),
            mut edge: impl FnMut(Edge),
        ) -> io::Result<()> {
            let timespec = timeout.map(|t| rustix::event::Timespec {
                tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(t.subsec_nanos()),
            });
            let mut events =
                [epoll::Event { flags: EventFlags::empty(), data: EventData::new_u64(0) }; EDGES_PER_WAIT];
            let waited = epoll::wait(&self.epoll, &mut events, timespec.as_ref());
            awake();
            let n = match waited {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => 0,
                Err(e) => return Err(e.into()),
            };
            for event in &events[..n] {
                let key = event.data.u64();
                if key == WAKE_KEY {
                    // Nothing to read (another wake came first) is fine.
                    let _ = rustix::io::read(&self.wake_fd, &mut [0; 8]);
                    continue;
                }
                let flags = event.flags;
                let broken = flags.intersects(EventFlags::ERR | EventFlags::HUP);
                edge(Edge {
                    key: usize::try_from(key).unwrap_or(usize::MAX),
                    readable: broken
                        || flags.intersects(EventFlags::IN | EventFlags::PRI | EventFlags::RDHUP),
                    writable: broken || flags.contains(EventFlags::OUT),
                });
            }
            Ok(())
        }

        /// Wakes the thread waiting (or the next wait).
        pub(crate) fn notify(&self) {
            // A full counter (2^64 - 2 wakes unread) still wakes the loop.
            let _ = rustix::io::write(&self.wake_fd, &1u64.to_ne_bytes());
        }
    }
}

#[cfg(feature = "polling")]
mod polling_backend {
    use std::num::NonZeroUsize;
    use std::os::fd::AsRawFd;
    use std::sync::Mutex;

    use polling::{Event, Events, PollMode};

    use super::*;

    pub(crate) struct Poller {
        poller: polling::Poller,
        /// Kept between waits (a `Mutex` only because the poller is shared
        /// with other threads' wakers; only the loop's thread takes it).
        events: Mutex<Events>,
    }

    fn event(key: usize, interest: Interest) -> Event {
        let mut ev = Event::none(key);
        ev.readable = interest.read;
        ev.writable = interest.write;
        ev
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Self> {
            let capacity = NonZeroUsize::new(EDGES_PER_WAIT).unwrap_or(NonZeroUsize::MIN);
            Ok(Self { poller: polling::Poller::new()?, events: Mutex::new(Events::with_capacity(capacity)) })
        }

        pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
            // SAFETY: `polling` requires the descriptor to stay open until it
            // is deleted from the poller. The reactor registers a duplicate
            // it owns (`Readiness::fd`) and deletes it in `Source::drop`
            // before that duplicate is closed; nothing else closes it.
            #[allow(unsafe_code)]
            unsafe {
                self.poller.add_with_mode(fd.as_raw_fd(), event(key, interest), PollMode::Edge)
            }
        }

        pub(crate) fn modify(&self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
            self.poller.modify_with_mode(fd, event(key, interest), PollMode::Edge)
        }

        pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
            self.poller.delete(fd)
        }

        pub(crate) fn wait(
            &self,
            timeout: Option<Duration>,
            awake: impl FnOnce(),
            mut edge: impl FnMut(Edge),
        ) -> io::Result<()> {
            let mut events = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            events.clear();
            let waited = self.poller.wait(&mut events, timeout);
            awake();
            waited?;
            for ev in events.iter() {
                let broken = ev.is_err().unwrap_or(false);
                edge(Edge { key: ev.key, readable: ev.readable || broken, writable: ev.writable || broken });
            }
            Ok(())
        }

        pub(crate) fn notify(&self) {
            let _ = self.poller.notify();
        }
    }
}
