//! The driver's requests, each carrying the one way to answer it (rustls'
//! unbuffered API is the model): [`poll_io`](Driver::poll_io) hands out an
//! [`Io`]; a variant that needs an answer holds a [`Request`] that borrows
//! the driver, shows what is asked, and is consumed by its answer method.
//! An answer of the wrong kind, or to a request that was not made, does not
//! compile:
//!
//! ```compile_fail
//! use portsyncd_core::backend::BackendStatus;
//! use portsyncd_core::driver::{DefaultDriver, Io};
//! use portsyncd_core::Instant;
//!
//! let mut driver = DefaultDriver::default();
//! let now = Instant::from_millis(0);
//! if let Some(Io::Write(write)) = driver.poll_io() {
//!     // A write is answered with a WriteResult, not a backend status.
//!     write.answer(now, BackendStatus::Connected);
//! }
//! ```
//!
//! While a request lives, nothing else can be asked of the driver (it is
//! borrowed); dropping one unanswered leaves the driver waiting for ever.
//!
//! What an answer means is decided in the driver's other modules; this one
//! only routes it.

use core::fmt;

use super::{AlarmRow, Driver, ReadFor};
use crate::backend::{BackendStatus, StoreFault};
use crate::engine::LinkSync;
use crate::link_filter::LinkDenial;
use crate::logger::{Level, Output};
use crate::name::LinkLabel;
use crate::time::Instant;
use crate::writes::WriteOp;

use super::io::{Failure, Notify, Read, Receive, Replies, SnapshotLoad, WriteResult};

/// One thing the driver needs done. Those holding a [`Request`] are answered
/// through it; the others are done when performed.
#[must_use]
pub enum Io<'d, const P: usize, const B: usize> {
    /// Read the link source (see [`Receive`]) and hand what comes to
    /// [`handle`](Driver::handle).
    Receive(Receive),
    /// Read from a database.
    Read(ReadRequest<'d, P, B>),
    /// Carry out these writes, in order, as one batch (one round trip per
    /// database). Map each with [`WriteOp::write`].
    Write(WriteRequest<'d, P, B>),
    /// Write (or delete) a STATE_DB `SYSTEM_ALARMS` row.
    WriteAlarm(AlarmRequest<'d, P, B>),
    /// Ask the kernel for every link.
    RequestDump(DumpRequest<'d, P, B>),
    /// Bring a link administratively down.
    BringLinkDown(LinkDownRequest<'d, P, B>),
    /// Load the warm-restart snapshot.
    LoadSnapshot(LoadRequest<'d, P, B>),
    /// Save the warm-restart snapshot.
    SaveSnapshot(SaveRequest<'d, P, B>),
    /// Reconnect what is due and flush kept writes.
    Maintain(MaintainRequest<'d, P, B>),
    /// Close the link source, open it again, subscribe again.
    ReopenLinks(ReopenRequest<'d, P, B>),
    /// From now on drop these link notifications (links that are no port;
    /// another instance's).
    DenyLinks(DenyRequest<'d, P, B>),
    /// Log from now on at this level.
    SetLogLevel(Level),
    /// Log from now on to this output.
    SetLogOutput(Output),
    /// Tell the service manager.
    Notify(Notify),
    /// Stop the process: `Ok` after a clean shutdown. Nothing comes after it.
    Exit(Result<(), Failure>),
}

/// A request awaiting its answer; `K` says which, and so which answer
/// method it has.
#[must_use = "the driver waits for the answer"]
pub struct Request<'d, K, const P: usize, const B: usize> {
    driver: &'d mut Driver<P, B>,
    kind: K,
}

impl<'d, K, const P: usize, const B: usize> Request<'d, K, P, B> {
    pub(super) fn new(driver: &'d mut Driver<P, B>, kind: K) -> Self {
        Self { driver, kind }
    }
}

impl<K: fmt::Debug, const P: usize, const B: usize> fmt::Debug for Request<'_, K, P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl<const P: usize, const B: usize> fmt::Debug for Io<'_, P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Io::Receive(r) => write!(f, "Receive({r:?})"),
            Io::Read(r) => write!(f, "Read({:?})", r.read()),
            Io::Write(r) => write!(f, "Write({:?})", r.ops()),
            Io::WriteAlarm(r) => write!(f, "WriteAlarm({:?})", r.row()),
            Io::RequestDump(_) => f.write_str("RequestDump"),
            Io::BringLinkDown(r) => write!(f, "BringLinkDown({}, {})", r.ifindex(), r.name()),
            Io::LoadSnapshot(_) => f.write_str("LoadSnapshot"),
            Io::SaveSnapshot(_) => f.write_str("SaveSnapshot"),
            Io::Maintain(r) => write!(f, "Maintain({:?})", r.deadline()),
            Io::ReopenLinks(_) => f.write_str("ReopenLinks"),
            Io::DenyLinks(r) => write!(f, "DenyLinks({:?})", r.denial().ifindexes),
            Io::SetLogLevel(l) => write!(f, "SetLogLevel({l:?})"),
            Io::SetLogOutput(o) => write!(f, "SetLogOutput({o:?})"),
            Io::Notify(n) => write!(f, "Notify({n:?})"),
            Io::Exit(r) => write!(f, "Exit({r:?})"),
        }
    }
}

/// A database read.
pub type ReadRequest<'d, const P: usize, const B: usize> = Request<'d, Reading, P, B>;
/// A batch of writes.
pub type WriteRequest<'d, const P: usize, const B: usize> = Request<'d, Writing, P, B>;
/// An alarm row's write.
pub type AlarmRequest<'d, const P: usize, const B: usize> = Request<'d, AlarmWriting, P, B>;
/// A dump of the kernel's links.
pub type DumpRequest<'d, const P: usize, const B: usize> = Request<'d, Dumping, P, B>;
/// A link brought down.
pub type LinkDownRequest<'d, const P: usize, const B: usize> = Request<'d, LinkDown, P, B>;
/// The snapshot loaded.
pub type LoadRequest<'d, const P: usize, const B: usize> = Request<'d, SnapshotLoading, P, B>;
/// The snapshot saved.
pub type SaveRequest<'d, const P: usize, const B: usize> = Request<'d, SnapshotSaving, P, B>;
/// Backend maintenance.
pub type MaintainRequest<'d, const P: usize, const B: usize> = Request<'d, Maintaining, P, B>;
/// The link source opened again.
pub type ReopenRequest<'d, const P: usize, const B: usize> = Request<'d, Reopening, P, B>;
/// The link filter set.
pub type DenyRequest<'d, const P: usize, const B: usize> = Request<'d, LinkDenying, P, B>;

/// Kind of [`ReadRequest`].
#[derive(Clone, Copy, Debug)]
pub struct Reading(pub(super) ReadFor);
/// Kind of [`WriteRequest`].
#[derive(Clone, Copy, Debug)]
pub struct Writing;
/// Kind of [`AlarmRequest`].
#[derive(Clone, Copy, Debug)]
pub struct AlarmWriting;
/// Kind of [`DumpRequest`].
#[derive(Clone, Copy, Debug)]
pub struct Dumping;
/// Kind of [`LinkDownRequest`].
#[derive(Clone, Copy, Debug)]
pub struct LinkDown {
    pub(super) ifindex: u32,
    pub(super) name: LinkLabel,
}
/// Kind of [`LoadRequest`].
#[derive(Clone, Copy, Debug)]
pub struct SnapshotLoading;
/// Kind of [`SaveRequest`].
#[derive(Clone, Copy, Debug)]
pub struct SnapshotSaving;
/// Kind of [`MaintainRequest`].
#[derive(Clone, Copy, Debug)]
pub struct Maintaining(pub(super) Option<Instant>);
/// Kind of [`ReopenRequest`].
#[derive(Clone, Copy, Debug)]
pub struct Reopening;
/// Kind of [`DenyRequest`].
#[derive(Clone, Copy, Debug)]
pub struct LinkDenying;

impl<const P: usize, const B: usize> ReadRequest<'_, P, B> {
    /// What to read.
    pub fn read(&self) -> Read<'_> {
        self.driver.read_of(self.kind.0)
    }

    /// The answer: its parts, in order (see each [`Read`]).
    pub fn answer(self, now: Instant, replies: &dyn Replies) {
        self.driver.on_read(now, self.kind.0, Some(replies));
    }

    /// The read failed (the caller logs why).
    pub fn failed(self, now: Instant) {
        self.driver.on_read(now, self.kind.0, None);
    }
}

impl<const P: usize, const B: usize> WriteRequest<'_, P, B> {
    /// The writes, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.driver.ops
    }

    /// How they went; `absent[i]`: the `i`-th write is a check-and-write
    /// ([`Write::SetIfPresent`](crate::backend::Write::SetIfPresent)) that
    /// found its guard missing and wrote nothing, as
    /// [`Databases::write_checked`](crate::backend::Databases::write_checked)
    /// reports it (shorter is fine: nothing past its end was absent).
    pub fn answer(self, now: Instant, result: WriteResult, absent: &[bool]) {
        self.driver.on_write(now, result, absent);
    }
}

impl<const P: usize, const B: usize> AlarmRequest<'_, P, B> {
    /// The row (see [`AlarmRow::write`]).
    pub fn row(&self) -> &AlarmRow {
        self.driver.alarm_row()
    }

    /// How its write went.
    pub fn answer(self, now: Instant, result: WriteResult) {
        self.driver.on_alarm_written(now, result);
    }
}

impl<const P: usize, const B: usize> DumpRequest<'_, P, B> {
    /// The dump went out with sequence number `seq` (`None`: it could not
    /// be asked for; the caller logs why).
    pub fn answer(self, now: Instant, seq: Option<u32>) {
        self.driver.on_dump_requested(now, seq);
    }
}

impl<const P: usize, const B: usize> LinkDownRequest<'_, P, B> {
    /// The link.
    pub fn ifindex(&self) -> u32 {
        self.kind.ifindex
    }

    /// Its name, for the log.
    pub fn name(&self) -> &LinkLabel {
        &self.kind.name
    }

    /// Down (`true`), or it could not be brought down (the caller logs why).
    pub fn answer(self, now: Instant, done: bool) {
        self.driver.on_link_down(now, self.kind.ifindex, self.kind.name, done);
    }
}

impl<const P: usize, const B: usize> LoadRequest<'_, P, B> {
    /// What was found.
    pub fn answer(self, now: Instant, load: SnapshotLoad<'_>) {
        self.driver.on_snapshot_loaded(now, load);
    }
}

impl<const P: usize, const B: usize> SaveRequest<'_, P, B> {
    /// What to save ([`LinkSync::snapshot`]).
    pub fn engine(&self) -> &LinkSync<P, B> {
        &self.driver.engine
    }

    /// Bytes written, or the kind of trouble that kept it from being
    /// saved (the caller logs the details; the driver says what is lost).
    pub fn answer(self, now: Instant, saved: Result<usize, StoreFault>) {
        self.driver.on_snapshot_saved(now, saved);
    }

    /// The save goes on beside the loop (the snapshot was taken from
    /// [`engine`](Self::engine) now: writing and syncing a file can stall
    /// for many milliseconds on a switch's flash); its outcome comes later
    /// as [`Input::SnapshotSaved`](super::Input::SnapshotSaved). No other
    /// save is asked for meanwhile; one under way for
    /// [`SAVE_STUCK_AFTER`](super::SAVE_STUCK_AFTER) degrades health; the
    /// stop waits up to `shutdown_flush` for each save under way (one
    /// handed off before it, then its own last one).
    pub fn hand_off(self, now: Instant) {
        self.driver.on_snapshot_handed_off(now);
    }
}

impl<const P: usize, const B: usize> MaintainRequest<'_, P, B> {
    /// When to stop trying (shutdown); `None`: one attempt at what is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.kind.0
    }

    /// The backend's status afterwards.
    pub fn answer(self, now: Instant, status: BackendStatus) {
        self.driver.on_maintained(now, status);
    }
}

impl<const P: usize, const B: usize> ReopenRequest<'_, P, B> {
    /// Open and subscribed again, or not (the caller logs why).
    pub fn answer(self, now: Instant, open: bool) {
        self.driver.on_links_reopened(now, open);
    }
}

impl<const P: usize, const B: usize> DenyRequest<'_, P, B> {
    /// Which notifications to drop.
    pub fn denial(&self) -> LinkDenial<'_> {
        self.driver.link_denial()
    }

    /// Set (`true`), or it could not be (the caller logs why).
    pub fn answer(self, now: Instant, done: bool) {
        self.driver.on_links_denied(now, done);
    }
}
