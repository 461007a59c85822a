//! The driver's settings: what each means and its default. Which of them a
//! reload changes, and how, is [`reload`](super::reload)'s.

use core::time::Duration;

use crate::health::HealthThresholds;
use crate::logger::Output;

#[cfg(doc)]
use super::{Notify, Signal};

/// The driver's settings (the daemon's configuration file sets most).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// How long to wait for the end of a dump before going on without it.
    pub dump_timeout: Duration,
    /// Least time between two saves of the warm-restart snapshot.
    pub snapshot_interval: Duration,
    /// Log output regardless of CONFIG_DB's LOGOUTPUT (`None`: CONFIG_DB decides).
    pub log_output: Option<Output>,
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
    /// After a wake-up that read more than one datagram, the link source is
    /// read again only this much later, so that a storm is taken in fewer,
    /// larger batches (zero: at once). A wake-up with one datagram is
    /// answered at once either way.
    pub coalesce_window: Duration,
    /// The coalescing window until PortInitDone, when it is longer than
    /// [`coalesce_window`](Self::coalesce_window): while the host interfaces
    /// are created (hundreds of links in bursts, at boot, when the CPU is
    /// busiest) no one waits on a port's STATE_DB entry by the millisecond,
    /// and a longer window takes the bursts in a fraction of the wake-ups and
    /// round trips (benches/README.md, "The start-up window"). Zero: the
    /// running window from the start.
    pub startup_coalesce_window: Duration,
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
    /// drift (`None`: only on request, [`Signal::Reconcile`]).
    pub reconcile_interval: Option<Duration>,
    /// This instance among partitioned ones (default: the only one).
    pub partition: crate::partition::Partition,
    /// A number unique to this run (the leader of partitioned instances
    /// names its run with it; the pid and the start time will do).
    pub run_token: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl DriverConfig {
    /// The defaults, in a `const`.
    pub const DEFAULT: Self = Self {
        dump_timeout: Duration::from_secs(5),
        snapshot_interval: Duration::from_secs(10),
        log_output: None,
        maintain_interval: Duration::from_secs(1),
        logger_poll_interval: Duration::from_secs(5),
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_secs(5),
        shutdown_flush: Duration::from_millis(500),
        datagrams_per_batch: 256,
        coalesce_window: Duration::from_millis(3),
        startup_coalesce_window: Duration::from_millis(10),
        seed: 1,
        repeat_window: Duration::from_secs(10),
        health: HealthThresholds::DEFAULT,
        liveness_interval: None,
        alarm_table: false,
        reconcile_interval: Some(Duration::from_secs(300)),
        partition: crate::partition::Partition::single(),
        run_token: 1,
    };
}
