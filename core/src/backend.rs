//! The boundary (hexagonal ports) through which the daemon reaches SONiC's databases and the
//! kernel's links.
//!
//! This module declares *what* portsyncd asks of its databases — a handful of
//! reads, and writes as data —, of a link source (rtnetlink datagrams, our
//! own dumps), of a link controller (bringing a link down) and of a snapshot
//! store (the warm-restart snapshot). It decides nothing: the
//! [driver](crate::driver) does, and adapters carry the requests out. It does not know Redis, sockets,
//! separators or database ids: an adapter maps `(Db, table, key)` to its
//! storage (`<TABLE><sep><key>` in Redis).
//!
//! Reads hand their results to a visitor, so nothing here allocates. What a
//! backend reads at once is bounded (the Redis adapter's `read_limit`): a
//! hash, a value or a key larger than that is handed over as [`TooLarge`]
//! in its place, never as an error of the whole read. Writes are a slice of
//! [`Write`]s that the adapter carries out in order; a slice is one round
//! trip per database, whatever its length.

use core::fmt;

use crate::warm::{SnapshotPort, SnapshotView};

/// The SONiC databases portsyncd uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Db {
    /// `CONFIG_DB`: configuration (read), LOGGER defaults (written).
    Config,
    /// `APPL_DB`: the producer table orchagent consumes.
    Appl,
    /// `STATE_DB`: port kernel state, WarmStart keys.
    State,
}

impl Db {
    /// Every database, in a fixed order (for per-database tables).
    pub const ALL: [Db; 3] = [Db::Config, Db::Appl, Db::State];

    /// The name `database_config.json` gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Db::Config => "CONFIG_DB",
            Db::Appl => "APPL_DB",
            Db::State => "STATE_DB",
        }
    }

    /// Position in [`Db::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What swss-common's `Table` hands back for a stored field name or value:
/// `Table::get` cuts field names, and `Table::hget` values, at the first `@`.
/// Every [`Databases`] backend applies it so that readers see what the C++
/// daemon would.
pub fn swss_cut(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == b'@') {
        Some(at) => &bytes[..at],
        None => bytes,
    }
}

/// A field and its value. Bytes, as Redis keeps them: swss-common copies
/// CONFIG_DB's fields to APPL_DB byte for byte, UTF-8 or not, and so do we.
pub type Field<'a> = (&'a [u8], &'a [u8]);

/// One write. A slice of them is carried out in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write<'a> {
    /// A plain table's `set`: one multi-field HSET (fields not named are
    /// kept). With no fields it writes nothing.
    Set {
        /// Database.
        db: Db,
        /// Table name.
        table: &'a str,
        /// Key within the table.
        key: &'a str,
        /// Fields to set.
        fields: &'a [Field<'a>],
    },
    /// A plain table's `del`: the whole hash.
    Del {
        /// Database.
        db: Db,
        /// Table name.
        table: &'a str,
        /// Key within the table.
        key: &'a str,
    },
    /// A plain table's `set` that happens only if another key exists when it
    /// is carried out (checked and written at once, as one step where the
    /// backend can): STATE_DB's port hash, written only while APPL_DB holds
    /// the port. With no fields it writes nothing.
    SetIfPresent {
        /// Database.
        db: Db,
        /// Table name.
        table: &'a str,
        /// Key within the table.
        key: &'a str,
        /// Fields to set.
        fields: &'a [Field<'a>],
        /// The key that must exist.
        guard: Guard<'a>,
    },
    /// ProducerStateTable `set`: queue the key for the consumer, merge the
    /// fields into its staging hash, notify if the key was not queued yet.
    /// With no fields the consumer sees a delete.
    Produce {
        /// Database.
        db: Db,
        /// Table name.
        table: &'a str,
        /// Key within the table.
        key: &'a str,
        /// Fields to produce.
        fields: &'a [Field<'a>],
    },
    /// ProducerStateTable `del`: queue the key with a delete marker, drop its
    /// staging hash, notify if the key was not queued yet.
    ProduceDel {
        /// Database.
        db: Db,
        /// Table name.
        table: &'a str,
        /// Key within the table.
        key: &'a str,
    },
}

/// The key a [`Write::SetIfPresent`] depends on: it writes only while this
/// exists (a non-empty hash, as swss-common's `Table::get` sees it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard<'a> {
    /// Database.
    pub db: Db,
    /// Table name.
    pub table: &'a str,
    /// Key within the table.
    pub key: &'a str,
}

impl<'a> Write<'a> {
    /// The database written.
    pub const fn db(&self) -> Db {
        match *self {
            Write::Set { db, .. }
            | Write::SetIfPresent { db, .. }
            | Write::Del { db, .. }
            | Write::Produce { db, .. }
            | Write::ProduceDel { db, .. } => db,
        }
    }

    /// Table and key written.
    pub const fn target(&self) -> (&'a str, &'a str) {
        match *self {
            Write::Set { table, key, .. }
            | Write::SetIfPresent { table, key, .. }
            | Write::Del { table, key, .. }
            | Write::Produce { table, key, .. }
            | Write::ProduceDel { table, key, .. } => (table, key),
        }
    }

    /// Whether this goes through a ProducerStateTable.
    pub const fn is_produce(&self) -> bool {
        matches!(self, Write::Produce { .. } | Write::ProduceDel { .. })
    }

    /// The fields a set writes (none for a delete).
    pub const fn fields(&self) -> &'a [Field<'a>] {
        match *self {
            Write::Set { fields, .. }
            | Write::SetIfPresent { fields, .. }
            | Write::Produce { fields, .. } => fields,
            Write::Del { .. } | Write::ProduceDel { .. } => &[],
        }
    }

    /// The key this write depends on, if it is a [`Write::SetIfPresent`].
    pub const fn guard(&self) -> Option<Guard<'a>> {
        match *self {
            Write::SetIfPresent { guard, .. } => Some(guard),
            _ => None,
        }
    }
}

/// In place of what a read could not take: a hash (none of its fields is
/// handed over), a value or a key larger than the backend reads at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// Its size as the backend measured it (the Redis adapter: the reply's
    /// bytes, framing included).
    pub bytes: u64,
    /// The most the backend reads at once.
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, more than the {} a read takes", Size(self.bytes), Size(self.limit))
    }
}

impl core::error::Error for TooLarge {}

/// A size in bytes, as a person reads it: `512 bytes`, `4.0 KiB`, `65.0 MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u128, &str); 4] =
            [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        let bytes = u128::from(self.0);
        match UNITS.iter().find(|(unit, _)| bytes >= *unit) {
            None => write!(f, "{bytes} bytes"),
            Some(&(unit, name)) => {
                let tenths = (bytes * 10 + unit / 2) / unit;
                write!(f, "{}.{} {name}", tenths / 10, tenths % 10)
            }
        }
    }
}

/// What a hash read hands each field to: its name and value — or, once,
/// [`TooLarge`] in place of the whole hash.
pub type FieldVisitor<'v> = dyn FnMut(Result<Field<'_>, TooLarge>) + Send + 'v;

/// What a many-key hash read hands each field to: the key's index, the
/// field's name and value — or, once for that key, [`TooLarge`] in place of
/// its whole hash.
pub type KeyFieldVisitor<'v> = dyn FnMut(usize, Result<Field<'_>, TooLarge>) + Send + 'v;

/// What a read of single values (one field's, or keys) hands each to — or
/// [`TooLarge`] in place of one.
pub type ValueVisitor<'v> = dyn FnMut(Result<&[u8], TooLarge>) + Send + 'v;

/// Whether a backend is reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendStatus {
    /// Connected; nothing waiting.
    #[default]
    Connected,
    /// Unreachable: writes are kept (latest per key) and will be flushed on
    /// reconnect; reads fail.
    Degraded {
        /// Keys with writes waiting.
        pending: usize,
    },
    /// A server restarted (and lost its data, as SONiC's Redis does) since
    /// it was first reached: nothing more is written to it.
    Restarted,
}

impl BackendStatus {
    /// Keys with writes waiting (0 unless degraded).
    pub const fn pending(&self) -> usize {
        match self {
            BackendStatus::Degraded { pending } => *pending,
            _ => 0,
        }
    }
}

/// What portsyncd reads from SONiC's databases. Every method may fail with
/// the adapter's error; a read never waits for a backend that is away.
///
/// Keys, field names and values are handed over as the bytes Redis holds:
/// what is not UTF-8, or not a port name, is the reader's to judge (a
/// backend that failed the whole read for one bad byte would let one
/// free-text field stop the daemon).
#[allow(async_fn_in_trait)] // Used with concrete types only; no Send bound is needed on smol's local executor.
pub trait DatabaseReads {
    /// What went wrong, naming the database, key and operation.
    type Error: core::error::Error;

    /// All fields of `table`/`key` (`HGETALL`); `Ok(false)` if it does not
    /// exist. A hash too large to read is one [`TooLarge`] (and `Ok(true)`).
    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut FieldVisitor<'_>,
    ) -> Result<bool, Self::Error>;

    /// All fields of each of `keys` in `table` (one `HGETALL` each, one round
    /// trip); `visit(i, field)` for the `i`-th key's fields. A key that does
    /// not exist, or is not a hash, has none; one too large to read is one
    /// `visit(i, Err(TooLarge))` (one such key does not fail the others).
    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut KeyFieldVisitor<'_>,
    ) -> Result<(), Self::Error>;

    /// One field (`HGET`); `Ok(false)` if the key or field does not exist. A
    /// value too large to read is a [`TooLarge`] (and `Ok(true)`).
    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut ValueVisitor<'_>,
    ) -> Result<bool, Self::Error>;

    /// The keys of `table`, without the table prefix, in no particular order;
    /// a key too large to read is a [`TooLarge`] in its place.
    async fn keys(&mut self, db: Db, table: &str, visit: &mut ValueVisitor<'_>) -> Result<(), Self::Error>;

    /// Whether each of `keys` exists in `table`, into `present` (same length);
    /// one round trip.
    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), Self::Error>;

    /// Whether each of `keys` in `table` has `field`, into `present` (same
    /// length); one round trip.
    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), Self::Error>;
}

/// SONiC's databases, as portsyncd uses them: the reads, and writes as data.
///
/// An adapter that keeps writes while its backend is away returns `Ok` for
/// them and reports [`BackendStatus::Degraded`].
#[allow(async_fn_in_trait)] // Used with concrete types only; no Send bound is needed on smol's local executor.
pub trait Databases: DatabaseReads {
    /// Carries out `writes` in order; one round trip per database involved
    /// (a [`Write::SetIfPresent`] whose guard is elsewhere may cost one more).
    /// `absent[i]` is set when the `i`-th write is a [`Write::SetIfPresent`]
    /// that found its guard missing and wrote nothing; `absent` may be
    /// shorter than `writes` (nothing is reported past its end). A write
    /// kept for later reports nothing: its guard is checked when it is sent.
    async fn write_checked(&mut self, writes: &[Write<'_>], absent: &mut [bool]) -> Result<(), Self::Error>;

    /// [`write_checked`](Self::write_checked), for a caller that does not
    /// ask which guarded writes found their guard missing.
    async fn write(&mut self, writes: &[Write<'_>]) -> Result<(), Self::Error> {
        self.write_checked(writes, &mut []).await
    }

    /// Reconnects if it is time to, and flushes kept writes once connected.
    async fn maintain(&mut self) -> BackendStatus;

    /// Reachable or not, and how much is waiting.
    fn status(&self) -> BackendStatus;

    /// What it has done so far, for metrics (zeros from a backend that
    /// counts nothing).
    fn stats(&self) -> DatabaseStats {
        DatabaseStats::default()
    }
}

/// What a [`Databases`] backend has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatabaseStats {
    /// Round trips (a pipeline is one).
    pub round_trips: u64,
    /// Commands sent.
    pub commands: u64,
    /// Commands or pipelines answered with an error, or lost with their connection.
    pub errors: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Servers found restarted (a new run id).
    pub server_restarts: u64,
}

/// What one receive from a [`LinkSource`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// One datagram: any number of rtnetlink messages, for [`crate::netlink::messages`].
    Datagram(&'a [u8]),
    /// Link notifications were lost (a socket overrun); the source is usable.
    Overrun,
    /// Nothing more to read now (only from [`LinkSource::try_recv`]).
    Empty,
}

/// Where link messages come from: rtnetlink in production, a script in tests.
#[allow(async_fn_in_trait)] // Used with concrete types on smol's local executor.
pub trait LinkSource {
    /// What went wrong.
    type Error: core::error::Error;

    /// Asks for a dump of every link; returns the sequence number its
    /// replies and its closing `NLMSG_DONE` carry.
    fn request_dump(&mut self) -> Result<u32, Self::Error>;

    /// Waits for the next datagram (or overrun).
    async fn recv(&mut self) -> Result<Received<'_>, Self::Error>;

    /// The next datagram if one is already waiting, else [`Received::Empty`].
    fn try_recv(&mut self) -> Result<Received<'_>, Self::Error>;

    /// Closes the source and opens it again, subscribed as before (after a
    /// failure other than an overrun); what the old one had queued is lost.
    fn reopen(&mut self) -> Result<(), Self::Error>;

    /// From now on, the link notifications (not dump replies) `denial`
    /// names are not delivered (links that are no port; for partitioned
    /// instances another instance's links; a socket filter in the kernel).
    /// Replaces the previous denial; kept across [`reopen`](Self::reopen).
    fn deny_links(&mut self, denial: crate::link_filter::LinkDenial<'_>) -> Result<(), Self::Error>;

    /// The datagram the last [`recv`](Self::recv) or
    /// [`try_recv`](Self::try_recv) returned (empty if it returned none), so
    /// that a caller can feed it in parts with I/O in between.
    fn last_datagram(&self) -> &[u8];
}

/// Where the warm-restart snapshot is kept: a file in production, memory in tests.
pub trait SnapshotStore<const P: usize> {
    /// What went wrong (a corrupt or unreadable snapshot is an error, not `None`).
    type Error: core::error::Error;

    /// The snapshot saved last: its ports handed to `ports` (`Ok(false)`
    /// and no call if there is none). A store decodes them where it likes
    /// (on the heap, in place): a whole [`Snapshot`](crate::warm::Snapshot) is 28 KiB at 1024 ports,
    /// and returned by value it was a frame of that size on each caller's
    /// stack, whose pages a daemon keeps.
    fn load(&mut self, ports: &mut dyn FnMut(&[SnapshotPort])) -> Result<bool, Self::Error>;

    /// Replaces the snapshot (atomically: a crash leaves the old one or the
    /// new one) with the engine's record, serialized as a [`Snapshot`](crate::warm::Snapshot);
    /// returns the bytes written.
    fn save(&mut self, snapshot: &SnapshotView<'_, P>) -> Result<usize, Self::Error>;

    /// What kind of trouble a failed [`save`](Self::save) was, for the
    /// driver (its health reason and its line say it; the error's own text
    /// is the caller's to log). [`StoreFault::Other`] unless told better.
    fn fault(error: &Self::Error) -> StoreFault {
        let _ = error;
        StoreFault::Other
    }
}

/// Why the snapshot store cannot take a save, as far as the driver cares.
/// The store is a cache: none of these stops the run, each degrades warm
/// restart until a save succeeds. Its directory is the daemon's state dir,
/// and the words are the operator's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFault {
    /// Its file system is mounted read-only.
    ReadOnly,
    /// Its file system is full (or the quota used up).
    Full,
    /// Its directory is missing and cannot be created.
    Missing,
    /// Its path names something that is not a directory.
    NotADirectory,
    /// Not permitted to write there.
    Denied,
    /// Another daemon holds its lock.
    InUse,
    /// A save handed off has not finished (a slow or stuck disk): for
    /// [`SAVE_STUCK_AFTER`](crate::driver::SAVE_STUCK_AFTER), or when the
    /// daemon stopped.
    Unfinished,
    /// Anything else (an I/O error).
    Other,
}

impl fmt::Display for StoreFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreFault::ReadOnly => "the state dir is read-only",
            StoreFault::Full => "the state dir is full",
            StoreFault::Missing => "the state dir is missing and cannot be created",
            StoreFault::NotADirectory => "the state dir is not a directory",
            StoreFault::Denied => "the state dir is not writable (permission denied)",
            StoreFault::InUse => "the state dir is held by another portsyncd",
            StoreFault::Unfinished => "a save is still under way, on a slow or stuck disk",
            StoreFault::Other => "an I/O error in the state dir",
        })
    }
}

/// What changes links: bringing stale ones down.
#[allow(async_fn_in_trait)] // Used with concrete types on smol's local executor.
pub trait LinkController {
    /// What went wrong.
    type Error: core::error::Error;

    /// Brings link `ifindex` administratively down.
    async fn set_admin_down(&mut self, ifindex: u32) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests {
    use std::format;

    use super::{Size, TooLarge};

    #[test]
    fn sizes_read_as_a_person_reads_them() {
        let show = |n| format!("{}", Size(n));
        assert_eq!(show(0), "0 bytes");
        assert_eq!(show(1023), "1023 bytes");
        assert_eq!(show(1024), "1.0 KiB");
        assert_eq!(show(64 << 20), "64.0 MiB");
        assert_eq!(show((65 << 20) + 40), "65.0 MiB");
        assert_eq!(show(3 << 29), "1.5 GiB");
        assert_eq!(show(u64::MAX), "16777216.0 TiB");
        let e = TooLarge { bytes: (65 << 20) + 40, limit: 64 << 20 };
        assert_eq!(format!("{e}"), "65.0 MiB, more than the 64.0 MiB a read takes");
    }
}
