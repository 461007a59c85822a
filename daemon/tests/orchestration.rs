//! The daemon's whole loop in-process, over the mock databases and a scripted
//! link source: the paths a real kernel will not take on demand, such as a
//! dump that never completes.

use std::time::{Duration, Instant};

use portsyncd::config::Config;
use portsyncd::sync::{self, LoopCounters, Milestones};
use portsyncd_core::PortName;
use portsyncd_core::backend::Db;
use portsyncd_core::engine::{LinkState, Snapshot, SnapshotPort};
use portsyncd_core::netlink::iff;
use portsyncd_mock::MockDatabases;
use portsyncd_mock::links::{LinkScript, link_message};
use portsyncd_state_file::StateFile;

const UP_RUNNING: u32 = iff::UP | iff::RUNNING;

fn config(dump_timeout_ms: u64) -> Config {
    Config { dump_timeout: Duration::from_millis(dump_timeout_ms), ..Config::default() }
}

fn seeded(ports: &[&str]) -> MockDatabases {
    let db = MockDatabases::new();
    for (i, p) in ports.iter().enumerate() {
        db.hset(Db::Config, &format!("PORT|{p}"), &[("index", &i.to_string()), ("mtu", "9100")]);
    }
    db
}

/// Runs the loop until `done` holds for the databases (checked every 10 ms),
/// or 5 s pass.
fn run_until(
    db: &MockDatabases,
    script: &LinkScript,
    config: Config,
    state: StateFile,
    done: impl Fn(&MockDatabases) -> bool,
) -> (Milestones, LoopCounters, Duration) {
    let (links, control) = script.endpoints();
    let watched = db.clone();
    let started = Instant::now();
    let shutdown = async move {
        while !done(&watched) && started.elapsed() < Duration::from_secs(5) {
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
    };
    let mut db = db.clone();
    let (m, c) = smol::block_on(sync::run(&mut db, links, control, config, state, shutdown)).expect("runs");
    (m, c, started.elapsed())
}

#[test]
fn a_dump_that_never_completes_ends_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&["Ethernet0", "Ethernet4"]);
    let script = LinkScript::new();
    // The dump reports a pre-existing Ethernet0 and then never says DONE.
    script.set_links(vec![link_message(false, "Ethernet0", 7, UP_RUNNING, 1500)]);
    script.never_complete_dumps();
    let (m, _, took) = run_until(&db, &script, config(300), StateFile::new(dir.path()), |db| {
        db.set_members(Db::Appl, "PORT_TABLE_KEY_SET").contains("PortConfigDone")
    });
    let eoiu = m.eoiu.expect("initial sync ended");
    assert!(eoiu >= Duration::from_millis(300), "EOIU at {eoiu:?}, before the timeout");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // What the dump did report was acted on: the stale link, then the config.
    assert_eq!(script.brought_down(), [7]);
    assert_eq!(db.hash(Db::Appl, "_PORT_TABLE:PortConfigDone").unwrap()["count"], "2");
    assert!(m.port_config_done.unwrap() >= eoiu);
}

#[test]
fn a_complete_dump_ends_the_initial_sync_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&["Ethernet0"]);
    let script = LinkScript::new();
    script.set_links(vec![link_message(false, "lo", 1, UP_RUNNING, 65536)]);
    let (m, _, _) = run_until(&db, &script, config(5_000), StateFile::new(dir.path()), |db| {
        db.set_members(Db::Appl, "PORT_TABLE_KEY_SET").contains("PortConfigDone")
    });
    assert!(m.eoiu.unwrap() < Duration::from_millis(1_000), "{:?}", m.eoiu);
    assert_eq!(script.dumps().len(), 1);
}

#[test]
fn warm_start_with_a_dump_that_times_out_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&["Ethernet0", "Ethernet4"]);
    db.consume_produced_at_once();
    db.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|swss", &[("enable", "true")]);
    db.hset(Db::State, "WARM_RESTART_TABLE|portsyncd", &[("restore_count", "3")]);
    db.hset(Db::Appl, "PORT_TABLE:Ethernet0", &[("mtu", "9100")]);
    db.hset(Db::Appl, "PORT_TABLE:Ethernet4", &[("mtu", "9100")]);
    let fields = [("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "up"), ("mtu", "1500")];
    db.hset(Db::State, "PORT_TABLE|Ethernet0", &fields);
    db.hset(Db::State, "PORT_TABLE|Ethernet4", &fields);
    let state = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 1500 };
    let mut snapshot: Snapshot<1024> = Snapshot { port_init_done: true, ports: heapless::Vec::new() };
    for (n, ifindex) in [("Ethernet0", 5), ("Ethernet4", 6)] {
        let port =
            SnapshotPort { name: PortName::try_from(n).unwrap(), state: LinkState { ifindex, ..state } };
        snapshot.ports.push(port).unwrap();
    }
    StateFile::new(dir.path()).save(&snapshot).unwrap();
    let script = LinkScript::new();
    // Only Ethernet0 is reported before the dump stalls.
    script.set_links(vec![link_message(false, "Ethernet0", 5, UP_RUNNING, 1500)]);
    script.never_complete_dumps();
    // Nothing in the databases marks the end of a warm initial sync that
    // writes nothing; stop well after the timeout instead.
    let begin = Instant::now();
    let (m, counters, _) = run_until(&db, &script, config(300), StateFile::new(dir.path()), move |_| {
        begin.elapsed() > Duration::from_millis(800)
    });
    assert!(m.eoiu.unwrap() >= Duration::from_millis(300));
    assert!(db.hash(Db::State, "PORT_TABLE|Ethernet4").is_some(), "an incomplete dump must not delete");
    assert_eq!(db.hash(Db::State, "PORT_TABLE|Ethernet0").unwrap()["mtu"], "1500");
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "4");
    assert!(script.brought_down().is_empty(), "warm: nothing brought down");
    assert_eq!(counters.vanished, 0);
}
