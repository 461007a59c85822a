//! The engine's vocabulary: how it is started, what it decides (actions),
//! what it did with each message, and how a call can fail.
//!
//! This module holds data only; [`super::LinkSync`] decides.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::filter::IgnoreReason;
use crate::name::{LinkLabel, NameError, PortName};
use crate::netlink::LinkMessage;

/// Cold or warm start, as decided from SONiC's WarmStart keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    /// Produce the configuration, bring stale links down.
    Cold,
    /// Produce nothing to APPL_DB, bring nothing down.
    Warm,
}

/// `DEVICE_METADATA|localhost` `switch_type`, as far as portsyncd cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchType {
    /// Anything but `dpu` (absent means `switch`).
    Switch,
    /// A DPU: netdevs live as long as the driver; no stale-link handling.
    Dpu,
}

impl SwitchType {
    /// Maps the CONFIG_DB value (absent = `None`).
    pub fn from_config(value: Option<&str>) -> Self {
        if value == Some(crate::schema::SWITCH_TYPE_DPU) { SwitchType::Dpu } else { SwitchType::Switch }
    }
}

/// How the engine starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Cold or warm.
    pub start: StartKind,
    /// Switch or DPU.
    pub switch_type: SwitchType,
}

/// Where the engine is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Collecting CONFIG_DB ports.
    Configuring,
    /// Reading the kernel's initial dump.
    InitialDump,
    /// Cold start: dropping ports APPL_DB already knows as set up.
    Pruning,
    /// Normal operation.
    Running,
}

/// The kernel state of a port that STATE_DB `PORT_TABLE|<port>` publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkState {
    /// The link's ifindex.
    pub ifindex: u32,
    /// `IFF_UP`: `admin_status`.
    pub admin_up: bool,
    /// `IFF_RUNNING`: `netdev_oper_status`.
    pub oper_up: bool,
    /// `IFLA_MTU`, 0 when absent (as the C++ daemon writes it).
    pub mtu: u32,
}

impl LinkState {
    /// The state a link message reports.
    pub fn of(link: &LinkMessage<'_>) -> Self {
        Self {
            ifindex: link.index,
            admin_up: link.is_admin_up(),
            oper_up: link.is_oper_up(),
            mtu: link.mtu.unwrap_or(0),
        }
    }

    /// Whether `other`, seen in a warm start's dump, is what this baseline
    /// already holds: the same link (a recreated one, with a new ifindex, is
    /// written again) in the same state. A baseline read from STATE_DB alone
    /// has no ifindex (0): its published fields decide.
    pub fn is_baseline_of(&self, other: &LinkState) -> bool {
        let same_link = self.ifindex == 0 || self.ifindex == other.ifindex;
        same_link && (self.admin_up, self.oper_up, self.mtu) == (other.admin_up, other.oper_up, other.mtu)
    }

    /// The STATE_DB fields that publish this state.
    pub fn fields(&self) -> crate::schema::StatePortFields {
        crate::schema::StatePortFields::new(self.admin_up, self.oper_up, self.mtu)
    }
}

/// What the caller must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Bring the link down (`RTM_SETLINK` clearing `IFF_UP`): it existed before
    /// this cold start.
    BringLinkDown {
        /// The link to bring down.
        ifindex: u32,
        /// Its name, for the log.
        name: LinkLabel,
    },
    /// Produce CONFIG_DB `PORT|<name>`'s fields, verbatim, into APPL_DB `PORT_TABLE`.
    ProduceAppPort {
        /// The port.
        name: PortName,
    },
    /// Produce APPL_DB `PORT_TABLE:PortConfigDone` with `count` = `count`.
    PortConfigDone {
        /// Number of configured ports.
        count: u32,
    },
    /// HSET STATE_DB `PORT_TABLE|<name>`: `state`, `netdev_oper_status`,
    /// `admin_status`, `mtu` (see [`crate::schema`]).
    SetStatePort {
        /// The port.
        name: PortName,
        /// What to publish.
        state: LinkState,
    },
    /// DEL STATE_DB `PORT_TABLE|<name>` (the whole hash).
    DelStatePort {
        /// The port.
        name: PortName,
    },
    /// Nothing to write: the port is not in APPL_DB `PORT_TABLE`, so its link
    /// event is dropped (the C++ daemon logs "Cannot find ... in port table").
    PortNotInAppDb {
        /// The port.
        name: PortName,
    },
    /// Produce APPL_DB `PORT_TABLE:PortInitDone` with `lanes` = `0`.
    PortInitDone,
    /// Partitioned instances: every port this instance owns has its host
    /// interface (the instance's part of PortInitDone; said once).
    OwnPortsReady,
}

/// What [`super::LinkSync::handle_link`] did with a message (for logs and counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Queued in the batch.
    Queued(PortName),
    /// Recorded as a stale pre-existing link; it will be brought down.
    MarkedStale {
        /// Its ifindex.
        ifindex: u32,
    },
    /// Not ours.
    Ignored(IgnoreReason),
    /// Would be ours, but its name cannot become a key.
    Rejected(NameError),
}

/// A call the engine could not take. The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// The call does not belong to the current phase.
    WrongPhase {
        /// The phase the engine is in.
        phase: Phase,
    },
    /// Actions are still waiting in [`super::LinkSync::poll_action`]; drain them first.
    OutboxNotDrained,
    /// The batch holds as many distinct ports as it can: commit it, drain
    /// the actions, then hand the same message in again.
    BatchFull,
    /// More configured ports than the engine's capacity.
    PortTableFull,
    /// More stale links than the engine's capacity; this one will not be
    /// ignored later, though it is brought down.
    StaleTableFull,
    /// A configured port's name cannot become a key.
    InvalidName(NameError),
    /// [`super::LinkSync::commit_batch`] was called before every presence question was answered.
    PresenceUnanswered(PortName),
    /// [`super::LinkSync::set_presence`] for a port with no pending question.
    NoPresenceQuestion(PortName),
    /// A batch has messages but was not committed.
    BatchOpen,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::WrongPhase { phase } => write!(f, "call not allowed in phase {phase:?}"),
            SyncError::OutboxNotDrained => f.write_str("actions are waiting to be polled"),
            SyncError::BatchFull => f.write_str("batch is full; commit it first"),
            SyncError::PortTableFull => f.write_str("too many configured ports for this build"),
            SyncError::StaleTableFull => f.write_str("too many pre-existing links for this build"),
            SyncError::InvalidName(e) => write!(f, "invalid port name: {e}"),
            SyncError::PresenceUnanswered(p) => write!(f, "APPL_DB presence of {p} not answered"),
            SyncError::NoPresenceQuestion(p) => write!(f, "no APPL_DB presence question for {p}"),
            SyncError::BatchOpen => f.write_str("a batch is open; commit it first"),
        }
    }
}

impl core::error::Error for SyncError {}

/// How often a configured port's oper state changed (a flap: up to down or
/// down to up, as the kernel reported it), in all and per window (the
/// driver starts a new window once a minute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortFlaps {
    /// Since the start.
    pub total: u32,
    /// In the window so far.
    pub this_window: u16,
    /// In the window before.
    pub last_window: u16,
}

impl PortFlaps {
    pub(super) fn count(&mut self) {
        self.total = self.total.saturating_add(1);
        self.this_window = self.this_window.saturating_add(1);
    }

    pub(super) fn roll(&mut self) {
        self.last_window = self.this_window;
        self.this_window = 0;
    }

    /// Flaps in the last whole window or in this one so far, whichever is
    /// more: "flaps a minute" without keeping each flap's time.
    pub fn per_window(&self) -> u16 {
        self.this_window.max(self.last_window)
    }
}

/// Counts of what the engine decided, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Link messages handed in.
    pub link_messages: u64,
    /// Ignored messages, indexed by [`IgnoreReason::index`].
    pub ignored: [u64; IgnoreReason::ALL.len()],
    /// Messages rejected for their name.
    pub rejected_names: u64,
    /// Links recorded as stale.
    pub stale_links: u64,
    /// Stale links that did not fit in the table.
    pub stale_overflow: u64,
    /// Messages merged into an earlier one of the same batch and port.
    pub coalesced: u64,
    /// STATE_DB writes decided.
    pub state_sets: u64,
    /// STATE_DB deletes decided.
    pub state_dels: u64,
    /// NEWLINKs dropped because the port is not in APPL_DB.
    pub not_in_app_db: u64,
    /// Batches committed.
    pub batches: u64,
    /// Writes left out because STATE_DB already had them: during a warm
    /// restart's initial dump, and a reconciliation's dump.
    pub suppressed: u64,
    /// Published ports deleted because a complete dump no longer had them.
    pub vanished: u64,
    /// Published ports the record had no room for (not in snapshots or dump checks).
    pub published_overflow: u64,
}

impl SyncCounters {
    /// All zero (what `Default` gives), in a `const`.
    pub const ZERO: Self = Self {
        link_messages: 0,
        ignored: [0; IgnoreReason::ALL.len()],
        rejected_names: 0,
        stale_links: 0,
        stale_overflow: 0,
        coalesced: 0,
        state_sets: 0,
        state_dels: 0,
        not_in_app_db: 0,
        batches: 0,
        suppressed: 0,
        vanished: 0,
        published_overflow: 0,
    };
}
