//! The reactor the daemon's hot path waits on: one thread, one epoll set,
//! sockets registered once (edge-triggered), timers in an ordered map, and a
//! [`block_on`] that runs one future on it.
//!
//! What it decides: how a thread sleeps until a socket it reads or writes is
//! ready, a deadline passes, or another thread wakes it — with one
//! `epoll_wait` per sleep and no other system call — and which edges wake
//! it: a direction of a socket that nobody waits for is dropped from its
//! registration at its first edge and asked for again when someone waits,
//! so that datagrams arriving while the loop waits for something else (a
//! Redis reply, a timer) wake it once, not once each. It does not spawn
//! tasks, own a thread, or decide what to read or write.
//!
//! Why not async-io's reactor, which only the metrics endpoint's own thread
//! still uses (the signals come through a self-pipe registered here): measured in a 512-port storm
//! (`benches/README.md`), each of its waits cost five system calls (a
//! `timerfd_settime` and an `epoll_ctl` for the timeout, the wait, a `read`
//! and an `epoll_ctl` for its notifier) plus an `epoll_ctl` per readiness
//! (one-shot registrations), and its helper thread takes the reactor over
//! whenever the loop is busy, so that each netlink datagram woke two threads.
//! Here a socket is registered once, a wait is one `epoll_wait` with its
//! timeout, and nothing else sleeps on this epoll set. smol's `polling`
//! used directly in edge mode was measured against this too, in one run
//! (`benches/README.md`, "The hot loop's reactor"): each of its waits still
//! re-arms a timerfd and its notifier (1.8× the system calls per event).
//!
//! Futures of other runtimes (async-io's signals, for instance) may be
//! awaited inside [`block_on`]: their wakers, called from another thread,
//! wake this one through an eventfd. The reverse does not hold: nothing
//! drives this reactor outside [`block_on`] on its own thread, so there a
//! [`Source`] that would have to wait fails with [`NOT_DRIVEN`] and a
//! [`Timer`] never completes.

// The `polling` backend (a build option, for measurement: src/sys.rs) needs
// one `unsafe` call, with its proof there; the default build has none.
#![cfg_attr(not(feature = "polling"), forbid(unsafe_code))]

mod sys;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use sys::{Interest, Poller};

/// The error a [`Source`] gives when it would have to wait outside
/// [`block_on`] (nothing would wake it).
pub const NOT_DRIVEN: &str = "a portsyncd-reactor socket awaited outside portsyncd_reactor::block_on";

/// One registered socket's readiness, as the loop last learnt it.
struct Readiness {
    /// A duplicate of the socket's descriptor: the registration is made with
    /// it, so that the reactor can change it without the socket at hand.
    fd: OwnedFd,
    /// An edge was seen since the last operation that would have blocked.
    readable: bool,
    writable: bool,
    /// Who waits for each.
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The directions whose edges the kernel reports now: a direction
    /// nobody waits for is dropped at its first edge, and added again when
    /// someone waits (an edge already there then is reported).
    interest: Interest,
}

impl Readiness {
    /// Reports edges in `want` from now on (one `epoll_ctl` if that changes
    /// anything).
    fn set_interest(&mut self, poller: &Poller, key: usize, want: Interest) -> io::Result<()> {
        if self.interest != want {
            poller.modify(self.fd.as_fd(), key, want)?;
            self.interest = want;
        }
        Ok(())
    }
}

/// What this thread's reactor did, from its creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sleeps (each one wait of the kernel's, the zero-timeout looks included).
    pub waits: u64,
    /// Readiness edges the kernel reported.
    pub edges: u64,
    /// Changes of a socket's registration (`epoll_ctl`).
    pub interest_changes: u64,
}

/// The thread's reactor.
struct Reactor {
    /// Shared with the wakers other threads hold.
    poller: Arc<Poller>,
    /// Registered sockets, by key (a slot is reused once freed).
    sources: RefCell<Vec<Option<Readiness>>>,
    /// Deadlines in order, each with a number that tells equal ones apart.
    /// A sorted vector: a loop has a handful, and a vector that keeps its
    /// capacity allocates nothing per timer (a B-tree allocated a node each
    /// time its only timer came and went: every wake-up).
    timers: RefCell<Vec<(Instant, u64, Waker)>>,
    next_timer: Cell<u64>,
    /// Inside [`block_on`] on this thread.
    driven: Cell<bool>,
    stats: Cell<Stats>,
}

thread_local! {
    static REACTOR: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

impl Reactor {
    /// This thread's reactor, created on first use.
    fn get() -> io::Result<Rc<Reactor>> {
        REACTOR.with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(reactor) = slot.as_ref() {
                return Ok(reactor.clone());
            }
            let reactor = Rc::new(Reactor {
                poller: Arc::new(Poller::new()?),
                sources: RefCell::new(Vec::new()),
                timers: RefCell::new(Vec::new()),
                next_timer: Cell::new(0),
                driven: Cell::new(false),
                stats: Cell::new(Stats::default()),
            });
            *slot = Some(reactor.clone());
            Ok(reactor)
        })
    }

    /// Sleeps until a registered socket changes, a timer is due or another
    /// thread wakes the loop (not at all if `timeout` is zero), calls
    /// `awake`, then wakes whoever waits for what happened.
    fn wait(&self, timeout: Option<Duration>, awake: impl FnOnce()) -> io::Result<()> {
        let deadline = self.timers.borrow().first().map(|&(at, _, _)| at);
        let until_timer = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        let timeout = match (timeout, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut stats = self.stats.get();
        stats.waits += 1;
        self.poller.wait(timeout, awake, |edge| {
            stats.edges += 1;
            let mut sources = self.sources.borrow_mut();
            let Some(Some(source)) = sources.get_mut(edge.key) else { return };
            let mut want = source.interest;
            if edge.readable {
                source.readable = true;
                match source.reader.take() {
                    Some(w) => w.wake(),
                    None => want.read = false,
                }
            }
            if edge.writable {
                source.writable = true;
                match source.writer.take() {
                    Some(w) => w.wake(),
                    None => want.write = false,
                }
            }
            // Nobody waits that way: no more edges until someone does.
            if want != source.interest {
                stats.interest_changes += 1;
                // A failed change leaves the edges coming: a wake-up more.
                let _ = source.set_interest(&self.poller, edge.key, want);
            }
        })?;
        self.stats.set(stats);
        // Timers due now (woken once the list is released).
        if deadline.is_some() {
            let now = Instant::now();
            let due: Vec<_> = {
                let mut timers = self.timers.borrow_mut();
                let n = timers.partition_point(|&(at, _, _)| at <= now);
                timers.drain(..n).collect()
            };
            for (_, _, waker) in due {
                waker.wake();
            }
        }
        Ok(())
    }
}

/// Wakes the loop from anywhere: flags it, and if it sleeps (or is about
/// to), writes its eventfd.
struct LoopWaker {
    woken: AtomicBool,
    sleeping: AtomicBool,
    poller: Arc<Poller>,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.poller.notify();
        }
    }
}

/// Runs `future` to completion on this thread, sleeping on the reactor
/// whenever it waits.
///
/// # Errors
/// Creating the epoll set or its eventfd failed (out of file descriptors).
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    let reactor = Reactor::get()?;
    let waker = Arc::new(LoopWaker {
        woken: AtomicBool::new(true),
        sleeping: AtomicBool::new(false),
        poller: reactor.poller.clone(),
    });
    let task_waker = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&task_waker);
    let mut future = pin!(future);
    let was_driven = reactor.driven.replace(true);
    struct Restore<'a>(&'a Reactor, bool);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            self.0.driven.set(self.1);
        }
    }
    let _restore = Restore(&reactor, was_driven);
    loop {
        if waker.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Ok(output);
            }
            if waker.woken.load(Ordering::SeqCst) {
                // Woken while being polled: look at the sockets without
                // sleeping, then poll again.
                reactor.wait(Some(Duration::ZERO), || {})?;
                continue;
            }
        }
        // Dekker with the waker: either it sees `sleeping` and writes the
        // eventfd, or this sees `woken`.
        waker.sleeping.store(true, Ordering::SeqCst);
        if waker.woken.load(Ordering::SeqCst) {
            waker.sleeping.store(false, Ordering::SeqCst);
            continue;
        }
        // Awake before the wakers run: theirs are calls from this thread,
        // which need no eventfd write.
        reactor.wait(None, || waker.sleeping.store(false, Ordering::SeqCst))?;
    }
}

/// What this thread's reactor did so far (zeros before its first use).
pub fn stats() -> Stats {
    REACTOR.with(|slot| slot.borrow().as_ref().map(|r| r.stats.get()).unwrap_or_default())
}

/// A socket registered with this thread's reactor, edge-triggered, for
/// reading and writing.
pub struct Source<T: AsFd> {
    io: T,
    key: usize,
    reactor: Rc<Reactor>,
}

impl<T: AsFd> Source<T> {
    /// Registers `io`, which must be in non-blocking mode.
    ///
    /// # Errors
    /// `epoll_ctl` refused the descriptor.
    pub fn new(io: T) -> io::Result<Self> {
        let reactor = Reactor::get()?;
        let fd = io.as_fd().try_clone_to_owned()?;
        let key = {
            let mut sources = reactor.sources.borrow_mut();
            let key = match sources.iter().position(Option::is_none) {
                Some(key) => key,
                None => {
                    sources.push(None);
                    sources.len() - 1
                }
            };
            let interest = Interest { read: true, write: false };
            reactor.poller.add(fd.as_fd(), key, interest)?;
            // Ready until an operation says otherwise: the first one tries.
            // Writes are rarely refused: their edges are asked for only
            // while someone waits (each read of the peer's would wake us).
            sources[key] =
                Some(Readiness { fd, readable: true, writable: true, reader: None, writer: None, interest });
            key
        };
        Ok(Self { io, key, reactor })
    }

    /// The socket.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Runs `op` until it does not report `WouldBlock`, waiting for the
    /// socket to become readable in between.
    ///
    /// # Errors
    /// `op`'s error, or [`NOT_DRIVEN`].
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Read, op).await
    }

    /// As [`Source::read_with`], for writing.
    ///
    /// # Errors
    /// `op`'s error, or [`NOT_DRIVEN`].
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Write, op).await
    }

    async fn io_with<R>(&self, dir: Direction, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        loop {
            if self.is(dir) {
                match op(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(dir),
                    result => return result,
                }
            }
            self.ready(dir).await?;
        }
    }

    /// Forgets that the socket was readable: the next read waits for new
    /// data first. For a caller that knows it took everything (a reply it
    /// framed whole) and would otherwise spend a read on "nothing yet".
    pub fn consumed(&self) {
        self.clear(Direction::Read);
    }

    /// Waits for the next sign that the socket became readable, forgetting
    /// any earlier one: for a caller whose own read just said "would block".
    ///
    /// # Errors
    /// [`NOT_DRIVEN`].
    pub async fn next_readable(&self) -> io::Result<()> {
        self.next(Direction::Read).await
    }

    /// Waits for the next sign that the socket became writable, forgetting
    /// any earlier one: for a non-blocking connect in progress (its end,
    /// success or failure, is such a sign).
    ///
    /// # Errors
    /// [`NOT_DRIVEN`].
    pub async fn next_writable(&self) -> io::Result<()> {
        self.next(Direction::Write).await
    }

    async fn next(&self, dir: Direction) -> io::Result<()> {
        self.clear(dir);
        self.ready(dir).await
    }

    fn is(&self, dir: Direction) -> bool {
        let sources = self.reactor.sources.borrow();
        sources[self.key].as_ref().is_some_and(|s| match dir {
            Direction::Read => s.readable,
            Direction::Write => s.writable,
        })
    }

    fn clear(&self, dir: Direction) {
        if let Some(s) = self.reactor.sources.borrow_mut()[self.key].as_mut() {
            match dir {
                Direction::Read => s.readable = false,
                Direction::Write => s.writable = false,
            }
        }
    }

    /// Completes once the socket is ready in `dir`.
    fn ready(&self, dir: Direction) -> impl Future<Output = io::Result<()>> + '_ {
        std::future::poll_fn(move |cx| {
            let mut sources = self.reactor.sources.borrow_mut();
            let Some(s) = sources[self.key].as_mut() else { return Poll::Ready(Ok(())) };
            let (ready, slot) = match dir {
                Direction::Read => (s.readable, &mut s.reader),
                Direction::Write => (s.writable, &mut s.writer),
            };
            if ready {
                return Poll::Ready(Ok(()));
            }
            if !self.reactor.driven.get() {
                return Poll::Ready(Err(io::Error::other(NOT_DRIVEN)));
            }
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
            let mut want = s.interest;
            match dir {
                Direction::Read => want.read = true,
                Direction::Write => want.write = true,
            }
            if want != s.interest {
                let mut stats = self.reactor.stats.get();
                stats.interest_changes += 1;
                self.reactor.stats.set(stats);
            }
            if let Err(e) = s.set_interest(&self.reactor.poller, self.key, want) {
                return Poll::Ready(Err(e));
            }
            Poll::Pending
        })
    }
}

impl<T: AsFd> Drop for Source<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.reactor.sources.borrow_mut().get_mut(self.key) {
            if let Some(readiness) = slot.take() {
                // Closing the duplicate would not end the registration while
                // the socket itself stays open elsewhere: say so explicitly.
                let _ = self.reactor.poller.delete(readiness.fd.as_fd());
            }
        }
    }
}

impl<T: AsFd> std::fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("fd", &self.io.as_fd().as_raw_fd()).field("key", &self.key).finish()
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Completes at a deadline, on this thread's reactor. Outside [`block_on`]
/// it never completes (nothing would wake it): a caller that races it
/// against something else loses nothing.
pub struct Timer {
    at: Instant,
    /// The key of its entry in the reactor's map, once polled.
    entry: Option<u64>,
    reactor: Option<Rc<Reactor>>,
}

impl Timer {
    /// Completes at `at`.
    pub fn at(at: Instant) -> Self {
        Self { at, entry: None, reactor: Reactor::get().ok() }
    }

    /// Completes after `after`.
    pub fn after(after: Duration) -> Self {
        Self::at(Instant::now() + after)
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.at {
            if let (Some(reactor), Some(id)) = (this.reactor.as_ref(), this.entry.take()) {
                remove_timer(&mut reactor.timers.borrow_mut(), this.at, id);
            }
            return Poll::Ready(());
        }
        let Some(reactor) = this.reactor.as_ref() else { return Poll::Pending };
        let mut timers = reactor.timers.borrow_mut();
        let id = *this.entry.get_or_insert_with(|| {
            let id = reactor.next_timer.get();
            reactor.next_timer.set(id.wrapping_add(1));
            id
        });
        let at = timers.partition_point(|&(t, i, _)| (t, i) < (this.at, id));
        match timers.get_mut(at) {
            Some((t, i, w)) if (*t, *i) == (this.at, id) => {
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
            }
            _ => timers.insert(at, (this.at, id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let (Some(reactor), Some(id)) = (self.reactor.as_ref(), self.entry) {
            remove_timer(&mut reactor.timers.borrow_mut(), self.at, id);
        }
    }
}

/// Takes the timer `(at, id)` out of the ordered list, if it is there (a
/// fired one is not).
fn remove_timer(timers: &mut Vec<(Instant, u64, Waker)>, at: Instant, id: u64) {
    let i = timers.partition_point(|&(t, n, _)| (t, n) < (at, id));
    if timers.get(i).is_some_and(|&(t, n, _)| (t, n) == (at, id)) {
        timers.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::os::unix::net::UnixStream;

    fn pair() -> (Source<UnixStream>, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Source::new(a).unwrap(), b)
    }

    #[test]
    fn a_read_waits_for_data_written_later_by_another_thread() {
        let (a, mut b) = pair();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            b.write_all(b"ping").unwrap();
            b
        });
        let got = block_on(async {
            let mut buf = [0; 8];
            let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            buf[..n].to_vec()
        })
        .unwrap();
        assert_eq!(got, b"ping");
        writer.join().unwrap();
    }

    #[test]
    fn timers_fire_in_order_and_a_dropped_one_never() {
        let start = Instant::now();
        let order = block_on(async {
            let mut order = Vec::new();
            let first = Timer::after(Duration::from_millis(30));
            let second = Timer::after(Duration::from_millis(60));
            let dropped = Timer::after(Duration::from_millis(10));
            drop(dropped);
            let first_done = first_of(
                async {
                    second.await;
                    2
                },
                async {
                    first.await;
                    1
                },
            )
            .await;
            order.push(first_done);
            order
        })
        .unwrap();
        assert_eq!(order, vec![1]);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(Reactor::get().unwrap().timers.borrow().is_empty(), "the losing timer left its entry");
    }

    #[test]
    fn a_waker_from_another_thread_wakes_a_sleeping_loop() {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let t = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
            waker.wake();
        });
        let mut tx = Some(tx);
        block_on(std::future::poll_fn(|cx| {
            if let Some(tx) = tx.take() {
                tx.send(cx.waker().clone()).unwrap();
            }
            if done.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
        }))
        .unwrap();
        t.join().unwrap();
    }

    #[test]
    fn outside_block_on_a_socket_that_would_wait_says_so() {
        let (a, _b) = pair();
        let mut fut = pin!(a.read_with(|mut s| s.read(&mut [0; 4])));
        let waker = Waker::noop();
        match fut.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Err(e)) => assert_eq!(e.to_string(), NOT_DRIVEN),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_that_came_while_nobody_waited_is_read_and_later_data_still_wakes() {
        let (a, mut b) = pair();
        let (a2, mut b2) = pair();
        block_on(async {
            // The loop waits on `a2` while `a` gets data: `a`'s interest is
            // dropped at its first edge...
            b.write_all(b"early").unwrap();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                b2.write_all(b"x").unwrap();
                b2
            });
            a2.read_with(|mut s| s.read(&mut [0; 4])).await.unwrap();
            writer.join().unwrap();
            // ...the data is still there to read...
            let mut buf = [0; 16];
            let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"early");
            // ...and waiting again asks for edges again.
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                b.write_all(b"late").unwrap();
                b
            });
            let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"late");
            writer.join().unwrap();
        })
        .unwrap();
    }

    /// What the module docs promise: while the loop waits for something
    /// else, a socket nobody reads wakes it once, however much comes.
    #[test]
    fn a_socket_nobody_waits_for_wakes_the_loop_once_not_once_per_datagram() {
        let (a, mut b) = pair();
        let before = stats();
        let writer = std::thread::spawn(move || {
            for _ in 0..10 {
                b.write_all(b"d").unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            b
        });
        block_on(Timer::after(Duration::from_millis(120))).unwrap();
        let mut b = writer.join().unwrap();
        let during = stats();
        assert_eq!(during.edges - before.edges, 1, "{before:?} -> {during:?}");
        assert_eq!(during.interest_changes - before.interest_changes, 1, "read interest dropped once");
        // Everything is still there, and waiting asks for edges again.
        let got = block_on(async {
            let mut buf = [0; 64];
            let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            let later = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                b.write_all(b"L").unwrap();
                b
            });
            let m = a.read_with(|mut s| s.read(&mut buf[n..])).await.unwrap();
            later.join().unwrap();
            buf[..n + m].to_vec()
        })
        .unwrap();
        assert_eq!(got, b"ddddddddddL");
    }

    #[test]
    fn a_write_that_would_block_waits_for_room() {
        let (a, mut b) = pair();
        // Fill the socket until the kernel refuses more.
        let chunk = [7u8; 4096];
        let mut sent = 0;
        loop {
            match a.get_ref().write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            let mut all = Vec::new();
            b.read_to_end(&mut all).unwrap();
            all.len()
        });
        let n = block_on(a.write_with(|mut s| s.write(&chunk))).unwrap().unwrap();
        assert!(n > 0);
        drop(a);
        assert_eq!(reader.join().unwrap(), sent + n);
    }

    #[test]
    fn a_closed_peer_ends_a_waiting_read() {
        let (a, b) = pair();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(b);
        });
        let n = block_on(a.read_with(|mut s| s.read(&mut [0; 4]))).unwrap().unwrap();
        assert_eq!(n, 0);
        closer.join().unwrap();
    }

    /// The output of whichever of two futures completes first.
    async fn first_of<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
        let mut a = pin!(a);
        let mut b = pin!(b);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
            b.as_mut().poll(cx)
        })
        .await
    }
}
