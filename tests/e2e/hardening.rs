//! Issue 10, "every bad input gets a clear answer and nothing is lost": the
//! process-level rows — one instance, a bad state directory, special files
//! as configuration, a journal too small for the ports, unused databases in
//! database_config.json, signals, and the line printed on stop.

use std::time::Duration;

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

/// A switch running with `n` ports published (orchagent's stand-in running).
fn running(n: usize) -> Switch {
    let mut sw = Switch::new(n);
    sw.start();
    for i in 0..n {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    sw
}

/// The values `benches/e2e.sh` picks from the daemon's log with `grep -o
/// '<name> [0-9]*' "$work/log" | grep -o '[0-9]*'`: each pattern, as the
/// script has it, and what it yields on `log`.
fn bench_greps(log: &std::path::Path) -> Vec<(String, String)> {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/e2e.sh")).unwrap();
    let patterns: Vec<String> = script
        .split("grep -o '")
        .skip(1)
        .filter_map(|rest| {
            let (pattern, after) = rest.split_once('\'')?;
            after.starts_with(" \"$work/log\"").then(|| pattern.to_owned())
        })
        .collect();
    assert!(patterns.len() >= 3, "the script's greps: {patterns:?}");
    patterns
        .into_iter()
        .map(|p| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("grep -o '{p}' \"$0\" | grep -o '[0-9]*'"))
                .arg(log)
                .output()
                .unwrap();
            (p, String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .collect()
}

/// Row 7: the lines printed on stop name each value, durations in ms, and
/// the benchmark script still finds its three figures (one number each).
#[test]
fn the_lines_on_stop_read_as_names_and_values() {
    let mut sw = running(2);
    assert!(wait_until(T, || sw.exists(Db::Appl, "PORT_TABLE:PortInitDone")), "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
    let log = sw.log();
    let stopped = log.lines().find(|l| l.contains("stopped: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(!stopped.contains('{') && !stopped.contains("Some("), "Debug output: {stopped}");
    assert!(
        stopped.contains("stopped: eoiu ")
            && stopped.contains(" ms, port config done ")
            && stopped.contains(" ms, port init done "),
        "{stopped}"
    );
    for name in ["datagrams ", "redumps 0", "link messages ", "batches "] {
        assert!(stopped.contains(name), "{name:?} in {stopped}");
    }
    let redis = log.lines().find(|l| l.contains("redis: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(redis.contains("redis: round trips ") && !redis.contains('{'), "{redis}");
    for (pattern, value) in bench_greps(&sw.dir.join("portsyncd.log")) {
        assert!(value.parse::<u64>().is_ok(), "benches/e2e.sh's grep -o '{pattern}' gives {value:?}\n{log}");
    }
}

/// Connections the redis-server has accepted so far (a daemon that stops
/// before opening any leaves it as it was).
fn connections_received(sw: &mut Switch) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(sw.raw.conn(Db::Config)).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO stats: {info}"))
}

/// Keys of CONFIG_DB, APPL_DB and STATE_DB with their contents.
type Contents = Vec<(Db, String, String)>;

/// Every key of CONFIG_DB, APPL_DB and STATE_DB with its contents.
fn redis_contents(sw: &mut Switch) -> Contents {
    let mut all = Vec::new();
    for db in Db::ALL {
        for key in smol::block_on(sw.raw.keys(db)) {
            let kind: String = redis::cmd("TYPE").arg(&key).query(sw.raw.conn(db)).unwrap();
            let value = match kind.as_str() {
                "hash" => format!("{:?}", sw.hgetall(db, &key)),
                "set" => format!("{:?}", smol::block_on(sw.raw.smembers(db, &key))),
                other => other.to_owned(),
            };
            all.push((db, key, value));
        }
    }
    all
}

/// Runs portsyncd in the switch's namespace with `args` (and nothing else),
/// expecting it to refuse at once: its exit code and what it printed.
fn refused(sw: &Switch, log: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut d = Daemon::start(&sw.ns, sw.dir.join(log), args);
    let status = d.wait_exit(T).unwrap_or_else(|| panic!("still running with {args:?}\n{}", d.log()));
    (status.code(), d.log())
}

/// Nothing but the CONFIG_DB ports the test seeded, and no connection made.
fn assert_untouched(sw: &mut Switch, connections: u64) {
    for db in [Db::Appl, Db::State] {
        let keys = smol::block_on(sw.raw.keys(db));
        assert!(keys.is_empty(), "{db}: {keys:?}");
    }
    let keys = smol::block_on(sw.raw.keys(Db::Config));
    assert!(keys.iter().all(|k| k.starts_with("PORT|")), "CONFIG_DB: {keys:?}");
    assert_eq!(connections_received(sw), connections, "portsyncd connected to Redis");
}

/// Row 4: a write journal smaller than the keys the daemon can write is
/// refused at start, saying why; left out, the default is enough.
#[test]
fn a_journal_too_small_for_the_ports_is_refused() {
    let ports = portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
    let mut sw = Switch::new(2);
    let connections = connections_received(&mut sw);
    let conf = sw.dir.join("small.conf");
    std::fs::write(&conf, "[log]\noutput = \"STDERR\"\n[redis]\njournal_keys = 16\n").unwrap();
    let args = sw.daemon_args_for(&conf, &sw.state_dir());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, log) = refused(&sw, "small.log", &args);
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(
        log,
        format!(
            "portsyncd: config {}: redis.journal_keys = 16 is below {}, the keys the daemon can write \
             (2 keys per port × {ports} ports + 4): writes kept while Redis is away would be lost\n",
            conf.display(),
            2 * ports + 4,
        )
    );
    assert_untouched(&mut sw, connections);
    assert!(!sw.state_dir().exists(), "state dir created");
}

/// `--check-config`: the settings file and database_config.json checked,
/// what is in effect printed, exit 0 — no connection to Redis, no state dir,
/// no lock (a daemon may be running meanwhile); a bad file is exit 1 with one
/// line, as at a real start.
#[test]
fn check_config_checks_prints_and_touches_nothing() {
    let mut sw = Switch::new(2);
    let connections = connections_received(&mut sw);
    let conf = sw.dir.join("check.conf");
    std::fs::write(&conf, "[log]\noutput = \"STDERR\"\n[reconcile]\ninterval_ms = 60000\n").unwrap();
    let mut args = sw.daemon_args_for(&conf, &sw.state_dir());
    args.push("--check-config".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::start(&sw.ns, sw.dir.join("check.log"), &args);
    let (status, out) = d.wait_output(T).unwrap_or_else(|| panic!("still running\n{}", d.log()));
    assert_eq!(status.code(), Some(0), "{out}{}", d.log());
    assert!(out.starts_with("portsyncd 0.1.0: the settings are valid\n"), "{out}");
    for line in ["  reconcile.interval_ms = 60000\n", "  log.output = STDERR\n", "  STATE_DB: id 6 at unix:"]
    {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    // Every setting in effect, once each, and nothing else in that list.
    let listed: Vec<&str> = out
        .split_once("settings in effect:\n")
        .map_or("", |(_, rest)| rest)
        .lines()
        .map(|l| l.trim_start().split_once(" = ").map_or(l, |(key, _)| key))
        .collect();
    let table: Vec<&str> = portsyncd::config::SETTINGS.iter().map(|s| s.key).collect();
    assert_eq!(listed, table, "{out}");
    for key in ["state.save_interval_ms", "alerts.default_rules", "alerts.repeat_interval_ms"] {
        assert_eq!(out.matches(&format!("\n  {key} = ")).count(), 1, "{key}:\n{out}");
    }
    // --metrics-addr wins over the file, in the settings in effect too, and
    // the address is said once (as metrics.addr).
    let mut with_addr = args.clone();
    with_addr.extend(["--metrics-addr", "0"]);
    let mut d = Daemon::start(&sw.ns, sw.dir.join("check-addr.log"), &with_addr);
    let (status, out) = d.wait_output(T).unwrap_or_else(|| panic!("still running\n{}", d.log()));
    assert_eq!(status.code(), Some(0), "{out}{}", d.log());
    assert!(out.contains("  metrics.addr = 127.0.0.1:0\n"), "{out}");
    assert_eq!(out.matches("127.0.0.1:0").count(), 1, "{out}");
    assert!(!out.contains("metrics.addr = off"), "{out}");
    assert_untouched(&mut sw, connections);
    assert!(!sw.state_dir().exists(), "state dir created");

    std::fs::write(&conf, "[reconcile]\ninterval_ms = 5\n").unwrap();
    let (code, out) = refused(&sw, "check-bad.log", &args);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("reconcile.interval_ms"), "{out}");
    assert_untouched(&mut sw, connections);
}

/// Row 3: `--config` or `--db-config` naming a FIFO, a device or a
/// directory is refused at once with one line (a FIFO used to block the
/// start for ever, deaf to SIGTERM).
#[test]
fn special_files_as_configuration_are_refused_at_once() {
    let mut sw = Switch::new(1);
    let connections = connections_received(&mut sw);
    let fifo = sw.dir.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo = fifo.to_str().unwrap().to_owned();
    let (db_config, conf, dir) =
        (sw.db_config.to_str().unwrap().to_owned(), sw.conf.to_str().unwrap().to_owned(), sw.dir.clone());
    let state = sw.state_dir();
    let state = state.to_str().unwrap();
    let cases = [
        ("--config", fifo.as_str(), format!("config {fifo}: not a regular file (a FIFO)")),
        ("--config", "/dev/zero", "config /dev/zero: not a regular file (a character device)".to_owned()),
        (
            "--db-config",
            fifo.as_str(),
            format!("cannot read SONiC database config {fifo}: not a regular file (a FIFO)"),
        ),
        (
            "--db-config",
            dir.to_str().unwrap(),
            format!("cannot read SONiC database config {}: not a regular file (a directory)", dir.display()),
        ),
    ];
    for (flag, path, line) in cases {
        let mut args = vec!["--state-dir", state, flag, path];
        args.extend(if flag == "--config" { ["--db-config", &db_config] } else { ["--config", &conf] });
        let started = std::time::Instant::now();
        let (code, log) = refused(&sw, "special.log", &args);
        assert_eq!((code, log.as_str()), (Some(1), format!("portsyncd: {line}\n").as_str()), "{flag} {path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{flag} {path}: took {:?}", started.elapsed());
    }
    assert_untouched(&mut sw, connections);
    assert!(sw.ns.link("Ethernet0").is_none());
}

/// SONiC's full list of databases (SONIC.md §1.1) on this test's server, the
/// CHASSIS ones on a `redis_chassis` instance the file does not define (as
/// on a box that is not a chassis).
fn sonic_db_config(sw: &Switch) -> std::path::PathBuf {
    let socket = sw.raw.socket().display();
    let dbs = [
        ("APPL_DB", 0, ":", "redis"),
        ("ASIC_DB", 1, ":", "redis"),
        ("COUNTERS_DB", 2, ":", "redis"),
        ("LOGLEVEL_DB", 3, ":", "redis"),
        ("CONFIG_DB", 4, "|", "redis"),
        ("PFC_WD_DB", 5, ":", "redis"),
        ("FLEX_COUNTER_DB", 5, ":", "redis"),
        ("STATE_DB", 6, "|", "redis"),
        ("SNMP_OVERLAY_DB", 7, "|", "redis"),
        ("RESTAPI_DB", 8, "|", "redis"),
        ("GB_ASIC_DB", 9, ":", "redis"),
        ("GB_COUNTERS_DB", 10, ":", "redis"),
        ("GB_FLEX_COUNTER_DB", 11, ":", "redis"),
        ("CHASSIS_APP_DB", 12, "|", "redis_chassis"),
        ("CHASSIS_STATE_DB", 13, "|", "redis_chassis"),
        ("APPL_STATE_DB", 14, ":", "redis"),
        ("DPU_APPL_DB", 15, ":", "redis"),
        ("DPU_APPL_STATE_DB", 16, "|", "redis"),
        ("DPU_STATE_DB", 17, "|", "redis"),
        ("DPU_COUNTERS_DB", 18, ":", "redis"),
    ];
    let databases: Vec<String> = dbs
        .iter()
        .map(|(n, id, sep, inst)| {
            format!(r#""{n}": {{ "id": {id}, "separator": "{sep}", "instance": "{inst}" }}"#)
        })
        .collect();
    let text = format!(
        r#"{{ "INSTANCES": {{ "redis": {{ "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "{socket}" }} }},
  "DATABASES": {{ {} }}, "VERSION": "1.0" }}"#,
        databases.join(",\n    ")
    );
    let path = sw.dir.join("sonic_database_config.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// Row 5: a database portsyncd does not use, on an instance the file does
/// not define, does not stop it; a used one there does, named.
#[test]
fn unused_databases_on_undefined_instances_do_not_stop_it() {
    let mut sw = Switch::new(2);
    sw.db_config = sonic_db_config(&sw);
    sw.start();
    assert!(
        wait_until(T, || sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some()),
        "no PortInitDone\n{}",
        sw.log()
    );
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("down", "down", "1500"), T);
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
    // STATE_DB on the undefined instance: refused, naming it.
    let text = std::fs::read_to_string(&sw.db_config).unwrap().replace(
        r#""STATE_DB": { "id": 6, "separator": "|", "instance": "redis" }"#,
        r#""STATE_DB": { "id": 6, "separator": "|", "instance": "redis_chassis" }"#,
    );
    let bad = sw.dir.join("bad_database_config.json");
    std::fs::write(&bad, text).unwrap();
    let state = sw.state_dir();
    let args = ["--db-config", bad.to_str().unwrap(), "--config", sw.conf.to_str().unwrap()];
    let (code, log) =
        refused(&sw, "bad.log", &[&args[..], &["--state-dir", state.to_str().unwrap()]].concat());
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(
        log,
        format!(
            "portsyncd: SONiC database config {} is not valid: database STATE_DB: instance \"redis_chassis\" is not in INSTANCES\n",
            bad.display()
        ),
    );
}

/// The switch's usual arguments with another state directory.
fn args_with_state_dir<'a>(sw: &'a Switch, state_dir: &'a str) -> Vec<&'a str> {
    vec![
        "--db-config",
        sw.db_config.to_str().unwrap(),
        "--config",
        sw.conf.to_str().unwrap(),
        "--state-dir",
        state_dir,
    ]
}

/// What a second daemon could have disturbed: each port's ifindex and
/// admin state, and everything in Redis.
fn kernel_and_redis(sw: &mut Switch, ports: usize) -> (Vec<(Option<u32>, bool)>, Contents) {
    let links = (0..ports).map(|i| (sw.ns.ifindex(&name(i)), sw.ns.is_up(&name(i)))).collect();
    (links, redis_contents(sw))
}

/// Row 1: a second portsyncd, on the same state dir or only in the same
/// network namespace, refuses with one line before touching anything; the
/// first goes on; once it is gone, a new one starts.
#[test]
fn a_second_daemon_refuses_before_touching_anything() {
    let mut sw = running(2);
    assert!(wait_until(T, || sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some()));
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    // Nothing pops APPL_DB any more: Redis stays as it is unless written.
    drop(sw.orchagent.take());
    std::thread::sleep(Duration::from_millis(100));
    let before = kernel_and_redis(&mut sw, 2);
    assert!(before.0[0].1, "Ethernet0 up");
    let connections = connections_received(&mut sw);
    let first = sw.daemon().pid_for_signals();
    let dir = sw.state_dir().to_str().unwrap().to_owned();

    let (code, log) = refused(&sw, "second.log", &args_with_state_dir(&sw, &dir));
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(
        log,
        format!(
            "portsyncd: state dir {dir} is in use by portsyncd pid {first} (it holds {dir}/portsyncd.lock); \
             one daemon per state dir\n"
        )
    );
    let other = sw.dir.join("other-state");
    let other = other.to_str().unwrap().to_owned();
    let (code, log) = refused(&sw, "third.log", &args_with_state_dir(&sw, &other));
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(
        log,
        "portsyncd: another portsyncd runs in this network namespace (it holds the abstract unix socket \
         @portsyncd); one daemon per network namespace\n"
    );
    // `--db memory` changes links too: the same.
    let (code, log) =
        refused(&sw, "memory.log", &[&args_with_state_dir(&sw, &other)[..], &["--db", "memory"]].concat());
    assert_eq!(code, Some(1), "{log}");
    assert!(log.starts_with("portsyncd: another portsyncd runs in this network namespace"), "{log}");

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(kernel_and_redis(&mut sw, 2), before, "changed by a refused daemon\n{}", sw.log());
    assert_eq!(connections_received(&mut sw), connections, "a refused daemon connected to Redis");
    // The first goes on serving.
    sw.ns.ip(&["link", "set", "Ethernet4", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("up", "up", "1500"), T);
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
    // The locks went with it.
    sw.start_daemon();
    assert!(wait_until(T, || sw.log().contains("initial sync done")), "{}", sw.log());
}

/// Row 2, since issue 21: the snapshot is a cache. A `--state-dir` that
/// cannot be used (a file, under a file, not writable) does not stop the
/// start: the ports are synced, one WARN says what is lost, health is
/// degraded with the reason, and nothing is written there; `--check-config`
/// refuses it with one line naming it and the problem. A missing one is
/// created. (Read-only, full and uncreatable ones: `state_dir.rs`.)
#[test]
fn an_unusable_state_dir_degrades_the_run_check_config_refuses_it_and_a_missing_one_is_created() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let f = file.display().to_string();
    // Not writable: root without CAP_DAC_OVERRIDE, in a directory it does not own.
    let locked = scratch.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::os::unix::fs::chown(&locked, Some(65534), Some(65534)).unwrap();
    let no_dac = ["setpriv", "--bounding-set", "-dac_override"];
    let cases = [
        (
            f.clone(),
            &[][..],
            "the state dir is not a directory",
            format!("state dir {f}: not a directory (a regular file)"),
        ),
        (
            format!("{f}/state"),
            &[][..],
            "the state dir is not a directory",
            format!("state dir {f}/state: {f} is not a directory"),
        ),
        (
            locked.display().to_string(),
            &no_dac[..],
            "the state dir is not writable (permission denied)",
            format!("state dir {}: not writable (Permission denied (os error 13))", locked.display()),
        ),
    ];
    for (dir, wrapper, fault, check_line) in &cases {
        let mut sw = Switch::new(1);
        let args: Vec<String> = args_with_state_dir(&sw, dir).into_iter().map(str::to_owned).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // --check-config validates: one line, exit 1.
        let check = [&args[..], &["--check-config"]].concat();
        let mut d = Daemon::start_via(&sw.ns, sw.dir.join("check.log"), wrapper, &check);
        let (status, _) = d.wait_output(T).unwrap_or_else(|| panic!("still running\n{}", d.log()));
        assert_eq!(status.code(), Some(1), "{dir}: {}", d.log());
        assert_eq!(
            d.log(),
            format!(
                "portsyncd: {check_line}; a run would start, but save no warm-restart snapshot until that changes\n"
            )
        );
        // The run degrades.
        sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
        sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), wrapper, &args));
        sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
        assert!(wait_until(T, || sw.log().contains("PortInitDone")), "{dir}: {}", sw.log());
        let log = sw.log();
        let lost = format!(
            "portsyncd WARN warm-restart snapshot cannot be saved ({fault}): crash-safe warm restart is lost"
        );
        assert_eq!(log.matches(&lost).count(), 1, "{dir}: {log}");
        let health = format!(
            "portsyncd WARN health: healthy => degraded (warm-restart snapshot not saved: {fault})\n"
        );
        assert!(log.contains(&health), "{dir}: {log}");
        let (status, _) = sw.daemon().stop_with("TERM");
        assert!(status.success(), "{dir}: {status:?}\n{}", sw.log());
    }
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0, "nothing written in it");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    // Missing, with its parents: created, as a snapshot save would.
    let sw = Switch::new(1);
    let missing = sw.dir.join("x/y/state");
    let mut d = Daemon::start(
        &sw.ns,
        sw.dir.join("missing.log"),
        &args_with_state_dir(&sw, missing.to_str().unwrap()),
    );
    assert!(wait_until(T, || d.log().contains("initial sync done")), "{}", d.log());
    assert!(missing.join("portsyncd.lock").is_file());
    assert!(!d.log().contains("WARN"), "{}", d.log());
    let (status, _) = d.stop_with("TERM");
    assert!(status.success());
}

/// Sends `signal` to the daemon.
fn signal(sw: &mut Switch, signal: &str) {
    let pid = sw.daemon().pid_for_signals();
    assert!(
        std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success()
    );
}

/// Whether the daemon still runs.
fn still_running(sw: &mut Switch) -> bool {
    sw.daemon().wait_exit(Duration::from_millis(50)).is_none()
}

/// Row 6: SIGUSR1 (reconcile now) and SIGUSR2 (ignored) are one line each
/// and end nothing; SIGHUP
/// reads CONFIG_DB's LOGGER again at once and the settings file again (one
/// line: what changed, what only at the next start); a bad or special file
/// on SIGHUP is one ERROR line and the settings stay. Through all of it the
/// daemon runs and serves link changes.
#[test]
fn signals_are_logged_and_sighup_reloads() {
    let mut sw = running(1);
    for (sig, what) in [("USR1", "reconciling now"), ("USR2", "ignored")] {
        signal(&mut sw, sig);
        let line = format!("portsyncd NOTICE SIG{sig} received: {what}\n");
        assert!(wait_until(T, || sw.log().contains(&line)), "{}", sw.log());
        assert!(still_running(&mut sw), "SIG{sig} ended it\n{}", sw.log());
        assert_eq!(sw.log().matches(&line).count(), 1);
    }
    // LOGLEVEL and the file changed; SIGHUP.
    smol::block_on(sw.raw.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "INFO")]));
    std::fs::write(
        &sw.conf,
        "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 2000\nreceive_buffer_bytes = 65536\n\
         [state]\nsave_interval_ms = 200\n",
    )
    .unwrap();
    let sent = std::time::Instant::now();
    signal(&mut sw, "HUP");
    let reloaded = format!(
        "portsyncd NOTICE SIGHUP: {} read again; in effect now: netlink.dump_timeout_ms 3000 => 2000, \
         state.save_interval_ms 10000 => 200; at the next start only: netlink.receive_buffer_bytes 16777216 => 65536\n",
        sw.conf.display()
    );
    assert!(wait_until(T, || sw.log().contains(&reloaded)), "{}", sw.log());
    // At once, not at the LOGGER poll (every 5 s).
    assert!(wait_until(T, || sw.log().contains("log level NOTICE => INFO")), "{}", sw.log());
    assert!(sent.elapsed() < Duration::from_millis(1500), "LOGLEVEL read {:?} after SIGHUP", sent.elapsed());
    assert!(still_running(&mut sw), "{}", sw.log());
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    assert!(wait_until(T, || sw.log().contains("RTM_NEWLINK Ethernet0")), "INFO in force\n{}", sw.log());
    // A bad file, then a FIFO in its place: one ERROR line each, the settings stay.
    std::fs::write(&sw.conf, "[netlink]\ndump_timeout_ms = 0\n").unwrap();
    signal(&mut sw, "HUP");
    let bad = format!(
        "portsyncd ERROR SIGHUP: config {}: netlink.dump_timeout_ms = 0 is out of range 10..=600000; \
         the settings in force stay\n",
        sw.conf.display()
    );
    assert!(wait_until(T, || sw.log().contains(&bad)), "{}", sw.log());
    std::fs::remove_file(&sw.conf).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&sw.conf).status().unwrap().success());
    signal(&mut sw, "HUP");
    let fifo = format!(
        "portsyncd ERROR SIGHUP: config {}: not a regular file (a FIFO); the settings in force stay\n",
        sw.conf.display()
    );
    assert!(wait_until(T, || sw.log().contains(&fifo)), "{}", sw.log());
    assert!(still_running(&mut sw), "{}", sw.log());
    sw.ns.ip(&["link", "set", "Ethernet0", "down"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    assert_eq!(sw.log().matches("SIGHUP").count(), 3, "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
}
