//! What the driver tells the operator: one typed event per thing worth a log
//! line, each with its severity and its text.
//!
//! The driver decides that something happened and how severe it is; this
//! module decides how it reads, so that the daemon only writes lines out
//! (`level`, `Display`). Events below the driver's current log level are not
//! even made.

use core::fmt;
use core::time::Duration;

use crate::backend::StoreFault;
use crate::backend::TooLarge;
use crate::engine::{StartKind, SwitchType, SyncError};
use crate::filter::IgnoreReason;
use crate::logger::{Level, Output};
use crate::name::{LinkLabel, NameError, PortName};
use crate::netlink::{LinkOp, ParseError};
use crate::schema;

/// A short piece of text from outside (a database value), kept to be shown:
/// at most 32 bytes, shown escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text {
    len: u8,
    bytes: [u8; 32],
    cut: bool,
}

impl Text {
    /// Keeps the first 32 bytes of `value`.
    pub fn new(value: &[u8]) -> Self {
        let len = value.len().min(32);
        let mut bytes = [0; 32];
        bytes[..len].copy_from_slice(&value[..len]);
        Self { len: len as u8, bytes, cut: value.len() > 32 }
    }
}

impl Text {
    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.bytes[..usize::from(self.len)].utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '"' || c == '\\' {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    fmt::Write::write_char(f, c)?;
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        f.write_str(if self.cut { "\"..." } else { "\"" })
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Something the driver did or found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The log level was changed (CONFIG_DB LOGGER).
    LogLevelChanged {
        /// Before.
        old: Level,
        /// After.
        new: Level,
    },
    /// CONFIG_DB `LOGGER|portsyncd` LOGOUTPUT is not an output.
    BadLogOutput {
        /// The value.
        value: Text,
        /// The output kept.
        kept: Output,
    },
    /// The log output changed (CONFIG_DB `LOGGER|portsyncd` LOGOUTPUT).
    LogOutputChanged {
        /// Before.
        old: Output,
        /// After.
        new: Output,
    },
    /// CONFIG_DB `DEVICE_METADATA|localhost` `switch_type` is not text;
    /// taken as a switch (anything but `dpu` is).
    BadSwitchType {
        /// The value.
        value: Text,
    },
    /// CONFIG_DB `LOGGER|portsyncd` LOGLEVEL is not a level.
    BadLogLevel {
        /// The value.
        value: Text,
        /// The level kept.
        kept: Level,
    },
    /// Warm start was enabled but restore_count was missing.
    WarmFellBackToCold,
    /// How this run starts.
    Starting {
        /// Cold or warm.
        start: StartKind,
        /// Switch or DPU.
        switch_type: SwitchType,
        /// As written.
        restore_count: u64,
    },
    /// CONFIG_DB has no `PORT` keys.
    NoConfigPorts,
    /// A CONFIG_DB `PORT` key the engine could not take.
    ConfigPortSkipped {
        /// The key.
        key: Text,
        /// Why.
        error: SyncError,
    },
    /// More CONFIG_DB `PORT` keys the engine could not take than are said
    /// one by one (the first few are, each with its reason).
    ConfigPortsSkippedMore {
        /// How many more.
        more: usize,
    },
    /// Configured ports no host interface can ever match (their names fail
    /// the port prefix test that link names pass, as in the C++ daemon):
    /// counted in PortConfigDone, as the C++ daemon's are, so PortInitDone
    /// waits for them for ever. Said at PortConfigDone.
    UnmatchablePorts(crate::name::FewNames),
    /// PortInitDone not reached `after` the start: these ports still await
    /// their host interface. Said once, well before health calls it late.
    PortsAwaiting {
        /// Since the start.
        after: Duration,
        /// The ports, the first few named.
        awaiting: crate::name::FewNames,
    },
    /// A CONFIG_DB `PORT` key with no fields (or not a hash) when its fields
    /// were read: dropped (produced without fields, it would reach orchagent
    /// as a delete, and counted, it would hold PortConfigDone back).
    ConfigPortEmpty {
        /// The port.
        name: PortName,
    },
    /// A hash, value or key a read could not take (larger than the database
    /// backend reads at once): read as if absent, and what follows from that.
    TooLarge {
        /// What it was.
        entry: Oversized,
        /// How large, and the backend's limit.
        size: TooLarge,
    },
    /// The configured ports.
    ConfigPorts {
        /// How many.
        count: usize,
    },
    /// Warm start without a snapshot, or with one that cannot be used.
    NoSnapshot {
        /// There was a file but it could not be used (the daemon logged why).
        unusable: bool,
    },
    /// Warm start: the baseline the dump is compared against.
    WarmBaseline {
        /// Ports STATE_DB holds as the snapshot says or with a state of its own.
        kept: usize,
        /// Snapshot ports STATE_DB no longer has or holds unreadably: written again.
        rewritten: usize,
    },
    /// A malformed netlink message was skipped.
    Malformed(ParseError),
    /// The kernel answered a request of ours with an error.
    NetlinkError {
        /// Positive errno.
        errno: i32,
        /// The request's sequence number.
        seq: u32,
    },
    /// A link message was queued for the batch.
    Link {
        /// New or del.
        op: LinkOp,
        /// The port.
        name: PortName,
        /// Its ifindex.
        ifindex: u32,
        /// ifi_flags.
        flags: u32,
        /// IFLA_MTU (0 when absent).
        mtu: u32,
        /// IFLA_MASTER (0 when absent).
        master: u32,
    },
    /// A link that existed before this cold start.
    StaleLink {
        /// Its name.
        name: LinkLabel,
        /// Its ifindex.
        ifindex: u32,
    },
    /// A link whose name cannot become a key.
    Rejected {
        /// Its name.
        name: LinkLabel,
        /// Its ifindex.
        ifindex: u32,
        /// Why.
        error: NameError,
    },
    /// A link that is not ours.
    Ignored {
        /// Its name.
        name: LinkLabel,
        /// Its ifindex.
        ifindex: u32,
        /// Why.
        reason: IgnoreReason,
    },
    /// The engine refused a call (a bug, or a full table).
    Engine(SyncError),
    /// Too many pre-existing links: this one will not be ignored later.
    StaleTableFull {
        /// Its ifindex.
        ifindex: u32,
    },
    /// A port's link event was dropped: it is not in APPL_DB.
    PortNotInAppDb(PortName),
    /// Netlink notifications were lost.
    Overrun,
    /// A dump was interrupted by changes; dumping again.
    DumpInterrupted,
    /// A dump failed.
    DumpFailed {
        /// Positive errno.
        errno: i32,
    },
    /// A dump did not end in time.
    DumpTimedOut {
        /// The time allowed.
        after: Duration,
    },
    /// A dump outside start-up completed.
    DumpComplete {
        /// Ports deleted because it did not report them.
        vanished: usize,
    },
    /// A port gone from the kernel while notifications were lost: deleted.
    Vanished(PortName),
    /// Reconciliation found a port's STATE_DB entry drifted, and repairs it.
    Repaired {
        /// The port.
        name: PortName,
        /// What was wrong.
        repair: Repair,
    },
    /// The netlink socket failed (not an overrun): link notifications are
    /// lost until it is open again.
    LinksFailed,
    /// An attempt to open it again failed; the next comes later.
    LinksReopenFailed,
    /// It is open again (and subscribed); a reconciliation follows.
    LinksReopened {
        /// How long notifications were lost, in ms.
        after_ms: u64,
    },
    /// This instance's share of the ports (partitioned instances).
    Partitioned {
        /// Its id.
        id: u8,
        /// Instances in all.
        count: u8,
        /// Ports it owns.
        owned: usize,
        /// Ports configured.
        total: usize,
        /// Shared out by CONFIG_DB `index` (else by the names' numbers).
        by_index: bool,
    },
    /// Every port this instance owns has its host interface.
    OwnPortsReady {
        /// How many.
        owned: usize,
    },
    /// The leader: every instance has its ports; PortInitDone follows.
    InstancesReady {
        /// Instances in all.
        count: u8,
    },
    /// The leader: the instances' keys do not add up (PortInitDone withheld).
    PartitionMismatch(crate::partition::Mismatch),
    /// A reconciliation is over.
    Reconciled {
        /// Ports whose STATE_DB entry was read back.
        checked: usize,
        /// Those repaired.
        repaired: usize,
    },
    /// STATE_DB could not be read back: the next round tries again.
    ReconcileFailed,
    /// A stale link was brought down.
    BroughtDown {
        /// Its name.
        name: LinkLabel,
        /// Its ifindex.
        ifindex: u32,
    },
    /// Bringing a stale link down failed (the daemon logged why).
    BringDownFailed {
        /// Its name.
        name: LinkLabel,
        /// Its ifindex.
        ifindex: u32,
    },
    /// PortConfigDone was produced.
    PortConfigDone {
        /// Ports.
        count: u32,
    },
    /// PortInitDone was produced.
    PortInitDone {
        /// Since the start.
        after: Duration,
    },
    /// The initial sync is over.
    InitialSyncDone {
        /// Since the start.
        after: Duration,
        /// Configured ports still without a host interface.
        awaiting: usize,
    },
    /// APPL_DB could not be asked (the daemon logged why).
    PresenceUnknown,
    /// APPL_DB could not be read for the prune (the daemon logged why).
    PruneSkipped,
    /// A database refused writes (the daemon logged why); they are kept.
    WritesRefused {
        /// Writes kept for a later attempt.
        kept: usize,
        /// Writes the table of refused writes had no room for.
        dropped: usize,
    },
    /// Every refused write has now been written.
    RefusedWritesDone,
    /// The databases are reachable again; kept writes flushed.
    BackendConnected,
    /// A database server restarted and lost its data; nothing more is
    /// written to it, and the run ends.
    BackendRestarted,
    /// The databases are unreachable; writes are kept.
    BackendDegraded {
        /// Keys with writes kept.
        pending: usize,
    },
    /// The warm-restart snapshot was saved.
    SnapshotSaved {
        /// Ports in it.
        ports: usize,
        /// Bytes written.
        bytes: usize,
    },
    /// The warm-restart snapshot cannot be saved (the first failed save, or
    /// the store found unusable at start): said once, until a save succeeds.
    SnapshotsNotSaved {
        /// Why.
        fault: StoreFault,
        /// How often a save is tried again, in ms.
        every_ms: u64,
    },
    /// A save succeeded after some failed.
    SnapshotsSavedAgain,
    /// The save on the way out failed: the run ends without a snapshot of
    /// its last state (the exit status is unchanged: the port tables are
    /// fine).
    StoppedWithoutSnapshot {
        /// Why.
        fault: StoreFault,
    },
    /// Stopping on a signal.
    Stopping,
    /// Health changed state.
    Health(crate::health::HealthChange),
    /// An alert rule fired, still fires, or resolved.
    Alert(AlertLine),
    /// Lines that found the driver's queue of lines full (one answer
    /// brought more than it holds): not said, only counted here.
    Unsaid {
        /// How many.
        lines: u32,
    },
    /// Lines of one kind held back (see [`crate::repeats`]).
    Repeated {
        /// Their kind.
        kind: Repeat,
        /// How many.
        held: u32,
        /// Over how long (the window), in seconds; 0: the trouble ended
        /// before the window did (held back until then).
        window_s: u32,
    },
}

/// What reconciliation found wrong with a port's STATE_DB entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The entry (or every field of ours) was gone.
    Missing,
    /// A field of ours differed from the kernel, or was gone.
    Changed,
    /// The entry held our fields for a port with no link.
    Stale,
}

/// An alert rule's notice as a log line (its own repetition is the rule
/// engine's: it is never held back as repeated trouble).
#[derive(Clone, Copy, Debug)]
pub struct AlertLine {
    /// The rule.
    pub name: Text,
    /// Its severity.
    pub severity: crate::alerts::Severity,
    /// Fired, still firing, resolved.
    pub kind: crate::alerts::NoticeKind,
    /// The value at the evaluation (`None`: absent).
    pub value: Option<f64>,
    /// How long it has been (or was) active, in seconds.
    pub since_s: u64,
}

impl From<&crate::alerts::AlertNotice> for AlertLine {
    fn from(n: &crate::alerts::AlertNotice) -> Self {
        Self {
            name: Text::new(n.name.as_bytes()),
            severity: n.severity,
            kind: n.kind,
            value: n.value,
            since_s: n.since.as_secs(),
        }
    }
}

// The value compares by its bits, so that a line equals itself (NaN too).
impl PartialEq for AlertLine {
    fn eq(&self, other: &Self) -> bool {
        (self.name, self.severity, self.kind, self.value.map(f64::to_bits), self.since_s)
            == (other.name, other.severity, other.kind, other.value.map(f64::to_bits), other.since_s)
    }
}

impl Eq for AlertLine {}

impl AlertLine {
    /// Its level: by severity while firing (CRITICAL is CRIT, MAJOR is
    /// ERROR, MINOR and WARNING are WARN, INFORMATIONAL is NOTICE), NOTICE
    /// once resolved.
    pub fn level(&self) -> Level {
        use crate::alerts::{NoticeKind, Severity};
        if self.kind == NoticeKind::Resolved {
            return Level::Notice;
        }
        match self.severity {
            Severity::Critical => Level::Crit,
            Severity::Major => Level::Error,
            Severity::Minor | Severity::Warning => Level::Warn,
            Severity::Informational => Level::Notice,
        }
    }
}

impl fmt::Display for AlertLine {
    /// `alert RedisUnreachable firing (CRITICAL): value 0, active for 30 s`
    /// (the name unquoted: rule names are `[A-Za-z0-9_]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = core::str::from_utf8(self.name.bytes()).unwrap_or("?");
        write!(f, "alert {name} {} ({}): value ", self.kind.name(), self.severity)?;
        match self.value {
            Some(v) => write!(f, "{v}")?,
            None => f.write_str("absent")?,
        }
        write!(f, ", active for {} s", self.since_s)
    }
}

/// What was too large to read ([`Event::TooLarge`]), and so what was done
/// without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversized {
    /// CONFIG_DB `PORT|<name>`'s fields: the port is skipped (not produced,
    /// not counted in PortConfigDone), like a key with no fields.
    ConfigPort(PortName),
    /// A CONFIG_DB `PORT` key (no port name is that long): skipped.
    ConfigKey,
    /// CONFIG_DB `LOGGER|portsyncd`: the log level and output stay.
    Logger,
    /// CONFIG_DB `DEVICE_METADATA|localhost` `switch_type`: a switch.
    SwitchType,
    /// STATE_DB `WARM_RESTART_ENABLE_TABLE|<key>` `enable`: not enabled.
    WarmEnable(&'static str),
    /// STATE_DB `WARM_RESTART_TABLE|portsyncd` `restore_count`: not a number.
    RestoreCount,
    /// STATE_DB `PORT_TABLE|<name>` at a warm start: not kept, written again.
    Baseline(PortName),
    /// STATE_DB `PORT_TABLE|<name>` at a reconciliation: not compared;
    /// written again if the port is published (a merge: other writers'
    /// fields stay), else left alone.
    Reconciled {
        /// The port.
        name: PortName,
        /// Written again.
        written: bool,
    },
}

impl Oversized {
    /// What it was, up to its size: `CONFIG_DB PORT|Ethernet0: its fields are`.
    fn subject(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::{logger, warm};
        use schema::*;
        let (port, state) = (CONFIG_PORT_TABLE, STATE_PORT_TABLE);
        match *self {
            Oversized::ConfigPort(name) => write!(f, "CONFIG_DB {port}|{name}: its fields are"),
            Oversized::ConfigKey => write!(f, "CONFIG_DB {port}: a key of"),
            Oversized::Logger => write!(f, "CONFIG_DB {}|{APP}: its fields are", logger::LOGGER_TABLE),
            Oversized::SwitchType => write!(
                f,
                "CONFIG_DB {CONFIG_DEVICE_METADATA_TABLE}|{CONFIG_DEVICE_METADATA_KEY} {SWITCH_TYPE_FIELD} is"
            ),
            Oversized::WarmEnable(key) => {
                write!(f, "STATE_DB {}|{key} {} is", warm::WARM_RESTART_ENABLE_TABLE, warm::ENABLE_FIELD)
            }
            Oversized::RestoreCount => {
                write!(f, "STATE_DB {}|{APP} {} is", warm::WARM_RESTART_TABLE, warm::RESTORE_COUNT_FIELD)
            }
            Oversized::Baseline(name) => write!(f, "STATE_DB {state}|{name}: its fields are"),
            Oversized::Reconciled { name, .. } => {
                write!(f, "reconcile: STATE_DB {state}|{name}: its fields are")
            }
        }
    }

    /// What was done without it.
    pub const fn consequence(&self) -> &'static str {
        match self {
            Oversized::ConfigPort(_) => "skipped, and not counted",
            Oversized::ConfigKey => "skipped",
            Oversized::Logger => "LOGLEVEL and LOGOUTPUT not read",
            Oversized::SwitchType => "taken as a switch",
            Oversized::WarmEnable(_) => "taken as not enabled",
            Oversized::RestoreCount => "not a number",
            Oversized::Baseline(_) => "not kept, written again",
            Oversized::Reconciled { written: true, .. } => "written again",
            Oversized::Reconciled { written: false, .. } => "left alone",
        }
    }
}

/// Kinds of trouble whose lines are rate-limited: the first is said, then
/// a count per window (see [`crate::repeats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Link names that cannot be keys.
    RejectedName,
    /// Malformed netlink messages and netlink error replies.
    Netlink,
    /// Netlink overruns.
    Overrun,
    /// Dumps that failed or timed out.
    Dump,
    /// APPL_DB presence reads that failed.
    PresenceUnknown,
    /// Write batches the databases refused.
    WritesRefused,
    /// Engine errors (a full table).
    Engine,
    /// Attempts to open the netlink socket again that failed.
    LinksReopen,
    /// Re-dumps that ended (complete or interrupted): one line per episode.
    Redump,
}

impl Repeat {
    /// How many kinds there are.
    pub const COUNT: usize = Self::ALL.len();

    /// Every kind, in index order (`kind as usize`).
    pub const ALL: [Repeat; 9] = [
        Repeat::RejectedName,
        Repeat::Netlink,
        Repeat::Overrun,
        Repeat::Dump,
        Repeat::PresenceUnknown,
        Repeat::WritesRefused,
        Repeat::Engine,
        Repeat::LinksReopen,
        Repeat::Redump,
    ];

    /// What the lines were about.
    pub const fn what(self) -> &'static str {
        match self {
            Repeat::RejectedName => "links whose names cannot be keys",
            Repeat::Netlink => "malformed or failed netlink messages",
            Repeat::Overrun => "netlink overruns",
            Repeat::Dump => "dumps that failed or timed out",
            Repeat::PresenceUnknown => "APPL_DB reads that failed",
            Repeat::WritesRefused => "write batches refused",
            Repeat::LinksReopen => "failed attempts to open the netlink socket again",
            Repeat::Engine => "engine errors",
            Repeat::Redump => "re-dumps of the kernel's links",
        }
    }
}

impl Event {
    /// The kind of trouble this is, if its lines are rate-limited.
    pub fn repeat(&self) -> Option<Repeat> {
        use Event::*;
        Some(match self {
            Rejected { .. } => Repeat::RejectedName,
            Malformed(_) | NetlinkError { .. } => Repeat::Netlink,
            Overrun => Repeat::Overrun,
            DumpFailed { .. } | DumpTimedOut { .. } => Repeat::Dump,
            DumpComplete { .. } | DumpInterrupted => Repeat::Redump,
            PresenceUnknown => Repeat::PresenceUnknown,
            WritesRefused { .. } => Repeat::WritesRefused,
            Engine(_) | StaleTableFull { .. } => Repeat::Engine,
            LinksReopenFailed => Repeat::LinksReopen,
            _ => return None,
        })
    }

    /// How severe it is.
    pub fn level(&self) -> Level {
        use Event::*;
        match self {
            Link { .. } | PortNotInAppDb(_) | SnapshotSaved { .. } => Level::Info,
            Ignored { .. } => Level::Debug,
            BadLogLevel { .. }
            | BadLogOutput { .. }
            | BadSwitchType { .. }
            | WarmFellBackToCold
            | ConfigPortSkipped { .. }
            | ConfigPortsSkippedMore { .. }
            | UnmatchablePorts(_)
            | PortsAwaiting { .. }
            | ConfigPortEmpty { .. }
            | TooLarge { .. }
            | NoSnapshot { unusable: true }
            | Malformed(_)
            | NetlinkError { .. }
            | Rejected { .. }
            | Overrun
            | DumpFailed { .. }
            | DumpTimedOut { .. }
            | BringDownFailed { .. }
            | PresenceUnknown
            | PruneSkipped
            | BackendDegraded { .. }
            | SnapshotsNotSaved { .. }
            | StoppedWithoutSnapshot { .. } => Level::Warn,
            BackendRestarted => Level::Error,
            Engine(_) | StaleTableFull { .. } | WritesRefused { .. } => Level::Error,
            Repeated { kind: Repeat::WritesRefused | Repeat::Engine, .. } => Level::Error,
            Alert(line) => line.level(),
            Reconciled { repaired: 0, .. } => Level::Info,
            Repaired { .. } | ReconcileFailed | LinksReopenFailed => Level::Warn,
            LinksFailed | PartitionMismatch(_) => Level::Error,
            Health(change) => match change.new {
                crate::health::HealthState::Healthy => Level::Notice,
                crate::health::HealthState::Degraded => Level::Warn,
                crate::health::HealthState::Unhealthy => Level::Error,
            },
            Repeated { .. } | Unsaid { .. } => Level::Warn,
            _ => Level::Notice,
        }
    }
}

fn op_name(op: LinkOp) -> &'static str {
    if op == LinkOp::New { "RTM_NEWLINK" } else { "RTM_DELLINK" }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Event::*;
        match self {
            LogLevelChanged { old, new } => write!(f, "log level {old} => {new}"),
            BadLogOutput { value, kept } => write!(
                f,
                "CONFIG_DB LOGGER|{} LOGOUTPUT {value} is not SYSLOG or STDERR; keeping {}",
                schema::APP,
                kept.name()
            ),
            LogOutputChanged { old, new } => write!(f, "log output {} => {}", old.name(), new.name()),
            BadSwitchType { value } => write!(
                f,
                "CONFIG_DB {}|{} {} {value} is not text; taken as a switch",
                schema::CONFIG_DEVICE_METADATA_TABLE,
                schema::CONFIG_DEVICE_METADATA_KEY,
                schema::SWITCH_TYPE_FIELD
            ),
            BadLogLevel { value, kept } => {
                write!(f, "CONFIG_DB LOGGER|{} LOGLEVEL {value} is not a level; keeping {kept}", schema::APP)
            }
            WarmFellBackToCold => {
                write!(f, "warm start enabled but {} restore_count is missing: starting cold", schema::APP)
            }
            Starting { start, switch_type, restore_count } => {
                write!(f, "starting {start:?} (switch type {switch_type:?}, restore_count {restore_count})")
            }
            NoConfigPorts => write!(f, "no ports in CONFIG_DB {}", schema::CONFIG_PORT_TABLE),
            ConfigPortSkipped { key, error } => {
                write!(f, "CONFIG_DB {}|{key}: {error}; skipped", schema::CONFIG_PORT_TABLE)
            }
            ConfigPortsSkippedMore { more } => write!(
                f,
                "{more} more CONFIG_DB {} keys skipped (the first few are named above)",
                schema::CONFIG_PORT_TABLE
            ),
            UnmatchablePorts(ports) => write!(
                f,
                "{} configured ports can never be matched by a host interface (a link name must start with \"Ethernet\" or \"PortChannel\", case included): {ports}; PortInitDone waits for them, as the C++ daemon's does",
                ports.count()
            ),
            PortsAwaiting { after, awaiting } => write!(
                f,
                "PortInitDone not reached after {} s: {} ports await their host interface: {awaiting}",
                after.as_secs(),
                awaiting.count()
            ),
            ConfigPortEmpty { name } => write!(
                f,
                "CONFIG_DB {}|{name} has no fields (or is not a hash); skipped, and not counted",
                schema::CONFIG_PORT_TABLE
            ),
            TooLarge { entry, size } => {
                entry.subject(f)?;
                write!(f, " {size}; {}", entry.consequence())
            }
            ConfigPorts { count } => write!(f, "{count} ports in CONFIG_DB"),
            NoSnapshot { unusable: false } => {
                f.write_str("no warm-restart snapshot: STATE_DB alone tells what is already published")
            }
            NoSnapshot { unusable: true } => {
                f.write_str("no usable warm-restart snapshot: STATE_DB alone tells what is already published")
            }
            WarmBaseline { kept, rewritten } => write!(
                f,
                "warm restart: {kept} ports as STATE_DB has them ({rewritten} not in STATE_DB, or unreadable there, will be written)"
            ),
            Malformed(e) => write!(f, "{e}; skipped"),
            NetlinkError { errno, seq } => write!(f, "netlink error {errno} for request {seq}"),
            Link { op, name, ifindex, flags, mtu, master } => {
                write!(
                    f,
                    "{} {name} ifindex {ifindex} flags 0x{flags:x} mtu {mtu} master {master}",
                    op_name(*op)
                )
            }
            StaleLink { name, ifindex } => {
                write!(
                    f,
                    "{name} (ifindex {ifindex}) existed before this cold start: bringing it down and ignoring it"
                )
            }
            Rejected { name, ifindex, error } => {
                write!(f, "link {name:?} (ifindex {ifindex}): {error}; skipped")
            }
            Ignored { name, ifindex, reason } => {
                write!(f, "link {name} (ifindex {ifindex}) ignored: {reason}")
            }
            Engine(e) => write!(f, "engine: {e}"),
            StaleTableFull { ifindex } => {
                write!(f, "too many pre-existing links; ifindex {ifindex} will not be ignored later")
            }
            PortNotInAppDb(name) => write!(f, "cannot find {name} in APPL_DB {}", schema::APP_PORT_TABLE),
            Overrun => f.write_str("netlink overrun: link notifications were lost; dumping all links again"),
            DumpInterrupted => f.write_str("dump interrupted by link changes; dumping again"),
            DumpFailed { errno } => write!(f, "dump failed with errno {errno}; going on without it"),
            DumpTimedOut { after } => write!(f, "dump did not end within {after:?}; going on without it"),
            DumpComplete { vanished: 0 } => f.write_str("dump complete: STATE_DB matches the kernel"),
            DumpComplete { vanished } => write!(
                f,
                "dump complete; {vanished} ports gone from the kernel while notifications were lost were deleted from STATE_DB"
            ),
            Repaired { name, repair } => match repair {
                Repair::Missing => {
                    write!(f, "reconcile: STATE_DB PORT_TABLE|{name} was missing; written again")
                }
                Repair::Changed => {
                    write!(f, "reconcile: STATE_DB PORT_TABLE|{name} differed from the kernel; written again")
                }
                Repair::Stale => write!(
                    f,
                    "reconcile: STATE_DB PORT_TABLE|{name} was left for a port with no link; deleted"
                ),
            },
            Reconciled { checked, repaired: 0 } => {
                write!(f, "reconcile: {checked} STATE_DB ports match the kernel")
            }
            Reconciled { checked, repaired } => {
                write!(f, "reconcile: {repaired} of {checked} STATE_DB ports repaired")
            }
            LinksFailed => f.write_str(
                "netlink socket failed: link notifications are lost until it is open again; opening it again",
            ),
            LinksReopenFailed => f.write_str("netlink socket could not be opened again; trying again later"),
            LinksReopened { after_ms } => {
                write!(
                    f,
                    "netlink socket open again after {after_ms} ms; reconciling STATE_DB with the kernel"
                )
            }
            Partitioned { id, count, owned, total, by_index } => write!(
                f,
                "instance {id} of {count}: owns {owned} of {total} configured ports (shared out by {})",
                if *by_index { "CONFIG_DB index" } else { "the numbers in their names" }
            ),
            OwnPortsReady { owned } => write!(f, "all {owned} ports of this instance have their host interfaces"),
            InstancesReady { count } => {
                write!(f, "all {count} instances have their ports' host interfaces: PortInitDone is due")
            }
            PartitionMismatch(crate::partition::Mismatch::Count) => f.write_str(
                "partitioned instances disagree on their count (see STATE_DB PORTSYNCD_INSTANCE); PortInitDone withheld",
            ),
            PartitionMismatch(crate::partition::Mismatch::Ports { owned, configured }) => write!(
                f,
                "partitioned instances own {owned} ports between them, or not each once, for {configured} configured \
                 (overlapping or missing shares); PortInitDone withheld"
            ),
            ReconcileFailed => {
                f.write_str("reconcile: STATE_DB could not be read back; trying again next round")
            }
            Vanished(name) => write!(
                f,
                "{name} vanished from the kernel while notifications were lost; deleted from STATE_DB"
            ),
            BroughtDown { name, ifindex } => write!(f, "brought {name} (ifindex {ifindex}) down"),
            BringDownFailed { name, ifindex } => write!(f, "bringing {name} (ifindex {ifindex}) down failed"),
            PortConfigDone { count } => write!(f, "PortConfigDone: {count} ports produced to APPL_DB"),
            PortInitDone { after } => write!(f, "PortInitDone after {} ms", after.as_millis()),
            InitialSyncDone { after, awaiting } => write!(
                f,
                "initial sync done after {} ms; {awaiting} ports await their host interface",
                after.as_millis()
            ),
            PresenceUnknown => f.write_str(
                "APPL_DB presence not known; using the last known APPL_DB answers, and dumping again later",
            ),
            PruneSkipped => f.write_str("APPL_DB not readable for the prune; no port pruned"),
            WritesRefused { kept, dropped: 0 } => {
                write!(f, "writes refused; {kept} kept to be written again")
            }
            WritesRefused { kept, dropped } => {
                write!(
                    f,
                    "writes refused; {kept} kept to be written again, {dropped} found no room and are lost"
                )
            }
            RefusedWritesDone => f.write_str("refused writes written"),
            BackendConnected => f.write_str("databases reachable again; kept writes flushed"),
            BackendDegraded { pending } => {
                write!(f, "databases unreachable or refusing writes: {pending} keys' writes kept for later")
            }
            BackendRestarted => f.write_str(
                "a database server restarted (new run id) and lost its data: nothing more is written to it",
            ),
            SnapshotSaved { ports, bytes } => write!(f, "snapshot saved: {ports} ports, {bytes} bytes"),
            SnapshotsNotSaved { fault, every_ms } => write!(
                f,
                "warm-restart snapshot cannot be saved ({fault}): crash-safe warm restart is lost until a \
                 save succeeds (a start meanwhile is cold, or warm from STATE_DB alone); the port tables \
                 are kept as usual; trying again every {every_ms} ms"
            ),
            SnapshotsSavedAgain => f.write_str("warm-restart snapshot saved again: crash-safe warm restart is back"),
            StoppedWithoutSnapshot { fault } => write!(
                f,
                "stopping without a warm-restart snapshot ({fault}): the next start is cold, or warm from \
                 STATE_DB alone; the port tables are as they should be"
            ),
            Stopping => f.write_str("stopping on signal"),
            Health(change) => change.fmt(f),
            Alert(line) => line.fmt(f),
            Repeated { kind, held, window_s: 0 } => {
                write!(f, "{}: {held} more lines like the last held back until it was over", kind.what())
            }
            Unsaid { lines } => {
                write!(f, "{lines} more lines were not logged (more came at once than the driver holds)")
            }
            Repeated { kind, held, window_s } => {
                write!(f, "{}: {held} more lines like the last held back over {window_s} s", kind.what())
            }
        }
    }
}

/// The status line for a supervisor (systemd's `STATUS=`): the ports, the
/// health and the last thing worth a NOTICE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The initial sync is over.
    pub synced: bool,
    /// Ports whose state is published to STATE_DB.
    pub published: usize,
    /// Configured ports still without a host interface.
    pub awaiting: usize,
    /// Health.
    pub health: crate::health::HealthState,
    /// Why.
    pub reason: crate::health::Reason,
    /// The last line said at NOTICE or above, if any.
    pub last: Option<Event>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Status { synced, published, awaiting, health, reason, last } = self;
        if *synced {
            write!(
                f,
                "initial sync done; {awaiting} ports await their host interface, {published} published"
            )?;
        } else {
            f.write_str("initial sync under way")?;
        }
        write!(f, "; health {health} ({reason})")?;
        if let Some(last) = last {
            write!(f, "; last: {last}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::{Event, Repeat};

    #[test]
    fn repeated_lines_say_over_which_time_they_were_held() {
        let over_window = Event::Repeated { kind: Repeat::Overrun, held: 3, window_s: 10 };
        assert_eq!(
            over_window.to_string(),
            "netlink overruns: 3 more lines like the last held back over 10 s"
        );
        let until_over = Event::Repeated { kind: Repeat::Overrun, held: 3, window_s: 0 };
        assert_eq!(
            until_over.to_string(),
            "netlink overruns: 3 more lines like the last held back until it was over"
        );
    }
}
