//! The driver: the top of the core, and the only thing the daemon talks to.
//!
//! It owns every decision of a running portsyncd that is not about one link
//! message: the start-up sequence (LOGGER, DEVICE_METADATA, WarmStart,
//! CONFIG_DB ports, the warm baseline), the dumps (initial, after an overrun,
//! again after an interrupted one), APPL_DB presence per batch, the batch call
//! protocol of the [engine](crate::engine), writes a database refused and
//! their retries, the snapshot cadence, the LOGGER poll, backend
//! maintenance, reloads (SIGHUP, new settings), shutdown, when to read the
//! link source next, and every timer.
//!
//! It is sans-IO in the manner of quinn-proto. Its whole protocol:
//!
//! - inputs: [`handle`](Driver::handle)`(now, `[`Input`]`)` — a datagram
//!   (borrowed, taken once), an overrun, "nothing more is queued", a failed
//!   link source, a signal — and [`handle_timeout`](Driver::handle_timeout)`(now)`;
//! - [`poll_io`](Driver::poll_io): the next [`Io`]. One that needs an answer
//!   holds a typed [`Request`] answered through itself (rustls' unbuffered
//!   API is the model: an answer of the wrong kind does not compile); the
//!   rest are done when performed. [`Io::Receive`] says when to read the
//!   link source, and whether to wait for it;
//! - [`poll_event`](Driver::poll_event): what to log;
//! - [`poll_timeout`](Driver::poll_timeout): when to call `handle_timeout`
//!   next (the earliest deadline of one timer table, `driver/timers.rs`).
//!
//! It reads no clock, does no I/O and allocates nothing; its size is fixed
//! by its capacities. Settings come at start ([`Driver::new`],
//! [`configure`](Driver::configure)) and on a reload
//! ([`reconfigure`](Driver::reconfigure), [`set_alert_rules`](Driver::set_alert_rules),
//! [`silence_alert`](Driver::silence_alert)); the rest of its methods only look.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     while let Some(event) = driver.poll_event() { log it }
//!     match driver.poll_io() {
//!         Some(Io::Receive(Receive::Queued)) => read without waiting; handle(now, Datagram | Overrun | QueueEmpty)
//!         Some(Io::Receive(Receive::Wait)) => wait for a datagram, a signal or poll_timeout()
//!         None => wait for a signal or poll_timeout()
//!         Some(Io::Exit(result)) => return result,
//!         Some(io) => carry it out; answer it through the request
//!     }
//!     now = clock; handle(now, what woke it); handle_timeout(now)
//! }
//! ```
//!
//! Timers are absolute deadlines, so no stream of events can starve
//! periodic work.

mod alerting;
mod answers;
pub mod canned;
mod io;
mod lines;
mod liveness;
mod observed;
mod partitioned;
mod reconcile;
mod reload;
mod replies;
mod request;
mod running;
mod settings;
mod snapshot;
mod startup;
mod state;
mod summary;
mod timers;

use core::time::Duration;

use heapless::Deque;

pub use alerting::{
    ALARM_RESOURCE, AlarmFields, AlarmRow, AlarmText, SYSTEM_ALARMS_TABLE, Watched, default_rules,
};
pub use io::{
    Failure, Input, Keep, Notify, Read, Receive, Replies, Reply, Signal, SnapshotLoad, Taken, WriteResult,
};
pub use liveness::liveness_interval;
pub use observed::Observed;
pub use partitioned::{FILTER_EVERY, FOLLOWER_POLL, LEADER_POLL};
pub use request::{
    AlarmRequest, AlarmWriting, DenyRequest, DumpRequest, Dumping, Io, LinkDenying, LinkDown,
    LinkDownRequest, LoadRequest, MaintainRequest, Maintaining, ReadRequest, Reading, ReopenRequest,
    Reopening, Request, SaveRequest, SnapshotLoading, SnapshotSaving, WriteRequest, Writing,
};
pub use settings::DriverConfig;
pub use snapshot::{SAVE_RETRY_FLOOR, SAVE_STUCK_AFTER};
pub use summary::{DriverCounters, Milestones};

pub use crate::partition::Mismatch;

use crate::backend::BackendStatus;
use crate::backoff::Backoff;
use crate::engine::{
    DEFAULT_BATCH_CAPACITY, DEFAULT_PORT_CAPACITY, LinkSync, StartKind, SwitchType, SyncConfig,
};
use crate::eoiu::EoiuDetector;
use crate::event::{Event, Repeat};
use crate::health::Health;
use crate::logger::{Level, Output};
use crate::metrics::DriverMetrics;
use crate::name::PortName;
use crate::presence::PresenceAnswers;
use crate::repeats::Repeats;
use crate::time::Instant;
use crate::writes::{Refused, WriteOp};
use state::{
    AlarmWrites, Ask, Batch, Direct, Flow, Learnt, ReadFor, Redump, SaveFlight, Saved, Stage, StartStep,
    Step, StopStep,
};
use timers::{Timer, Timers};

/// Flaps are counted per port per this window ("flaps a minute").
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// Alarm rows waiting to be written: a raise and a clear for every rule.
const ALARM_QUEUE: usize = 2 * crate::alerts::MAX_RULES;

/// Events waiting to be polled before the driver takes more input.
const EVENT_CAPACITY: usize = 64;

/// The driver with the default capacities.
pub type DefaultDriver = Driver<DEFAULT_PORT_CAPACITY, DEFAULT_BATCH_CAPACITY>;

impl<const P: usize, const B: usize> Default for Driver<P, B> {
    /// A driver at time zero with the default settings; see [`Driver::configure`].
    fn default() -> Self {
        Self::new(Instant::from_millis(0), DriverConfig::DEFAULT)
    }
}

/// The settings of a driver that has started can only be changed through
/// [`Driver::reconfigure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started;

impl core::fmt::Display for Started {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the driver has started: new settings go through reconfigure")
    }
}

impl core::error::Error for Started {}

/// The top-level state machine; see the [module docs](self).
pub struct Driver<const P: usize, const B: usize> {
    config: DriverConfig,
    started: Instant,
    stage: Stage,
    /// The request handed out and not yet answered.
    awaiting: Option<Ask>,
    engine: LinkSync<P, B>,
    eoiu: EoiuDetector,
    presence: PresenceAnswers<P>,
    refused: Refused<P>,
    retry: Backoff,
    /// Keys of the read in flight.
    keys: heapless::Vec<PortName, P>,
    /// Writes being collected, then in flight.
    ops: heapless::Vec<WriteOp, B>,
    events: Deque<Event, EVENT_CAPACITY>,
    /// Lines that found the queue full (said as one line once there is room).
    unsaid: u32,
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
    logger_too_large: state::LoggerTooLarge,
    /// Datagrams being read as one batch.
    batch: Option<Batch>,
    /// The engine's batch after its datagrams.
    flow: Flow,
    vanished_in_drain: usize,
    /// Our dump in flight.
    dump_seq: Option<u32>,
    /// How it ended, until that is acted on.
    dump_end: Option<crate::eoiu::Eoiu>,
    redump: Redump,
    /// Every deadline.
    timers: Timers,
    /// Since when the netlink socket is lost (failed, not open again).
    links_lost: Option<Instant>,
    /// Delays between attempts to open it again.
    reopen_backoff: Backoff,
    /// Where the reconciliation is.
    reconcile: reconcile::Reconcile,
    /// Ports repaired in this round.
    repaired_in_round: usize,
    /// Partitioned instances: where the coordination is.
    coordination: partitioned::Coordination,
    /// Links whose notifications the link source is asked to drop.
    denied: heapless::Vec<u32, P>,
    /// A change of the link filter waits until then.
    filter_not_before: Option<Instant>,
    last_save: Instant,
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
    /// READY was said.
    ready: bool,
    /// A datagram was taken in part: the next one handed in is its rest.
    partial: bool,
    /// The last event said at NOTICE or above (for the status line).
    last_event: Option<Event>,
    /// Histograms of the hot path.
    metrics: DriverMetrics,
    /// Alert rules and their alerts.
    alerts: crate::alerts::DefaultAlertRules<Watched>,
    /// Alarm rows to write to STATE_DB, oldest first.
    alarm_rows: Deque<AlarmRow, ALARM_QUEUE>,
    alarm_writes: AlarmWrites,
    /// When the first datagram of the batch being read came.
    batch_received: Instant,
    /// When the first datagram behind the writes being collected came.
    ops_received: Instant,
    /// Where the snapshot stands against STATE_DB.
    saved: Saved,
    /// A save handed off and not finished yet.
    save_flight: SaveFlight,
    backend: BackendStatus,
    /// The latest time any input brought.
    now: Instant,
    milestones: Milestones,
    counters: DriverCounters,
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// A driver at time zero with the default settings, as a constant: what
    /// a `static` holds (then only the pages the driver writes are ever
    /// touched; a driver built by value is built on a stack first, every
    /// page of its frame probed). Give it its start time and settings with
    /// [`configure`](Self::configure) before its first request.
    pub const BLANK: Self = {
        let now = Instant::from_millis(0);
        let config = DriverConfig::DEFAULT;
        Self {
            config,
            started: now,
            stage: Stage::Start(StartStep::Logger),
            awaiting: None,
            engine: LinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch }),
            eoiu: EoiuDetector::new(),
            presence: PresenceAnswers::new(),
            refused: Refused::new(),
            retry: Backoff::new(config.retry_base, config.retry_max, config.seed),
            keys: heapless::Vec::new(),
            ops: heapless::Vec::new(),
            events: Deque::new(),
            unsaid: 0,
            direct: Deque::new(),
            learnt: Learnt::NONE,
            level: Level::Notice,
            bad_level_seen: None,
            output: Output::Syslog,
            db_output: None,
            bad_output_seen: None,
            logger_too_large: state::LoggerTooLarge::NONE,
            batch: None,
            flow: Flow::Idle,
            vanished_in_drain: 0,
            dump_seq: None,
            dump_end: None,
            redump: Redump::No,
            timers: Timers::NONE,
            links_lost: None,
            reopen_backoff: Backoff::new(config.retry_base, config.retry_max, config.seed ^ 0x6e6c),
            reconcile: reconcile::Reconcile::Idle,
            repaired_in_round: 0,
            coordination: partitioned::Coordination::NONE,
            denied: heapless::Vec::new(),
            filter_not_before: None,
            last_save: now,
            stop_result: Ok(()),
            repeats: Repeats::new(config.repeat_window),
            health: Health::new(now, config.health),
            degraded_since: None,
            refused_since: None,
            asked_at: now,
            ready: false,
            partial: false,
            last_event: None,
            metrics: DriverMetrics::NEW,
            alerts: crate::alerts::AlertRules::empty(now),
            alarm_rows: Deque::new(),
            alarm_writes: AlarmWrites::Uncleared,
            batch_received: now,
            ops_received: now,
            saved: Saved::Current,
            save_flight: SaveFlight::Idle,
            backend: BackendStatus::Connected,
            now,
            milestones: Milestones::NONE,
            counters: DriverCounters::ZERO,
        }
    };

    /// A driver starting at `now`: its first request reads CONFIG_DB's LOGGER.
    pub fn new(now: Instant, config: DriverConfig) -> Self {
        let mut driver = Self::BLANK;
        driver.start_at(now, config);
        driver
    }

    /// The periodic timers, from `now`.
    fn arm_periodic(&mut self, now: Instant) {
        let config = self.config;
        self.timers.set(Timer::Maintain, now.saturating_add(config.maintain_interval));
        self.timers.set(Timer::LoggerPoll, now.saturating_add(config.logger_poll_interval));
        self.timers.set(Timer::FlapWindow, now.saturating_add(FLAP_WINDOW));
        let report = Some(config.health.port_init_report_after).filter(|d| !d.is_zero());
        for (timer, every) in [
            (Timer::Reconcile, config.reconcile_interval),
            (Timer::Liveness, config.liveness_interval),
            (Timer::AwaitingReport, report),
        ] {
            match every {
                Some(every) => self.timers.set(timer, now.saturating_add(every)),
                None => self.timers.stop(timer),
            }
        }
    }

    /// Sets the start time and the settings of a driver made as
    /// [`BLANK`](Self::BLANK) (the daemon's, a `static`) or with [`Default`].
    /// Only before its first request; later, see
    /// [`reconfigure`](Self::reconfigure).
    pub fn configure(&mut self, now: Instant, config: DriverConfig) -> Result<(), Started> {
        if self.stage != Stage::Start(StartStep::Logger) || self.awaiting.is_some() {
            return Err(Started);
        }
        self.start_at(now, config);
        Ok(())
    }

    /// The start time and the settings, before the first request.
    fn start_at(&mut self, now: Instant, config: DriverConfig) {
        self.config = config;
        self.started = now;
        self.now = now;
        self.retry = Backoff::new(config.retry_base, config.retry_max, config.seed);
        self.reopen_backoff = Backoff::new(config.retry_base, config.retry_max, config.seed ^ 0x6e6c);
        self.repeats = Repeats::new(config.repeat_window);
        self.health = Health::new(now, config.health);
        self.alerts.restart_at(now);
        self.asked_at = now;
        self.last_save = now;
        self.batch_received = now;
        self.ops_received = now;
        self.arm_periodic(now);
    }

    // ---------------------------------------------------------- the protocol

    /// An input (see [`Input`]). A datagram may be taken in part
    /// ([`Taken::Part`]); everything else is taken whole.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Taken {
        self.advance(now);
        match input {
            Input::Datagram(bytes) => return self.take_datagram(now, bytes),
            Input::Overrun => self.on_overrun(now),
            Input::QueueEmpty => self.end_batch(now, false),
            Input::LinksFailed => self.on_links_failed(now),
            Input::SnapshotStoreFailed(fault) => self.on_snapshot_store_failed(now, fault),
            Input::SnapshotSaved(saved) => self.on_snapshot_written(now, saved),
            Input::Signal(signal) => self.on_signal(now, signal),
        }
        Taken::All
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
        for timer in Timer::ALL {
            if matches!(timer, Timer::Liveness | Timer::StopFlush) || !self.timers.expired(timer, now) {
                continue;
            }
            match timer {
                Timer::Maintain => {
                    self.timers.fire(timer);
                    if self.alarm_writes == AlarmWrites::Held {
                        self.alarm_writes = AlarmWrites::Open;
                    }
                    self.timers.set(timer, now.saturating_add(self.config.maintain_interval));
                }
                Timer::LoggerPoll => {
                    self.timers.fire(timer);
                    self.timers.set(timer, now.saturating_add(self.config.logger_poll_interval));
                }
                Timer::FlapWindow => {
                    self.engine.roll_flap_window();
                    self.timers.set(timer, now.saturating_add(FLAP_WINDOW));
                }
                Timer::Reconcile => {
                    if let Some(every) = self.config.reconcile_interval {
                        self.timers.set(timer, now.saturating_add(every));
                    }
                    if self.reconcile == reconcile::Reconcile::Idle {
                        self.reconcile = reconcile::Reconcile::Due;
                    }
                }
                Timer::Retry | Timer::Reopen | Timer::Coordination | Timer::LinkFilter | Timer::Snapshot => {
                    self.timers.fire(timer);
                }
                Timer::AwaitingReport => {
                    if self.milestones.port_init_done.is_none() && self.engine.awaiting_count() > 0 {
                        let after = self.since_start(now);
                        self.emit(Event::PortsAwaiting { after, awaiting: self.awaiting_named() });
                    }
                }
                // The window is over: Io::Receive again. (The other two are
                // `advance`'s, and the stop sequence's, which reads its deadline.)
                Timer::NextRead | Timer::Liveness | Timer::StopFlush => {}
            }
        }
    }

    /// The next request. Until one that needs an answer is answered, there
    /// is no other. `None`: nothing to do until a signal or
    /// [`poll_timeout`](Self::poll_timeout) (or lines wait in
    /// [`poll_event`](Self::poll_event): drain them and ask again).
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
            if self.awaiting.is_some() || self.events.len() + 8 > EVENT_CAPACITY {
                return None;
            }
            let step = match self.stage {
                Stage::Start(step) => self.next_start(step),
                Stage::Run => self.next_run(),
                Stage::Stop(step) => self.next_stop(step),
                Stage::Exit(result) => {
                    self.set_stage(Stage::Done(result));
                    return Some(Io::Exit(result));
                }
                Stage::Done(_) => Step::Idle,
            };
            match step {
                Step::Idle => return None,
                Step::Again => continue,
                Step::Receive(receive) => return Some(Io::Receive(receive)),
                Step::Ask(ask) => return Some(self.request(ask)),
            }
        }
    }

    /// The next line to log.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if self.unsaid > 0 && !self.events.is_full() {
            let lines = core::mem::take(&mut self.unsaid);
            let _ = self.events.push_back(Event::Unsaid { lines });
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sub = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The table's timers, and the deadlines of the machines the driver
        // owns (each keeps its own: the dump's end, repeated lines, health,
        // alert rules).
        let run = match self.stage {
            Stage::Run => true,
            Stage::Stop(StopStep::Flush | StopStep::EarlierSaveUnderWay | StopStep::LastSaveUnderWay) => {
                return self.timers.get(Timer::StopFlush);
            }
            Stage::Exit(_) | Stage::Done(_) => return None,
            Stage::Start(_) | Stage::Stop(_) => false,
        };
        let repeats = self.repeats.poll_timeout();
        if !run {
            return sub(self.timers.get(Timer::Liveness), repeats);
        }
        let at = sub(self.timers.next(|_| true), repeats);
        let at = sub(at, self.eoiu.poll_timeout());
        let at = sub(at, self.health.poll_timeout(self.now, &self.health_facts()));
        sub(at, self.alerts.poll_timeout())
    }

    // ------------------------------------------------------------ looking

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

    /// Writes refused and kept for a later attempt.
    pub fn refused_writes(&self) -> usize {
        self.refused.len()
    }

    // ------------------------------------------------------------ inside

    /// The one place the stage changes.
    fn set_stage(&mut self, stage: Stage) {
        self.stage = stage;
    }

    /// The one place the batch flow changes.
    fn set_flow(&mut self, flow: Flow) {
        self.flow = flow;
    }

    fn exit(&mut self, result: Result<(), Failure>) {
        self.set_stage(Stage::Exit(result));
    }

    /// Something could not be asked or dumped: dump again when the retry
    /// timer fires (its delay grows while this keeps happening).
    fn resync_later(&mut self, now: Instant) {
        self.redump = self.redump.max(Redump::AtRetry);
        if !self.timers.is_pending(Timer::Retry) {
            self.timers.set(Timer::Retry, now.saturating_add(self.retry.next_delay()));
        }
    }

    fn since_start(&self, now: Instant) -> Duration {
        now.saturating_since(self.started)
    }
}

/// FNV-1a, to notice a changed value without keeping it.
fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}
