//! Warm restart (SONIC.md §4–6): SONiC's WarmStart keys, the snapshot, the
//! initial sync ending at our dump's NLMSG_DONE, and reconciliation.

use std::time::{Duration, Instant};

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

/// Cold start with `n` ports, all published; Ethernet0 brought up.
fn running_switch(n: usize) -> Switch {
    let mut sw = Switch::new(n);
    sw.start();
    for i in 0..n {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    assert!(wait_until(T, || sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some()));
    sw
}

fn enable_warm(sw: &mut Switch) {
    smol::block_on(sw.raw.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|swss", &[("enable", "true")]));
}

/// Waits for the end of the initial sync; its time from start, as logged.
fn initial_sync_ms(sw: &Switch) -> u64 {
    assert!(wait_until(T, || sw.log().contains("initial sync done")), "{}", sw.log());
    let log = sw.log();
    let at = log.find("initial sync done after ").unwrap() + "initial sync done after ".len();
    log[at..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn warm_restart_of_64_ports_touches_nothing_in_state_db() {
    let n = 64;
    let mut sw = running_switch(n);
    let pops_before = sw.orchagent.as_ref().unwrap().popped.lock().unwrap().len();
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success());
    enable_warm(&mut sw);
    let watcher = KeyspaceWatcher::start(sw.raw.socket());
    let ifindex0 = sw.ns.ifindex("Ethernet0").unwrap();
    sw.start_daemon();
    let eoiu_ms = initial_sync_ms(&sw);
    // Let anything that would follow the EOIU land too.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        watcher.port_events(),
        Vec::<(String, String)>::new(),
        "STATE_DB port keys touched\n{}",
        sw.log()
    );
    assert_eq!(sw.hgetall(Db::State, "WARM_RESTART_TABLE|portsyncd"), hash(&[("restore_count", "1")]));
    assert!(sw.log().contains(&format!("{n} ports as STATE_DB has them")), "{}", sw.log());
    // Nothing produced to APPL_DB but PortInitDone (as the C++ daemon does); nothing brought down.
    let popped: Vec<String> = sw.orchagent.as_ref().unwrap().popped.lock().unwrap()[pops_before..]
        .iter()
        .map(|(k, _, _)| k.clone())
        .collect();
    assert_eq!(popped, ["PortInitDone"], "\n{}", sw.log());
    assert!(sw.ns.is_up("Ethernet0"));
    assert_eq!(sw.ns.ifindex("Ethernet0"), Some(ifindex0));
    // Back to normal: a change is published.
    sw.ns.ip(&["link", "set", "Ethernet4", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("up", "up", "1500"), T);
    eprintln!("warm restart, {n} ports: initial sync (EOIU) {eoiu_ms} ms after start");
}

#[test]
fn warm_restart_reconciles_what_changed_while_down() {
    let mut sw = running_switch(5);
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success());
    // While down: Ethernet4 deleted, Ethernet8's MTU changed, someone wiped
    // STATE_DB's Ethernet12 entry (as SONiC's AutoNeg/LinkTraining warm tests do).
    sw.ns.ip(&["link", "del", "Ethernet4"]);
    sw.ns.ip(&["link", "set", "Ethernet8", "mtu", "9000"]);
    smol::block_on(sw.raw.del(Db::State, "PORT_TABLE|Ethernet12"));
    enable_warm(&mut sw);
    let watcher = KeyspaceWatcher::start(sw.raw.socket());
    sw.start_daemon();
    initial_sync_ms(&sw);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet4", T);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet8", &state("down", "down", "9000"), T);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet12", &state("down", "down", "1500"), T);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    let mut touched: Vec<String> = watcher.port_events().into_iter().map(|(k, _)| k).collect();
    touched.dedup();
    touched.sort();
    assert_eq!(
        touched,
        ["PORT_TABLE|Ethernet12", "PORT_TABLE|Ethernet4", "PORT_TABLE|Ethernet8"],
        "\n{}",
        sw.log()
    );
}

#[test]
fn bad_or_missing_snapshots_are_one_log_line_and_state_db_is_the_baseline() {
    let mut sw = running_switch(2);
    sw.daemon().stop_with("TERM");
    enable_warm(&mut sw);
    let file = sw.state_dir().join("portsyncd.snapshot");
    let good =
        std::fs::read(&file).unwrap_or_else(|e| panic!("snapshot saved on SIGTERM: {e}\n{}", sw.log()));
    let mut future = good.clone();
    future[8] = 99;
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("corrupt", Some(good.iter().map(|b| b ^ 0x5a).collect()), "warm-restart snapshot unusable ("),
        ("truncated", Some(good[..good.len() / 2].to_vec()), "is truncated"),
        ("newer version", Some(future), "has snapshot format 99"),
        ("missing", None, "no warm-restart snapshot:"),
    ];
    for (what, bytes, line) in cases {
        match &bytes {
            Some(b) => std::fs::write(&file, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(&file);
            }
        }
        let watcher = KeyspaceWatcher::start(sw.raw.socket());
        let started = Instant::now();
        sw.start_daemon();
        initial_sync_ms(&sw);
        let log = sw.log();
        assert_eq!(log.matches(line).count(), 1, "{what}: {log}");
        // STATE_DB alone is the baseline: it already holds the kernel's
        // state, so nothing flaps (and nothing is lost).
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(watcher.port_events(), Vec::<(String, String)>::new(), "{what}: ports touched\n{log}");
        sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
        let (status, took) = sw.daemon().stop_with("TERM");
        assert!(status.success() && took < Duration::from_secs(1), "{what}: {status:?} {took:?}");
        assert!(started.elapsed() < T);
    }
}
