//! The driver: the top of the core, and the only thing the daemon talks to.
//!
//! It owns every decision of a running portsyncd that is not about one link
//! message: the start-up sequence (LOGGER, DEVICE_METADATA, WarmStart,
//! CONFIG_DB ports, the warm baseline), the dumps (initial, after an overrun,
//! again after an interrupted one), APPL_DB presence trust, the batch call
//! protocol of the [engine](crate::engine), writes a database refused and
//! their retries, the snapshot cadence, the LOGGER poll, backend
//! maintenance, reloads (SIGHUP, new settings), shutdown, and every timer.
//!
//! It is sans-IO in the manner of quinn-proto: inputs are `handle_*(now, …)`
//! calls, outputs are [`poll_io`](Driver::poll_io) (one request at a time,
//! each answered before the next), [`poll_event`](Driver::poll_event) (what
//! to log) and [`poll_timeout`](Driver::poll_timeout) (when to call
//! [`handle_timeout`](Driver::handle_timeout) next). It reads no clock, does
//! no I/O and allocates nothing; its size is fixed by its capacities.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     while let Some(io) = driver.poll_io() { carry it out; answer it }
//!     while let Some(event) = driver.poll_event() { log it }
//!     wait for a datagram, a signal or poll_timeout();  now = clock
//!     handle_datagram(now, …) / handle_overrun(now) … handle_batch_end(now)
//!     handle_timeout(now)            // on every wake-up: due timers fire
//! }
//! ```
//!
//! Datagrams already queued form one batch: feed each with
//! [`handle_datagram`](Driver::handle_datagram) (which says how much it
//! took; carry out the I/O and feed the rest), then call
//! [`handle_batch_end`](Driver::handle_batch_end). Timers are absolute
//! deadlines, so no stream of events can starve periodic work.

pub mod canned;
mod io;
mod liveness;
pub use liveness::liveness_interval;
mod observed;
pub use observed::Observed;
mod alerting;
pub use alerting::{
    ALARM_RESOURCE, AlarmFields, AlarmRow, AlarmText, SYSTEM_ALARMS_TABLE, Watched, default_rules,
};
mod partitioned;
pub use partitioned::{FILTER_EVERY, FOLLOWER_POLL, LEADER_POLL, Mismatch};
mod reconcile;
mod reload;
mod running;
mod startup;
mod summary;

use core::time::Duration;

use heapless::Deque;

pub use io::{Failure, Io, Keep, Notify, Read, Reply, Signal, SnapshotLoad, Unasked, WriteResult};

use crate::backend::{BackendStatus, Db};
use crate::backoff::Backoff;
use crate::engine::{
    Action, DEFAULT_BATCH_CAPACITY, DEFAULT_PORT_CAPACITY, Disposition, LinkSync, Phase, StartKind,
    SwitchType, SyncConfig, SyncError,
};
use crate::eoiu::{Eoiu, EoiuDetector};
use crate::event::{Event, Repeat, Status, Text};
use crate::health::{Health, HealthThresholds};
use crate::logger::{self, Level, Output};
use crate::metrics::DriverMetrics;
use crate::name::{LinkLabel, PortName};
use crate::netlink::{LinkMessage, Message, messages};
use crate::presence::PresenceTrust;
use crate::repeats::{Repeats, Say};
use crate::schema;
use crate::time::Instant;
use crate::warm::{self, StatePortReader, WarmStartCheck};
use crate::writes::{Refused, WriteOp};

/// Flaps are counted per port per this window ("flaps a minute").
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// Alarm rows waiting to be written: a raise and a clear for every rule.
const ALARM_QUEUE: usize = 2 * crate::alerts::MAX_RULES;

/// Events waiting to be polled before the driver takes more input.
const EVENT_CAPACITY: usize = 64;

/// The driver with the default capacities.
pub type DefaultDriver = Driver<DEFAULT_PORT_CAPACITY, DEFAULT_BATCH_CAPACITY>;

/// The driver's settings (the daemon's configuration file sets most).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// How long to wait for the end of a dump before going on without it.
    pub dump_timeout: Duration,
    /// Least time between two saves of the warm-restart snapshot.
    pub snapshot_interval: Duration,
    /// Log output regardless of CONFIG_DB's LOGOUTPUT (`None`: CONFIG_DB decides).
    pub log_output: Option<Output>,
    /// How long APPL_DB's "this port exists" is trusted (see [`crate::presence`]).
    pub presence_trust: Duration,
    /// How often the backend is maintained (reconnects, kept writes) and its status checked.
    pub maintain_interval: Duration,
    /// How often CONFIG_DB's LOGLEVEL is read again.
    pub logger_poll_interval: Duration,
    /// First delay before writing refused writes again.
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
    /// How long shutdown waits for the backend's kept writes (after one last
    /// attempt at the writes a database refused).
    pub shutdown_flush: Duration,
    /// Datagrams already queued that one batch takes at most (then it is
    /// committed, and the rest forms the next).
    pub datagrams_per_batch: u32,
    /// Jitter seed (the pid will do).
    pub seed: u64,
    /// Trouble that repeats is said once per this window, then counted
    /// (see [`crate::repeats`]).
    pub repeat_window: Duration,
    /// When health changes state (see [`crate::health`]).
    pub health: HealthThresholds,
    /// How often [`Notify::Alive`] is said while the loop makes progress
    /// (`None`: never; the daemon sets half of systemd's `WATCHDOG_USEC`, or
    /// supervisord's heartbeat interval, whichever is shorter).
    pub liveness_interval: Option<Duration>,
    /// Alerts also go to STATE_DB `SYSTEM_ALARMS` (off by default: Redis
    /// then holds exactly what the C++ daemon leaves).
    pub alarm_table: bool,
    /// How often the kernel is dumped again and STATE_DB read back to repair
    /// drift (`None`: only on request; see [`Driver::request_reconcile`]).
    pub reconcile_interval: Option<Duration>,
    /// This instance among partitioned ones (default: the only one).
    pub partition: crate::partition::Partition,
    /// A number unique to this run (the leader of partitioned instances
    /// names its run with it; the pid and the start time will do).
    pub run_token: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            dump_timeout: Duration::from_secs(5),
            snapshot_interval: Duration::from_secs(1),
            log_output: None,
            presence_trust: Duration::from_secs(5),
            maintain_interval: Duration::from_secs(1),
            logger_poll_interval: Duration::from_secs(5),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            shutdown_flush: Duration::from_millis(500),
            datagrams_per_batch: 256,
            seed: 1,
            repeat_window: Duration::from_secs(10),
            health: HealthThresholds::default(),
            liveness_interval: None,
            alarm_table: false,
            reconcile_interval: Some(Duration::from_secs(300)),
            partition: crate::partition::Partition::single(),
            run_token: 1,
        }
    }
}

/// When things happened, from the driver's creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Milestones {
    /// End of the initial dump.
    pub eoiu: Option<Duration>,
    /// PortConfigDone decided.
    pub port_config_done: Option<Duration>,
    /// PortInitDone decided.
    pub port_init_done: Option<Duration>,
}

/// What the driver counted (the engine counts its own: [`Driver::engine`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Datagrams handed in (a datagram fed in parts counts once per part).
    pub datagrams: u64,
    /// Malformed netlink messages skipped.
    pub malformed: u64,
    /// Netlink overruns.
    pub overruns: u64,
    /// Dumps requested after an overrun or an interrupted or incomplete dump.
    pub redumps: u64,
    /// Ports deleted because a dump no longer had them.
    pub vanished: u64,
    /// APPL_DB `PORT_TABLE` producer sets decided (ports and markers).
    pub appl_produces: u64,
    /// Write batches carried out.
    pub writes_sent: u64,
    /// Write batches a database refused.
    pub writes_refused: u64,
    /// Refused writes that found no room to be kept.
    pub refused_lost: u64,
    /// APPL_DB presence reads.
    pub presence_reads: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// Snapshot saves that failed.
    pub snapshot_failures: u64,
    /// Reconciliations begun (periodic or requested).
    pub reconciliations: u64,
    /// STATE_DB port entries reconciliation repaired.
    pub repaired: u64,
    /// Netlink socket failures (not overruns), and failed attempts to open
    /// it again.
    pub netlink_failures: u64,
    /// Times the netlink socket was opened again.
    pub netlink_reopens: u64,
    /// Links whose notifications the link source drops (partitioned
    /// instances: other instances' links), as last set.
    pub links_denied: u64,
    /// STATE_DB `SYSTEM_ALARMS` rows written or deleted.
    pub alarm_rows_written: u64,
    /// Alarm rows dropped from a full queue.
    pub alarm_rows_dropped: u64,
}

/// Where the driver is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Start(StartStep),
    Run,
    Stop(StopStep),
    Exit(Result<(), Failure>),
    Done(Result<(), Failure>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartStep {
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
enum StopStep {
    Notify,
    Retry,
    Flush,
    Save,
    Exit,
}

/// The answer the driver waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Nothing,
    Read(ReadFor),
    Write(WriteFor),
    Dump,
    LinkDown { ifindex: u32, name: LinkLabel },
    SnapshotLoad,
    SnapshotSave,
    Maintain,
    Reopen,
    LinkFilter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadFor {
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
enum WriteFor {
    Startup(&'static str),
    Decided,
    Retry,
    Alarm,
    Coordination,
}

/// What follows once the engine's actions are drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterDrain {
    Nothing,
    Prune,
    InitialSyncDone,
    DumpChecked { complete: bool },
}

/// Requests that need no answer, handed out before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direct {
    Level(Level),
    Output(Output),
    Notify(Notify),
}

/// What start-up learnt, until it is over.
#[derive(Clone, Copy, Debug)]
struct Learnt {
    level: Option<Result<Level, Text>>,
    output: Option<Result<Output, Text>>,
    switch_type: SwitchType,
    warm_enabled: bool,
    warm: Option<Result<WarmStartCheck, warm::BadRestoreCount>>,
    /// Warm baseline: the key being read and what was read of it.
    cursor: usize,
    reader: StatePortReader,
    kept: usize,
    /// CONFIG_DB PORT keys beyond the port capacity.
    over_capacity: usize,
}

impl<const P: usize, const B: usize> Default for Driver<P, B> {
    /// A driver at time zero with the default settings; see [`Driver::configure`].
    fn default() -> Self {
        Self::new(Instant::from_millis(0), DriverConfig::default())
    }
}

/// The top-level state machine; see the [module docs](self).
pub struct Driver<const P: usize, const B: usize> {
    config: DriverConfig,
    started: Instant,
    stage: Stage,
    awaiting: Awaiting,
    engine: LinkSync<P, B>,
    eoiu: EoiuDetector,
    presence: PresenceTrust<P>,
    refused: Refused<P>,
    retry: Backoff,
    /// Keys of the read in flight.
    keys: heapless::Vec<PortName, P>,
    /// Writes being collected, then in flight.
    ops: heapless::Vec<WriteOp, B>,
    events: Deque<Event, EVENT_CAPACITY>,
    direct: Deque<Direct, 8>,
    learnt: Learnt,
    level: Level,
    /// Hash of the last LOGLEVEL value warned about.
    bad_level_seen: Option<u32>,
    /// The log output in use.
    output: Output,
    /// CONFIG_DB's LOGOUTPUT as last read, if it was usable.
    db_output: Option<Output>,
    /// The last LOGOUTPUT value found unusable (hashed), said once.
    bad_output_seen: Option<u32>,
    // Batches and dumps.
    in_batch: bool,
    /// Datagrams in the open batch.
    batch_datagrams: u32,
    closing: bool,
    draining: bool,
    after_drain: AfterDrain,
    vanished_in_drain: usize,
    dump_seq: Option<u32>,
    dump_end: Option<Eoiu>,
    redump_wanted: bool,
    /// APPL_DB could not be asked about a batch: dump again at the next retry.
    resync_wanted: bool,
    overrun: bool,
    // Timers: absolute deadlines, and work they made due.
    maintain_at: Instant,
    logger_at: Instant,
    retry_at: Option<Instant>,
    /// When the engine's per-port flap window rolls next.
    flap_window_at: Instant,
    /// The next periodic reconciliation.
    reconcile_at: Option<Instant>,
    /// Since when the netlink socket is lost (failed, not open again).
    links_lost: Option<Instant>,
    /// When to try opening it again.
    reopen_at: Option<Instant>,
    reopen_due: bool,
    /// Delays between attempts to open it again.
    reopen_backoff: Backoff,
    /// Where the reconciliation is.
    reconcile: reconcile::Reconcile,
    /// Ports repaired in this round.
    repaired_in_round: usize,
    /// Partitioned instances: where the coordination is.
    coordination: partitioned::Coordination,
    /// Links other instances take, whose notifications the link source is
    /// asked to drop.
    denied: heapless::Vec<u32, P>,
    denied_dirty: bool,
    filter_not_before: Option<Instant>,
    last_save: Instant,
    stop_deadline: Instant,
    /// How the run ends once the stop sequence is through.
    stop_result: Result<(), Failure>,
    /// Which repeated lines are said.
    repeats: Repeats<{ Repeat::COUNT }>,
    /// How well it is doing.
    health: Health,
    /// Since when the backend is degraded (unreachable or refusing the
    /// writes it keeps).
    degraded_since: Option<Instant>,
    /// Since when refused writes are kept.
    refused_since: Option<Instant>,
    /// When the request awaited was handed out.
    asked_at: Instant,
    /// The next [`Notify::Alive`].
    liveness_at: Option<Instant>,
    /// READY was said.
    ready: bool,
    /// The last event said at NOTICE or above (for the status line).
    last_event: Option<Event>,
    /// Histograms of the hot path.
    metrics: DriverMetrics,
    /// Alert rules and their alerts.
    alerts: crate::alerts::DefaultAlertRules<Watched>,
    /// Alarm rows to write to STATE_DB, oldest first.
    alarm_rows: Deque<AlarmRow, ALARM_QUEUE>,
    /// The last alarm write was refused: none until the next maintenance.
    alarm_held: bool,
    /// The rows a crashed run may have left were cleared.
    alarm_rows_cleared: bool,
    /// When the first datagram of the batch being read came.
    batch_received: Instant,
    /// When the first datagram behind the writes being collected came.
    ops_received: Instant,
    maintain_due: bool,
    logger_due: bool,
    retry_due: bool,
    snapshot_due: bool,
    snapshot_dirty: bool,
    backend: BackendStatus,
    /// The latest time any input brought.
    now: Instant,
    milestones: Milestones,
    counters: DriverCounters,
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// A driver starting at `now`: its first request reads CONFIG_DB's LOGGER.
    pub fn new(now: Instant, config: DriverConfig) -> Self {
        Self {
            config,
            started: now,
            stage: Stage::Start(StartStep::Logger),
            awaiting: Awaiting::Nothing,
            engine: LinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch }),
            eoiu: EoiuDetector::new(),
            presence: PresenceTrust::new(config.presence_trust),
            refused: Refused::new(),
            retry: Backoff::new(config.retry_base, config.retry_max, config.seed),
            keys: heapless::Vec::new(),
            ops: heapless::Vec::new(),
            events: Deque::new(),
            direct: Deque::new(),
            learnt: Learnt {
                level: None,
                output: None,
                switch_type: SwitchType::Switch,
                warm_enabled: false,
                warm: None,
                cursor: 0,
                reader: StatePortReader::default(),
                kept: 0,
                over_capacity: 0,
            },
            level: Level::Notice,
            bad_level_seen: None,
            output: Output::Syslog,
            db_output: None,
            bad_output_seen: None,
            in_batch: false,
            batch_datagrams: 0,
            closing: false,
            draining: false,
            after_drain: AfterDrain::Nothing,
            vanished_in_drain: 0,
            dump_seq: None,
            dump_end: None,
            redump_wanted: false,
            resync_wanted: false,
            overrun: false,
            maintain_at: now.saturating_add(config.maintain_interval),
            logger_at: now.saturating_add(config.logger_poll_interval),
            retry_at: None,
            flap_window_at: now.saturating_add(FLAP_WINDOW),
            reconcile_at: config.reconcile_interval.map(|i| now.saturating_add(i)),
            links_lost: None,
            reopen_at: None,
            reopen_due: false,
            reopen_backoff: Backoff::new(config.retry_base, config.retry_max, config.seed ^ 0x6e6c),
            reconcile: reconcile::Reconcile::Idle,
            repaired_in_round: 0,
            coordination: partitioned::Coordination::default(),
            denied: heapless::Vec::new(),
            denied_dirty: false,
            filter_not_before: None,
            last_save: now,
            stop_deadline: now,
            stop_result: Ok(()),
            repeats: Repeats::new(config.repeat_window),
            health: Health::new(now, config.health),
            degraded_since: None,
            refused_since: None,
            asked_at: now,
            liveness_at: config.liveness_interval.map(|i| now.saturating_add(i)),
            ready: false,
            last_event: None,
            metrics: DriverMetrics::default(),
            alerts: crate::alerts::AlertRules::empty(now),
            alarm_rows: Deque::new(),
            alarm_held: false,
            alarm_rows_cleared: false,
            batch_received: now,
            ops_received: now,
            maintain_due: false,
            logger_due: false,
            retry_due: false,
            snapshot_due: false,
            snapshot_dirty: false,
            backend: BackendStatus::Connected,
            now,
            milestones: Milestones::default(),
            counters: DriverCounters::default(),
        }
    }

    /// Sets the start time and the settings of a driver made with
    /// [`Default`] (which lets `Box::default()` build it in place, without a
    /// copy on the stack). Only before its first request; later, see
    /// [`reconfigure`](Self::reconfigure).
    pub fn configure(&mut self, now: Instant, config: DriverConfig) -> Result<(), Unasked> {
        if self.stage != Stage::Start(StartStep::Logger) || self.awaiting != Awaiting::Nothing {
            return Err(Unasked { answer: "a start time and settings" });
        }
        self.config = config;
        self.started = now;
        self.now = now;
        self.presence = PresenceTrust::new(config.presence_trust);
        self.retry = Backoff::new(config.retry_base, config.retry_max, config.seed);
        self.reopen_backoff = Backoff::new(config.retry_base, config.retry_max, config.seed ^ 0x6e6c);
        self.repeats = Repeats::new(config.repeat_window);
        self.health = Health::new(now, config.health);
        self.asked_at = now;
        self.liveness_at = config.liveness_interval.map(|i| now.saturating_add(i));
        self.maintain_at = now.saturating_add(config.maintain_interval);
        self.logger_at = now.saturating_add(config.logger_poll_interval);
        self.flap_window_at = now.saturating_add(FLAP_WINDOW);
        self.reconcile_at = config.reconcile_interval.map(|i| now.saturating_add(i));
        self.last_save = now;
        self.stop_deadline = now;
        Ok(())
    }

    /// The engine (for its counters, its record of published ports, tests).
    pub fn engine(&self) -> &LinkSync<P, B> {
        &self.engine
    }

    /// What the driver counted.
    pub const fn counters(&self) -> &DriverCounters {
        &self.counters
    }

    /// Its histograms (write batch sizes, notification-to-write latency).
    pub const fn metrics(&self) -> &DriverMetrics {
        &self.metrics
    }

    /// When things happened.
    pub const fn milestones(&self) -> &Milestones {
        &self.milestones
    }

    /// The log level in force.
    pub const fn level(&self) -> Level {
        self.level
    }

    /// Whether the driver has handed out [`Io::Exit`].
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// How the run ended, once [`Io::Exit`] has been handed out.
    pub fn exited(&self) -> Option<Result<(), Failure>> {
        match self.stage {
            Stage::Done(result) => Some(result),
            _ => None,
        }
    }

    /// Whether it takes datagrams now: start-up is over, nothing is awaited
    /// and no event waits to be polled.
    pub fn takes_input(&self) -> bool {
        self.stage == Stage::Run
            && self.awaiting == Awaiting::Nothing
            && !self.events.is_full()
            && !self.closing
            && !self.draining
            && self.after_drain == AfterDrain::Nothing
            && self.ops.is_empty()
    }

    /// Whether the open batch takes another datagram already queued (read
    /// one with a non-blocking receive), or should end now
    /// ([`handle_batch_end`](Self::handle_batch_end)).
    pub fn wants_queued_datagram(&self) -> bool {
        self.takes_input() && self.batch_datagrams < self.config.datagrams_per_batch
    }

    /// Writes refused and kept for a later attempt.
    pub fn refused_writes(&self) -> usize {
        self.refused.len()
    }

    /// Something could not be asked or dumped: dump again when the retry
    /// timer fires (its delay grows while this keeps happening).
    fn resync_later(&mut self, now: Instant) {
        self.resync_wanted = true;
        if self.retry_at.is_none() && !self.retry_due {
            self.retry_at = Some(now.saturating_add(self.retry.next_delay()));
        }
    }

    fn since_start(&self, now: Instant) -> Duration {
        now.saturating_since(self.started)
    }

    fn emit(&mut self, event: Event) {
        if event.level() > self.level {
            return;
        }
        if event.level() <= Level::Notice {
            self.last_event = Some(event);
        }
        if let Some(kind) = event.repeat() {
            if self.repeats.happened(self.now, kind as usize) == Say::Quiet {
                return;
            }
        }
        // Callers stop taking input while the queue is full, so this
        // has room; a full queue would lose a line, never state.
        let _ = self.events.push_back(event);
    }

    /// The trouble of `kinds` is over: what was held back is said.
    fn repeats_ended(&mut self, kinds: &[Repeat]) {
        for &kind in kinds {
            if let Some(held) = self.repeats.ended(kind as usize) {
                // Held back until now, not over a whole window.
                self.emit(Event::Repeated { kind, held, window_s: 0 });
            }
        }
    }

    fn emit_repeated(&mut self, kind: Repeat, held: u32) {
        let window_s = self.repeats.window().as_secs().try_into().unwrap_or(u32::MAX);
        self.emit(Event::Repeated { kind, held, window_s });
    }

    /// The next line to log.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let soonest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let repeats = soonest(self.repeats.poll_timeout(), self.liveness_at);
        match self.stage {
            Stage::Run => {}
            Stage::Stop(StopStep::Flush) => return Some(self.stop_deadline),
            Stage::Exit(_) | Stage::Done(_) => return None,
            _ => return repeats,
        }
        let repeats = soonest(repeats, self.health.poll_timeout(self.now, &self.health_facts()));
        let repeats = soonest(repeats, self.alerts.poll_timeout());
        let mut at = self.maintain_at.min(self.logger_at).min(self.flap_window_at);
        if let Some(t) = self.eoiu.poll_timeout() {
            at = at.min(t);
        }
        if let Some(t) = self.retry_at {
            at = at.min(t);
        }
        if let Some(t) = self.reconcile_at {
            at = at.min(t);
        }
        if let Some(t) = self.reopen_at {
            at = at.min(t);
        }
        if let Some(t) = self.coordination_at() {
            at = at.min(t);
        }
        if let Some(t) = self.link_filter_at() {
            at = at.min(t);
        }
        if let Some(t) = self.snapshot_at() {
            at = at.min(t);
        }
        if let Some(t) = repeats {
            at = at.min(t);
        }
        Some(at)
    }

    fn snapshot_at(&self) -> Option<Instant> {
        (self.snapshot_dirty && self.engine.phase() == Phase::Running)
            .then(|| self.last_save.saturating_add(self.config.snapshot_interval))
    }

    /// Time has come to `now`: whatever is due becomes work. Call it on every
    /// wake-up (it does nothing when nothing is due).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some((kind, held)) = self.repeats.poll(now) {
            if let Some(kind) = Repeat::ALL.get(kind) {
                self.emit_repeated(*kind, held);
            }
        }
        if self.stage != Stage::Run {
            return;
        }
        self.note_trouble_starts();
        self.assess_health();
        self.evaluate_alerts(now);
        if let Some(end) = self.eoiu.handle_timeout(now) {
            self.dump_ended(end);
        }
        if now >= self.maintain_at {
            self.maintain_due = true;
            self.alarm_held = false;
            self.maintain_at = now.saturating_add(self.config.maintain_interval);
        }
        self.reconcile_timer(now);
        self.coordination_timer(now);
        if self.reopen_at.is_some_and(|t| now >= t) {
            self.reopen_at = None;
            self.reopen_due = true;
        }
        if now >= self.flap_window_at {
            self.engine.roll_flap_window();
            self.flap_window_at = now.saturating_add(FLAP_WINDOW);
        }
        if now >= self.logger_at {
            self.logger_due = true;
            self.logger_at = now.saturating_add(self.config.logger_poll_interval);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.retry_due = true;
        }
        if self.snapshot_at().is_some_and(|t| now >= t) {
            self.snapshot_due = true;
        }
    }

    /// A signal arrived.
    pub fn handle_signal(&mut self, now: Instant, signal: Signal) {
        self.advance(now);
        match signal {
            Signal::Terminate => {
                if matches!(self.stage, Stage::Stop(_) | Stage::Exit(_) | Stage::Done(_)) {
                    return;
                }
                self.emit(Event::Stopping);
                self.stop(now, Ok(()));
            }
            Signal::Reload => self.reload(now),
            Signal::Reconcile => self.request_reconcile(now),
        }
    }

    /// Ends the run with `result`: at once during start-up (nothing of this
    /// run is worth saving yet: a snapshot of it would replace a good one
    /// with an empty one), else through the stop sequence (last retries,
    /// flush, snapshot).
    pub(super) fn stop(&mut self, now: Instant, result: Result<(), Failure>) {
        if matches!(self.stage, Stage::Start(_)) {
            self.exit(result);
            return;
        }
        self.stop_result = result;
        self.stop_deadline = now.saturating_add(self.config.shutdown_flush);
        self.stage = Stage::Stop(StopStep::Notify);
    }

    // ---------------------------------------------------------------- input

    /// Part of the answer to the [`Io::Read`] handed out.
    pub fn handle_reply(&mut self, now: Instant, reply: Reply<'_>) -> Result<(), Unasked> {
        self.advance(now);
        let Awaiting::Read(purpose) = self.awaiting else { return Err(Unasked { answer: "a read reply" }) };
        let end = matches!(reply, Reply::Done | Reply::Failed);
        let failed = reply == Reply::Failed;
        match purpose {
            ReadFor::Logger => self.logger_reply(reply),
            ReadFor::SwitchType => {
                if let Reply::Value(v) = reply {
                    if v == schema::SWITCH_TYPE_DPU.as_bytes() {
                        self.learnt.switch_type = SwitchType::Dpu;
                    } else if core::str::from_utf8(v).is_err() {
                        // Anything but "dpu" is a switch to the C++ daemon too;
                        // bytes that are not text are worth a word.
                        self.emit(Event::BadSwitchType { value: Text::new(v) });
                    }
                }
            }
            ReadFor::WarmEnable(_) => {
                if let Reply::Value(v) = reply {
                    self.learnt.warm_enabled |= warm::enables(Some(v));
                }
            }
            ReadFor::RestoreCount => {
                if let Reply::Value(v) = reply {
                    self.learnt.warm = Some(warm::check(true, Some(v)));
                }
            }
            ReadFor::ConfigKeys => {
                if let Reply::Key(key) = reply {
                    match self.engine.add_config_port(key) {
                        Ok(()) => {}
                        // Counted: the run is refused once all keys are in.
                        Err(SyncError::PortTableFull) => self.learnt.over_capacity += 1,
                        Err(error) => self.emit(Event::ConfigPortSkipped { key: Text::new(key), error }),
                    }
                }
            }
            ReadFor::ConfigFields => {
                if let Reply::Field { index, field, value } = reply {
                    if field == schema::CONFIG_INDEX_FIELD.as_bytes() {
                        if let Some(name) = self.keys.get(index).copied() {
                            if let Err(e) = self.engine.set_port_index(&name, value) {
                                self.emit(Event::Engine(e));
                            }
                        }
                    }
                }
                if let Reply::Flag { index, present: false } = reply {
                    if let Some(name) = self.keys.get(index).copied() {
                        match self.engine.drop_config_port(&name) {
                            Ok(()) => self.emit(Event::ConfigPortEmpty { name }),
                            Err(e) => self.emit(Event::Engine(e)),
                        }
                    }
                }
            }
            ReadFor::Baseline => self.baseline_reply(reply),
            ReadFor::Presence => {
                if let Reply::Flag { index, present } = reply {
                    if let Some(name) = self.keys.get(index) {
                        self.presence.answer(*name, present, now);
                    }
                }
            }
            ReadFor::Prune => {
                if let Reply::Flag { index, present } = reply {
                    if let Some(name) = self.keys.get(index).copied() {
                        if let Err(e) = self.engine.prune(&name, present) {
                            self.emit(Event::Engine(e));
                        }
                    }
                }
            }
            ReadFor::Reconcile => self.reconcile_reply(reply),
            ReadFor::Instances => {
                if let Reply::Field { index, field, value } = reply {
                    self.instance_reply(index, field, value);
                }
            }
            ReadFor::LeaderToken => {
                if let Reply::Field { field, value, .. } = reply {
                    self.leader_token_reply(field, value);
                }
            }
            ReadFor::LoggerPoll => {
                if let Reply::Field { field, value, .. } = reply {
                    if field == logger::LOGLEVEL_FIELD.as_bytes() {
                        self.apply_level(value);
                    } else if field == logger::LOGOUTPUT_FIELD.as_bytes() {
                        self.apply_output(value);
                    }
                }
            }
        }
        if end {
            self.answered();
            self.read_ended(now, purpose, failed);
        }
        Ok(())
    }

    fn exit(&mut self, result: Result<(), Failure>) {
        self.stage = Stage::Exit(result);
    }

    /// The next request. Until it is answered (see each [`Io`]), this returns
    /// `None`; it also returns `None` when there is nothing to do until more
    /// input or [`poll_timeout`](Self::poll_timeout), and while events wait
    /// to be polled: drain [`poll_event`](Self::poll_event) and ask again.
    #[must_use]
    pub fn poll_io(&mut self) -> Option<Io<'_, P, B>> {
        loop {
            if let Some(direct) = self.direct.pop_front() {
                return Some(match direct {
                    Direct::Level(level) => Io::SetLogLevel(level),
                    Direct::Output(output) => Io::SetLogOutput(output),
                    Direct::Notify(notify) => Io::Notify(notify),
                });
            }
            if self.awaiting != Awaiting::Nothing || self.events.len() + 8 > EVENT_CAPACITY {
                return None;
            }
            let step = match self.stage {
                Stage::Start(step) => self.next_start(step),
                Stage::Run => self.next_run(),
                Stage::Stop(step) => self.next_stop(step),
                Stage::Exit(result) => {
                    self.stage = Stage::Done(result);
                    return Some(Io::Exit(result));
                }
                Stage::Done(_) => Step::Idle,
            };
            match step {
                Step::Idle => return None,
                Step::Again => continue,
                Step::Ask(request) => return Some(self.request(request)),
            }
        }
    }

    /// The view of a request whose answer is now awaited.
    fn request(&mut self, request: Request) -> Io<'_, P, B> {
        self.asked_at = self.now;
        self.awaiting = match request {
            Request::Read(purpose) => Awaiting::Read(purpose),
            Request::Write(purpose) => Awaiting::Write(purpose),
            Request::Dump => Awaiting::Dump,
            Request::LinkDown { ifindex, name } => Awaiting::LinkDown { ifindex, name },
            Request::LoadSnapshot => Awaiting::SnapshotLoad,
            Request::SaveSnapshot => Awaiting::SnapshotSave,
            Request::Maintain(_) => Awaiting::Maintain,
            Request::ReopenLinks => Awaiting::Reopen,
            Request::LinkFilter => Awaiting::LinkFilter,
        };
        match request {
            Request::Read(purpose) => Io::Read(self.read_of(purpose)),
            Request::Write(WriteFor::Alarm) => match self.alarm_rows.front() {
                Some(row) => Io::WriteAlarm(row),
                // alarm_due() said there is one; nothing else takes it.
                None => Io::Write(&[]),
            },
            Request::Write(_) => Io::Write(&self.ops),
            Request::Dump => Io::RequestDump,
            Request::LinkDown { ifindex, name } => Io::BringLinkDown { ifindex, name },
            Request::LoadSnapshot => Io::LoadSnapshot,
            Request::SaveSnapshot => Io::SaveSnapshot(&self.engine),
            Request::Maintain(deadline) => Io::Maintain { deadline },
            Request::ReopenLinks => Io::ReopenLinks,
            Request::LinkFilter => Io::DenyLinks(crate::link_filter::LinkDenial {
                ifindexes: &self.denied,
                keep_port_names: self.config.partition.is_single(),
            }),
        }
    }

    fn read_of(&self, purpose: ReadFor) -> Read<'_> {
        let keys = &self.keys;
        match purpose {
            ReadFor::Logger => Read::Hash { db: Db::Config, table: logger::LOGGER_TABLE, key: schema::APP },
            ReadFor::SwitchType => Read::Field {
                db: Db::Config,
                table: schema::CONFIG_DEVICE_METADATA_TABLE,
                key: schema::CONFIG_DEVICE_METADATA_KEY,
                field: schema::SWITCH_TYPE_FIELD,
            },
            ReadFor::WarmEnable(i) => Read::Field {
                db: Db::State,
                table: warm::WARM_RESTART_ENABLE_TABLE,
                key: warm::ENABLE_KEYS[i.min(warm::ENABLE_KEYS.len() - 1)],
                field: warm::ENABLE_FIELD,
            },
            ReadFor::RestoreCount => Read::Field {
                db: Db::State,
                table: warm::WARM_RESTART_TABLE,
                key: schema::APP,
                field: warm::RESTORE_COUNT_FIELD,
            },
            ReadFor::ConfigKeys => Read::Keys { db: Db::Config, table: schema::CONFIG_PORT_TABLE },
            ReadFor::ConfigFields => Read::Hashes {
                db: Db::Config,
                table: schema::CONFIG_PORT_TABLE,
                keys,
                keep: Keep::ConfigPortFields,
            },
            ReadFor::Baseline => {
                Read::Hashes { db: Db::State, table: schema::STATE_PORT_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::Presence => Read::Exists { db: Db::Appl, table: schema::APP_PORT_TABLE, keys },
            ReadFor::Prune => Read::HasField {
                db: Db::Appl,
                table: schema::APP_PORT_TABLE,
                keys,
                field: schema::ADMIN_STATUS_FIELD,
            },
            ReadFor::LoggerPoll => {
                Read::Hash { db: Db::Config, table: logger::LOGGER_TABLE, key: schema::APP }
            }
            ReadFor::Reconcile => {
                Read::Hashes { db: Db::State, table: schema::STATE_PORT_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::Instances => {
                Read::Hashes { db: Db::State, table: schema::INSTANCE_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::LeaderToken => {
                Read::Hash { db: Db::State, table: schema::INSTANCE_TABLE, key: schema::INSTANCE_KEYS[0] }
            }
        }
    }

    fn next_stop(&mut self, step: StopStep) -> Step {
        match step {
            StopStep::Notify => {
                let _ = self.direct.push_back(Direct::Notify(Notify::Stopping));
                self.stage = Stage::Stop(StopStep::Retry);
                Step::Again
            }
            StopStep::Retry if self.refused.is_empty() => {
                self.stage = Stage::Stop(StopStep::Flush);
                Step::Again
            }
            StopStep::Retry => {
                // One last attempt at the writes kept after a refusal.
                let engine = &self.engine;
                self.refused.take_into(&mut self.ops, |name| engine.published_state(name));
                Step::Ask(Request::Write(WriteFor::Retry))
            }
            StopStep::Flush => Step::Ask(Request::Maintain(Some(self.stop_deadline))),
            StopStep::Save => Step::Ask(Request::SaveSnapshot),
            StopStep::Exit => {
                self.exit(self.stop_result);
                Step::Again
            }
        }
    }
}

/// What [`Driver::poll_io`] does next.
enum Step {
    Idle,
    Again,
    Ask(Request),
}

/// A request, before it is shown as an [`Io`].
#[derive(Clone, Copy, Debug)]
enum Request {
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

/// FNV-1a, to notice a changed value without keeping it.
fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}
