//! The driver's states, as enums: where its life is ([`Stage`]), where the
//! batch of link messages is ([`Flow`]), what it waits for ([`Ask`]), what
//! the dumps still owe ([`Redump`]), where the alarm rows are
//! ([`AlarmWrites`]), where the snapshot stands ([`Saved`]). Each is
//! changed in one place of the driver (`set_stage`, `set_flow`, ...); which
//! transitions happen is decided in the modules that handle the inputs and
//! answers.

use crate::backend::StoreFault;
use crate::engine::SwitchType;
use crate::logger::{Level, Output};
use crate::name::LinkLabel;
use crate::time::Instant;
use crate::warm::{self, StatePortReader, WarmStartCheck};

use super::io::{Failure, Notify, Receive};
use crate::event::Text;

/// Where the driver is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Start(StartStep),
    Run,
    Stop(StopStep),
    Exit(Result<(), Failure>),
    Done(Result<(), Failure>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StartStep {
    Logger,
    LoggerDefaults,
    SwitchType,
    WarmEnable(usize),
    RestoreCount,
    WriteRestoreCount,
    ConfigKeys,
    ConfigFields,
    LoadSnapshot,
    Baseline,
    Dump,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StopStep {
    Notify,
    Retry,
    /// Waiting for the backend's kept writes, until [`Timer::StopFlush`](super::timers::Timer::StopFlush).
    Flush,
    /// The last save: asked for once no save handed off earlier is under way.
    Save,
    /// Waiting for a save handed off before the stop (its snapshot is older
    /// than the last one's), until [`Timer::StopFlush`](super::timers::Timer::StopFlush).
    EarlierSaveUnderWay,
    /// The last save was handed off: waiting for its outcome, until
    /// [`Timer::StopFlush`](super::timers::Timer::StopFlush).
    LastSaveUnderWay,
    Exit,
}

/// The batch of link messages after its datagrams are read: its presence
/// read and commit, the engine's actions drained into writes, and what
/// follows once they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Nothing under way: datagrams are taken.
    Idle,
    /// The engine's batch is to be committed (after APPL_DB is asked about
    /// the ports whose presence is not trusted).
    Closing,
    /// The engine's actions are being turned into writes; `then` follows
    /// once they are written.
    Draining(AfterDrain),
    /// Drained and written: `then` is next.
    Drained(AfterDrain),
}

/// What follows once the engine's actions are drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterDrain {
    Nothing,
    Prune,
    InitialSyncDone,
    DumpChecked { complete: bool },
}

/// Datagrams being read as one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Batch {
    /// Datagrams read into it.
    pub(super) datagrams: u32,
    /// Notifications were lost while it was read: dump again once it ends.
    pub(super) overrun: bool,
}

/// A dump the driver owes the kernel's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Redump {
    /// None.
    No,
    /// When the retry timer fires (something could not be asked or dumped:
    /// its delay grows while this keeps happening).
    AtRetry,
    /// As soon as no dump is in flight and the link source is up.
    Now,
}

/// Where the STATE_DB `SYSTEM_ALARMS` rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AlarmWrites {
    /// Rows a crashed run may have left are not cleared yet.
    Uncleared,
    /// Rows are written as they come.
    Open,
    /// The last write was refused: none until the next maintenance.
    Held,
}

/// Where the warm-restart snapshot stands against what STATE_DB holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Saved {
    /// The last save holds what STATE_DB holds (or nothing is published yet).
    Current,
    /// STATE_DB changed since: a save is due within the save interval.
    Behind,
    /// Saves fail, or the store was found unusable: one is tried on the
    /// cadence until it succeeds; health is degraded meanwhile.
    Failing(StoreFault),
}

/// A save handed off to run beside the loop ([`SaveRequest::hand_off`](super::SaveRequest::hand_off)),
/// whose outcome comes as [`Input::SnapshotSaved`](super::Input::SnapshotSaved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SaveFlight {
    /// None under way.
    Idle,
    /// One under way since `since`; `overtaken`: STATE_DB changed since it
    /// was handed off, so its success leaves the snapshot behind.
    Under { since: Instant, overtaken: bool },
}

/// A request, before it is shown as an [`Io`](super::Io); while it is
/// awaited, nothing else is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ask {
    Read(ReadFor),
    Write(WriteFor),
    Dump,
    LinkDown { ifindex: u32, name: LinkLabel },
    LoadSnapshot,
    SaveSnapshot,
    Maintain(Option<Instant>),
    ReopenLinks,
    LinkFilter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadFor {
    Logger,
    SwitchType,
    WarmEnable(usize),
    RestoreCount,
    ConfigKeys,
    ConfigFields,
    Baseline,
    Presence,
    Prune,
    LoggerPoll,
    Reconcile,
    Instances,
    LeaderToken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriteFor {
    Startup(&'static str),
    Decided,
    Retry,
    Alarm,
    Coordination,
}

/// Requests that need no answer, handed out before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direct {
    Level(Level),
    Output(Output),
    Notify(Notify),
}

/// What [`Driver::poll_io`](super::Driver::poll_io) does next.
pub(super) enum Step {
    Idle,
    Again,
    Receive(Receive),
    Ask(Ask),
}

/// Whether CONFIG_DB `LOGGER|portsyncd` was too large to read: said when
/// it becomes so, not again at every poll that finds it so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LoggerTooLarge {
    /// Said (the last complete read found it too large).
    pub(super) said: bool,
    /// The read under way found it too large.
    pub(super) seen: bool,
}

impl LoggerTooLarge {
    /// Nothing seen.
    pub(super) const NONE: Self = Self { said: false, seen: false };
}

/// What start-up learnt, until it is over (and the cursor of reads that
/// walk STATE_DB keys: the warm baseline, reconciliation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Learnt {
    pub(super) level: Option<Result<Level, Text>>,
    pub(super) output: Option<Result<Output, Text>>,
    pub(super) switch_type: SwitchType,
    pub(super) warm_enabled: bool,
    pub(super) warm: Option<Result<WarmStartCheck, warm::BadRestoreCount>>,
    /// The key being read and what was read of it.
    pub(super) cursor: usize,
    pub(super) reader: StatePortReader,
    pub(super) kept: usize,
    /// CONFIG_DB PORT keys beyond the port capacity.
    pub(super) over_capacity: usize,
    /// CONFIG_DB PORT keys skipped by the read under way (the first few
    /// are named, the rest counted in one line).
    pub(super) skipped: usize,
}

impl Default for Learnt {
    fn default() -> Self {
        Self::NONE
    }
}

impl Learnt {
    /// Nothing learnt yet.
    pub(super) const NONE: Self = Self {
        level: None,
        output: None,
        switch_type: SwitchType::Switch,
        warm_enabled: false,
        warm: None,
        cursor: 0,
        reader: StatePortReader::NONE,
        kept: 0,
        over_capacity: 0,
        skipped: 0,
    };
}
