//! The scenarios of the daemon issue, each asserting exact Redis contents.

use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;

use crate::harness::*;

/// Cold start with `n` ports: every port produced verbatim, PortConfigDone
/// with the count, each host interface published to STATE_DB once created,
/// PortInitDone; LOGGER defaults and restore_count written. Returns the time
/// from start to PortInitDone as orchagent saw it.
fn cold_start(n: usize) -> Duration {
    let mut sw = Switch::new(n);
    sw.start();
    let started = sw.daemon().started;
    let ok = wait_until(T, || sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some());
    assert!(ok, "no PortInitDone\n{}", sw.log());
    let init_done = sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").unwrap() - started;
    for i in 0..n {
        let want: Hash = port_config(i).into_iter().collect();
        assert_eq!(sw.hgetall(Db::Appl, &format!("PORT_TABLE:{}", name(i))), want, "APPL_DB {}", name(i));
        // syncd created it admin down; its peer is up but carrier needs both ends up.
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    assert_eq!(sw.hgetall(Db::Appl, "PORT_TABLE:PortConfigDone"), hash(&[("count", &n.to_string())]));
    assert_eq!(sw.hgetall(Db::Appl, "PORT_TABLE:PortInitDone"), hash(&[("lanes", "0")]));
    assert_eq!(
        sw.hgetall(Db::Config, "LOGGER|portsyncd"),
        hash(&[("LOGLEVEL", "NOTICE"), ("LOGOUTPUT", "SYSLOG")])
    );
    assert_eq!(sw.hgetall(Db::State, "WARM_RESTART_TABLE|portsyncd"), hash(&[("restore_count", "0")]));
    // PortConfigDone is popped before PortInitDone, and before any port's state.
    let oa = sw.orchagent.as_ref().unwrap();
    assert!(oa.popped_at("PortConfigDone").unwrap() <= oa.popped_at("PortInitDone").unwrap());
    let (status, took) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "exit {status:?}\n{}", sw.log());
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    init_done
}

#[test]
fn cold_start_8_ports() {
    cold_start(8);
}

#[test]
fn cold_start_64_ports() {
    let took = cold_start(64);
    eprintln!("64 ports: PortInitDone popped {} ms after start", took.as_millis());
}

#[test]
fn admin_carrier_and_mtu_changes() {
    let mut sw = Switch::new(2);
    sw.start();
    let key = "PORT_TABLE|Ethernet0";
    sw.expect_hash(Db::State, key, &state("down", "down", "1500"), T);
    // Admin up; the peer is up, so carrier comes too (IFF_RUNNING).
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    // Carrier loss: the peer goes down.
    sw.ns.ip(&["link", "set", "v0", "down"]);
    sw.expect_hash(Db::State, key, &state("down", "up", "1500"), T);
    sw.ns.ip(&["link", "set", "v0", "up"]);
    sw.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    sw.ns.ip(&["link", "set", "Ethernet0", "mtu", "9100"]);
    sw.expect_hash(Db::State, key, &state("up", "up", "9100"), T);
    sw.ns.ip(&["link", "set", "Ethernet0", "down"]);
    sw.expect_hash(Db::State, key, &state("down", "down", "9100"), T);
    // Fields other daemons wrote are kept by these merges.
    smol::block_on(portsyncd_contract::RawView::hset(&mut sw.raw, Db::State, key, &[("speed", "100000")]));
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    let mut want = state("up", "up", "9100");
    want.insert("speed".into(), "100000".into());
    sw.expect_hash(Db::State, key, &want, T);
}

#[test]
fn dellink_deletes_the_whole_state_entry() {
    let mut sw = Switch::new(2);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("down", "down", "1500"), T);
    smol::block_on(portsyncd_contract::RawView::hset(
        &mut sw.raw,
        Db::State,
        "PORT_TABLE|Ethernet4",
        &[("speed", "1")],
    ));
    sw.ns.ip(&["link", "del", "Ethernet4"]);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet4", T);
    assert!(sw.exists(Db::State, "PORT_TABLE|Ethernet0"));
}

#[test]
fn bridge_member_deleted() {
    let mut sw = Switch::new(1);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    sw.ns.ip(&["link", "add", "Bridge", "type", "bridge"]);
    sw.ns.ip(&["link", "set", "Ethernet0", "master", "Bridge"]);
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    // Leaving the bridge is an AF_BRIDGE DELLINK with a master: ignored. (A
    // NEWLINK follows it and would rewrite the four fields anyway; a field
    // another daemon wrote shows whether the hash was deleted in between.)
    smol::block_on(portsyncd_contract::RawView::hset(
        &mut sw.raw,
        Db::State,
        "PORT_TABLE|Ethernet0",
        &[("speed", "1")],
    ));
    sw.ns.ip(&["link", "set", "Ethernet0", "nomaster"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut want = state("up", "up", "1500");
    want.insert("speed".into(), "1".into());
    assert_eq!(
        sw.hgetall(Db::State, "PORT_TABLE|Ethernet0"),
        want,
        "left the bridge: not deleted\n{}",
        sw.log()
    );
    // Deleted while enslaved: the AF_UNSPEC DELLINK deletes it.
    sw.ns.ip(&["link", "set", "Ethernet0", "master", "Bridge"]);
    std::thread::sleep(Duration::from_millis(100));
    sw.ns.ip(&["link", "del", "Ethernet0"]);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet0", T);
}

#[test]
fn links_not_in_config_db_and_bad_names_write_nothing() {
    let mut sw = Switch::new(1);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    sw.ns.veth("Ethernet200", "v200");
    sw.ns.veth("PortChannel0001", "vpc1");
    sw.ns.veth("Ethernet|9", "vbad");
    sw.ns.ip(&["link", "set", "Ethernet200", "up"]);
    assert!(
        wait_until(T, || sw.log().contains("\"Ethernet|9\"")),
        "no log line for the bad name\n{}",
        sw.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let keys = smol::block_on(portsyncd_contract::RawView::keys(&mut sw.raw, Db::State));
    let ports: Vec<_> = keys.iter().filter(|k| k.starts_with("PORT_TABLE|")).collect();
    assert_eq!(ports, ["PORT_TABLE|Ethernet0"], "\n{}", sw.log());
    assert!(!sw.exists(Db::Appl, "PORT_TABLE:PortChannel0001"));
    assert!(sw.log().contains("name contains the key separator '|'; skipped"), "{}", sw.log());
}

#[test]
fn links_that_existed_before_the_start_are_brought_down_and_replaced() {
    let mut sw = Switch::new(2);
    sw.ns.veth("Ethernet0", "old0");
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.ns.ip(&["link", "set", "old0", "up"]);
    let old = sw.ns.ifindex("Ethernet0").unwrap();
    sw.start();
    // Brought down, then replaced by the stand-in (new ifindex), then published.
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    let new = sw.ns.ifindex("Ethernet0").unwrap();
    assert_ne!(old, new);
    assert!(
        sw.log().contains(&format!("Ethernet0 (ifindex {old}) existed before this cold start")),
        "{}",
        sw.log()
    );
    assert!(sw.log().contains(&format!("brought Ethernet0 (ifindex {old}) down")), "{}", sw.log());
    assert!(wait_until(T, || sw.exists(Db::Appl, "PORT_TABLE:PortInitDone")));
}

#[test]
fn pre_existing_link_is_left_down_and_ignored_when_not_replaced() {
    // No orchagent: nothing is popped, so nothing replaces the old link.
    let mut sw = Switch::new(1);
    sw.ns.veth("Ethernet0", "old0");
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.start_daemon();
    assert!(wait_until(T, || !sw.ns.is_up("Ethernet0")), "not brought down\n{}", sw.log());
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!sw.exists(Db::State, "PORT_TABLE|Ethernet0"), "old ifindex must stay ignored\n{}", sw.log());
    assert!(!sw.exists(Db::Appl, "PORT_TABLE:PortInitDone"));
}

/// Redis dies and comes back empty (SONiC's Redis keeps no data), and
/// CONFIG_DB is loaded again with another port set: nothing of the old
/// configuration is produced into the new databases. portsyncd exits
/// non-zero with one line (as the C++ daemon exits on any Redis error), so
/// that its supervisor starts it again against the CONFIG_DB there is now.
#[test]
fn redis_restarting_empty_ends_the_run_and_nothing_old_is_written() {
    let mut sw = Switch::new(2);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    assert!(wait_until(T, || sw.exists(Db::Appl, "PORT_TABLE:PortInitDone")));
    drop(sw.orchagent.take());
    sw.raw.server().kill();
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    std::thread::sleep(Duration::from_millis(300));
    sw.raw.server().start_again();
    sw.raw.reconnect_all();
    // The new CONFIG_DB has one other port.
    smol::block_on(portsyncd_contract::RawView::hset(
        &mut sw.raw,
        Db::Config,
        "PORT|Ethernet8",
        &[("admin_status", "up"), ("mtu", "9100")],
    ));
    let status = sw.daemon().wait_exit(T).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", sw.log());
    let log = sw.log();
    assert!(log.contains("a database server restarted (new run id) and lost its data"), "{log}");
    assert!(log.trim_end().ends_with("against the CONFIG_DB there is now"), "{log}");
    for db in [Db::Appl, Db::State] {
        let keys = smol::block_on(portsyncd_contract::RawView::keys(&mut sw.raw, db));
        assert!(keys.is_empty(), "{db} of the new server was written: {keys:?}\n{log}");
    }
}

#[test]
fn start_up_failures_exit_non_zero_with_one_line_and_write_nothing() {
    let mut sw = Switch::new(1);
    std::fs::write(&sw.conf, "[netlink]\ndump_timeout_ms = 0\n").unwrap();
    sw.start_daemon();
    let status = sw.daemon().wait_exit(T).expect("exits");
    assert_eq!(status.code(), Some(1));
    let log = sw.log();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("netlink.dump_timeout_ms = 0 is out of range"), "{log}");
    // Unreachable Redis, and a bounded wait for it (redis_at_start.rs:
    // unbounded by default).
    std::fs::write(&sw.conf, "[redis]\nconnect_wait_ms = 200\n").unwrap();
    let db_config = sw.dir.join("unreachable.json");
    std::fs::write(
        &db_config,
        std::fs::read_to_string(&sw.db_config).unwrap().replace("redis.sock", "nobody.sock"),
    )
    .unwrap();
    let state = sw.state_dir();
    let state = state.to_str().unwrap();
    let mut d = Daemon::start(
        &sw.ns,
        sw.dir.join("u.log"),
        &[
            "--db-config",
            db_config.to_str().unwrap(),
            "--config",
            sw.conf.to_str().unwrap(),
            "--state-dir",
            state,
        ],
    );
    assert_eq!(d.wait_exit(T).expect("exits").code(), Some(1));
    let last = d.log().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with(
            "portsyncd: Redis not reachable within 200 ms ([redis] connect_wait_ms): cannot connect to CONFIG_DB at unix:"
        ),
        "{}",
        d.log()
    );
    // No permission to change links (not root): stops before touching Redis.
    // (Its state dir is one it can use: that is checked first.)
    let nobodys = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(nobodys.path(), Some(65534), Some(65534)).unwrap();
    let bin = crate::harness::portsyncd_bin();
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &sw.ns.name,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &bin,
        ])
        .args(["--db-config", sw.db_config.to_str().unwrap(), "--state-dir"])
        .arg(nobodys.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), "portsyncd: netlink: RTM_SETLINK: Operation not permitted (os error 1)");
    // Unknown flag.
    let mut d = Daemon::start(&sw.ns, sw.dir.join("f.log"), &["--frobnicate"]);
    assert_eq!(d.wait_exit(T).expect("exits").code(), Some(2));
    assert!(d.log().starts_with("portsyncd: unknown argument \"--frobnicate\""));
    // Nothing was written anywhere.
    for db in [Db::Appl, Db::State] {
        let keys = smol::block_on(portsyncd_contract::RawView::keys(&mut sw.raw, db));
        assert!(keys.is_empty(), "{db}: {keys:?}");
    }
    let keys = smol::block_on(portsyncd_contract::RawView::keys(&mut sw.raw, Db::Config));
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["PORT|Ethernet0"]);
}

#[test]
fn sigint_also_stops_it_cleanly() {
    let mut sw = Switch::new(1);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    let t = Instant::now();
    let (status, took) = sw.daemon().stop_with("INT");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "{took:?} ({:?} since the stop began)", t.elapsed());
}

/// The kernel drops notifications while portsyncd cannot read (SIGSTOP, a
/// small receive buffer, a storm of changes ending with a delete): the
/// overrun is answered by a re-dump, and STATE_DB ends up as the kernel is,
/// the deleted port included.
#[test]
fn overrun_is_answered_by_a_redump_and_state_converges() {
    let ports = 16;
    let mut sw = Switch::new(ports);
    std::fs::write(&sw.conf, "[log]\noutput = \"STDERR\"\n[netlink]\nreceive_buffer_bytes = 65536\n")
        .unwrap();
    sw.start();
    for i in 0..ports {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    let pid = sw.daemon().pid_for_signals();
    let signal =
        |s: &str| assert!(std::process::Command::new("kill").args([s, &pid]).status().unwrap().success());
    signal("-STOP");
    let mut batch = String::new();
    for round in 0..10 {
        for i in 0..ports {
            let updown = if round % 2 == 0 { "up" } else { "down" };
            batch += &format!("link set {} {updown}\n", name(i));
        }
    }
    // Final kernel state: even ports up with MTU 9000, odd ones down; Ethernet8 deleted last.
    for i in 0..ports {
        let updown = if i % 2 == 0 { "up" } else { "down" };
        batch += &format!("link set {} {updown} mtu 9000\n", name(i));
    }
    batch += "link del Ethernet8\n";
    let file = sw.dir.join("storm.batch");
    std::fs::write(&file, batch).unwrap();
    sw.ns.ip(&["-batch", file.to_str().unwrap()]);
    signal("-CONT");
    assert!(wait_until(T, || sw.log().contains("netlink overrun")), "no overrun seen\n{}", sw.log());
    for i in 0..ports {
        let key = format!("PORT_TABLE|{}", name(i));
        if i == 2 {
            sw.expect_absent(Db::State, &key, T);
        } else if i % 2 == 0 {
            sw.expect_hash(Db::State, &key, &state("up", "up", "9000"), T);
        } else {
            sw.expect_hash(Db::State, &key, &state("down", "down", "9000"), T);
        }
    }
    let log = sw.log();
    eprintln!(
        "overrun: re-dumped; Ethernet8 {}",
        if log.contains("Ethernet8 vanished") {
            "deleted by the reconciliation"
        } else {
            "DELLINK survived the overrun"
        }
    );
}

/// `--db memory`: no Redis at all; CONFIG_DB seeded from the config file;
/// the tables are printed on exit.
#[test]
fn memory_backend_runs_without_redis_and_prints_the_tables() {
    let sw = Switch::new(0);
    let state = sw.state_dir();
    let conf = sw.dir.join("memory.conf");
    std::fs::write(&conf, "[log]\noutput = \"STDERR\"\n[memory]\nports = [\"Ethernet0\", \"Ethernet4\"]\n")
        .unwrap();
    let mut d = Daemon::start(
        &sw.ns,
        sw.dir.join("m.log"),
        &["--db", "memory", "--config", conf.to_str().unwrap(), "--state-dir", state.to_str().unwrap()],
    );
    assert!(wait_until(T, || d.log().contains("initial sync done")), "{}", d.log());
    sw.ns.veth("Ethernet0", "v0");
    sw.ns.ip(&["link", "set", "v0", "up"]);
    sw.ns.ip(&["link", "set", "Ethernet0", "up", "mtu", "9100"]);
    assert!(
        wait_until(T, || d.log().contains("PortInitDone") || d.log().contains("Ethernet0")),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = d.stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", d.log());
    let out = &d.stdout;
    assert!(out.contains("== CONFIG_DB\n"), "{out}");
    assert!(out.contains("PORT_TABLE:PortConfigDone  count=2"), "{out}");
    assert!(
        out.contains("PORT_TABLE|Ethernet0  state=ok netdev_oper_status=up admin_status=up mtu=9100"),
        "{out}"
    );
    assert!(out.contains("WARM_RESTART_TABLE|portsyncd  restore_count=0"), "{out}");
}

/// CONFIG_DB `LOGGER|portsyncd` `LOGLEVEL` changed while running takes effect.
#[test]
fn log_level_follows_config_db_at_run_time() {
    let mut sw = Switch::new(1);
    sw.start();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    assert!(!sw.log().contains("RTM_NEWLINK"), "INFO lines at NOTICE level\n{}", sw.log());
    smol::block_on(portsyncd_contract::RawView::hset(
        &mut sw.raw,
        Db::Config,
        "LOGGER|portsyncd",
        &[("LOGLEVEL", "INFO")],
    ));
    assert!(
        wait_until(Duration::from_secs(10), || sw.log().contains("log level NOTICE => INFO")),
        "{}",
        sw.log()
    );
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    assert!(wait_until(T, || sw.log().contains("RTM_NEWLINK Ethernet0")), "{}", sw.log());
}

/// Under systemd (`Type=notify`): READY=1 once the initial sync is done,
/// STOPPING=1 on SIGTERM.
#[test]
fn tells_systemd_when_ready_and_when_stopping() {
    let sw = Switch::new(1);
    let path = sw.dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(T)).unwrap();
    let state = sw.state_dir();
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &sw.ns.name, &crate::harness::portsyncd_bin()])
        .args(["--db-config", sw.db_config.to_str().unwrap(), "--config", sw.conf.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("READY");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(ready.contains("STATUS=initial sync done; 1 ports await their host interface"), "{ready}");
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let n = socket.recv(&mut buf).expect("STOPPING");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
    assert!(child.wait().unwrap().success());
}
