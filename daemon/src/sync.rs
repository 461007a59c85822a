//! The daemon's one loop: kernel link messages in, the core's decisions out
//! to SONiC's databases.
//!
//! This module carries out what the core decides, in the C++ daemon's order
//! (SONIC.md §5), with two deliberate changes (§10): the kernel's links are
//! listed (our dump) before anything is produced to APPL_DB, and a netlink
//! overrun is answered with a fresh dump that also removes ports which
//! vanished unseen. Per batch of netlink datagrams it makes one APPL_DB
//! round trip (presence of the batch's ports) and one write round trip.
//!
//! It does not decide which link is a port or what to write: that is
//! `portsyncd_core::engine`. It knows nothing of Redis: any
//! [`Databases`] backend will do.

use std::collections::HashMap;
use std::time::Duration;

use portsyncd_core::backend::{self, Databases, Db, LinkController, LinkSource, Received, Write};
use portsyncd_core::engine::{Action, DefaultLinkSync, Disposition, SwitchType, SyncConfig, SyncError};
use portsyncd_core::netlink::{LinkMessage, LinkOp, Message, messages};
use portsyncd_core::schema::{self, Decimal};
use portsyncd_core::{Eoiu, EoiuDetector, Instant, PortName};
use portsyncd_netlink::{LinkControl, LinkMonitor, NetlinkError};
use portsyncd_state_file::StateFile;

use crate::config::Config;
use crate::log;
use crate::logging::{self, Level, Output};

const APP: &str = "portsyncd";
const DOCKER: &str = "swss";
const LOGGER_TABLE: &str = "LOGGER";
/// Datagrams already queued that one batch takes at most.
const DATAGRAMS_PER_BATCH: usize = 256;
/// How often kept writes are retried and CONFIG_DB's LOGGER is read again.
const TICK: Duration = Duration::from_secs(1);
/// How long APPL_DB's "this port exists" is taken as still true. The C++
/// daemon asks on every event (two Redis commands per event); a port leaves
/// APPL_DB only when it is removed from the configuration, and then its
/// host interface goes too (DELLINK), which forgets the answer at once.
const PRESENCE_TRUST: Duration = Duration::from_secs(5);

/// The kernel sockets, opened before anything is written anywhere.
pub struct Netlink {
    /// Link notifications and our dumps.
    pub monitor: LinkMonitor,
    /// RTM_SETLINK.
    pub control: LinkControl,
}

impl Netlink {
    /// Opens both sockets and checks that links may be changed (stale links
    /// are brought down on a cold start), so that a daemon without the
    /// privilege stops before writing anything.
    pub async fn open(receive_buffer: usize) -> Result<Self, NetlinkError> {
        let mut control = LinkControl::open()?;
        control.check_permission().await?;
        Ok(Self { monitor: LinkMonitor::open(receive_buffer)?, control })
    }
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// A start-up read or write failed.
    #[error("{0}")]
    Db(E),
    /// SONiC's WarmStart check failed.
    #[error("{0}")]
    WarmStart(backend::WarmStartError<E>),
    /// The link source failed.
    #[error("{0}")]
    Links(String),
}

/// When things happened, from the daemon's start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Milestones {
    /// End of the initial dump.
    pub eoiu: Option<Duration>,
    /// PortConfigDone produced.
    pub port_config_done: Option<Duration>,
    /// PortInitDone produced.
    pub port_init_done: Option<Duration>,
}

/// What the loop counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopCounters {
    /// Batches committed.
    pub batches: u64,
    /// Malformed netlink messages skipped.
    pub malformed: u64,
    /// Dumps requested after an overrun or an interrupted dump.
    pub redumps: u64,
    /// Ports deleted because a re-dump no longer had them.
    pub vanished: u64,
    /// Writes the databases refused.
    pub refused_writes: u64,
}

struct Sync<'d, D: Databases, C: LinkController> {
    db: &'d mut D,
    control: C,
    config: Config,
    engine: Box<DefaultLinkSync>,
    eoiu: EoiuDetector,
    started: std::time::Instant,
    /// Sequence number of the dump in flight.
    dump_seq: Option<u32>,
    /// The dump in flight ended (seen mid-batch; acted on after the commit).
    dump_done: Option<Eoiu>,
    /// Last backend status logged.
    last_status: backend::BackendStatus,
    /// An overrun happened while a dump was in flight: dump again after it.
    redump_wanted: bool,
    /// Last APPL_DB presence answer per port and when it was given: a "yes"
    /// younger than [`PRESENCE_TRUST`] is not asked again (a port stays in
    /// APPL_DB; its DELLINK forgets it), and any answer stands in when APPL_DB
    /// cannot be asked.
    presence_cache: HashMap<PortName, (bool, std::time::Instant)>,
    /// CONFIG_DB `PORT|<name>` fields, produced verbatim on a cold start.
    config_fields: HashMap<PortName, Vec<(String, String)>>,
    milestones: Milestones,
    counters: LoopCounters,
    next_logger_poll: std::time::Instant,
    /// Where the warm-restart snapshot goes.
    state_file: StateFile,
    /// STATE_DB changed since the snapshot was last saved.
    snapshot_dirty: bool,
    last_snapshot: std::time::Instant,
}

/// What the loop woke up for.
enum Wake<'a, E> {
    Netlink(Result<Received<'a>, E>),
    Signal,
    Tick,
}

fn link_error<E: std::fmt::Display, DE: std::error::Error>(e: E) -> RunError<DE> {
    RunError::Links(e.to_string())
}

/// Runs the daemon until `shutdown` completes (SIGTERM or SIGINT in
/// production). Nothing has been written when this is called; start-up
/// errors are returned before the loop starts.
pub async fn run<D, L, C>(
    db: &mut D,
    mut monitor: L,
    control: C,
    config: Config,
    state_file: StateFile,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(Milestones, LoopCounters), RunError<D::Error>>
where
    D: Databases,
    D::Error: 'static,
    L: LinkSource,
    C: LinkController,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let started = std::time::Instant::now();

    link_logger_to_db(db, config.log_output).await.map_err(RunError::Db)?;
    let mut switch_type = None;
    db.hget(
        Db::Config,
        schema::CONFIG_DEVICE_METADATA_TABLE,
        schema::CONFIG_DEVICE_METADATA_KEY,
        schema::SWITCH_TYPE_FIELD,
        &mut |v| switch_type = Some(v.to_owned()),
    )
    .await
    .map_err(RunError::Db)?;
    let switch_type = SwitchType::from_config(switch_type.as_deref());
    let warm = backend::check_warm_start(db, APP, DOCKER).await.map_err(RunError::WarmStart)?;
    if warm.fell_back_to_cold {
        log!(Warn, "warm start enabled but {APP} restore_count is missing: starting cold");
    }
    log!(
        Notice,
        "starting {:?} (switch type {:?}, restore_count {})",
        warm.start,
        switch_type,
        warm.restore_count
    );

    let mut engine = Box::new(DefaultLinkSync::new(SyncConfig { start: warm.start, switch_type }));
    let config_fields = read_config_ports(db, &mut engine).await.map_err(RunError::Db)?;
    if warm.start == portsyncd_core::engine::StartKind::Warm {
        restore_snapshot(db, &mut engine, &state_file).await.map_err(RunError::Db)?;
    }
    if let Err(e) = engine.begin_initial_dump() {
        log!(Error, "engine: {e}");
    }

    let mut sync = Sync {
        db,
        control,
        config,
        engine,
        eoiu: EoiuDetector::new(),
        started,
        dump_seq: None,
        dump_done: None,
        last_status: backend::BackendStatus::Connected,
        redump_wanted: false,
        presence_cache: HashMap::new(),
        config_fields,
        milestones: Milestones::default(),
        counters: LoopCounters::default(),
        next_logger_poll: started + TICK * 5,
        state_file,
        snapshot_dirty: false,
        last_snapshot: started,
    };
    sync.request_dump(&mut monitor).map_err(link_error)?;

    loop {
        let deadline = sync.next_deadline();
        let wake = smol::future::or(async { Wake::Netlink(monitor.recv().await) }, async {
            smol::future::or(
                async {
                    shutdown.as_mut().await;
                    Wake::Signal
                },
                async {
                    async_io::Timer::at(deadline).await;
                    Wake::Tick
                },
            )
            .await
        })
        .await;
        match wake {
            Wake::Signal => break,
            Wake::Tick => sync.tick(&mut monitor).await.map_err(link_error)?,
            Wake::Netlink(received) => {
                let mut overrun = false;
                match received.map_err(link_error)? {
                    Received::Datagram(bytes) => sync.feed(bytes).await,
                    Received::Overrun => overrun = true,
                    Received::Empty => {}
                }
                // Everything already queued joins this batch (no waiting for more).
                for _ in 0..DATAGRAMS_PER_BATCH {
                    match monitor.try_recv().map_err(link_error)? {
                        Received::Datagram(bytes) => sync.feed(bytes).await,
                        Received::Overrun => overrun = true,
                        Received::Empty => break,
                    }
                }
                sync.commit().await;
                if overrun {
                    sync.overrun(&mut monitor).map_err(link_error)?;
                }
                sync.after_batch(&mut monitor).await.map_err(link_error)?;
            }
        }
    }
    log!(Notice, "stopping on signal");
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    // Give kept writes one last, bounded chance.
    smol::future::or(
        async {
            sync.db.maintain().await;
        },
        async {
            async_io::Timer::after(Duration::from_millis(500)).await;
        },
    )
    .await;
    sync.save_snapshot();
    Ok((sync.milestones, sync.counters))
}

/// Warm start: the previous run's snapshot becomes the engine's record of
/// STATE_DB, minus the ports STATE_DB no longer has (someone deleted them:
/// they must be written again). Without a usable snapshot every port is
/// written from the dump, as the C++ daemon does.
async fn restore_snapshot<D: Databases>(
    db: &mut D,
    engine: &mut DefaultLinkSync,
    state_file: &StateFile,
) -> Result<(), D::Error> {
    let path = state_file.path();
    let mut snapshot = match state_file.load() {
        Ok(Some(s)) => s,
        Ok(None) => {
            log!(
                Notice,
                "no warm-restart snapshot at {}: every port will be written from the dump",
                path.display()
            );
            return Ok(());
        }
        Err(e) => {
            log!(Warn, "warm-restart snapshot unusable ({e}): every port will be written from the dump");
            return Ok(());
        }
    };
    let keys: Vec<&str> = snapshot.ports.iter().map(|p| p.name.as_str()).collect();
    let mut present = vec![false; keys.len()];
    db.exists(Db::State, schema::STATE_PORT_TABLE, &keys, &mut present).await?;
    drop(keys);
    let before = snapshot.ports.len();
    let mut i = 0;
    snapshot.ports.retain(|_| {
        i += 1;
        present[i - 1]
    });
    if let Err(e) = engine.restore(&snapshot) {
        log!(Error, "restoring the snapshot: {e}");
    }
    log!(
        Notice,
        "warm restart from {}: {} ports as STATE_DB has them ({} no longer in STATE_DB will be written)",
        path.display(),
        snapshot.ports.len(),
        before - snapshot.ports.len()
    );
    Ok(())
}

/// Tells systemd (`Type=notify` units; nothing happens without NOTIFY_SOCKET).
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log!(Warn, "sd_notify: {e}");
    }
}

/// SONiC's `Logger::linkToDbNative`: read CONFIG_DB `LOGGER|portsyncd`, write
/// the defaults (NOTICE, SYSLOG) for whichever field is missing, apply.
async fn link_logger_to_db<D: Databases>(
    db: &mut D,
    output_override: Option<Output>,
) -> Result<(), D::Error> {
    let (mut level, mut output) = (None, None);
    db.get(Db::Config, LOGGER_TABLE, APP, &mut |f, v| match f {
        "LOGLEVEL" => level = Some(v.to_owned()),
        "LOGOUTPUT" => output = Some(v.to_owned()),
        _ => {}
    })
    .await?;
    if level.is_none() || output.is_none() {
        let level = level.get_or_insert_with(|| "NOTICE".into());
        let output = output.get_or_insert_with(|| "SYSLOG".into());
        let fields = [("LOGLEVEL", level.as_str()), ("LOGOUTPUT", output.as_str())];
        db.write(&[Write::Set { db: Db::Config, table: LOGGER_TABLE, key: APP, fields: &fields }]).await?;
    }
    apply_log_level(level.as_deref());
    let output =
        output_override.or_else(|| output.as_deref().and_then(Output::parse)).unwrap_or(Output::Syslog);
    logging::set_output(output);
    Ok(())
}

fn apply_log_level(value: Option<&str>) {
    match value.map(|v| (v, Level::parse(v))) {
        Some((_, Some(level))) => {
            let old = logging::set_level(level);
            if old != level {
                log!(Notice, "log level {} => {}", old.name(), level.name());
            }
        }
        Some((v, None)) => log!(
            Warn,
            "CONFIG_DB LOGGER|{APP} LOGLEVEL {v:?} is not a level; keeping {}",
            logging::level().name()
        ),
        None => {}
    }
}

/// CONFIG_DB `PORT` keys into the engine; their fields kept for producing.
async fn read_config_ports<D: Databases>(
    db: &mut D,
    engine: &mut DefaultLinkSync,
) -> Result<HashMap<PortName, Vec<(String, String)>>, D::Error> {
    let mut keys = Vec::new();
    db.keys(Db::Config, schema::CONFIG_PORT_TABLE, &mut |k| keys.push(k.to_owned())).await?;
    if keys.is_empty() {
        log!(Notice, "no ports in CONFIG_DB {}", schema::CONFIG_PORT_TABLE);
    }
    // One pipeline for all of them (the C++ daemon makes a round trip per port).
    let mut all_fields: Vec<Vec<(String, String)>> = vec![Vec::new(); keys.len()];
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    db.get_many(Db::Config, schema::CONFIG_PORT_TABLE, &key_refs, &mut |i, f, v| {
        all_fields[i].push((f.to_owned(), v.to_owned()))
    })
    .await?;
    drop(key_refs);
    let mut fields = HashMap::with_capacity(keys.len());
    for (key, port_fields) in keys.iter().zip(all_fields) {
        match engine.add_config_port(key.as_bytes()) {
            Ok(()) => {
                if let Ok(name) = PortName::try_from(key.as_str()) {
                    fields.insert(name, port_fields);
                }
            }
            Err(e) => log!(Warn, "CONFIG_DB {}|{key}: {e}; skipped", schema::CONFIG_PORT_TABLE),
        }
    }
    log!(Notice, "{} ports in CONFIG_DB", engine.configured_ports());
    Ok(fields)
}

impl<D: Databases, C: LinkController> Sync<'_, D, C> {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    fn next_deadline(&self) -> std::time::Instant {
        let tick = std::time::Instant::now() + TICK;
        match self.eoiu.poll_timeout() {
            Some(at) => {
                let at = self.started + Duration::from_millis(at.as_millis());
                at.min(tick)
            }
            None => tick,
        }
    }

    fn request_dump<L: LinkSource>(&mut self, monitor: &mut L) -> Result<(), L::Error> {
        let seq = monitor.request_dump()?;
        self.dump_seq = Some(seq);
        self.engine.dump_started(seq);
        self.eoiu.start(self.now(), seq, self.config.dump_timeout);
        Ok(())
    }

    /// Feeds one datagram to the engine, committing early if the batch fills.
    async fn feed(&mut self, bytes: &[u8]) {
        for message in messages(bytes) {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    self.counters.malformed += 1;
                    log!(Warn, "{e}; skipped");
                    continue;
                }
            };
            if let Some(end) = self.eoiu.observe(&message) {
                self.pending_eoiu(end);
            }
            if let Message::Error { header, errno } = message {
                if errno != 0 && Some(header.seq) != self.dump_seq {
                    log!(Warn, "netlink error {errno} for request {}", header.seq);
                }
            }
            let Message::Link(link) = message else { continue };
            let mut result = self.engine.handle_link(&link);
            if result == Err(SyncError::BatchFull) {
                self.commit().await;
                result = self.engine.handle_link(&link);
            }
            match result {
                Ok(d) => self.note(&link, d),
                Err(SyncError::StaleTableFull) => {
                    log!(
                        Error,
                        "too many pre-existing links; ifindex {} will not be ignored later",
                        link.index
                    )
                }
                Err(e) => log!(Error, "link {}: {e}", link.index),
            }
        }
    }

    fn note(&mut self, link: &LinkMessage<'_>, disposition: Disposition) {
        match disposition {
            Disposition::Queued(name) => {
                log!(
                    Info,
                    "{} {name} ifindex {} flags 0x{:x} mtu {} master {}",
                    if link.op == LinkOp::New { "RTM_NEWLINK" } else { "RTM_DELLINK" },
                    link.index,
                    link.flags,
                    link.mtu.unwrap_or(0),
                    link.master.unwrap_or(0)
                );
            }
            Disposition::MarkedStale { ifindex } => {
                let name = String::from_utf8_lossy(link.name.unwrap_or_default());
                log!(
                    Notice,
                    "{name} (ifindex {ifindex}) existed before this cold start: bringing it down and ignoring it"
                );
            }
            Disposition::Rejected(e) => {
                let name = String::from_utf8_lossy(link.name.unwrap_or_default());
                log!(Warn, "link {name:?} (ifindex {}): {e}; skipped", link.index);
            }
            Disposition::Ignored(reason) => {
                if logging::enabled(Level::Debug) {
                    let name = String::from_utf8_lossy(link.name.unwrap_or_default());
                    log!(Debug, "link {name} (ifindex {}) ignored: {reason}", link.index);
                }
            }
        }
    }

    /// Answers the batch's presence questions (one round trip), commits it and
    /// carries out its actions (one write round trip).
    async fn commit(&mut self) {
        let now = std::time::Instant::now();
        let mut names: Vec<PortName> = Vec::new();
        for name in self.engine.pending_presence() {
            match self.presence_cache.get(name) {
                Some(&(true, at)) if now.duration_since(at) < PRESENCE_TRUST => {}
                _ => names.push(*name),
            }
        }
        if !names.is_empty() {
            let keys: Vec<&str> = names.iter().map(PortName::as_str).collect();
            let mut present = vec![false; keys.len()];
            match self.db.exists(Db::Appl, schema::APP_PORT_TABLE, &keys, &mut present).await {
                Ok(()) => {
                    for (name, p) in names.iter().zip(&present) {
                        self.presence_cache.insert(*name, (*p, now));
                    }
                }
                Err(e) => {
                    log!(Warn, "{e}; using the last known APPL_DB answers");
                }
            }
        }
        let pending: Vec<PortName> = self.engine.pending_presence().copied().collect();
        for name in &pending {
            let present = self.presence_cache.get(name).is_some_and(|&(p, _)| p);
            if let Err(e) = self.engine.set_presence(name, present) {
                log!(Error, "presence of {name}: {e}");
            }
        }
        match self.engine.commit_batch() {
            Ok(()) => {
                self.counters.batches += 1;
                self.carry_out().await;
            }
            Err(e) => log!(Error, "batch not committed: {e}"),
        }
    }

    /// Carries out every action the engine has ready, writes in one call;
    /// returns them.
    async fn carry_out(&mut self) -> Vec<Action> {
        let actions: Vec<Action> = std::iter::from_fn(|| self.engine.poll_action()).collect();
        if actions.is_empty() {
            return actions;
        }
        for action in &actions {
            if let Action::BringLinkDown { ifindex, name } = *action {
                match self.control.set_admin_down(ifindex).await {
                    Ok(()) => log!(Notice, "brought {name} (ifindex {ifindex}) down"),
                    Err(e) => log!(Warn, "bringing {name} (ifindex {ifindex}) down: {e}"),
                }
            }
        }
        let state_fields: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::SetStatePort { state, .. } => Some(state.fields()),
                _ => None,
            })
            .collect();
        let state_pairs: Vec<_> = state_fields.iter().map(|f| f.pairs()).collect();
        let count = actions.iter().find_map(|a| match a {
            Action::PortConfigDone { count } => Some(Decimal::new(*count)),
            _ => None,
        });
        let count_pairs = count.as_ref().map(|c| [(schema::PORT_CONFIG_DONE_COUNT_FIELD, c.as_str())]);
        let init_pairs = [(schema::PORT_INIT_DONE_LANES_FIELD, schema::PORT_INIT_DONE_LANES_VALUE)];
        let produce_pairs: Vec<Vec<(&str, &str)>> = actions
            .iter()
            .filter_map(|a| match a {
                Action::ProduceAppPort { name } => Some(
                    self.config_fields
                        .get(name)
                        .map(|f| f.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect())
                        .unwrap_or_default(),
                ),
                _ => None,
            })
            .collect();
        let (mut next_state, mut next_produce) = (state_pairs.iter(), produce_pairs.iter());
        let mut writes = Vec::with_capacity(actions.len());
        for action in &actions {
            match action {
                Action::SetStatePort { name, .. } => {
                    let fields = next_state.next().map(|p| &p[..]).unwrap_or_default();
                    writes.push(Write::Set {
                        db: Db::State,
                        table: schema::STATE_PORT_TABLE,
                        key: name.as_str(),
                        fields,
                    });
                }
                Action::DelStatePort { name } => {
                    self.presence_cache.remove(name);
                    writes.push(Write::Del {
                        db: Db::State,
                        table: schema::STATE_PORT_TABLE,
                        key: name.as_str(),
                    });
                }
                Action::ProduceAppPort { name } => {
                    let fields = next_produce.next().map(|p| &p[..]).unwrap_or_default();
                    writes.push(Write::Produce {
                        db: Db::Appl,
                        table: schema::APP_PORT_TABLE,
                        key: name.as_str(),
                        fields,
                    });
                }
                Action::PortConfigDone { count } => {
                    let fields = count_pairs.as_ref().map(|p| &p[..]).unwrap_or_default();
                    writes.push(Write::Produce {
                        db: Db::Appl,
                        table: schema::APP_PORT_TABLE,
                        key: schema::PORT_CONFIG_DONE,
                        fields,
                    });
                    self.milestones.port_config_done = Some(self.since_start());
                    log!(Notice, "PortConfigDone: {count} ports produced to APPL_DB");
                }
                Action::PortInitDone => {
                    writes.push(Write::Produce {
                        db: Db::Appl,
                        table: schema::APP_PORT_TABLE,
                        key: schema::PORT_INIT_DONE,
                        fields: &init_pairs,
                    });
                    self.milestones.port_init_done = Some(self.since_start());
                    log!(Notice, "PortInitDone after {} ms", self.since_start().as_millis());
                }
                Action::PortNotInAppDb { name } => log!(Info, "cannot find {name} in APPL_DB PORT_TABLE"),
                Action::BringLinkDown { .. } => {}
            }
        }
        if let Err(e) = self.db.write(&writes).await {
            self.counters.refused_writes += 1;
            log!(Error, "{e}");
        }
        drop(writes);
        self.snapshot_dirty |= actions.iter().any(|a| {
            matches!(a, Action::SetStatePort { .. } | Action::DelStatePort { .. } | Action::PortInitDone)
        });
        actions
    }

    /// Saves the warm-restart snapshot now.
    fn save_snapshot(&mut self) {
        let snapshot = self.engine.snapshot();
        match self.state_file.save(&snapshot) {
            Ok(bytes) => {
                log!(Info, "snapshot saved: {} ports, {bytes} bytes", snapshot.ports.len());
                self.snapshot_dirty = false;
            }
            Err(e) => log!(Warn, "{e}"),
        }
        self.last_snapshot = std::time::Instant::now();
    }

    fn pending_eoiu(&mut self, end: Eoiu) {
        self.dump_done = Some(end);
    }

    /// After a batch: act on a dump that ended in it.
    async fn after_batch<L: LinkSource>(&mut self, monitor: &mut L) -> Result<(), L::Error> {
        if let Some(end) = self.dump_done.take() {
            self.dump_ended(end, monitor).await?;
        }
        Ok(())
    }

    /// Once a second (or at a dump's deadline): dump timeouts, kept writes,
    /// CONFIG_DB's log level.
    async fn tick<L: LinkSource>(&mut self, monitor: &mut L) -> Result<(), L::Error> {
        if let Some(end) = self.eoiu.handle_timeout(self.now()) {
            self.commit().await;
            self.dump_ended(end, monitor).await?;
        }
        let status = self.db.maintain().await;
        if status != self.last_status {
            match status {
                backend::BackendStatus::Connected => {
                    log!(Notice, "databases reachable again; kept writes flushed")
                }
                backend::BackendStatus::Degraded { pending } => {
                    log!(Warn, "databases unreachable: {pending} keys' writes kept for later")
                }
            }
            self.last_status = status;
        }
        let during_startup = self.engine.phase() != portsyncd_core::engine::Phase::Running;
        if self.snapshot_dirty
            && !during_startup
            && self.last_snapshot.elapsed() >= self.config.snapshot_interval
        {
            self.save_snapshot();
        }
        if std::time::Instant::now() >= self.next_logger_poll {
            self.next_logger_poll = std::time::Instant::now() + TICK * 5;
            let mut level = None;
            if self
                .db
                .hget(Db::Config, LOGGER_TABLE, APP, "LOGLEVEL", &mut |v| level = Some(v.to_owned()))
                .await
                .is_ok()
            {
                apply_log_level(level.as_deref());
            }
        }
        Ok(())
    }

    /// The kernel dropped notifications: dump again (now, or after the dump
    /// in flight) and reconcile at its end.
    fn overrun<L: LinkSource>(&mut self, monitor: &mut L) -> Result<(), L::Error> {
        log!(Warn, "netlink overrun: link notifications were lost; dumping all links again");
        if self.dump_seq.is_some() {
            self.redump_wanted = true;
            Ok(())
        } else {
            self.start_redump(monitor)
        }
    }

    fn start_redump<L: LinkSource>(&mut self, monitor: &mut L) -> Result<(), L::Error> {
        self.counters.redumps += 1;
        self.request_dump(monitor)
    }

    async fn dump_ended<L: LinkSource>(&mut self, end: Eoiu, monitor: &mut L) -> Result<(), L::Error> {
        self.dump_seq = None;
        let initial = self.engine.phase() == portsyncd_core::engine::Phase::InitialDump;
        match end {
            Eoiu::Interrupted => {
                log!(Notice, "dump interrupted by link changes; dumping again");
                return self.start_redump(monitor);
            }
            Eoiu::Complete => {}
            Eoiu::Failed { errno } => log!(Warn, "dump failed with errno {errno}; going on without it"),
            Eoiu::TimedOut => {
                log!(Warn, "dump did not end within {:?}; going on without it", self.config.dump_timeout)
            }
        }
        let complete = end == Eoiu::Complete;
        if initial {
            self.finish_startup(complete).await;
        } else {
            self.commit().await;
            if let Err(e) = self.engine.dump_ended(complete) {
                log!(Error, "end of dump: {e}");
            }
            let vanished: Vec<String> = self
                .carry_out()
                .await
                .iter()
                .filter_map(|a| match a {
                    Action::DelStatePort { name } => Some(name.to_string()),
                    _ => None,
                })
                .collect();
            self.counters.vanished += vanished.len() as u64;
            match (complete, vanished.is_empty()) {
                (false, _) => self.redump_wanted = true,
                (true, true) => log!(Notice, "dump complete: STATE_DB matches the kernel"),
                (true, false) => log!(
                    Notice,
                    "dump complete; gone from the kernel while notifications were lost, deleted from STATE_DB: {}",
                    vanished.join(", ")
                ),
            }
        }
        if std::mem::take(&mut self.redump_wanted) {
            self.start_redump(monitor)?;
        }
        Ok(())
    }

    /// End of the initial dump: stale links down, configuration produced,
    /// the prune, then normal operation.
    async fn finish_startup(&mut self, complete: bool) {
        self.milestones.eoiu = Some(self.since_start());
        if let Err(e) = self.engine.end_initial_dump(complete) {
            log!(Error, "end of initial dump: {e}");
            return;
        }
        self.carry_out().await;
        if self.engine.phase() == portsyncd_core::engine::Phase::Pruning {
            let names: Vec<PortName> = self.engine.prune_candidates().copied().collect();
            let keys: Vec<&str> = names.iter().map(PortName::as_str).collect();
            let mut has = vec![false; keys.len()];
            let asked = self
                .db
                .has_field(Db::Appl, schema::APP_PORT_TABLE, &keys, schema::ADMIN_STATUS_FIELD, &mut has)
                .await;
            if let Err(e) = asked {
                log!(Warn, "{e}; no port pruned");
                has.fill(false);
            }
            for (name, has) in names.iter().zip(&has) {
                if let Err(e) = self.engine.prune(name, *has) {
                    log!(Error, "prune {name}: {e}");
                }
            }
            if let Err(e) = self.engine.end_prune() {
                log!(Error, "end of prune: {e}");
            }
            self.carry_out().await;
        }
        let awaiting = self.engine.awaiting_ports().count();
        log!(
            Notice,
            "initial sync done after {} ms; {awaiting} ports await their host interface",
            self.since_start().as_millis()
        );
        let status = format!("initial sync done; {awaiting} ports await their host interface");
        notify_systemd(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]);
    }
}
