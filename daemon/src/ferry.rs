//! The ferry: waits for the next input, hands it to the core's
//! [`Driver`](portsyncd_core::driver::Driver), and has its requests carried
//! out ([`crate::requests`]).
//!
//! It decides nothing. Every request maps to one call on a port —
//! [`Databases`], [`LinkSource`], [`LinkController`], [`SnapshotStore`] — or
//! on the process (log level, service manager), and every outcome goes back
//! to the driver as data.
//!
//! The loop reads the clock once per wake-up (and once more after each
//! awaited request, so that the driver knows how long it took), feeds what woke it (datagrams
//! already queued form one batch; an overrun; a signal) and lets due timers
//! fire. Nothing here depends on Linux: the in-process tests run it over the
//! in-memory adapters on a manual clock.
//!
//! Signals come through [`Signals`], whose implementation does the process's
//! part of each first (for a reload: reading the settings file,
//! [`crate::signals`]); what a signal means for the run is the driver's.

use std::future::Future;
use std::pin::Pin;

use portsyncd_core::Instant;
use portsyncd_core::backend::{Databases, LinkController, LinkSource, Received, SnapshotStore};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Failure, Signal};
use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;

#[cfg(not(target_os = "linux"))]
use async_io::Timer;
// The hot path's sockets wait on this reactor (Linux); its timers must too,
// or each would wake the loop from async-io's thread.
#[cfg(target_os = "linux")]
use portsyncd_reactor::Timer;

use crate::log;
pub use crate::requests::{ConfigFields, Parts, Supervisor, carry_out};

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
    S: SnapshotStore<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    let mut now = clock.now();
    loop {
        let exit = match carry_out(driver, parts, clock, now).await {
            Some(exit) => Some(exit),
            // An exit met while a datagram was fed in parts.
            None => driver.exited(),
        };
        if let Some(metrics) = parts.metrics.as_mut() {
            metrics.tick(now, driver, &parts.db, exit.is_some());
        }
        if let Some(exit) = exit {
            return exit;
        }
        let deadline = driver.poll_timeout();
        let links = &mut parts.links;
        let signals = &mut signals;
        // A failed source is not read (it would fail again at once) until
        // the driver has had it opened again.
        let links_up = driver.links_up();
        let wake = smol::future::or(
            async {
                if !links_up {
                    return std::future::pending().await;
                }
                match links.recv().await {
                    Ok(Received::Datagram(_)) => Wake::Datagram,
                    Ok(Received::Overrun) => Wake::Overrun,
                    Ok(Received::Empty) => Wake::Nothing,
                    Err(e) => Wake::LinksFailed(e.to_string()),
                }
            },
            smol::future::or(async { Wake::Signal(signals.next().await) }, async {
                match deadline {
                    Some(at) => clock.at(at).await,
                    None => std::future::pending().await,
                }
                Wake::Timer
            }),
        )
        .await;
        now = clock.now();
        match wake {
            Wake::Signal(Signalled::Terminate) => driver.handle_signal(now, Signal::Terminate),
            Wake::Signal(Signalled::Reconcile) => driver.handle_signal(now, Signal::Reconcile),
            Wake::Signal(Signalled::Reload(config)) => {
                if let Some(config) = config {
                    let (config, alerting) = *config;
                    driver.reconfigure(now, config);
                    apply_alerting(driver, now, &alerting);
                }
                driver.handle_signal(now, Signal::Reload);
            }
            Wake::Timer | Wake::Nothing => {}
            Wake::LinksFailed(e) => {
                log!(Error, "{e}");
                driver.handle_link_source_failed(now);
            }
            Wake::Datagram => take_batch(driver, parts, clock, now, First::Datagram).await,
            Wake::Overrun => take_batch(driver, parts, clock, now, First::Overrun).await,
        }
        driver.handle_timeout(now);
    }
}

/// What the receive that woke the loop brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    /// A datagram, now in [`LinkSource::last_datagram`].
    Datagram,
    /// An overrun.
    Overrun,
    /// Nothing yet: look for queued datagrams.
    Nothing,
}

/// Feeds what woke the loop and everything already queued as one batch
/// (no waiting for more), then ends the batch.
pub async fn take_batch<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    now: Instant,
    first: First,
) where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SnapshotStore<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    match first {
        First::Datagram => feed(driver, parts, clock, now).await,
        First::Overrun => driver.handle_overrun(now),
        First::Nothing => {}
    }
    while driver.wants_queued_datagram() && driver.links_up() {
        match parts.links.try_recv() {
            Ok(Received::Datagram(_)) => feed(driver, parts, clock, now).await,
            Ok(Received::Overrun) => driver.handle_overrun(now),
            Ok(Received::Empty) => break,
            Err(e) => {
                log!(Error, "{e}");
                driver.handle_link_source_failed(now);
                break;
            }
        }
    }
    driver.handle_batch_end(now);
}

/// Feeds the datagram just received, carrying out what the driver asks
/// whenever it cannot take the rest yet.
async fn feed<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    now: Instant,
) where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SnapshotStore<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    let len = parts.links.last_datagram().len();
    let mut offset = 0;
    while offset < len {
        offset += driver.handle_datagram(now, &parts.links.last_datagram()[offset..]);
        // Stopping: the rest of the datagram no longer matters.
        if offset < len && (carry_out(driver, parts, clock, now).await.is_some() || !driver.takes_input()) {
            return;
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
