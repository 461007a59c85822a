//! The ferry: waits for the next input, hands it to the core's
//! [`Driver`](portsyncd_core::driver::Driver), and has its requests carried
//! out ([`crate::requests`]).
//!
//! It decides nothing. Every request maps to one call on a port —
//! [`Databases`], [`LinkSource`], [`LinkController`], [`SnapshotStore`](portsyncd_core::backend::SnapshotStore) — or
//! on the process (log level, service manager), and every outcome goes back
//! to the driver as data.
//!
//! The loop carries out the driver's requests until it asks for input:
//! what is queued on the link source (read without waiting, while a batch is
//! open), or a wait for a datagram, a signal or its deadline. It reads the
//! clock once per wake-up (and once more after each awaited request, so
//! that the driver knows how long it took), hands over what woke it and lets
//! due timers fire. When to read, and whether to wait, is the driver's. Nothing here depends on Linux: the in-process tests run it over the
//! in-memory adapters on a manual clock.
//!
//! Signals come through [`Signals`], whose implementation does the process's
//! part of each first (for a reload: reading the settings file,
//! [`crate::signals`]); what a signal means for the run is the driver's.

use std::future::Future;
use std::pin::Pin;

use portsyncd_core::Instant;
use portsyncd_core::backend::{Databases, LinkController, LinkSource, Received};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Failure, Input, Receive, Signal, Taken};
use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;

#[cfg(not(target_os = "linux"))]
use async_io::Timer;
// The hot path's sockets wait on this reactor (Linux); its timers must too,
// or each would wake the loop from async-io's thread.
#[cfg(target_os = "linux")]
use portsyncd_reactor::Timer;

use crate::log;
pub use crate::requests::{ConfigFields, Parts, Supervisor, Wants, carry_out};
use crate::saving::SaveBeside;

/// Where time comes from: the monotonic clock in production, a manual one in tests.
pub trait Clock {
    /// Now.
    fn now(&self) -> Instant;
    /// Completes at `at` (never, for a clock only a test moves).
    fn at(&self, at: Instant) -> impl Future<Output = ()>;
}

/// What a process signal asks of the driver, once the process has done its
/// part of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Signalled {
    /// SIGTERM or SIGINT: stop.
    Terminate,
    /// SIGHUP: read CONFIG_DB's LOGGER again at once, and, when the settings
    /// file was read again and is good, run on these driver settings and
    /// alert rules (`None`: the ones in force stay). Boxed: a reload is
    /// rare, and the settings are large next to the other signals.
    Reload(Option<Box<(DriverConfig, crate::alerting::Alerting)>>),
    /// SIGUSR1: reconcile now.
    Reconcile,
}

/// Where the loop's signals come from.
pub trait Signals {
    /// The next signal for the driver (pending for ever when none will
    /// come). Dropped unfinished whenever something else wakes the loop
    /// first: it must lose nothing then.
    fn next(&mut self) -> impl Future<Output = Signalled>;
}

/// [`Signals`] from one future: [`Signalled::Terminate`] once it completes,
/// then nothing (tests; a caller with only a shutdown to wait for).
pub struct TerminateOn<F>(Option<Pin<Box<F>>>);

impl<F: Future<Output = ()>> TerminateOn<F> {
    /// Terminate once `shutdown` completes.
    pub fn new(shutdown: F) -> Self {
        Self(Some(Box::pin(shutdown)))
    }
}

impl<F: Future<Output = ()>> Signals for TerminateOn<F> {
    async fn next(&mut self) -> Signalled {
        match self.0.as_mut() {
            Some(shutdown) => shutdown.await,
            None => std::future::pending().await,
        }
        self.0 = None;
        Signalled::Terminate
    }
}

/// What woke the loop.
enum Wake {
    Datagram,
    Overrun,
    Nothing,
    LinksFailed(String),
    Signal(Signalled),
    Timer,
    /// The save written beside the loop finished.
    Saved(Result<usize, portsyncd_state_file::SaveError>),
}

/// Runs the driver until it exits: `Ok` after a clean shutdown (once
/// `signals` says [`Signalled::Terminate`]: SIGTERM or SIGINT in production).
pub async fn run<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    mut signals: impl Signals,
) -> Result<(), Failure>
where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SaveBeside<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    let mut now = clock.now();
    let mut rest = Rest::None;
    loop {
        let wants = carry_out(driver, parts, clock, now).await;
        let wait_for_links = match wants {
            Wants::Receive(receive) if rest != Rest::None => {
                // The rest of a datagram the driver took in part, before anything new.
                let _ = receive;
                rest = feed(driver, now, parts.links.last_datagram(), rest);
                continue;
            }
            Wants::Receive(Receive::Queued) => {
                rest = read_queued(driver, &mut parts.links, now);
                continue;
            }
            Wants::Receive(Receive::Wait) => true,
            Wants::Idle => false,
            Wants::Exit(exit) => {
                if let Some(metrics) = parts.metrics.as_mut() {
                    metrics.tick(now, driver, &parts.db, true);
                }
                return exit;
            }
        };
        if let Some(metrics) = parts.metrics.as_mut() {
            metrics.tick(now, driver, &parts.db, false);
        }
        let deadline = driver.poll_timeout();
        let links = &mut parts.links;
        let signals = &mut signals;
        let saving = parts.saving.as_ref();
        // Signals first: a link source that is always ready must not starve them.
        let wake = smol::future::or(
            async { Wake::Signal(signals.next().await) },
            smol::future::or(
                async {
                    if !wait_for_links {
                        return std::future::pending().await;
                    }
                    match links.recv().await {
                        Ok(Received::Datagram(_)) => Wake::Datagram,
                        Ok(Received::Overrun) => Wake::Overrun,
                        Ok(Received::Empty) => Wake::Nothing,
                        Err(e) => Wake::LinksFailed(e.to_string()),
                    }
                },
                smol::future::or(
                    async {
                        match saving {
                            Some(saving) => Wake::Saved(saving.done().await),
                            None => std::future::pending().await,
                        }
                    },
                    async {
                        match deadline {
                            Some(at) => clock.at(at).await,
                            None => std::future::pending().await,
                        }
                        Wake::Timer
                    },
                ),
            ),
        )
        .await;
        now = clock.now();
        match wake {
            Wake::Signal(Signalled::Terminate) => handle(driver, now, Input::Signal(Signal::Terminate)),
            Wake::Signal(Signalled::Reconcile) => handle(driver, now, Input::Signal(Signal::Reconcile)),
            Wake::Signal(Signalled::Reload(config)) => {
                if let Some(config) = config {
                    let (config, alerting) = *config;
                    driver.reconfigure(now, config);
                    apply_alerting(driver, now, &alerting);
                }
                handle(driver, now, Input::Signal(Signal::Reload));
            }
            Wake::Timer | Wake::Nothing => {}
            Wake::LinksFailed(e) => {
                log!(Error, "{e}");
                handle(driver, now, Input::LinksFailed);
            }
            Wake::Datagram => rest = feed(driver, now, parts.links.last_datagram(), Rest::From(0)),
            Wake::Overrun => handle(driver, now, Input::Overrun),
            Wake::Saved(saved) => {
                parts.saving = None;
                let saved = crate::saving::finished(&mut parts.snapshots, saved, now);
                handle(driver, now, Input::SnapshotSaved(saved));
            }
        }
        driver.handle_timeout(now);
    }
}

/// Whether part of the last datagram is still to be handed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rest {
    /// No.
    None,
    /// From this byte on.
    From(usize),
}

/// Hands the driver an input that is taken whole.
fn handle(driver: &mut DefaultDriver, now: Instant, input: Input<'_>) {
    let _ = driver.handle(now, input);
}

/// Hands the driver `datagram` from `rest` on; what it did not take yet.
fn feed(driver: &mut DefaultDriver, now: Instant, datagram: &[u8], rest: Rest) -> Rest {
    let Rest::From(from) = rest else { return Rest::None };
    match driver.handle(now, Input::Datagram(datagram.get(from..).unwrap_or_default())) {
        Taken::All => Rest::None,
        Taken::Part(n) => Rest::From(from + n),
    }
}

/// Reads what is queued on the link source without waiting (the driver's
/// batch is open) and hands it over; what of it the driver did not take yet.
fn read_queued<L: LinkSource>(driver: &mut DefaultDriver, links: &mut L, now: Instant) -> Rest {
    match links.try_recv() {
        Ok(Received::Datagram(bytes)) => return feed(driver, now, bytes, Rest::From(0)),
        Ok(Received::Overrun) => handle(driver, now, Input::Overrun),
        Ok(Received::Empty) => handle(driver, now, Input::QueueEmpty),
        Err(e) => {
            log!(Error, "{e}");
            handle(driver, now, Input::LinksFailed);
        }
    }
    Rest::None
}

/// Everything that can happen at `now` without waiting: requests carried
/// out, and whatever the link source already holds read and handed over,
/// until the driver would wait. `Some` once it exits. (The in-process tests
/// move a manual clock between steps, over a snapshot store that saves in
/// place: a save written beside the loop is not waited for here.)
pub async fn step<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    now: Instant,
) -> Option<Result<(), Failure>>
where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SaveBeside<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    let mut rest = Rest::None;
    loop {
        match carry_out(driver, parts, clock, now).await {
            Wants::Exit(exit) => return Some(exit),
            Wants::Idle => return None,
            Wants::Receive(_) if rest != Rest::None => {
                rest = feed(driver, now, parts.links.last_datagram(), rest);
            }
            Wants::Receive(Receive::Queued) => rest = read_queued(driver, &mut parts.links, now),
            Wants::Receive(Receive::Wait) => match parts.links.try_recv() {
                Ok(Received::Datagram(bytes)) => rest = feed(driver, now, bytes, Rest::From(0)),
                Ok(Received::Overrun) => handle(driver, now, Input::Overrun),
                Ok(Received::Empty) => return None,
                Err(e) => {
                    log!(Error, "{e}");
                    handle(driver, now, Input::LinksFailed);
                }
            },
        }
    }
}

/// The process's monotonic clock, from the daemon's start.
pub struct MonotonicClock {
    origin: std::time::Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self { origin: std::time::Instant::now() }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn at(&self, at: Instant) -> impl Future<Output = ()> {
        let when = self.origin + std::time::Duration::from_millis(at.as_millis());
        async move {
            Timer::at(when).await;
        }
    }
}

/// Sets the alert rules (checked when the settings were read, so a refusal
/// here is a bug worth a line, not a stop) and the silences.
pub fn apply_alerting(driver: &mut DefaultDriver, now: Instant, alerting: &crate::alerting::Alerting) {
    if let Err(e) = driver.set_alert_rules(now, alerting.settings, &alerting.rules) {
        log!(Error, "alert rules refused: {e}; the rules in force stay");
        return;
    }
    for (rule, for_) in &alerting.silences {
        if let Err(e) = driver.silence_alert(now, rule, *for_) {
            log!(Error, "alert silence for {rule}: {e}");
        }
    }
}

/// A number unique to this run: the pid and the wall clock at the first
/// call, mixed (the same for the whole run).
fn run_token() -> u64 {
    static TOKEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOKEN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        (nanos ^ (u64::from(std::process::id()) << 40)).max(1)
    })
}

/// The driver's settings from the daemon's.
pub fn driver_config(config: &crate::config::Config) -> DriverConfig {
    DriverConfig {
        dump_timeout: config.dump_timeout,
        coalesce_window: config.coalesce_window,
        startup_coalesce_window: config.startup_coalesce_window,
        snapshot_interval: config.snapshot_interval,
        log_output: config.log_output,
        repeat_window: config.log_repeat_window,
        health: config.health,
        alarm_table: config.alerts.state_db,
        reconcile_interval: config.reconcile_interval,
        partition: config.partition,
        run_token: run_token(),
        seed: u64::from(std::process::id()),
        ..DriverConfig::default()
    }
}
