//! The driver's conversation with the outside: the requests it makes
//! ([`Io`]), the answers it takes ([`Reply`], [`WriteResult`], ...), and how
//! it ends ([`Exit`]).
//!
//! Data only: what each request means for SONiC is written next to it, so
//! that carrying one out is mechanical.

use core::fmt;

use crate::backend::{BackendStatus, Db};
use crate::event::Status;
use crate::logger::{Level, Output};
use crate::name::{LinkLabel, PortName};
use crate::time::Instant;
use crate::writes::WriteOp;

/// What to do with the fields a [`Read::Hashes`] returns, beside handing
/// them to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing.
    Nothing,
    /// Keep each key's fields, verbatim and in order: later
    /// [`WriteOp::ProduceConfigPort`] writes produce them. The driver needs
    /// only whether each key had any: a [`Reply::Flag`] per key (a key with
    /// none is dropped from the configuration), then [`Reply::Done`].
    ConfigPortFields,
}

/// A database read. Answer with [`Reply`]s, then [`Reply::Done`] (or
/// [`Reply::Failed`] instead).
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
    /// The answer is complete.
    Done,
    /// The read failed (the caller logs why); nothing more comes.
    Failed,
}

/// How a [`Io::Write`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// Written, or kept by the backend to be flushed when it is back.
    Done,
    /// The database refused them (an error reply, a full buffer); the caller
    /// logs why. The driver keeps them and writes them again later.
    Refused,
}

/// A warm-restart snapshot load, answered to [`Io::LoadSnapshot`].
#[derive(Clone, Copy, Debug)]
pub enum SnapshotLoad<'a, const P: usize> {
    /// There is none.
    Missing,
    /// There is one but it cannot be used (the caller logs why).
    Unusable,
    /// This one.
    Loaded(&'a crate::warm::Snapshot<P>),
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

/// An answer handed to the driver that it did not ask for (a bug in the
/// caller). The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unasked {
    /// The answer given.
    pub answer: &'static str,
}

impl fmt::Display for Unasked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} handed to the driver, which awaited no such answer", self.answer)
    }
}

impl core::error::Error for Unasked {}

/// One thing the driver needs done. Each names the call that answers it;
/// until it is answered, [`poll_io`](super::Driver::poll_io) returns `None`.
/// The ones marked *done when performed* need no answer.
#[derive(Debug)]
#[must_use]
pub enum Io<'a, const P: usize, const B: usize> {
    /// Read from a database: answer with [`handle_reply`](super::Driver::handle_reply).
    Read(Read<'a>),
    /// Carry out these writes, in order, as one batch (one round trip per
    /// database): answer with [`handle_write`](super::Driver::handle_write).
    /// Map each with [`WriteOp::write`].
    Write(&'a [WriteOp]),
    /// Write (or delete) this STATE_DB `SYSTEM_ALARMS` row (see
    /// [`AlarmRow::write`](super::AlarmRow::write)): answer with
    /// [`handle_write`](super::Driver::handle_write).
    WriteAlarm(&'a super::AlarmRow),
    /// Ask the kernel for every link: answer with
    /// [`handle_dump_requested`](super::Driver::handle_dump_requested).
    RequestDump,
    /// Bring a link administratively down: answer with
    /// [`handle_link_down`](super::Driver::handle_link_down).
    BringLinkDown {
        /// The link.
        ifindex: u32,
        /// Its name, for the log.
        name: LinkLabel,
    },
    /// Load the warm-restart snapshot: answer with
    /// [`handle_snapshot`](super::Driver::handle_snapshot).
    LoadSnapshot,
    /// Save this snapshot: answer with
    /// [`handle_snapshot_saved`](super::Driver::handle_snapshot_saved).
    SaveSnapshot(&'a crate::engine::LinkSync<P, B>),
    /// Reconnect what is due and flush kept writes, giving up at `deadline`
    /// if there is one: answer with
    /// [`handle_backend_status`](super::Driver::handle_backend_status).
    Maintain {
        /// When to stop trying.
        deadline: Option<Instant>,
    },
    /// Close the link source, open it again, subscribe again: answer with
    /// [`handle_links_reopened`](super::Driver::handle_links_reopened).
    ReopenLinks,
    /// From now on drop these link notifications (links that are no port;
    /// another instance's): answer with
    /// [`handle_links_denied`](super::Driver::handle_links_denied).
    DenyLinks(crate::link_filter::LinkDenial<'a>),
    /// Log from now on at this level. Done when performed.
    SetLogLevel(Level),
    /// Log from now on to this output. Done when performed.
    SetLogOutput(Output),
    /// Tell the service manager. Done when performed.
    Notify(Notify),
    /// Stop the process: `Ok` after a clean shutdown. Nothing comes after it.
    Exit(Result<(), Failure>),
}

/// Backend status as the driver last heard it.
pub(super) fn degraded(status: BackendStatus) -> Option<usize> {
    match status {
        BackendStatus::Connected => None,
        BackendStatus::Degraded { pending } => Some(pending),
        BackendStatus::Restarted => Some(0),
    }
}
