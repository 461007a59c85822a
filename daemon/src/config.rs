//! The TOML settings file: every key optional, unknown keys refused, values
//! checked, errors naming the file, the key and the problem.

use std::path::Path;
use std::time::Duration;

use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
use portsyncd_core::health::HealthThresholds;
use portsyncd_core::writes::{self, KEYS_BESIDE_PORTS, KEYS_PER_PORT};
use portsyncd_redis::config::read_config_file;
use serde::Deserialize;

/// Receive buffer asked for the netlink socket by default: 16 MiB, as the
/// C++ daemon asks.
pub const DEFAULT_NETLINK_RCVBUF: usize = 16 << 20;

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

/// The daemon's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Receive buffer asked for the netlink socket.
    pub netlink_receive_buffer: usize,
    /// How long to wait for the end of a dump before going on without it.
    pub dump_timeout: Duration,
    /// Redis reply timeout: a server silent this long is taken as gone.
    pub redis_response_timeout: Duration,
    /// Longest delay between reconnect attempts.
    pub redis_reconnect_max: Duration,
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
    /// supervisord's heartbeat on stdout every this long (`None`: off).
    pub supervisor_heartbeat: Option<Duration>,
    /// Where the metrics endpoint listens (`None`: off; `--metrics-addr`
    /// wins).
    pub metrics_addr: Option<crate::metrics::MetricsAddr>,
    /// Alert rules, their intervals, silences.
    pub alerts: crate::alerting::Alerting,
    /// How often STATE_DB is reconciled with the kernel (`None`: only on
    /// SIGUSR1).
    pub reconcile_interval: Option<Duration>,
    /// This instance among partitioned ones (`[instance]`; default the only one).
    pub partition: portsyncd_core::partition::Partition,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            netlink_receive_buffer: DEFAULT_NETLINK_RCVBUF,
            dump_timeout: Duration::from_secs(5),
            redis_response_timeout: Duration::from_secs(2),
            redis_reconnect_max: Duration::from_secs(5),
            redis_journal_keys: DEFAULT_JOURNAL_KEYS,
            log_output: None,
            memory_ports: Vec::new(),
            snapshot_interval: Duration::from_secs(1),
            log_repeat_window: Duration::from_secs(10),
            health: HealthThresholds::default(),
            supervisor_heartbeat: None,
            metrics_addr: None,
            alerts: crate::alerting::Alerting::default(),
            reconcile_interval: Some(Duration::from_secs(300)),
            partition: portsyncd_core::partition::Partition::single(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    netlink: RawNetlink,
    redis: RawRedis,
    log: RawLog,
    memory: RawMemory,
    state: RawState,
    health: RawHealth,
    liveness: RawLiveness,
    metrics: RawMetrics,
    alerts: crate::alerting::RawAlerts,
    reconcile: RawReconcile,
    instance: RawInstance,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawInstance {
    id: Option<i64>,
    count: Option<i64>,
    partition: Option<toml::Value>,
}

impl RawInstance {
    /// `[instance]`: absent, the only instance.
    fn build(self) -> Result<portsyncd_core::partition::Partition, String> {
        use portsyncd_core::partition::{KeySet, MAX_INSTANCES, MAX_LISTED_KEY, Partition, Share};
        let (id, count) = match (self.id, self.count) {
            (None, None) if self.partition.is_none() => return Ok(Partition::single()),
            (Some(id), Some(count)) => (id, count),
            _ => return Err("instance: id and count go together (and with partition)".into()),
        };
        let count = u8::try_from(count)
            .ok()
            .filter(|c| (1..=MAX_INSTANCES).contains(c))
            .ok_or_else(|| format!("instance.count = {count} is out of range 1..={MAX_INSTANCES}"))?;
        let id = u8::try_from(id)
            .ok()
            .filter(|i| *i < count)
            .ok_or_else(|| format!("instance.id = {id} must be 0..{count} (below instance.count)"))?;
        let key = |v: &toml::Value| {
            v.as_integer()
                .and_then(|k| u32::try_from(k).ok())
                .filter(|k| *k <= MAX_LISTED_KEY)
                .ok_or_else(|| format!("instance.partition: a key must be an integer 0..={MAX_LISTED_KEY}"))
        };
        let share = match &self.partition {
            None if count == 1 => Share::All,
            None => return Err("instance.partition is needed with more than one instance".into()),
            Some(toml::Value::String(s)) if s == "even" => Share::Even,
            Some(toml::Value::Table(t)) if t.len() == 1 && t.contains_key("range") => {
                let bounds = t["range"]
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| "instance.partition.range: expected [first, last]".to_string())?;
                let (first, last) = (key(&bounds[0])?, key(&bounds[1])?);
                if first > last {
                    return Err(format!("instance.partition.range = [{first}, {last}]: first after last"));
                }
                Share::Range { first, last }
            }
            Some(toml::Value::Table(t)) if t.len() == 1 && t.contains_key("list") => {
                let items = t["list"]
                    .as_array()
                    .ok_or_else(|| "instance.partition.list: expected [keys]".to_string())?;
                let mut keys = KeySet::new();
                for item in items {
                    keys.insert(key(item)?);
                }
                Share::List(keys)
            }
            Some(other) => {
                return Err(format!(
                    "instance.partition = {other:?}: expected \"even\", {{ range = [first, last] }} or {{ list = [keys] }}"
                ));
            }
        };
        Partition::new(id, count, share).map_err(|e| format!("instance: {e}"))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawReconcile {
    interval_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    addr: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHealth {
    unhealthy_after_ms: Option<i64>,
    stall_after_ms: Option<i64>,
    slow_request_hold_ms: Option<i64>,
    overruns_per_minute: Option<i64>,
    port_init_within_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLiveness {
    supervisor_heartbeat_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawState {
    save_interval_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawNetlink {
    receive_buffer_bytes: Option<i64>,
    dump_timeout_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRedis {
    response_timeout_ms: Option<i64>,
    reconnect_max_ms: Option<i64>,
    journal_keys: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    output: Option<String>,
    repeat_window_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMemory {
    ports: Vec<String>,
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

fn in_range(key: &str, value: Option<i64>, min: i64, max: i64) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(v) if (min..=max).contains(&v) => Ok(Some(v as u64)),
        Some(v) => Err(format!("{key} = {v} is out of range {min}..={max}")),
    }
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

    /// Parses and checks TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| e.message().to_owned() + &span_note(text, e.span()))?;
        let mut c = Self::default();
        if let Some(v) =
            in_range("netlink.receive_buffer_bytes", raw.netlink.receive_buffer_bytes, 65_536, 1 << 30)?
        {
            c.netlink_receive_buffer = v as usize;
        }
        if let Some(v) = in_range("netlink.dump_timeout_ms", raw.netlink.dump_timeout_ms, 10, 600_000)? {
            c.dump_timeout = Duration::from_millis(v);
        }
        if let Some(v) = in_range("redis.response_timeout_ms", raw.redis.response_timeout_ms, 10, 600_000)? {
            c.redis_response_timeout = Duration::from_millis(v);
        }
        if let Some(v) = in_range("redis.reconnect_max_ms", raw.redis.reconnect_max_ms, 10, 600_000)? {
            c.redis_reconnect_max = Duration::from_millis(v);
        }
        if let Some(v) = raw.redis.journal_keys
            && v < MIN_JOURNAL_KEYS as i64
        {
            return Err(format!(
                "redis.journal_keys = {v} is below {MIN_JOURNAL_KEYS}, the keys the daemon can write \
                 ({KEYS_PER_PORT} keys per port × {DEFAULT_PORT_CAPACITY} ports + {KEYS_BESIDE_PORTS}): \
                 writes kept while Redis is away would be lost"
            ));
        }
        if let Some(v) = in_range(
            "redis.journal_keys",
            raw.redis.journal_keys,
            MIN_JOURNAL_KEYS as i64,
            MAX_JOURNAL_KEYS as i64,
        )? {
            c.redis_journal_keys = v as usize;
        }
        if let Some(output) = raw.log.output {
            c.log_output = Some(
                crate::logging::Output::parse(output.as_bytes())
                    .ok_or_else(|| format!("log.output = {output:?}: expected \"SYSLOG\" or \"STDERR\""))?,
            );
        }
        if let Some(v) = in_range("log.repeat_window_ms", raw.log.repeat_window_ms, 0, 3_600_000)? {
            c.log_repeat_window = Duration::from_millis(v);
        }
        let ms = |key, v, min| in_range(key, v, min, 86_400_000).map(|v| v.map(Duration::from_millis));
        let h = &raw.health;
        if let Some(v) = ms("health.unhealthy_after_ms", h.unhealthy_after_ms, 1000)? {
            c.health.unhealthy_after = v;
        }
        if let Some(v) = ms("health.stall_after_ms", h.stall_after_ms, 100)? {
            c.health.stall_after = v;
        }
        if let Some(v) = ms("health.slow_request_hold_ms", h.slow_request_hold_ms, 0)? {
            c.health.slow_request_hold = v;
        }
        if let Some(v) = in_range("health.overruns_per_minute", h.overruns_per_minute, 0, 1_000_000)? {
            c.health.overruns_per_minute = v as usize;
        }
        if let Some(v) = ms("health.port_init_within_ms", h.port_init_within_ms, 1000)? {
            c.health.port_init_within = v;
        }
        if let Some(v) =
            in_range("liveness.supervisor_heartbeat_ms", raw.liveness.supervisor_heartbeat_ms, 0, 3_600_000)?
        {
            c.supervisor_heartbeat = (v > 0).then(|| Duration::from_millis(v));
        }
        if let Some(v) = in_range("state.save_interval_ms", raw.state.save_interval_ms, 0, 3_600_000)? {
            c.snapshot_interval = Duration::from_millis(v);
        }
        if let Some(addr) = &raw.metrics.addr {
            c.metrics_addr =
                Some(crate::metrics::MetricsAddr::parse(addr).map_err(|e| format!("metrics.addr: {e}"))?);
        }
        c.alerts = raw.alerts.build()?;
        c.partition = raw.instance.build()?;
        if let Some(v) = in_range("reconcile.interval_ms", raw.reconcile.interval_ms, 0, 86_400_000)? {
            if (1..1000).contains(&v) {
                return Err(format!("reconcile.interval_ms = {v}: 0 (off) or at least 1000"));
            }
            c.reconcile_interval = (v > 0).then(|| Duration::from_millis(v));
        }
        for port in &raw.memory.ports {
            portsyncd_core::PortName::try_from(port.as_str())
                .map_err(|e| format!("memory.ports: {port:?} is not a port name: {e}"))?;
        }
        c.memory_ports = raw.memory.ports;
        Ok(c)
    }
}

/// A setting whose value differs between two [`Config`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its key in the file (`netlink.dump_timeout_ms`).
    pub key: &'static str,
    /// The value in force.
    pub old: String,
    /// The value read.
    pub new: String,
    /// Whether a running daemon applies it (on SIGHUP); if not, it takes
    /// effect at the next start.
    pub at_run_time: bool,
}

impl Config {
    /// Every setting: its key, its value as shown, and whether a running
    /// daemon applies a change of it ([`Config::run_time_part_of`] says how).
    fn settings(&self) -> [(&'static str, String, bool); 23] {
        // Destructured: a setting added to Config does not compile until it
        // is listed here, with when it takes effect.
        let Config {
            netlink_receive_buffer,
            dump_timeout,
            redis_response_timeout,
            redis_reconnect_max,
            redis_journal_keys,
            log_output,
            memory_ports,
            snapshot_interval,
            log_repeat_window,
            health,
            supervisor_heartbeat,
            metrics_addr,
            alerts,
            reconcile_interval,
            partition,
        } = self;
        let ms = |d: &Duration| d.as_millis().to_string();
        [
            ("netlink.receive_buffer_bytes", netlink_receive_buffer.to_string(), false),
            ("netlink.dump_timeout_ms", ms(dump_timeout), true),
            ("redis.response_timeout_ms", ms(redis_response_timeout), false),
            ("redis.reconnect_max_ms", ms(redis_reconnect_max), false),
            ("redis.journal_keys", redis_journal_keys.to_string(), false),
            ("log.output", log_output.map_or("unset", crate::logging::Output::name).to_owned(), true),
            ("log.repeat_window_ms", ms(log_repeat_window), true),
            ("health.unhealthy_after_ms", ms(&health.unhealthy_after), true),
            ("health.stall_after_ms", ms(&health.stall_after), true),
            ("health.slow_request_hold_ms", ms(&health.slow_request_hold), true),
            ("health.overruns_per_minute", health.overruns_per_minute.to_string(), true),
            ("health.port_init_within_ms", ms(&health.port_init_within), true),
            (
                "liveness.supervisor_heartbeat_ms",
                supervisor_heartbeat.as_ref().map_or("off".into(), ms),
                false,
            ),
            ("memory.ports", format!("[{}]", memory_ports.join(", ")), false),
            ("metrics.addr", metrics_addr.as_ref().map_or("off".into(), ToString::to_string), false),
            ("alerts.state_db", alerts.state_db.to_string(), false),
            ("reconcile.interval_ms", reconcile_interval.as_ref().map_or("off".into(), ms), true),
            (
                "instance",
                format!("{} of {} ({:?})", partition.id(), partition.count(), partition.share()),
                false,
            ),
            ("alerts.interval_ms", ms(&alerts.settings.interval), true),
            ("alerts.repeat_interval_ms", ms(&alerts.settings.repeat_interval), true),
            (
                "alerts.rule",
                format!("[{}]", alerts.rules.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")),
                true,
            ),
            (
                "alerts.silence",
                format!(
                    "[{}]",
                    alerts
                        .silences
                        .iter()
                        .map(|(r, d)| format!("{r} {}ms", d.as_millis()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                true,
            ),
            ("state.save_interval_ms", ms(snapshot_interval), true),
        ]
    }

    /// Every setting as `(key, value in effect)`, in file order (what
    /// `--check-config` prints).
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        self.settings().into_iter().map(|(key, value, _)| (key, value)).collect()
    }

    /// The settings of `new` that differ from these, in file order.
    pub fn changes(&self, new: &Config) -> Vec<Change> {
        self.settings()
            .into_iter()
            .zip(new.settings())
            .filter(|((_, old, _), (_, new, _))| old != new)
            .map(|((key, old, at_run_time), (_, new, _))| Change { key, old, new, at_run_time })
            .collect()
    }

    /// These settings with the ones a running daemon applies taken from
    /// `new`: what is in force after a reload (the rest waits for a restart).
    pub fn run_time_part_of(&self, new: &Config) -> Config {
        Config {
            dump_timeout: new.dump_timeout,
            log_output: new.log_output,
            snapshot_interval: new.snapshot_interval,
            log_repeat_window: new.log_repeat_window,
            health: new.health,
            alerts: crate::alerting::Alerting { state_db: self.alerts.state_db, ..new.alerts.clone() },
            reconcile_interval: new.reconcile_interval,
            ..self.clone()
        }
    }
}

/// `changes` in one line: `in effect now: a 1 => 2; at the next start only:
/// b 3 => 4`, or `no setting changed`.
pub fn describe(changes: &[Change]) -> String {
    let list = |at_run_time: bool| {
        changes
            .iter()
            .filter(|c| c.at_run_time == at_run_time)
            .map(|c| format!("{} {} => {}", c.key, c.old, c.new))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (now, later) = (list(true), list(false));
    match (now.is_empty(), later.is_empty()) {
        (true, true) => "no setting changed".to_owned(),
        (false, true) => format!("in effect now: {now}"),
        (true, false) => format!("at the next start only: {later}"),
        (false, false) => format!("in effect now: {now}; at the next start only: {later}"),
    }
}

fn span_note(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_means_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::load(Path::new("/nonexistent/portsyncd.conf"), false).unwrap(), Config::default());
        let e = Config::load(Path::new("/nonexistent/portsyncd.conf"), true).unwrap_err();
        assert!(e.to_string().starts_with("config /nonexistent/portsyncd.conf: No such file"), "{e}");
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("portsyncd.conf");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for required in [true, false] {
            let e = Config::load(&fifo, required).unwrap_err();
            assert_eq!(e.to_string(), format!("config {}: not a regular file (a FIFO)", fifo.display()));
        }
        let e = Config::load(Path::new("/dev/null"), true).unwrap_err();
        assert_eq!(e.to_string(), "config /dev/null: not a regular file (a character device)");
        let e = Config::load(dir.path(), true).unwrap_err();
        assert!(e.to_string().ends_with(": not a regular file (a directory)"), "{e}");
    }

    #[test]
    fn values_are_read() {
        let c = Config::parse(
            "[netlink]\ndump_timeout_ms = 250\n[redis]\nresponse_timeout_ms = 100\n[log]\noutput = \"STDERR\"\n\
             [memory]\nports = [\"Ethernet0\", \"Ethernet4\"]\n",
        )
        .unwrap();
        assert_eq!(c.dump_timeout, Duration::from_millis(250));
        assert_eq!(c.redis_response_timeout, Duration::from_millis(100));
        assert_eq!(c.log_output, Some(crate::logging::Output::Stderr));
        assert_eq!(c.memory_ports, ["Ethernet0", "Ethernet4"]);
    }

    #[test]
    fn bad_values_name_the_key_and_the_problem() {
        let e = |t: &str| Config::parse(t).unwrap_err();
        assert_eq!(
            e("[netlink]\ndump_timeout_ms = 0"),
            "netlink.dump_timeout_ms = 0 is out of range 10..=600000"
        );
        assert!(
            e("[netlink]\ndump_timeout = 5").contains("unknown field `dump_timeout`"),
            "{}",
            e("[netlink]\ndump_timeout = 5")
        );
        assert!(
            e("[redis]\nresponse_timeout_ms = \"fast\"").contains("invalid type"),
            "{}",
            e("[redis]\nresponse_timeout_ms = \"fast\"")
        );
        assert!(e("[log]\noutput = \"FILE\"").contains("log.output = \"FILE\""));
        assert!(e("[memory]\nports = [\"Eth|0\"]").contains("not a port name"));
        assert!(e("[netlink\n").contains("line 1"), "{}", e("[netlink\n"));
    }

    #[test]
    fn changes_say_which_settings_apply_at_run_time() {
        let old = Config::default();
        let new = Config::parse(&format!(
            "[netlink]\nreceive_buffer_bytes = 65536\ndump_timeout_ms = 250\n\
             [redis]\nresponse_timeout_ms = 100\nreconnect_max_ms = 200\njournal_keys = {MAX_JOURNAL_KEYS}\n\
             [log]\noutput = \"STDERR\"\nrepeat_window_ms = 500\n[memory]\nports = [\"Ethernet0\"]\n[state]\nsave_interval_ms = 50\n",
        ))
        .unwrap();
        let all = old.changes(&new);
        assert_eq!(all.len(), 9, "every setting differs: {all:?}");
        assert!(old.changes(&old).is_empty());
        assert_eq!(describe(&[]), "no setting changed");
        assert_eq!(
            describe(&all),
            format!(
                "in effect now: netlink.dump_timeout_ms 5000 => 250, log.output unset => STDERR, \
                 log.repeat_window_ms 10000 => 500, state.save_interval_ms 1000 => 50; at the next start only: \
                 netlink.receive_buffer_bytes 16777216 => 65536, redis.response_timeout_ms 2000 => 100, \
                 redis.reconnect_max_ms 5000 => 200, redis.journal_keys {DEFAULT_JOURNAL_KEYS} => {MAX_JOURNAL_KEYS}, \
                 memory.ports [] => [Ethernet0]"
            )
        );
        // What a reload puts in force: exactly the run-time settings.
        let in_force = old.run_time_part_of(&new);
        let left = in_force.changes(&new);
        assert!(left.iter().all(|c| !c.at_run_time), "{left:?}");
        assert_eq!(left.len(), all.iter().filter(|c| !c.at_run_time).count());
        assert!(old.changes(&in_force).iter().all(|c| c.at_run_time));
    }

    #[test]
    fn journal_keys_hold_every_key_the_daemon_writes() {
        assert_eq!(MIN_JOURNAL_KEYS, 2 * DEFAULT_PORT_CAPACITY + 4);
        assert!(Config::default().redis_journal_keys >= MIN_JOURNAL_KEYS);
        let e = Config::parse("[redis]\njournal_keys = 16").unwrap_err();
        assert_eq!(
            e,
            format!(
                "redis.journal_keys = 16 is below {MIN_JOURNAL_KEYS}, the keys the daemon can write \
                 (2 keys per port × {DEFAULT_PORT_CAPACITY} ports + 4): writes kept while Redis is away would be lost"
            )
        );
        let below = format!("[redis]\njournal_keys = {}", MIN_JOURNAL_KEYS - 1);
        assert!(Config::parse(&below).unwrap_err().contains("is below"));
        let exact = format!("[redis]\njournal_keys = {MIN_JOURNAL_KEYS}");
        assert_eq!(Config::parse(&exact).unwrap().redis_journal_keys, MIN_JOURNAL_KEYS);
        let over = format!("[redis]\njournal_keys = {}", MAX_JOURNAL_KEYS + 1);
        assert!(Config::parse(&over).unwrap_err().contains("out of range"));
    }
}
