//! The settings table and what is derived from it: reading, defaults,
//! errors, a reload's changes.

use std::path::Path;
use std::time::Duration;

use portsyncd_core::alerts::AlertSettings;
use portsyncd_core::driver::default_rules;
use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
use portsyncd_core::health::HealthThresholds;
use portsyncd_core::partition::{Partition, Share};

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
             log.repeat_window_ms 10000 => 500, state.save_interval_ms 10000 => 50; at the next start only: \
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

/// The guard: a field added to [`Config`] does not compile here until it is
/// given a value unlike its default, and then fails until a row of
/// [`SETTINGS`] takes it (each row's `take`, all applied, must give this
/// config back; each row's `show` must see its key differ).
#[test]
fn every_field_has_a_row() {
    // Every field named (no `..`): keep it so.
    let every = Config {
        netlink_receive_buffer: 65_536,
        dump_timeout: Duration::from_millis(250),
        coalesce_window: Duration::from_millis(2),
        startup_coalesce_window: Duration::from_millis(20),
        redis_response_timeout: Duration::from_millis(100),
        redis_reconnect_max: Duration::from_millis(200),
        redis_connect_wait: Duration::from_millis(30_000),
        redis_journal_keys: MAX_JOURNAL_KEYS,
        log_output: Some(crate::logging::Output::Stderr),
        memory_ports: vec!["Ethernet0".into()],
        snapshot_interval: Duration::from_millis(50),
        log_repeat_window: Duration::from_millis(500),
        health: HealthThresholds {
            unhealthy_after: Duration::from_secs(31),
            stall_after: Duration::from_secs(11),
            slow_request_hold: Duration::from_secs(61),
            overruns_per_minute: 4,
            port_init_within: Duration::from_secs(301),
            port_init_report_after: Duration::from_secs(61),
        },
        supervisor_heartbeat: Some(Duration::from_secs(10)),
        metrics_addr: Some(crate::metrics::MetricsAddr::parse("9101").unwrap()),
        metrics_socket: crate::metrics::SocketAccess { mode: 0o640, group: Some("prometheus".into()) },
        alerts: crate::alerting::Alerting {
            settings: AlertSettings { interval: Duration::from_millis(500), repeat_interval: Duration::ZERO },
            rules: default_rules()[..1].to_vec(),
            silences: vec![("RedisUnreachable".into(), Duration::from_secs(60))],
            state_db: true,
            default_rules: false,
        },
        reconcile_interval: None,
        partition: Partition::new(1, 2, Share::Even).unwrap(),
    };
    let mut taken = Config::default();
    for setting in SETTINGS {
        (setting.take)(&mut taken, &every);
    }
    assert_eq!(taken, every, "a field no row takes");
    let changes = Config::default().changes(&every);
    let unseen: Vec<_> =
        SETTINGS.iter().filter(|s| !changes.iter().any(|c| c.key == s.key)).map(|s| s.key).collect();
    assert!(unseen.is_empty(), "rows that do not show their field: {unseen:?}");
}

#[test]
fn keys_are_section_dot_name_each_once_and_sections_together() {
    let mut sections: Vec<&str> = Vec::new();
    for (i, s) in SETTINGS.iter().enumerate() {
        let valid =
            |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        assert!(valid(s.section()) && valid(s.name()) && s.key.matches('.').count() == 1, "{}", s.key);
        assert!(!SETTINGS[..i].iter().any(|t| t.key == s.key), "{} twice", s.key);
        if sections.last() != Some(&s.section()) {
            assert!(!sections.contains(&s.section()), "[{}] split", s.section());
            sections.push(s.section());
        }
        assert!(s.doc.ends_with('.') && !s.doc.contains('\n'), "{}: one line, a sentence", s.key);
    }
}

/// The defaults the table gives are those the core assumes of its own
/// settings.
#[test]
fn the_defaults_are_the_core_s() {
    let c = Config::default();
    assert_eq!(c.health, HealthThresholds::default());
    assert_eq!(c.alerts.settings, AlertSettings::default());
    assert_eq!(c.alerts.rules, default_rules());
    assert_eq!(c.partition, Partition::single());
    assert_eq!((c.log_output, c.metrics_addr.as_ref(), c.supervisor_heartbeat), (None, None, None));
    assert_eq!(c.redis_journal_keys, DEFAULT_JOURNAL_KEYS);
}

/// `--check-config` shows every key, in the table's order.
#[test]
fn every_key_is_shown() {
    let shown = Config::default().effective();
    let keys: Vec<&str> = shown.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, SETTINGS.iter().map(|s| s.key).collect::<Vec<_>>());
    for (key, value) in [
        ("state.save_interval_ms", "10000"),
        ("alerts.default_rules", "true"),
        ("alerts.repeat_interval_ms", "300000"),
        ("liveness.supervisor_heartbeat_ms", "unset: 10000 under supervisord, else off"),
        ("metrics.addr", "off"),
        ("instance.partition", "all"),
    ] {
        assert!(shown.contains(&(key, value.to_owned())), "{key} = {value} in {shown:?}");
    }
}

/// The words of each kind of refusal, with the line where the text is at
/// fault (the parser's own; kept as serde wrote them before the table).
#[test]
fn refusals_say_what_and_where() {
    let e = |t: &str| Config::parse(t).unwrap_err();
    assert_eq!(
        e("[netlink]\ndump_timeout = 5\n"),
        "unknown field `dump_timeout`, expected one of `receive_buffer_bytes`, `dump_timeout_ms`, `coalesce_window_ms`, `startup_coalesce_window_ms` (line 2)"
    );
    assert_eq!(e("[memory]\nports = []\nzz = 1\n"), "unknown field `zz`, expected `ports` (line 3)");
    assert_eq!(
        e("[redis]\nzz = 1\n"),
        "unknown field `zz`, expected one of `response_timeout_ms`, `reconnect_max_ms`, `connect_wait_ms`, `journal_keys` (line 2)"
    );
    assert!(
        e("zz = 1\n").starts_with("unknown field `zz`, expected one of `netlink`, `redis`, "),
        "{}",
        e("zz = 1")
    );
    assert!(
        e("[netlink.sub]\nx = 1\n").starts_with("unknown field `sub`"),
        "{}",
        e("[netlink.sub]\nx = 1\n")
    );
    assert_eq!(
        e("[redis]\nresponse_timeout_ms = \"fast\"\n"),
        "invalid type: string \"fast\", expected i64 (line 2)"
    );
    assert_eq!(e("[log]\noutput = 5\n"), "invalid type: integer `5`, expected a string (line 2)");
    assert_eq!(e("[alerts]\ndefault_rules = 1\n"), "invalid type: integer `1`, expected a boolean (line 2)");
    assert_eq!(
        e("[memory]\nports = [\"Ethernet0\", 5]\n"),
        "invalid type: integer `5`, expected a string (line 2)"
    );
    assert_eq!(e("[[alerts.rule]]\nname = \"x\"\n"), "missing field `metric` (line 1)");
    assert_eq!(e("netlink = 5\n"), "invalid type: integer, expected a table (line 1)");
    assert_eq!(e("[netlink]\ndump_timeout_ms = 1\ndump_timeout_ms = 2\n"), "duplicate key (line 3)");
    assert_eq!(
        e("[state]\nsave_interval_ms = -1\n"),
        "state.save_interval_ms = -1 is out of range 0..=3600000"
    );
    assert_eq!(e("[reconcile]\ninterval_ms = 5\n"), "reconcile.interval_ms = 5: 0 (off) or at least 1000");
    assert_eq!(e("[instance]\nid = 1\n"), "instance: id and count go together (and with partition)");
    assert_eq!(e("[alerts]\ninterval_ms = 5\n"), "alerts.interval_ms = 5 is out of range 100..=604800000");
    // Of several problems, the first in the file.
    assert_eq!(
        e("[netlink]\ndump_timeout_ms = 0\nreceive_buffer_bytes = 1\n"),
        "netlink.dump_timeout_ms = 0 is out of range 10..=600000"
    );
    assert_eq!(
        e("[redis]\nreconnect_max_ms = \"x\"\nresponse_timeout_ms = 5\n"),
        "invalid type: string \"x\", expected i64 (line 2)"
    );
}
