//! Periodic reconciliation of the real daemon: STATE_DB corrupted behind
//! its back in five ways is repaired within one interval, and nothing else
//! is written (a MONITOR of Redis counts every write); SIGUSR1 asks for a
//! round at once.

use std::time::Duration;

use portsyncd_core::backend::Db;

use crate::harness::*;

const INTERVAL_MS: u64 = 3000;

fn cmd(sw: &mut Switch, db: Db, args: &[&str]) {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    let _: redis::Value = c.query(sw.raw.conn(db)).unwrap();
}

#[test]
fn five_kinds_of_drift_are_repaired_within_one_interval_and_nothing_else_is_written() {
    let mut sw = Switch::new(6);
    std::fs::write(
        &sw.conf,
        format!("[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n[reconcile]\ninterval_ms = {INTERVAL_MS}\n"),
    )
    .unwrap();
    // INFO: a round that finds nothing says so at INFO.
    cmd(&mut sw, Db::Config, &["HSET", "LOGGER|portsyncd", "LOGLEVEL", "INFO", "LOGOUTPUT", "STDERR"]);
    let monitor = Monitor::start(sw.raw.socket());
    sw.start();
    for i in 0..6 {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    sw.ns.ip(&["link", "set", "Ethernet4", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("up", "up", "1500"), T);
    sw.ns.ip(&["link", "del", "Ethernet12"]);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet12", T);
    // Another daemon's field on a port: not ours, left alone.
    cmd(&mut sw, Db::State, &["HSET", "PORT_TABLE|Ethernet20", "speed", "100000"]);
    let before = sw.hgetall(Db::State, "PORT_TABLE|Ethernet20");

    // Behind the daemon's back.
    cmd(&mut sw, Db::State, &["DEL", "PORT_TABLE|Ethernet0"]);
    cmd(&mut sw, Db::State, &["HSET", "PORT_TABLE|Ethernet4", "netdev_oper_status", "down"]);
    cmd(&mut sw, Db::State, &["HDEL", "PORT_TABLE|Ethernet8", "mtu"]);
    cmd(
        &mut sw,
        Db::State,
        &["HSET", "PORT_TABLE|Ethernet12", "state", "ok", "admin_status", "up", "mtu", "9100"],
    );
    cmd(&mut sw, Db::State, &["HSET", "PORT_TABLE|Ethernet16", "admin_status", "up"]);
    // Counted from after the test's own commands (MONITOR shows them later).
    let corrupted = monitor.mark_after(sw.raw.conn(Db::State));
    let wrote = |m: &Monitor| {
        (
            m.count_since(corrupted, 6, r#""HSET" "PORT_TABLE|"#),
            m.count_since(corrupted, 6, r#""DEL" "PORT_TABLE|"#),
        )
    };

    // Within one interval (and the dump's own time), every port is the kernel's again.
    let repaired = wait_until(Duration::from_millis(INTERVAL_MS + 3000), || {
        sw.hgetall(Db::State, "PORT_TABLE|Ethernet0") == state("down", "down", "1500")
            && sw.hgetall(Db::State, "PORT_TABLE|Ethernet4") == state("up", "up", "1500")
            && sw.hgetall(Db::State, "PORT_TABLE|Ethernet8") == state("down", "down", "1500")
            && !sw.exists(Db::State, "PORT_TABLE|Ethernet12")
            && sw.hgetall(Db::State, "PORT_TABLE|Ethernet16") == state("down", "down", "1500")
    });
    assert!(repaired, "not repaired within an interval\n{}", sw.log());
    // Four rewritten, one deleted: exactly the repairs, one HSET each.
    assert_eq!(
        wrote(&monitor),
        (4, 1),
        "{:?}\n{}",
        monitor.lines_since(corrupted, 6, "PORT_TABLE|"),
        sw.log()
    );
    assert_eq!(sw.hgetall(Db::State, "PORT_TABLE|Ethernet20"), before, "another daemon's field");
    let log = sw.log();
    assert!(log.contains("reconcile: STATE_DB PORT_TABLE|Ethernet0 was missing; written again"), "{log}");
    assert!(
        log.contains("reconcile: STATE_DB PORT_TABLE|Ethernet12 was left for a port with no link; deleted")
    );
    assert!(log.contains("reconcile: 5 of 6 STATE_DB ports repaired"), "{log}");

    // The next rounds find nothing and write nothing.
    std::thread::sleep(Duration::from_millis(2 * INTERVAL_MS + 500));
    assert_eq!(wrote(&monitor), (4, 1), "{:?}", monitor.lines_since(corrupted, 6, "PORT_TABLE|"));
    assert!(sw.log().contains("reconcile: 6 STATE_DB ports match the kernel"), "{}", sw.log());

    // SIGUSR1: a round at once, whatever the interval.
    cmd(&mut sw, Db::State, &["DEL", "PORT_TABLE|Ethernet8"]);
    let pid = sw.daemon().pid_for_signals();
    std::process::Command::new("kill").args(["-USR1", &pid]).status().unwrap();
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet8", &state("down", "down", "1500"), T);
    assert!(sw.log().contains("SIGUSR1 received: reconciling now"));
}
