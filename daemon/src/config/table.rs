//! [`SETTINGS`]: every key of the settings file, declared once, in the
//! order of the shipped file, with the checks of the keys that take more
//! than a range.
//!
//! A key added here is read, shown, reloaded and held to the reference at
//! once; a field added to [`Config`](super::Config) fails the test
//! `every_field_has_a_row` until a row sets it. What a row holds is
//! [`Setting`]'s.

use std::time::Duration;

use portsyncd_core::PortName;
use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
use portsyncd_core::logger::Output;
use portsyncd_core::partition::Share;
use portsyncd_core::writes::{KEYS_BESIDE_PORTS, KEYS_PER_PORT};

use super::read::{Given, Parsed};
use super::setting::{DefaultValue, Setting, When};
use super::{DEFAULT_JOURNAL_KEYS, MAX_JOURNAL_KEYS, MIN_JOURNAL_KEYS};
use crate::alerting::MAX_MS;
use crate::metrics::MetricsAddr;

use DefaultValue::{Bool, Integer, Toml, Unset};
use When::{NextStart, RunTime};

/// A day in milliseconds: the longest health threshold and reconcile interval.
const DAY_MS: i64 = 86_400_000;

/// An hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;

/// Every key of the settings file.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "netlink.receive_buffer_bytes",
        default: Integer(16 << 20),
        when: NextStart,
        doc: "SO_RCVBUF asked for the netlink socket (the C++ daemon asks 16 MiB).",
        read: |p, v| v.integer(65_536, 1 << 30).map(|n| p.config.netlink_receive_buffer = n as usize),
        show: |c| c.netlink_receive_buffer.to_string(),
        take: |c, new| c.netlink_receive_buffer = new.netlink_receive_buffer,
    },
    Setting {
        key: "netlink.dump_timeout_ms",
        default: Integer(5_000),
        when: RunTime,
        doc: "How long to wait for the end of our RTM_GETLINK dump before going on without it.",
        read: |p, v| v.millis(10, 600_000).map(|d| p.config.dump_timeout = d),
        show: |c| ms(c.dump_timeout),
        take: |c, new| c.dump_timeout = new.dump_timeout,
    },
    Setting {
        key: "netlink.coalesce_window_ms",
        default: Integer(3),
        when: RunTime,
        doc: "After a wake-up that read more than one datagram, read the netlink socket again only this much later, so that a storm is taken in fewer, larger batches (0: at once).",
        read: |p, v| v.millis(0, 1_000).map(|d| p.config.coalesce_window = d),
        show: |c| ms(c.coalesce_window),
        take: |c, new| c.coalesce_window = new.coalesce_window,
    },
    Setting {
        key: "netlink.startup_coalesce_window_ms",
        default: Integer(10),
        when: RunTime,
        doc: "The coalescing window until PortInitDone, when it is longer than coalesce_window_ms: the host interfaces of a booting switch are taken in a fraction of the wake-ups (0: coalesce_window_ms from the start).",
        read: |p, v| v.millis(0, 1_000).map(|d| p.config.startup_coalesce_window = d),
        show: |c| ms(c.startup_coalesce_window),
        take: |c, new| c.startup_coalesce_window = new.startup_coalesce_window,
    },
    Setting {
        key: "redis.response_timeout_ms",
        default: Integer(2_000),
        when: NextStart,
        doc: "A server silent this long is taken as gone: writes are kept, reads fail.",
        read: |p, v| v.millis(10, 600_000).map(|d| p.config.redis_response_timeout = d),
        show: |c| ms(c.redis_response_timeout),
        take: |c, new| c.redis_response_timeout = new.redis_response_timeout,
    },
    Setting {
        key: "redis.reconnect_max_ms",
        default: Integer(5_000),
        when: NextStart,
        doc: "Longest delay between reconnect attempts (exponential backoff with jitter).",
        read: |p, v| v.millis(10, 600_000).map(|d| p.config.redis_reconnect_max = d),
        show: |c| ms(c.redis_reconnect_max),
        take: |c, new| c.redis_reconnect_max = new.redis_reconnect_max,
    },
    Setting {
        key: "redis.connect_wait_ms",
        default: Integer(0),
        when: NextStart,
        doc: "At start, how long to wait for Redis to be reachable, retrying with backoff up to reconnect_max_ms, before exiting 1 (0: as long as it takes).",
        read: |p, v| v.millis(0, DAY_MS).map(|d| p.config.redis_connect_wait = d),
        show: |c| ms(c.redis_connect_wait),
        take: |c, new| c.redis_connect_wait = new.redis_connect_wait,
    },
    Setting {
        key: "redis.journal_keys",
        default: Integer(DEFAULT_JOURNAL_KEYS as i64),
        when: NextStart,
        doc: "Keys whose latest writes are kept while Redis is away.",
        read: journal_keys,
        show: |c| c.redis_journal_keys.to_string(),
        take: |c, new| c.redis_journal_keys = new.redis_journal_keys,
    },
    Setting {
        key: "log.output",
        default: Unset,
        when: RunTime,
        doc: "Fixes the log output; unset, CONFIG_DB `LOGGER|portsyncd` `LOGOUTPUT` decides \
              (and is followed at run time).",
        read: log_output,
        show: |c| c.log_output.map_or("unset", Output::name).to_owned(),
        take: |c, new| c.log_output = new.log_output,
    },
    Setting {
        key: "log.repeat_window_ms",
        default: Integer(10_000),
        when: RunTime,
        doc: "Repeated trouble of one kind is said once per window, then counted (0: every line is said).",
        read: |p, v| v.millis(0, HOUR_MS).map(|d| p.config.log_repeat_window = d),
        show: |c| ms(c.log_repeat_window),
        take: |c, new| c.log_repeat_window = new.log_repeat_window,
    },
    Setting {
        key: "state.save_interval_ms",
        default: Integer(10_000),
        when: RunTime,
        doc: "Least time between two saves of the warm-restart snapshot (it is also saved on SIGTERM).",
        read: |p, v| v.millis(0, HOUR_MS).map(|d| p.config.snapshot_interval = d),
        show: |c| ms(c.snapshot_interval),
        take: |c, new| c.snapshot_interval = new.snapshot_interval,
    },
    Setting {
        key: "memory.ports",
        default: Toml("[]"),
        when: NextStart,
        doc: "`--db memory` only: CONFIG_DB `PORT` keys to seed.",
        read: memory_ports,
        show: |c| format!("[{}]", c.memory_ports.join(", ")),
        take: |c, new| c.memory_ports = new.memory_ports.clone(),
    },
    Setting {
        key: "health.unhealthy_after_ms",
        default: Integer(30_000),
        when: RunTime,
        doc: "Databases unreachable, or writes refused, this long: unhealthy.",
        read: |p, v| v.millis(1_000, DAY_MS).map(|d| p.config.health.unhealthy_after = d),
        show: |c| ms(c.health.unhealthy_after),
        take: |c, new| c.health.unhealthy_after = new.health.unhealthy_after,
    },
    Setting {
        key: "health.stall_after_ms",
        default: Integer(10_000),
        when: RunTime,
        doc: "A database request that took this long: unhealthy for `slow_request_hold_ms` after it ended.",
        read: |p, v| v.millis(100, DAY_MS).map(|d| p.config.health.stall_after = d),
        show: |c| ms(c.health.stall_after),
        take: |c, new| c.health.stall_after = new.health.stall_after,
    },
    Setting {
        key: "health.slow_request_hold_ms",
        default: Integer(60_000),
        when: RunTime,
        doc: "How long a slow request keeps it unhealthy (see `stall_after_ms`).",
        read: |p, v| v.millis(0, DAY_MS).map(|d| p.config.health.slow_request_hold = d),
        show: |c| ms(c.health.slow_request_hold),
        take: |c, new| c.health.slow_request_hold = new.health.slow_request_hold,
    },
    Setting {
        key: "health.overruns_per_minute",
        default: Integer(3),
        when: RunTime,
        doc: "Netlink overruns in the last minute that make it degraded (0: never).",
        read: |p, v| v.integer(0, 1_000_000).map(|n| p.config.health.overruns_per_minute = n as usize),
        show: |c| c.health.overruns_per_minute.to_string(),
        take: |c, new| c.health.overruns_per_minute = new.health.overruns_per_minute,
    },
    Setting {
        key: "health.port_init_within_ms",
        default: Integer(300_000),
        when: RunTime,
        doc: "PortInitDone not reached this long after the start: degraded.",
        read: |p, v| v.millis(1_000, DAY_MS).map(|d| p.config.health.port_init_within = d),
        show: |c| ms(c.health.port_init_within),
        take: |c, new| c.health.port_init_within = new.health.port_init_within,
    },
    Setting {
        key: "health.port_init_report_ms",
        default: Integer(60_000),
        when: RunTime,
        doc: "PortInitDone not reached this long after the start: one WARN names the ports still awaiting their host interface (0: never).",
        read: |p, v| v.millis(0, DAY_MS).map(|d| p.config.health.port_init_report_after = d),
        show: |c| ms(c.health.port_init_report_after),
        take: |c, new| c.health.port_init_report_after = new.health.port_init_report_after,
    },
    Setting {
        key: "liveness.supervisor_heartbeat_ms",
        default: Unset,
        when: NextStart,
        doc: "supervisord's heartbeat on stdout at this interval (0: off). Unset: every 10000 when supervisord runs the daemon (SUPERVISOR_ENABLED in its environment), else off.",
        read: |p, v| v.millis(0, HOUR_MS).map(|d| p.config.supervisor_heartbeat = Some(d)),
        show: |c| match c.supervisor_heartbeat {
            None => "unset: 10000 under supervisord, else off".into(),
            Some(d) if d.is_zero() => "off".into(),
            Some(d) => ms(d),
        },
        take: |c, new| c.supervisor_heartbeat = new.supervisor_heartbeat,
    },
    Setting {
        key: "reconcile.interval_ms",
        default: Integer(300_000),
        when: RunTime,
        doc: "How often STATE_DB is reconciled with the kernel (0: only on SIGUSR1).",
        read: reconcile_interval,
        show: |c| ms_or_off(c.reconcile_interval),
        take: |c, new| c.reconcile_interval = new.reconcile_interval,
    },
    Setting {
        key: "metrics.addr",
        default: Unset,
        when: NextStart,
        doc: "Where the metrics endpoint listens.",
        read: metrics_addr,
        show: |c| c.metrics_addr.as_ref().map_or("off".into(), ToString::to_string),
        take: |c, new| c.metrics_addr = new.metrics_addr.clone(),
    },
    Setting {
        key: "metrics.socket_mode",
        default: Toml("\"0660\""),
        when: NextStart,
        doc: "The unix socket's mode, in octal, set explicitly (never from the umask).",
        read: socket_mode,
        show: |c| format!("{:04o}", c.metrics_socket.mode),
        take: |c, new| c.metrics_socket.mode = new.metrics_socket.mode,
    },
    Setting {
        key: "metrics.socket_group",
        default: Unset,
        when: NextStart,
        doc: "The unix socket's group, a name from /etc/group or a number (unset: the daemon's).",
        read: socket_group,
        show: |c| c.metrics_socket.group.clone().unwrap_or_else(|| "unset".into()),
        take: |c, new| c.metrics_socket.group = new.metrics_socket.group.clone(),
    },
    Setting {
        key: "alerts.default_rules",
        default: Bool(true),
        when: RunTime,
        doc: "Start from the shipped rules (`false`: only the rules given).",
        read: |p, v| v.de().map(|b| p.alerts.default_rules = b),
        show: |c| c.alerts.default_rules.to_string(),
        take: |c, new| c.alerts.default_rules = new.alerts.default_rules,
    },
    Setting {
        key: "alerts.state_db",
        default: Bool(false),
        when: NextStart,
        doc: "Alerts also go to STATE_DB `SYSTEM_ALARMS`.",
        read: |p, v| v.de().map(|b| p.alerts.state_db = b),
        show: |c| c.alerts.state_db.to_string(),
        take: |c, new| c.alerts.state_db = new.alerts.state_db,
    },
    Setting {
        key: "alerts.interval_ms",
        default: Integer(1_000),
        when: RunTime,
        doc: "How often the rules are evaluated.",
        read: |p, v| v.millis(100, MAX_MS).map(|d| p.alerts.settings.interval = d),
        show: |c| ms(c.alerts.settings.interval),
        take: |c, new| c.alerts.settings.interval = new.alerts.settings.interval,
    },
    Setting {
        key: "alerts.repeat_interval_ms",
        default: Integer(300_000),
        when: RunTime,
        doc: "A firing alert's line is said again this often (0: once).",
        read: |p, v| v.millis(0, MAX_MS).map(|d| p.alerts.settings.repeat_interval = d),
        show: |c| ms(c.alerts.settings.repeat_interval),
        take: |c, new| c.alerts.settings.repeat_interval = new.alerts.settings.repeat_interval,
    },
    Setting {
        key: "alerts.rule",
        default: Unset,
        when: RunTime,
        doc: "A rule; one with a shipped rule's name replaces it.",
        read: |p, v| v.de().map(|rules| p.alerts.rules = rules),
        show: |c| list(c.alerts.rules.iter().map(|r| format!("{r:?}"))),
        take: |c, new| c.alerts.rules = new.alerts.rules.clone(),
    },
    Setting {
        key: "alerts.silence",
        default: Unset,
        when: RunTime,
        doc: "Silences a rule for `for_ms` from when the settings are read (start or SIGHUP).",
        read: |p, v| v.de().map(|silences| p.alerts.silences = silences),
        show: |c| list(c.alerts.silences.iter().map(|(rule, d)| format!("{rule} {}ms", d.as_millis()))),
        take: |c, new| c.alerts.silences = new.alerts.silences.clone(),
    },
    Setting {
        key: "instance.id",
        default: Unset,
        when: NextStart,
        doc: "This instance's number, below `count` (0 is the leader).",
        read: |p, v| v.de().map(|id| p.instance.id = Some(id)),
        show: |c| c.partition.id().to_string(),
        take: |c, new| c.partition = new.partition,
    },
    Setting {
        key: "instance.count",
        default: Unset,
        when: NextStart,
        doc: "How many instances share this namespace and its databases.",
        read: |p, v| v.de().map(|count| p.instance.count = Some(count)),
        show: |c| c.partition.count().to_string(),
        take: |c, new| c.partition = new.partition,
    },
    Setting {
        key: "instance.partition",
        default: Unset,
        when: NextStart,
        doc: "Which ports this instance owns.",
        read: |p, v| v.de().map(|share| p.instance.partition = Some(share)),
        show: |c| match c.partition.share() {
            Share::All => "all".into(),
            Share::Even => "even".into(),
            Share::Range { first, last } => format!("range [{first}, {last}]"),
            Share::List(keys) => format!("list {keys:?}"),
        },
        take: |c, new| c.partition = new.partition,
    },
];

fn journal_keys(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let keys: i64 = v.de()?;
    if keys < MIN_JOURNAL_KEYS as i64 {
        return Err(format!(
            "{} = {keys} is below {MIN_JOURNAL_KEYS}, the keys the daemon can write \
             ({KEYS_PER_PORT} keys per port × {DEFAULT_PORT_CAPACITY} ports + {KEYS_BESIDE_PORTS}): \
             writes kept while Redis is away would be lost",
            v.key
        ));
    }
    p.config.redis_journal_keys = v.integer(MIN_JOURNAL_KEYS as i64, MAX_JOURNAL_KEYS as i64)? as usize;
    Ok(())
}

fn log_output(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let name: String = v.de()?;
    let output = Output::parse(name.as_bytes())
        .ok_or_else(|| format!("{} = {name:?}: expected \"SYSLOG\" or \"STDERR\"", v.key))?;
    p.config.log_output = Some(output);
    Ok(())
}

fn memory_ports(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let ports: Vec<String> = v.de()?;
    for port in &ports {
        PortName::try_from(port.as_str())
            .map_err(|e| format!("{}: {port:?} is not a port name: {e}", v.key))?;
    }
    p.config.memory_ports = ports;
    Ok(())
}

fn reconcile_interval(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let ms = v.integer(0, DAY_MS)?;
    if (1..1000).contains(&ms) {
        return Err(format!("{} = {ms}: 0 (off) or at least 1000", v.key));
    }
    p.config.reconcile_interval = (ms > 0).then(|| Duration::from_millis(ms));
    Ok(())
}

fn metrics_addr(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let addr: String = v.de()?;
    p.config.metrics_addr = Some(MetricsAddr::parse(&addr).map_err(|e| format!("{}: {e}", v.key))?);
    Ok(())
}

fn socket_mode(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let text: String = v.de()?;
    let digits = text.strip_prefix("0o").unwrap_or(&text);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777 && !digits.is_empty() && digits.len() <= 4)
        .ok_or_else(|| format!("{} = {text:?}: expected an octal mode from \"0000\" to \"0777\"", v.key))?;
    p.config.metrics_socket.mode = mode;
    Ok(())
}

fn socket_group(p: &mut Parsed, v: &Given<'_>) -> Result<(), String> {
    let group: String = v.de()?;
    if group.is_empty() || group.contains([':', '\n']) {
        return Err(format!("{} = {group:?}: expected a group name or number", v.key));
    }
    p.config.metrics_socket.group = Some(group);
    Ok(())
}

/// A time as its key writes it.
fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// A time that may be off.
fn ms_or_off(d: Option<Duration>) -> String {
    d.map_or("off".into(), ms)
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}
