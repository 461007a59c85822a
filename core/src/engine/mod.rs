//! The link-sync engine: the C++ `LinkSync` and portsyncd main loop as a
//! sans-IO state machine.
//!
//! It decides what portsyncd writes and when: which CONFIG_DB ports to
//! produce into APPL_DB, when `PortConfigDone` and `PortInitDone` are due,
//! which pre-existing links are stale (brought down and then ignored), and
//! what each link event does to STATE_DB `PORT_TABLE`. It does no I/O: it
//! never talks to Redis or the kernel, never reads a clock, never allocates.
//! Facts it cannot know (is this port in APPL_DB? does its APPL_DB hash have
//! `admin_status`?) are asked of the caller as data and answered as data.
//!
//! # Life of an engine
//!
//! ```text
//! Configuring ──begin_initial_dump──▶ InitialDump ──end_initial_dump──▶ Pruning ──end_prune──▶ Running
//!                                                 (warm start: straight to Running)
//! ```
//!
//! 1. **Configuring**: [`add_config_port`](LinkSync::add_config_port) for each
//!    CONFIG_DB `PORT` key.
//! 2. **InitialDump**: link messages of our `RTM_GETLINK` dump (and any
//!    notification meanwhile) go through [`handle_link`](LinkSync::handle_link).
//!    On a cold start of a switch (not a DPU) every `Ethernet*` link seen now
//!    existed before we produced anything, so it is recorded as stale. This is
//!    where we differ from the C++ daemon on purpose: it lists the kernel's
//!    links only *after* producing `PortConfigDone`, so host interfaces that a
//!    fast orchagent creates in between are taken for stale ones.
//! 3. [`end_initial_dump`](LinkSync::end_initial_dump) (at EOIU): the outbox
//!    yields `BringLinkDown` for each stale link, then, on a cold start,
//!    `ProduceAppPort` for each configured port and `PortConfigDone`.
//! 4. **Pruning** (cold start only): for each port still awaited, the caller
//!    reads APPL_DB `PORT_TABLE:<port>` and reports whether it has
//!    `admin_status` ([`prune`](LinkSync::prune)); such ports need no host
//!    interface event. [`end_prune`](LinkSync::end_prune) starts normal work.
//! 5. **Running**: batches of link messages; `PortInitDone` once no
//!    configured port is awaited, at most once.
//!
//! # Batches
//!
//! Link messages are handled in batches (typically one `recv`'s worth):
//! [`handle_link`](LinkSync::handle_link) for each message, then the caller
//! hands the APPL_DB check of every plain write to the write itself
//! ([`guard_writes`](LinkSync::guard_writes): its `SetStatePort` is carried
//! out only if APPL_DB holds the port then, and one found absent is reported
//! back with [`found_absent`](LinkSync::found_absent)), asks APPL_DB whether
//! each port left in [`pending_presence`](LinkSync::pending_presence) (an
//! awaited port, whose wait the answer ends) exists and reports it with
//! [`set_presence`](LinkSync::set_presence), then
//! [`commit_batch`](LinkSync::commit_batch), then drains
//! [`poll_action`](LinkSync::poll_action) until `None`. Within a batch only the
//! latest state of each port is written; a delete followed by a new link in
//! the same batch keeps the delete (it clears fields other daemons wrote, as
//! applying the events one by one would). The Redis state that results is the
//! same as the C++ daemon's applying each event in turn.
//!
//! # What was published, dumps, warm restarts
//!
//! The engine remembers the state it last published for each port (bounded
//! like every table). That record is what a warm-restart [`Snapshot`] holds, and
//! what a full dump is checked against: [`dump_started`](LinkSync::dump_started)
//! opens a dump, every NEWLINK carrying its sequence number marks its port as
//! seen, and [`dump_ended`](LinkSync::dump_ended) of a complete dump deletes
//! from STATE_DB every published port the kernel no longer reported (their
//! DELLINK was lost, e.g. in a socket overrun).
//!
//! On a warm start, [`restore`](LinkSync::restore) loads the snapshot of the
//! previous run as the published record. While the initial dump is read, a
//! port whose kernel state equals that record is not written again (nothing in
//! STATE_DB flips); a changed one is written; and at the end of a complete
//! dump the ports that are gone are deleted.

mod types;

use core::fmt;

use heapless::index_map::FnvIndexMap;

use crate::filter::{self, ETHERNET_PREFIX, IgnoreReason, Verdict};
use crate::name::{LinkLabel, PortName};
use crate::netlink::{LinkMessage, LinkOp};
mod snapshot;
pub use snapshot::{SNAPSHOT_VERSION, Snapshot, SnapshotPort};
pub use types::{
    Action, Disposition, LinkState, Phase, PortFlaps, StartKind, SwitchType, SyncConfig, SyncCounters,
    SyncError,
};

/// Default capacity for configured ports and for stale links: 1024, twice
/// the largest single-ASIC SONiC platforms (51.2 Tb/s, 64 × 800G broken out
/// to 512 × 100G). Cargo features `max-ports-2048` and `max-ports-4096`
/// build for more (the memory each costs is in the crate docs).
pub const DEFAULT_PORT_CAPACITY: usize = if cfg!(feature = "max-ports-4096") {
    4096
} else if cfg!(feature = "max-ports-2048") {
    2048
} else {
    1024
};
/// Default capacity of distinct ports in one batch.
pub const DEFAULT_BATCH_CAPACITY: usize = 1024;

/// The engine with the default capacities.
pub type DefaultLinkSync = LinkSync<DEFAULT_PORT_CAPACITY, DEFAULT_BATCH_CAPACITY>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingChange {
    Delete,
    Write(LinkState),
    DeleteThenWrite(LinkState),
}

impl PendingChange {
    fn then(self, op: LinkOp, state: LinkState) -> Self {
        match (self, op) {
            (_, LinkOp::Del) => PendingChange::Delete,
            (PendingChange::Write(_), LinkOp::New) => PendingChange::Write(state),
            (PendingChange::Delete | PendingChange::DeleteThenWrite(_), LinkOp::New) => {
                PendingChange::DeleteThenWrite(state)
            }
        }
    }

    fn write(self) -> Option<LinkState> {
        match self {
            PendingChange::Delete => None,
            PendingChange::Write(s) | PendingChange::DeleteThenWrite(s) => Some(s),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    Unknown,
    Present,
    Absent,
    /// Not asked: the write checks APPL_DB when it is carried out.
    Guarded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    change: PendingChange,
    presence: Presence,
    /// A NEWLINK was seen in this batch, even if a DELLINK came after it:
    /// one by one, that NEWLINK would already have ended the wait for an
    /// awaited port found in APPL_DB.
    newlink_seen: bool,
    /// A NEWLINK of the dump in flight was among them: the port exists.
    dump_reply: bool,
}

/// A NEWLINK of an awaited port is in the batch: if APPL_DB holds the port,
/// its wait is over (and PortInitDone may follow), so presence is asked ahead.
fn ends_a_wait<const P: usize>(
    ports: &FnvIndexMap<PortName, ConfigPort, P>,
    name: &PortName,
    pending: &Pending,
) -> bool {
    pending.newlink_seen && ports.get(name).is_some_and(|p| p.awaiting)
}

/// The actions still to be handed out, as a cursor over the engine's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outbox {
    Idle,
    StaleLinks {
        next: usize,
    },
    ConfigPorts {
        next: usize,
    },
    ConfigDone,
    Batch {
        next: usize,
        delete_sent: bool,
    },
    /// Deleting published ports a complete dump did not report; counts down
    /// (removal moves the last entry into the freed slot, already visited).
    Vanished {
        remaining: usize,
        then_init_done: bool,
    },
    InitDone,
}

/// A published port and the dump that last reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Published {
    state: LinkState,
    seen_in: u32,
}

/// A configured port as the engine follows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ConfigPort {
    /// Still awaiting its host interface.
    awaiting: bool,
    /// This instance's (see [`crate::partition`]).
    owned: bool,
    /// Its CONFIG_DB `index`, if decimal.
    index: Option<u32>,
    /// Its oper state as the kernel last reported it (`None`: not yet).
    oper_up: Option<bool>,
    flaps: PortFlaps,
}

impl ConfigPort {
    fn saw_oper(&mut self, up: bool) {
        if self.oper_up.is_some_and(|was| was != up) {
            self.flaps.count();
        }
        self.oper_up = Some(up);
    }
}

/// The link-sync engine, with room for `P` configured ports (and `P` stale
/// links) and `B` distinct ports per batch. Both must be powers of two.
///
/// Its size is fixed at compile time; [`DefaultLinkSync`] is documented in
/// the crate root.
pub struct LinkSync<const P: usize, const B: usize> {
    config: SyncConfig,
    phase: Phase,
    /// CONFIG_DB ports in the order read.
    ports: FnvIndexMap<PortName, ConfigPort, P>,
    awaiting: usize,
    /// Links that existed before this cold start, by ifindex. Never shrinks.
    stale: FnvIndexMap<u32, LinkLabel, P>,
    batch: FnvIndexMap<PortName, Pending, B>,
    outbox: Outbox,
    init_done: bool,
    /// What STATE_DB holds from us, per port.
    published: FnvIndexMap<PortName, Published, P>,
    /// The dump in flight (its sequence number) and its epoch.
    dump: Option<u32>,
    /// A message of the dump in flight has arrived.
    dump_replied: bool,
    /// The dump in flight checks STATE_DB: replies equal to the record write nothing.
    checking: bool,
    epoch: u32,
    /// Warm start: the published record came from a snapshot and writes equal
    /// to it are left out until the initial dump ends.
    restored: bool,
    counters: SyncCounters,
    /// Among partitioned instances: the only one, the leader, or a follower.
    role: Role,
    /// Every port this instance owns has its host interface (said once).
    own_ready: bool,
    /// The leader may decide PortInitDone (every instance is ready).
    init_released: bool,
}

/// An engine's part among partitioned instances (see [`crate::partition`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The only instance.
    #[default]
    Single,
    /// Instance 0: produces the configuration, PortConfigDone with every
    /// port counted, and PortInitDone once released.
    Leader,
    /// Any other: publishes its own ports only, produces nothing.
    Follower,
}

/// What [`LinkSync::assign`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Ports this instance owns.
    pub owned: usize,
    /// Configured ports in all.
    pub total: usize,
    /// The set digest of the owned ports (see [`crate::partition::name_digest`]).
    pub owned_digest: u64,
    /// The set digest of every configured port.
    pub total_digest: u64,
    /// Keys were the `index` fields (else the names' numbers).
    pub by_index: bool,
}

impl<const P: usize, const B: usize> LinkSync<P, B> {
    /// A new engine, in [`Phase::Configuring`].
    pub const fn new(config: SyncConfig) -> Self {
        Self {
            config,
            phase: Phase::Configuring,
            ports: FnvIndexMap::new(),
            awaiting: 0,
            stale: FnvIndexMap::new(),
            batch: FnvIndexMap::new(),
            outbox: Outbox::Idle,
            init_done: false,
            published: FnvIndexMap::new(),
            dump: None,
            dump_replied: false,
            checking: false,
            epoch: 0,
            restored: false,
            counters: SyncCounters::ZERO,
            role: Role::Single,
            own_ready: false,
            init_released: false,
        }
    }

    /// Back to what [`new`](Self::new) makes, with `config`, in place: an
    /// engine is large (its tables are most of the driver), and a new one
    /// moved into place would be built on the stack first.
    pub fn reset(&mut self, config: SyncConfig) {
        self.config = config;
        self.phase = Phase::Configuring;
        self.ports.clear();
        self.awaiting = 0;
        self.stale.clear();
        self.batch.clear();
        self.outbox = Outbox::Idle;
        self.init_done = false;
        self.published.clear();
        self.dump = None;
        self.dump_replied = false;
        self.checking = false;
        self.epoch = 0;
        self.restored = false;
        self.counters = SyncCounters::default();
        self.role = Role::Single;
        self.own_ready = false;
        self.init_released = false;
    }

    /// The published record as a [`SnapshotView`]: what [`snapshot`](Self::snapshot)
    /// would copy, serialized (by serde) straight from the record.
    pub fn snapshot_view(&self) -> SnapshotView<'_, P> {
        SnapshotView { port_init_done: self.init_done, published: &self.published }
    }

    /// How the engine was started.
    pub const fn config(&self) -> SyncConfig {
        self.config
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// What the engine has decided so far.
    pub const fn counters(&self) -> &SyncCounters {
        &self.counters
    }

    /// Number of configured ports.
    pub fn configured_ports(&self) -> usize {
        self.ports.len()
    }

    /// How many configured ports still wait for their host interface.
    pub const fn awaiting_count(&self) -> usize {
        self.awaiting
    }

    /// Configured ports still waiting for their host interface, in config order.
    pub fn awaiting_ports(&self) -> impl Iterator<Item = &PortName> + '_ {
        self.ports.iter().filter(|(_, p)| p.awaiting).map(|(name, _)| name)
    }

    /// Each configured port's flaps (oper state changes the kernel reported,
    /// every one, not only those a batch wrote), in config order.
    pub fn port_flaps(&self) -> impl Iterator<Item = (&PortName, PortFlaps)> + '_ {
        self.ports.iter().map(|(name, p)| (name, p.flaps))
    }

    /// Starts a new flap window (see [`PortFlaps`]): the driver's, once a minute.
    pub fn roll_flap_window(&mut self) {
        for (_, port) in self.ports.iter_mut() {
            port.flaps.roll();
        }
    }

    /// Whether `PortInitDone` has been decided (for a follower: whether
    /// its own ports are all there, which is its part of it).
    pub fn is_init_done(&self) -> bool {
        self.init_done || (self.role == Role::Follower && self.own_ready)
    }

    /// Its part among partitioned instances.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// A configured port's CONFIG_DB `index` value (before the dump).
    pub fn set_port_index(&mut self, name: &PortName, value: &[u8]) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        if let Some(port) = self.ports.get_mut(name) {
            port.index = crate::schema::parse_decimal(value);
        }
        Ok(())
    }

    /// Decides which configured ports are this instance's (before the
    /// dump): by their `index` fields when every port has one, else by the
    /// numbers their names end with. Ports not owned are neither awaited
    /// nor published here, and their links are ignored.
    pub fn assign(&mut self, partition: &crate::partition::Partition) -> Result<Ownership, SyncError> {
        use crate::partition::{name_digest, name_number};
        self.expect_phase(Phase::Configuring)?;
        self.role = if partition.is_single() {
            Role::Single
        } else if partition.is_leader() {
            Role::Leader
        } else {
            Role::Follower
        };
        let by_index = self.ports.values().all(|p| p.index.is_some());
        let mut ownership = Ownership { owned: 0, total: 0, owned_digest: 0, total_digest: 0, by_index };
        for (name, port) in self.ports.iter_mut() {
            let key = if by_index { port.index } else { name_number(name.as_bytes()) };
            // A port with no key at all belongs to the leader.
            port.owned = key.map_or(partition.is_leader(), |k| partition.owns(k));
            let digest = name_digest(name.as_bytes());
            ownership.total += 1;
            ownership.total_digest = ownership.total_digest.wrapping_add(digest);
            if port.owned {
                ownership.owned += 1;
                ownership.owned_digest = ownership.owned_digest.wrapping_add(digest);
            } else if core::mem::take(&mut port.awaiting) {
                self.awaiting -= 1;
            }
        }
        Ok(ownership)
    }

    /// The leader's PortInitDone may be decided: every instance has its
    /// ports (the driver's coordination says so).
    pub fn release_init_done(&mut self) {
        if self.role == Role::Leader && !self.init_released {
            self.init_released = true;
            if self.outbox == Outbox::Idle {
                self.outbox = Outbox::InitDone;
            }
        }
    }

    /// Whether this instance takes link `name`: its own configured ports,
    /// and (the leader, or a single instance) links that are no configured port.
    pub fn takes(&self, name: &PortName) -> bool {
        match self.ports.get(name) {
            Some(port) => port.owned,
            None => self.role != Role::Follower,
        }
    }

    /// Whether `ifindex` is a link that existed before this cold start.
    pub fn is_stale(&self, ifindex: u32) -> bool {
        self.stale.contains_key(&ifindex)
    }

    fn expect_phase(&self, phase: Phase) -> Result<(), SyncError> {
        if self.phase != phase {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        Ok(())
    }

    /// A phase change: also refused while a batch is open, so that no
    /// decision of the old phase is left uncommitted behind the new one's.
    fn expect_transition_from(&self, phase: Phase) -> Result<(), SyncError> {
        self.expect_phase(phase)?;
        if !self.batch.is_empty() {
            return Err(SyncError::BatchOpen);
        }
        Ok(())
    }

    /// Sets how the engine starts, before anything else is handed in.
    pub fn configure(&mut self, config: SyncConfig) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        if !self.ports.is_empty() || self.restored {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        self.config = config;
        Ok(())
    }

    /// Adds a CONFIG_DB `PORT` key. Adding a port twice changes nothing.
    pub fn add_config_port(&mut self, name: &[u8]) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        let name = PortName::new(name).map_err(SyncError::InvalidName)?;
        if self.ports.contains_key(&name) {
            return Ok(());
        }
        let port = ConfigPort { awaiting: true, owned: true, ..ConfigPort::default() };
        self.ports.insert(name, port).map_err(|_| SyncError::PortTableFull)?;
        self.awaiting += 1;
        Ok(())
    }

    /// Drops a configured port before the dump begins (its CONFIG_DB hash
    /// turned out empty, or not a hash): it is neither produced nor counted
    /// nor awaited.
    pub fn drop_config_port(&mut self, name: &PortName) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        if self.ports.remove(name).is_some_and(|p| p.awaiting) {
            self.awaiting -= 1;
        }
        Ok(())
    }

    /// The configuration is complete; the kernel dump begins.
    pub fn begin_initial_dump(&mut self) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        self.phase = Phase::InitialDump;
        Ok(())
    }

    fn records_stale_links(&self) -> bool {
        self.phase == Phase::InitialDump
            && self.config.start == StartKind::Cold
            && self.config.switch_type == SwitchType::Switch
    }

    /// Handles one link message of the current batch.
    pub fn handle_link(&mut self, link: &LinkMessage<'_>) -> Result<Disposition, SyncError> {
        if self.phase == Phase::Configuring {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        if !matches!(self.outbox, Outbox::Idle) {
            return Err(SyncError::OutboxNotDrained);
        }
        if self.records_stale_links()
            && link.op == LinkOp::New
            && link.name.is_some_and(|n| n.starts_with(ETHERNET_PREFIX))
            && !self.is_stale(link.index)
            && link.name.is_some_and(|n| match PortName::new(n) {
                Ok(name) => self.takes(&name),
                Err(_) => self.role != Role::Follower,
            })
        {
            // Everything named Ethernet* before we produced anything is left
            // over from an earlier run, whatever its kind or master.
            self.counters.link_messages += 1;
            let label = LinkLabel::new(link.name.unwrap_or_default());
            if self.stale.insert(link.index, label).is_err() {
                self.counters.stale_overflow += 1;
                return Err(SyncError::StaleTableFull);
            }
            self.counters.stale_links += 1;
            return Ok(Disposition::MarkedStale { ifindex: link.index });
        }
        let verdict = filter::classify(link, |ifindex| self.is_stale(ifindex));
        let name = match verdict {
            Verdict::Accept(name) => name,
            Verdict::Ignore(reason) => {
                self.counters.link_messages += 1;
                self.counters.ignored[reason.index()] += 1;
                return Ok(Disposition::Ignored(reason));
            }
            Verdict::Reject(error) => {
                self.counters.link_messages += 1;
                self.counters.rejected_names += 1;
                return Ok(Disposition::Rejected(error));
            }
        };
        if !self.takes(&name) {
            self.counters.link_messages += 1;
            self.counters.ignored[IgnoreReason::OtherInstance.index()] += 1;
            return Ok(Disposition::Ignored(IgnoreReason::OtherInstance));
        }
        let state = LinkState::of(link);
        let is_new = link.op == LinkOp::New;
        if is_new {
            if let Some(port) = self.ports.get_mut(&name) {
                port.saw_oper(state.oper_up);
            }
        }
        self.dump_message(link.header.seq);
        // Seen by the dump: a reply of it, or a NEWLINK notification queued
        // after its first message (so generated after the request: a link
        // the dump may already have passed). Notifications queued before the
        // dump's first message may be stale (their DELLINK lost): they do not count.
        let dump_reply =
            is_new && self.dump.is_some() && (self.dump == Some(link.header.seq) || self.dump_replied);
        if dump_reply {
            if let Some(p) = self.published.get_mut(&name) {
                p.seen_in = self.epoch;
            }
        }
        if let Some(pending) = self.batch.get_mut(&name) {
            pending.change = pending.change.then(link.op, state);
            pending.newlink_seen |= is_new;
            pending.dump_reply |= dump_reply;
            self.counters.coalesced += 1;
        } else {
            let change = match link.op {
                LinkOp::New => PendingChange::Write(state),
                LinkOp::Del => PendingChange::Delete,
            };
            let pending = Pending { change, presence: Presence::Unknown, newlink_seen: is_new, dump_reply };
            self.batch.insert(name, pending).map_err(|_| SyncError::BatchFull)?;
        }
        self.counters.link_messages += 1;
        Ok(Disposition::Queued(name))
    }

    /// Ports of the batch whose APPL_DB `PORT_TABLE:<port>` presence must be
    /// known before the batch can be committed.
    pub fn pending_presence(&self) -> impl Iterator<Item = &PortName> + '_ {
        self.batch
            .iter()
            .filter(|(name, p)| p.presence == Presence::Unknown && self.needs_presence(name, p))
            .map(|(name, _)| name)
    }

    /// Presence decides a write, or whether a NEWLINK ended an awaited port's wait.
    fn needs_presence(&self, name: &PortName, pending: &Pending) -> bool {
        pending.change.write().is_some() || ends_a_wait(&self.ports, name, pending)
    }

    /// Leaves the APPL_DB check of every port whose question is only about
    /// its write to the write (a `SetStatePort` is a check-and-write): only
    /// the questions whose answer decides something now — whether an awaited
    /// port's wait is over — stay in [`pending_presence`](Self::pending_presence).
    pub fn guard_writes(&mut self) -> Result<(), SyncError> {
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        let ports = &self.ports;
        for (name, p) in self.batch.iter_mut() {
            if p.presence == Presence::Unknown && !ends_a_wait(ports, name, p) && p.change.write().is_some() {
                p.presence = Presence::Guarded;
            }
        }
        Ok(())
    }

    /// A `SetStatePort` found APPL_DB without the port when it was carried
    /// out, and wrote nothing: the record forgets what it took as written
    /// (STATE_DB holds whatever it held before, which the record no longer
    /// claims to know), and the port counts as not in APPL_DB (it stays
    /// counted among the writes decided).
    pub fn found_absent(&mut self, name: &PortName) {
        self.published.swap_remove(name);
        self.counters.not_in_app_db += 1;
    }

    /// Answers a presence question: APPL_DB `PORT_TABLE:<name>` exists (is a
    /// non-empty hash) or not.
    pub fn set_presence(&mut self, name: &PortName, present: bool) -> Result<(), SyncError> {
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        let asked = self.batch.get(name).is_some_and(|p| self.needs_presence(name, p));
        match self.batch.get_mut(name) {
            Some(p) if asked => {
                p.presence = if present { Presence::Present } else { Presence::Absent };
                Ok(())
            }
            _ => Err(SyncError::NoPresenceQuestion(*name)),
        }
    }

    /// Answers every open presence question at once, from `present`.
    pub fn resolve_presence(&mut self, present: impl Fn(&PortName) -> bool) -> Result<(), SyncError> {
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        let ports = &self.ports;
        for (name, p) in self.batch.iter_mut() {
            let asked = p.change.write().is_some() || ends_a_wait(ports, name, p);
            if asked && p.presence == Presence::Unknown {
                p.presence = if present(name) { Presence::Present } else { Presence::Absent };
            }
        }
        Ok(())
    }

    /// Closes the batch: its actions (and `PortInitDone`, when due) become
    /// available from [`poll_action`](Self::poll_action).
    pub fn commit_batch(&mut self) -> Result<(), SyncError> {
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        if let Some(name) = self.pending_presence().next() {
            return Err(SyncError::PresenceUnanswered(*name));
        }
        for (name, pending) in self.batch.iter() {
            if pending.newlink_seen && pending.presence == Presence::Present {
                if let Some(port) = self.ports.get_mut(name) {
                    if port.awaiting {
                        port.awaiting = false;
                        self.awaiting -= 1;
                    }
                }
            }
        }
        self.counters.batches += 1;
        self.outbox = Outbox::Batch { next: 0, delete_sent: false };
        Ok(())
    }

    /// The initial dump is over (EOIU, however it ended). `complete`: it
    /// ended with its own NLMSG_DONE, so every link was reported.
    pub fn end_initial_dump(&mut self, complete: bool) -> Result<(), SyncError> {
        self.expect_transition_from(Phase::InitialDump)?;
        let check_vanished = self.restored && complete && self.dump.is_some();
        self.dump = None;
        self.restored = false;
        match self.config.start {
            StartKind::Cold => {
                self.phase = Phase::Pruning;
                self.outbox = Outbox::StaleLinks { next: 0 };
            }
            StartKind::Warm => {
                self.phase = Phase::Running;
                self.outbox = if check_vanished {
                    Outbox::Vanished { remaining: self.published.len(), then_init_done: true }
                } else {
                    Outbox::InitDone
                };
            }
        }
        Ok(())
    }

    /// Ports whose APPL_DB `PORT_TABLE:<port>` hash must be read for the
    /// prune: the ones still awaited.
    pub fn prune_candidates(&self) -> impl Iterator<Item = &PortName> + '_ {
        self.awaiting_ports()
    }

    /// Reports whether APPL_DB `PORT_TABLE:<name>` has an `admin_status` field;
    /// if it does, the port is no longer awaited.
    pub fn prune(&mut self, name: &PortName, has_admin_status: bool) -> Result<(), SyncError> {
        self.expect_phase(Phase::Pruning)?;
        if has_admin_status {
            if let Some(port) = self.ports.get_mut(name) {
                if port.awaiting {
                    port.awaiting = false;
                    self.awaiting -= 1;
                }
            }
        }
        Ok(())
    }

    /// The prune is over; normal operation starts.
    pub fn end_prune(&mut self) -> Result<(), SyncError> {
        self.expect_transition_from(Phase::Pruning)?;
        self.phase = Phase::Running;
        // The initial dump has been read, which is the C++ daemon's condition
        // for its first PortInitDone check.
        self.outbox = Outbox::InitDone;
        Ok(())
    }

    /// A message carrying sequence number `seq` arrived (a dump reply, the
    /// dump's `NLMSG_DONE`): from now on notifications are newer than the
    /// dump in flight, if `seq` is its number.
    pub fn dump_message(&mut self, seq: u32) {
        if seq != 0 && self.dump == Some(seq) {
            self.dump_replied = true;
        }
    }

    /// A dump was requested with sequence number `seq`: from now on its
    /// NEWLINK replies mark their ports as seen (a new epoch).
    pub fn dump_started(&mut self, seq: u32) {
        self.dump = Some(seq);
        self.dump_replied = false;
        self.epoch = self.epoch.wrapping_add(1);
        self.checking = false;
    }

    /// A dump with sequence number `seq` was asked for to check STATE_DB
    /// (reconciliation): as [`dump_started`](Self::dump_started), but its
    /// replies that equal the record write nothing (STATE_DB is read back
    /// and repaired afterwards; rewriting every port would wake every
    /// STATE_DB subscriber for nothing).
    pub fn check_dump_started(&mut self, seq: u32) {
        self.dump_started(seq);
        self.checking = true;
    }

    /// The dump outside start-up ended. If `complete`, every published port it
    /// did not report is deleted from STATE_DB (their DELLINK was lost).
    pub fn dump_ended(&mut self, complete: bool) -> Result<(), SyncError> {
        if self.phase == Phase::InitialDump {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        if self.outbox != Outbox::Idle {
            return Err(SyncError::OutboxNotDrained);
        }
        if !self.batch.is_empty() {
            return Err(SyncError::BatchOpen);
        }
        let started = self.dump.take().is_some();
        self.checking = false;
        if complete && started {
            self.outbox = Outbox::Vanished { remaining: self.published.len(), then_init_done: false };
        }
        Ok(())
    }

    /// Warm start: the snapshot of the previous run becomes the record of
    /// what STATE_DB holds. Only in [`Phase::Configuring`] of a warm start;
    /// ports beyond capacity are counted and left out.
    pub fn restore(&mut self, snapshot: &Snapshot<P>) -> Result<(), SyncError> {
        self.restore_ports(&snapshot.ports)
    }

    /// Warm start: [`restore`](Self::restore) from these ports (none, when
    /// there is no usable snapshot: the record is then built from STATE_DB
    /// alone, through [`rebase`](Self::rebase)).
    pub fn restore_ports(&mut self, ports: &[SnapshotPort]) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        if self.config.start != StartKind::Warm {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        for port in ports {
            let entry = Published { state: port.state, seen_in: self.epoch };
            if self.published.insert(port.name, entry).is_err() {
                self.counters.published_overflow += 1;
            }
        }
        self.restored = true;
        Ok(())
    }

    /// Warm start, before the dump: the state restored for `name`, if any.
    pub fn restored_state(&self, name: &PortName) -> Option<LinkState> {
        if !self.restored {
            return None;
        }
        self.published.get(name).map(|p| p.state)
    }

    /// Warm start, before the dump: what STATE_DB actually holds for a port
    /// replaces what the snapshot said, or joins the record if the snapshot
    /// (saved before it was published) did not have it (`None`: nothing
    /// usable, so the port is written from the dump).
    pub fn rebase(&mut self, name: &PortName, held: Option<LinkState>) -> Result<(), SyncError> {
        self.expect_phase(Phase::Configuring)?;
        if !self.restored {
            return Err(SyncError::WrongPhase { phase: self.phase });
        }
        match held {
            Some(state) => {
                let entry = Published { state, seen_in: self.epoch };
                if self.published.insert(*name, entry).is_err() {
                    self.counters.published_overflow += 1;
                }
            }
            None => {
                self.published.swap_remove(name);
            }
        }
        Ok(())
    }

    /// The state last published for `name`, if it is published.
    pub fn published_state(&self, name: &PortName) -> Option<LinkState> {
        self.published.get(name).map(|p| p.state)
    }

    /// Distinct ports in the open batch.
    pub fn batch_len(&self) -> usize {
        self.batch.len()
    }

    /// Whether `name` is a configured port.
    pub fn is_configured(&self, name: &PortName) -> bool {
        self.ports.contains_key(name)
    }

    /// The configured ports, in the order read.
    pub fn config_ports(&self) -> impl Iterator<Item = &PortName> + '_ {
        self.ports.keys()
    }

    /// What STATE_DB holds from this engine, for a warm-restart snapshot.
    pub fn snapshot(&self) -> Snapshot<P> {
        let mut ports = heapless::Vec::new();
        for (name, p) in &self.published {
            // Same capacity as `published`: cannot overflow.
            let _ = ports.push(SnapshotPort { name: *name, state: p.state });
        }
        Snapshot { port_init_done: self.init_done, ports }
    }

    /// Ports whose STATE_DB entry this engine wrote (or restored) and has not deleted.
    pub fn published(&self) -> impl Iterator<Item = (&PortName, &LinkState)> + '_ {
        self.published.iter().map(|(n, p)| (n, &p.state))
    }

    /// During a warm start's initial dump, a plain write equal to the
    /// restored record is left out.
    fn suppresses(&self, name: &PortName, pending: &Pending, state: LinkState) -> bool {
        let warm = self.restored
            && self.phase == Phase::InitialDump
            && matches!(pending.change, PendingChange::Write(_))
            && self.published.get(name).is_some_and(|p| p.state.is_baseline_of(&state));
        let checked = self.checking
            && pending.dump_reply
            && matches!(pending.change, PendingChange::Write(_))
            && self.published.get(name).is_some_and(|p| p.state == state);
        warm || checked
    }

    fn record_published(&mut self, name: PortName, state: LinkState, dump_reply: bool) {
        let unseen = self.epoch.wrapping_sub(1);
        let earlier = self.published.get(&name).map_or(unseen, |p| p.seen_in);
        let seen_in = if dump_reply { self.epoch } else { earlier };
        if self.published.insert(name, Published { state, seen_in }).is_err() {
            self.counters.published_overflow += 1;
        }
    }

    /// The next action to carry out, in order; `None` when there is nothing
    /// more until the next call that decides something.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            match self.outbox {
                Outbox::Idle => return None,
                Outbox::StaleLinks { next } => match self.stale.get_index(next) {
                    Some((&ifindex, &name)) => {
                        self.outbox = Outbox::StaleLinks { next: next + 1 };
                        return Some(Action::BringLinkDown { ifindex, name });
                    }
                    // The configuration is the leader's to produce.
                    None if self.role == Role::Follower => self.outbox = Outbox::Idle,
                    None => self.outbox = Outbox::ConfigPorts { next: 0 },
                },
                Outbox::ConfigPorts { next } => match self.ports.get_index(next) {
                    Some((&name, _)) => {
                        self.outbox = Outbox::ConfigPorts { next: next + 1 };
                        return Some(Action::ProduceAppPort { name });
                    }
                    None => {
                        self.outbox = Outbox::ConfigDone;
                    }
                },
                Outbox::ConfigDone => {
                    self.outbox = Outbox::Idle;
                    let count = u32::try_from(self.ports.len()).unwrap_or(u32::MAX);
                    return Some(Action::PortConfigDone { count });
                }
                Outbox::Batch { next, delete_sent } => {
                    let Some((&name, &pending)) = self.batch.get_index(next) else {
                        self.batch.clear();
                        self.outbox =
                            if self.phase == Phase::Running { Outbox::InitDone } else { Outbox::Idle };
                        continue;
                    };
                    let advance = Outbox::Batch { next: next + 1, delete_sent: false };
                    match pending.change {
                        PendingChange::Delete => {
                            self.outbox = advance;
                            self.counters.state_dels += 1;
                            self.published.remove(&name);
                            return Some(Action::DelStatePort { name });
                        }
                        PendingChange::DeleteThenWrite(_) if !delete_sent => {
                            self.outbox = Outbox::Batch { next, delete_sent: true };
                            self.counters.state_dels += 1;
                            self.published.remove(&name);
                            return Some(Action::DelStatePort { name });
                        }
                        PendingChange::Write(state) | PendingChange::DeleteThenWrite(state) => {
                            self.outbox = advance;
                            if !matches!(pending.presence, Presence::Present | Presence::Guarded) {
                                self.counters.not_in_app_db += 1;
                                return Some(Action::PortNotInAppDb { name });
                            }
                            if self.suppresses(&name, &pending, state) {
                                // STATE_DB already says this; the record learns the ifindex.
                                self.record_published(name, state, pending.dump_reply);
                                self.counters.suppressed += 1;
                                continue;
                            }
                            self.record_published(name, state, pending.dump_reply);
                            self.counters.state_sets += 1;
                            return Some(Action::SetStatePort { name, state });
                        }
                    }
                }
                Outbox::Vanished { remaining, then_init_done } => {
                    let next_outbox = if then_init_done { Outbox::InitDone } else { Outbox::Idle };
                    let Some(index) = remaining.checked_sub(1) else {
                        self.outbox = next_outbox;
                        continue;
                    };
                    self.outbox = Outbox::Vanished { remaining: index, then_init_done };
                    let Some((&name, p)) = self.published.get_index(index) else { continue };
                    if p.seen_in == self.epoch {
                        continue;
                    }
                    self.published.swap_remove(&name);
                    self.counters.vanished += 1;
                    self.counters.state_dels += 1;
                    return Some(Action::DelStatePort { name });
                }
                Outbox::InitDone => {
                    self.outbox = Outbox::Idle;
                    if self.awaiting == 0 {
                        if self.role != Role::Single && !self.own_ready {
                            self.own_ready = true;
                            return Some(Action::OwnPortsReady);
                        }
                        let decides = match self.role {
                            Role::Single => true,
                            Role::Leader => self.init_released,
                            Role::Follower => false,
                        };
                        if decides && !self.init_done {
                            self.init_done = true;
                            return Some(Action::PortInitDone);
                        }
                    }
                }
            }
        }
    }
}

/// The engine's published record seen as a [`Snapshot`], without copying
/// it: it serializes (serde) to the very bytes the snapshot would, so a
/// save writes it straight from the record. A snapshot of 1024 ports is
/// 28 KiB: built to be saved, it would sit on the stack of whoever saves.
#[derive(Clone, Copy)]
pub struct SnapshotView<'a, const P: usize> {
    port_init_done: bool,
    published: &'a FnvIndexMap<PortName, Published, P>,
}

impl<const P: usize> SnapshotView<'_, P> {
    /// Whether PortInitDone had been produced.
    pub const fn port_init_done(&self) -> bool {
        self.port_init_done
    }

    /// How many ports were published.
    pub fn len(&self) -> usize {
        self.published.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.published.is_empty()
    }

    /// The published ports.
    pub fn ports(&self) -> impl Iterator<Item = SnapshotPort> + '_ {
        self.published.iter().map(|(name, p)| SnapshotPort { name: *name, state: p.state })
    }
}

impl<const P: usize> fmt::Debug for SnapshotView<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotView")
            .field("port_init_done", &self.port_init_done)
            .field("ports", &self.published.len())
            .finish()
    }
}

/// Field for field as [`Snapshot`]'s derived `Serialize`.
impl<const P: usize> serde::Serialize for SnapshotView<'_, P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;

        /// The ports, as `heapless::Vec` serializes: a sequence of known length.
        struct Ports<'v, const P: usize>(&'v SnapshotView<'v, P>);

        impl<const P: usize> serde::Serialize for Ports<'_, P> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for port in self.0.ports() {
                    seq.serialize_element(&port)?;
                }
                seq.end()
            }
        }

        let mut s = serializer.serialize_struct("Snapshot", 2)?;
        s.serialize_field("port_init_done", &self.port_init_done)?;
        s.serialize_field("ports", &Ports(self))?;
        s.end()
    }
}

impl<const P: usize, const B: usize> fmt::Debug for LinkSync<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSync")
            .field("config", &self.config)
            .field("phase", &self.phase)
            .field("ports", &self.ports.len())
            .field("awaiting", &self.awaiting)
            .field("stale", &self.stale.len())
            .field("batch", &self.batch.len())
            .field("outbox", &self.outbox)
            .field("init_done", &self.init_done)
            .finish()
    }
}
