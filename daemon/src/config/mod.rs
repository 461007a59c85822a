//! The TOML settings file: every key optional, unknown keys refused, values
//! checked, errors naming the file, the key and the problem.
//!
//! Every key is declared once, in [`SETTINGS`]: its name, its default, when
//! a change of it applies (on SIGHUP, or at the next start), its one-line
//! doc, and how its value is read into, shown from and taken out of a
//! [`Config`]. Everything else is derived from that table:
//!
//! - reading a file ([`Config::parse`]): a key the table does not have is
//!   refused, each value is checked as its row says;
//! - the defaults ([`Config::default`] is what an empty file gives);
//! - `--check-config`'s print-out of the settings in effect
//!   ([`Config::effective`]);
//! - a reload: which settings changed ([`Config::changes`], [`describe`])
//!   and what a running daemon takes of them ([`Config::run_time_part_of`]);
//! - the reference test (`daemon/tests/settings_reference.rs`), which holds
//!   the shipped `packaging/portsyncd.conf` and `docs/configuration.md` to
//!   the table.
//!
//! What this module does not decide: what a setting does once in force (the
//! driver's and the adapters'), the inside of an `[[alerts.rule]]`
//! ([`crate::alerting`]) or of `[instance] partition` (the core's
//! [`portsyncd_core::partition`]), and when the file is read again
//! ([`crate::signals`]).

mod instance;
mod read;
mod reload;
mod setting;
mod table;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
use portsyncd_core::health::HealthThresholds;
use portsyncd_core::writes;
use portsyncd_redis::config::read_config_file;

pub use reload::{Change, describe};
pub use setting::{DefaultValue, Setting, When};
pub use table::SETTINGS;

/// The fewest `[redis] journal_keys` accepted: every key the daemon can
/// write with the build's port capacity (2 per port, 4 beside them; see
/// [`portsyncd_core::writes::max_keys_written`]). A smaller journal would
/// lose writes while Redis is away and leave ports wrong after it comes back.
pub const MIN_JOURNAL_KEYS: usize = writes::max_keys_written(DEFAULT_PORT_CAPACITY);

/// The most `[redis] journal_keys` accepted.
pub const MAX_JOURNAL_KEYS: usize = max(1 << 20, MIN_JOURNAL_KEYS);

/// `[redis] journal_keys` when it is not given.
pub const DEFAULT_JOURNAL_KEYS: usize = max(8192, MIN_JOURNAL_KEYS);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The daemon's settings. Each field is set by one or more keys of
/// [`SETTINGS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Receive buffer asked for the netlink socket.
    pub netlink_receive_buffer: usize,
    /// How long to wait for the end of a dump before going on without it.
    pub dump_timeout: Duration,
    /// After a wake-up that read several datagrams, the link source is read
    /// again only this much later (zero: at once).
    pub coalesce_window: Duration,
    /// The coalescing window until PortInitDone, if longer.
    pub startup_coalesce_window: Duration,
    /// Redis reply timeout: a server silent this long is taken as gone.
    pub redis_response_timeout: Duration,
    /// Longest delay between reconnect attempts.
    pub redis_reconnect_max: Duration,
    /// At start, how long to wait for Redis before exiting 1 (zero: as long
    /// as it takes).
    pub redis_connect_wait: Duration,
    /// Keys whose writes are kept while Redis is away.
    pub redis_journal_keys: usize,
    /// Output used until CONFIG_DB's LOGGER says otherwise; `None` = CONFIG_DB decides.
    pub log_output: Option<crate::logging::Output>,
    /// `--db memory`: CONFIG_DB `PORT` keys to seed.
    pub memory_ports: Vec<String>,
    /// Least time between two saves of the warm-restart snapshot.
    pub snapshot_interval: Duration,
    /// Repeated trouble of one kind is said once per this window, then
    /// counted.
    pub log_repeat_window: Duration,
    /// When health changes state.
    pub health: HealthThresholds,
    /// supervisord's heartbeat on stdout every this long (`Some(0)`: off;
    /// `None`: not set, [`crate::supervisor::heartbeat_interval`] decides).
    pub supervisor_heartbeat: Option<Duration>,
    /// Where the metrics endpoint listens (`None`: off; `--metrics-addr`
    /// wins).
    pub metrics_addr: Option<crate::metrics::MetricsAddr>,
    /// The mode and group of the endpoint's unix socket.
    pub metrics_socket: crate::metrics::SocketAccess,
    /// Alert rules, their intervals, silences.
    pub alerts: crate::alerting::Alerting,
    /// How often STATE_DB is reconciled with the kernel (`None`: only on
    /// SIGUSR1).
    pub reconcile_interval: Option<Duration>,
    /// This instance among partitioned ones (`[instance]`; default the only one).
    pub partition: portsyncd_core::partition::Partition,
}

impl Default for Config {
    /// What an empty file gives: every key at its [`Setting::default`].
    fn default() -> Self {
        Self::parse("").expect("the settings table's defaults are valid")
    }
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {problem}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl Config {
    /// Reads `path`; a missing file is the defaults when `required` is false.
    /// Only a regular file of at most 1 MiB is read, and reading it never
    /// blocks ([`read_config_file`]): a FIFO or a device is an error.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let err = |problem: String| ConfigError { path: path.display().to_string(), problem };
        let text = match read_config_file(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Self::default()),
            Err(e) => return Err(err(e.to_string())),
        };
        Self::parse(&text).map_err(err)
    }

    /// Parses and checks TOML text: the first problem, naming the key (and
    /// the line, where the problem is in the text rather than in a value's
    /// range).
    pub fn parse(text: &str) -> Result<Self, String> {
        read::parse(text)
    }
}
