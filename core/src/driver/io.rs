//! The data of the driver's conversation with the outside: its inputs
//! ([`Input`]), what its requests ask for ([`Read`], [`Receive`]), the
//! answers they take ([`Reply`], [`Replies`], [`WriteResult`], ...), and how
//! a run ends ([`Failure`]). The requests themselves, and the answer each
//! takes, are in [`super::request`].
//!
//! Data only: what each request means for SONiC is written next to it, so
//! that carrying one out is mechanical.

use core::fmt;

use crate::backend::{BackendStatus, Db, TooLarge};
use crate::event::Status;
use crate::name::PortName;

/// What to do with the fields a [`Read::Hashes`] returns, beside handing
/// them to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing.
    Nothing,
    /// Keep each key's fields, verbatim and in order: later
    /// [`WriteOp::ProduceConfigPort`](crate::writes::WriteOp::ProduceConfigPort) writes produce them. The driver needs
    /// only whether each key had any: a [`Reply::Flag`] per key (a key with
    /// none is dropped from the configuration), or [`Reply::TooLarge`] for
    /// a key whose fields were too large to read (nothing of it is kept).
    ConfigPortFields,
}

/// A database read: what a [`ReadRequest`](super::ReadRequest) asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// `HGETALL <table><sep><key>`: a [`Reply::Field`] (index 0) per field.
    Hash {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
        /// Key.
        key: &'static str,
    },
    /// `HGET <table><sep><key> <field>`: a [`Reply::Value`] if it exists.
    Field {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
        /// Key.
        key: &'static str,
        /// Field.
        field: &'static str,
    },
    /// `KEYS <table><sep>*`: a [`Reply::Key`] per key, without the table prefix.
    Keys {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
    },
    /// `HGETALL` of each key, one round trip: [`Reply::Field`]s with the
    /// key's index, in key order.
    Hashes {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
        /// Keys.
        keys: &'a [PortName],
        /// What else to do with the fields.
        keep: Keep,
    },
    /// `EXISTS` of each key, one round trip: a [`Reply::Flag`] per key.
    Exists {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
        /// Keys.
        keys: &'a [PortName],
    },
    /// `HEXISTS <key> <field>` of each key, one round trip: a [`Reply::Flag`] per key.
    HasField {
        /// Database.
        db: Db,
        /// Table.
        table: &'static str,
        /// Keys.
        keys: &'a [PortName],
        /// Field.
        field: &'static str,
    },
}

/// Part of the answer to a [`Read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A field of the hash of key `index` (0 for a one-key read).
    Field {
        /// Which key.
        index: usize,
        /// Field name.
        field: &'a [u8],
        /// Value.
        value: &'a [u8],
    },
    /// The value of a [`Read::Field`] (not sent when it does not exist).
    Value(&'a [u8]),
    /// A key of a [`Read::Keys`].
    Key(&'a [u8]),
    /// Whether key `index` of an [`Read::Exists`] / [`Read::HasField`] holds.
    Flag {
        /// Which key.
        index: usize,
        /// The answer.
        present: bool,
    },
    /// In place of what was too large to read: the hash of key `index` (a
    /// one-key read's is 0), the value of a [`Read::Field`], or a key of a
    /// [`Read::Keys`] (index 0).
    TooLarge {
        /// Which key.
        index: usize,
        /// How large, and the backend's limit.
        size: TooLarge,
    },
}

/// How a write went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// Written, or kept by the backend to be flushed when it is back.
    Done,
    /// The database refused them (an error reply, a full buffer); the caller
    /// logs why. The driver keeps them and writes them again later.
    Refused,
}

/// A warm-restart snapshot load.
#[derive(Clone, Copy, Debug)]
pub enum SnapshotLoad<'a> {
    /// There is none.
    Missing,
    /// There is one but it cannot be used (the caller logs why).
    Unusable,
    /// This one's ports (a slice: wherever the store decoded them, never a
    /// whole [`Snapshot`](crate::warm::Snapshot) moved on the caller's stack).
    Loaded(&'a [crate::warm::SnapshotPort]),
}

/// A process signal, as far as the driver cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop, leaving everything saved.
    Terminate,
    /// SIGHUP: read again at once what is read at run time (CONFIG_DB's
    /// `LOGGER|portsyncd`). New settings from a reloaded configuration file
    /// come separately, through [`reconfigure`](super::Driver::reconfigure).
    Reload,
    /// SIGUSR1: reconcile now (dump the kernel, read STATE_DB back, repair).
    Reconcile,
}

/// What to tell the service manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Ready (the initial sync is applied), with a status line.
    Ready(Status),
    /// The status line changed.
    Status(Status),
    /// The loop makes progress (systemd `WATCHDOG=1`, supervisord's
    /// heartbeat): said every [`DriverConfig::liveness_interval`](super::DriverConfig::liveness_interval)
    /// while answers and input keep coming, never by a loop that is stuck.
    Alive,
    /// Start-up runs long: allow it this much more (systemd
    /// `EXTEND_TIMEOUT_USEC`), said with each [`Alive`](Notify::Alive)
    /// until ready.
    ExtendTimeout(core::time::Duration),
    /// Stopping.
    Stopping,
}

/// Why the daemon cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A start-up read failed (the caller logged why).
    StartupRead {
        /// What was read.
        what: &'static str,
    },
    /// A start-up write was refused (the caller logged why).
    StartupWrite {
        /// What was written.
        what: &'static str,
    },
    /// `restore_count` is not a number.
    BadRestoreCount,
    /// A dump could not be requested (the caller logged why).
    DumpRequest,
    /// The link source failed (the caller logged why).
    Links,
    /// CONFIG_DB holds more ports than this build has room for.
    TooManyPorts {
        /// CONFIG_DB PORT keys that are port names.
        ports: usize,
        /// The build's port capacity.
        capacity: usize,
    },
    /// A database server restarted (SONiC's Redis comes back empty): the
    /// supervisor is to start a run against the CONFIG_DB there is now.
    DatabaseRestarted,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::StartupRead { what } => write!(f, "cannot read {what} at start"),
            Failure::StartupWrite { what } => write!(f, "cannot write {what} at start"),
            Failure::BadRestoreCount => crate::warm::BadRestoreCount.fmt(f),
            Failure::DumpRequest => f.write_str("cannot ask the kernel for its links"),
            Failure::Links => f.write_str("the kernel's link notifications cannot be read"),
            Failure::TooManyPorts { ports, capacity } => {
                write!(
                    f,
                    "CONFIG_DB holds {ports} PORT keys but this build has room for {capacity} ports; nothing was written"
                )?;
                match (*ports, *capacity) {
                    (p, c) if c < 2048 && p <= 2048 => f.write_str(
                        ". Use a build for more ports (cargo feature max-ports-2048 or max-ports-4096)",
                    ),
                    (p, c) if c < 4096 && p <= 4096 => {
                        f.write_str(". Use a build for more ports (cargo feature max-ports-4096)")
                    }
                    _ => f.write_str(". No build offered has room for that many"),
                }
            }
            Failure::DatabaseRestarted => f.write_str(
                "a database server restarted and lost what this run wrote; exiting so that the \
                 supervisor starts portsyncd again against the CONFIG_DB there is now",
            ),
        }
    }
}

impl core::error::Error for Failure {}

/// What the driver is handed, besides answers to its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A datagram of rtnetlink messages read from the link source (after
    /// an [`Io::Receive`](super::Io::Receive)), or the rest of one the
    /// driver took in part.
    Datagram(&'a [u8]),
    /// The link source lost notifications (a socket overrun).
    Overrun,
    /// Nothing more is queued on the link source (the answer to
    /// [`Receive::Queued`] when a non-blocking read finds nothing): the
    /// batch ends.
    QueueEmpty,
    /// The link source failed (the caller logged why).
    LinksFailed,
    /// The snapshot store cannot take a save (the caller found it so before
    /// any save was asked for, at start, and logged why): health is
    /// degraded, and a save is tried on the save cadence until one succeeds.
    SnapshotStoreFailed(crate::backend::StoreFault),
    /// The outcome of the save handed off last
    /// ([`SaveRequest::hand_off`](super::SaveRequest::hand_off)): bytes
    /// written, or the kind of trouble (the caller logged the details).
    SnapshotSaved(Result<usize, crate::backend::StoreFault>),
    /// A process signal.
    Signal(Signal),
}

/// How much of an [`Input`] the driver took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Taken {
    /// All of it.
    All,
    /// The first this many bytes of a datagram: carry out what
    /// [`poll_io`](super::Driver::poll_io) asks, and hand the rest in at the
    /// next [`Io::Receive`](super::Io::Receive) instead of reading (one comes
    /// before any wait: a batch that fills up reads again at once).
    Part(usize),
}

/// What the driver wants of the link source now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receive {
    /// Nothing else to do: wait for a datagram (or a signal, or
    /// [`poll_timeout`](super::Driver::poll_timeout)).
    Wait,
    /// A batch is open: read what is already queued, without waiting
    /// ([`Input::QueueEmpty`] when nothing is).
    Queued,
}

/// The parts of a read's answer, in order, as a view over the caller's
/// buffer (or over facts in memory): the driver walks them once.
pub trait Replies {
    /// Hands each part to `part`, in order.
    fn each(&self, part: &mut dyn FnMut(Reply<'_>));
}

impl<T: Replies + ?Sized> Replies for &T {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        (**self).each(part);
    }
}

impl Replies for [Reply<'_>] {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        self.iter().for_each(|r| part(*r));
    }
}

impl<const N: usize> Replies for [Reply<'_>; N] {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        self.iter().for_each(|r| part(*r));
    }
}

/// Backend status as the driver last heard it.
pub(super) fn degraded(status: BackendStatus) -> Option<usize> {
    match status {
        BackendStatus::Connected => None,
        BackendStatus::Degraded { pending } => Some(pending),
        BackendStatus::Restarted => Some(0),
    }
}
