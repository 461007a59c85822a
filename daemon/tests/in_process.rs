//! The whole daemon logic in-process, deterministic: the core's driver and
//! the daemon's ferry over the in-memory databases, a scripted link source and
//! in-memory snapshots, on a manual clock. No sleeps, no real time: the clock
//! moves to the driver's next deadline (quinn's `Pair::drive`).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use portsyncd::ferry::{self, Clock, Parts, Signalled, Signals, Supervisor};
use portsyncd_core::PortName;
use portsyncd_core::backend::Db;
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Failure, Input, Notify, Signal};
use portsyncd_core::engine::LinkState;
use portsyncd_core::logger::Level;
use portsyncd_core::netlink::iff;
use portsyncd_core::time::Instant;
use portsyncd_core::warm::{Snapshot, SnapshotPort};
use portsyncd_mock::clock::ManualClock;
use portsyncd_mock::faults::{FaultHandle, FaultInjector};
use portsyncd_mock::links::{LinkScript, RecordingControl, ScriptedLinks, link_message};
use portsyncd_mock::snapshots::MemorySnapshots;
use portsyncd_mock::{MemoryDatabases, MockDatabases};

const UP_RUNNING: u32 = iff::UP | iff::RUNNING;

/// The mock's manual clock, as the ferry's [`Clock`]: only the test moves
/// it, and its timers fire when it does.
#[derive(Clone, Default)]
struct TestClock(ManualClock, Rc<RefCell<Vec<Waker>>>);

impl TestClock {
    fn set(&self, at: Instant) {
        self.0.set(at);
        for waker in self.1.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn at(&self, at: Instant) -> impl Future<Output = ()> {
        let clock = self.clone();
        std::future::poll_fn(move |cx| {
            if clock.0.now() >= at {
                return Poll::Ready(());
            }
            clock.1.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// What the service manager was told.
#[derive(Clone, Default)]
struct Told(Rc<RefCell<Vec<Notify>>>);

impl Supervisor for Told {
    fn notify(&mut self, notify: Notify) {
        self.0.borrow_mut().push(notify);
    }
}

type TestParts = Parts<FaultInjector<MockDatabases>, ScriptedLinks, RecordingControl, MemorySnapshots, Told>;

/// What the daemon's loop runs on: `db` behind a fault injector (random
/// failures drawn from `seed`), `kernel`'s endpoints, `snapshots`, and
/// `told` as the service manager.
fn parts(
    db: &MockDatabases,
    kernel: &LinkScript,
    snapshots: &MemorySnapshots,
    told: &Told,
    seed: u64,
) -> TestParts {
    let (links, control) = kernel.endpoints();
    Parts {
        db: FaultInjector::new(db.clone(), seed),
        links,
        control,
        snapshots: snapshots.clone(),
        saving: None,
        supervisor: told.clone(),
        config_fields: Default::default(),
        replies: Default::default(),
        metrics: None,
    }
}

/// A switch: the daemon's logic and everything around it, in memory.
struct Switch {
    driver: Box<DefaultDriver>,
    parts: TestParts,
    clock: TestClock,
    db: MockDatabases,
    faults: FaultHandle,
    kernel: LinkScript,
    snapshots: MemorySnapshots,
    told: Told,
    exit: Option<Result<(), Failure>>,
}

fn config() -> DriverConfig {
    // The timelines below save the snapshot every second.
    DriverConfig { snapshot_interval: Duration::from_secs(1), ..DriverConfig::default() }
}

fn seeded(ports: &[&str]) -> MockDatabases {
    let db = MemoryDatabases::journaled();
    for (i, p) in ports.iter().enumerate() {
        db.hset(Db::Config, &format!("PORT|{p}"), &[("index", &i.to_string()), ("mtu", "9100")]);
    }
    db
}

fn newlink(name: &str, ifindex: u32, flags: u32, mtu: u32) -> Vec<u8> {
    link_message(false, name, ifindex, flags, mtu)
}

fn state(oper: &str, admin: &str, mtu: &str) -> Vec<(String, String)> {
    [("state", "ok"), ("netdev_oper_status", oper), ("admin_status", admin), ("mtu", mtu)]
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
}

impl Switch {
    fn start(
        db: &MockDatabases,
        kernel: &LinkScript,
        snapshots: &MemorySnapshots,
        config: DriverConfig,
    ) -> Self {
        let clock = TestClock::default();
        let told = Told::default();
        let parts = parts(db, kernel, snapshots, &told, 7);
        let faults = parts.db.handle();
        let mut sw = Switch {
            driver: Box::new(DefaultDriver::new(clock.now(), config)),
            parts,
            clock,
            db: db.clone(),
            faults,
            kernel: kernel.clone(),
            snapshots: snapshots.clone(),
            told,
            exit: None,
        };
        sw.settle();
        sw
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Everything that can happen at the current instant happens.
    fn settle(&mut self) {
        let now = self.now();
        let Switch { driver, parts, clock, exit, .. } = self;
        smol::block_on(async {
            for _ in 0..10_000 {
                if exit.is_some() {
                    return;
                }
                let before = driver.counters().datagrams + driver.counters().overruns;
                if let Some(e) = ferry::step(driver, parts, clock, now).await {
                    *exit = Some(e);
                    return;
                }
                driver.handle_timeout(now);
                let after = driver.counters().datagrams + driver.counters().overruns;
                if before == after && driver.poll_timeout().is_none_or(|t| t > now) {
                    if let Some(e) = ferry::step(driver, parts, clock, now).await {
                        *exit = Some(e);
                    }
                    return;
                }
            }
            panic!("no quiescence at {now:?}");
        });
    }

    /// Moves time forward by `d`, stopping at every deadline on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now().saturating_add(d);
        while self.exit.is_none() {
            let next = self.driver.poll_timeout().filter(|t| *t <= end).unwrap_or(end).max(self.now());
            self.clock.set(next);
            self.settle();
            if next == end {
                break;
            }
        }
    }

    fn kernel_says(&mut self, datagram: Vec<u8>) {
        self.kernel.push(datagram);
        self.settle();
    }

    fn terminate(&mut self) -> Result<(), Failure> {
        let _ = self.driver.handle(self.now(), Input::Signal(Signal::Terminate));
        self.settle();
        self.advance(Duration::from_secs(1));
        self.exit.expect("exited")
    }

    fn state_db(&self, port: &str) -> Option<Vec<(String, String)>> {
        self.db.hash(Db::State, &format!("PORT_TABLE|{port}")).map(|h| h.into_iter().collect())
    }

    fn produced(&self, key: &str) -> bool {
        self.db.set_members(Db::Appl, "PORT_TABLE_KEY_SET").contains(key)
            || self.db.hash(Db::Appl, &format!("PORT_TABLE:{key}")).is_some()
    }
}

#[test]
fn cold_start_then_host_interfaces_then_port_init_done() {
    let db = seeded(&["Ethernet0", "Ethernet4"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    // An Ethernet0 left over from an earlier run.
    kernel.set_links(vec![newlink("Ethernet0", 7, UP_RUNNING, 1500), newlink("lo", 1, UP_RUNNING, 65536)]);
    let mut sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(kernel.brought_down(), [7], "the stale link is brought down");
    assert_eq!(db.hash(Db::Appl, "PORT_TABLE:PortConfigDone").unwrap()["count"], "2");
    assert_eq!(db.hash(Db::Config, "LOGGER|portsyncd").unwrap()["LOGLEVEL"], "NOTICE");
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "0");
    assert!(sw.state_db("Ethernet0").is_none(), "a stale link publishes nothing");
    assert!(matches!(sw.told.0.borrow()[..], [Notify::Ready(_)]));
    // orchagent created the host interfaces (new ifindexes).
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"));
    assert!(!sw.produced("PortInitDone"));
    sw.kernel_says(newlink("Ethernet4", 11, iff::UP, 9100));
    assert_eq!(sw.state_db("Ethernet4").unwrap(), state("down", "up", "9100"));
    assert!(sw.produced("PortInitDone"));
    // The stale ifindex is ignored for good.
    sw.kernel_says(newlink("Ethernet0", 7, UP_RUNNING, 1500));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"));
    let m = *sw.driver.milestones();
    assert!(m.eoiu.is_some() && m.port_config_done.is_some() && m.port_init_done.is_some());
    assert_eq!(sw.terminate(), Ok(()));
    assert!(matches!(sw.told.0.borrow().last(), Some(Notify::Stopping)));
    assert_eq!(sw.snapshots.get::<1024>().unwrap().ports.len(), 2, "saved on the way out");
}

/// The snapshot is a cache: saves that fail (the disk full) degrade health
/// with the reason, and are tried on the save cadence until one succeeds;
/// the port tables go on as usual. A stop whose save fails is still a clean
/// stop.
#[test]
fn failed_snapshot_saves_degrade_health_and_resume_by_themselves() {
    use portsyncd_core::backend::StoreFault;
    use portsyncd_core::health::{HealthState, Reason};
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let snapshots = MemorySnapshots::new();
    let mut sw = Switch::start(&db, &kernel, &snapshots, config());
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    sw.advance(Duration::from_secs(2));
    let saved = snapshots.saves();
    assert!(saved > 0);
    assert_eq!(sw.driver.health().0, HealthState::Healthy);
    // The disk fills up; the port goes down: STATE_DB is written, the save is not.
    snapshots.fail_saves(Some(StoreFault::Full));
    sw.kernel_says(newlink("Ethernet0", 10, iff::UP, 9100));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("down", "up", "9100"));
    sw.advance(Duration::from_millis(1500));
    let full = Reason::SnapshotNotSaved { fault: StoreFault::Full };
    assert_eq!(sw.driver.health(), (HealthState::Degraded, full));
    let status = |s: &str| {
        sw.told.0.borrow().iter().any(|n| matches!(n, Notify::Status(st) if st.to_string().contains(s)))
    };
    assert!(status("health degraded (warm-restart snapshot not saved: the state dir is full)"));
    let failures = sw.driver.counters().snapshot_failures;
    sw.advance(Duration::from_secs(3));
    assert!(sw.driver.counters().snapshot_failures >= failures + 2, "tried again on the cadence");
    assert_eq!(snapshots.saves(), saved);
    // Room again: the next try saves, health recovers, the snapshot holds the port as it is.
    snapshots.fail_saves(None);
    sw.advance(Duration::from_millis(1100));
    assert_eq!(snapshots.saves(), saved + 1);
    assert_eq!(sw.driver.health(), (HealthState::Healthy, Reason::AllWell));
    let kept = snapshots.get::<1024>().unwrap();
    assert!(!kept.ports[0].state.oper_up);
    // Full again at the stop: said (a line), and a clean exit all the same.
    snapshots.fail_saves(Some(StoreFault::Full));
    assert_eq!(sw.terminate(), Ok(()));
    assert_eq!(snapshots.saves(), saved + 1);
}

#[test]
fn warm_start_keys_follow_sonic() {
    // Not enabled: restore_count 0. Enabled: incremented. Missing: cold fallback.
    let db = seeded(&[]);
    let kernel = LinkScript::new();
    let mut sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "0");
    assert!(sw.produced("PortInitDone"), "no ports: PortInitDone after the dump");
    let _ = sw.terminate();
    db.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|swss", &[("enable", "false")]);
    Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "0");
    db.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|swss", &[("enable", "true")]);
    Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "2");
    assert!(!db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap().contains_key("state"));
    db.del(Db::State, "WARM_RESTART_TABLE|portsyncd");
    db.del(Db::State, "WARM_RESTART_ENABLE_TABLE|swss");
    db.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|system", &[("enable", "true")]);
    Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "0");
    db.hset(Db::State, "WARM_RESTART_TABLE|portsyncd", &[("restore_count", "lots")]);
    let sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert_eq!(sw.exit, Some(Err(Failure::BadRestoreCount)));
    assert!(db.hash(Db::Appl, "PORT_TABLE:PortConfigDone").is_none(), "nothing produced");
}

fn snapshot_of(ports: &[(&str, LinkState)]) -> Snapshot<1024> {
    let mut s = Snapshot { port_init_done: true, ports: heapless::Vec::new() };
    for (n, state) in ports {
        s.ports.push(SnapshotPort { name: PortName::try_from(*n).unwrap(), state: *state }).unwrap();
    }
    s
}

fn warm_db(ports: &[&str]) -> MockDatabases {
    let db = seeded(ports);
    db.consume_produced_at_once();
    db.hset(Db::State, "WARM_RESTART_ENABLE_TABLE|swss", &[("enable", "true")]);
    db.hset(Db::State, "WARM_RESTART_TABLE|portsyncd", &[("restore_count", "3")]);
    for p in ports {
        db.hset(Db::Appl, &format!("PORT_TABLE:{p}"), &[("mtu", "9100")]);
    }
    db
}

#[test]
fn warm_start_writes_nothing_that_state_db_already_holds() {
    let db = warm_db(&["Ethernet0", "Ethernet4"]);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    for p in ["Ethernet0", "Ethernet4"] {
        db.hset(
            Db::State,
            &format!("PORT_TABLE|{p}"),
            &[("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "up"), ("mtu", "9100")],
        );
    }
    let snapshots = MemorySnapshots::new();
    snapshots.set_bytes(
        postcard::to_allocvec(&snapshot_of(&[
            ("Ethernet0", up),
            ("Ethernet4", LinkState { ifindex: 6, ..up }),
        ]))
        .unwrap(),
    );
    let kernel = LinkScript::new();
    kernel.set_links(vec![
        newlink("Ethernet0", 5, UP_RUNNING, 9100),
        newlink("Ethernet4", 6, UP_RUNNING, 9100),
    ]);
    let sw = Switch::start(&db, &kernel, &snapshots, config());
    let c = sw.driver.engine().counters();
    assert_eq!((c.state_sets, c.suppressed), (0, 2), "{c:?}");
    assert!(kernel.brought_down().is_empty());
    assert_eq!(db.hash(Db::State, "WARM_RESTART_TABLE|portsyncd").unwrap()["restore_count"], "4");
    assert!(sw.produced("PortInitDone"));
    assert!(!sw.produced("PortConfigDone"), "warm: nothing of the configuration is produced");
}

/// STATE_DB port hashes too large to read (another writer's field beyond
/// the backend's read limit): at a warm start the port's state is not kept
/// but written again; at a reconciliation it is written again, not
/// compared. Each is one warning, counted; the run goes on.
#[test]
fn state_db_hashes_too_large_to_read_are_written_again() {
    let db = warm_db(&["Ethernet0", "Ethernet4"]);
    db.set_read_limit(4096);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    let notes = "n".repeat(5000);
    for p in ["Ethernet0", "Ethernet4"] {
        db.hset(
            Db::State,
            &format!("PORT_TABLE|{p}"),
            &[("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "up"), ("mtu", "9100")],
        );
    }
    db.hset(Db::State, "PORT_TABLE|Ethernet4", &[("notes", &notes)]);
    let snapshots = MemorySnapshots::new();
    let ports = [("Ethernet0", up), ("Ethernet4", LinkState { ifindex: 6, ..up })];
    snapshots.set_bytes(postcard::to_allocvec(&snapshot_of(&ports)).unwrap());
    let kernel = LinkScript::new();
    kernel.set_links(vec![
        newlink("Ethernet0", 5, UP_RUNNING, 9100),
        newlink("Ethernet4", 6, UP_RUNNING, 9100),
    ]);
    let mut sw = Switch::start(&db, &kernel, &snapshots, config());
    let c = sw.driver.engine().counters();
    assert_eq!((c.state_sets, c.suppressed), (1, 1), "Ethernet4 written again: {c:?}");
    assert_eq!(sw.driver.counters().too_large, 1);
    assert!(sw.produced("PortInitDone"));
    // A reconciliation meets it again, changed meanwhile: written again (a
    // merge: the other writer's field stays), not counted as a repair.
    db.hset(Db::State, "PORT_TABLE|Ethernet4", &[("mtu", "1500")]);
    let _ = sw.driver.handle(sw.now(), Input::Signal(Signal::Reconcile));
    sw.advance(Duration::from_secs(1));
    assert_eq!(sw.driver.counters().reconciliations, 1);
    assert_eq!(sw.driver.counters().repaired, 0);
    assert_eq!(sw.driver.counters().too_large, 2);
    let held = db.hash(Db::State, "PORT_TABLE|Ethernet4").unwrap();
    assert_eq!((held["mtu"].as_str(), held["notes"].len()), ("9100", notes.len()));
    assert!(sw.exit.is_none());
}

/// Fault 3 of the driver issue: save at t0 (port up) → the port goes down and
/// STATE_DB says so → crash before the next save → the port comes back up
/// while the daemon is down → warm start. The kernel equals the stale
/// snapshot; STATE_DB does not: it must be written.
#[test]
fn warm_start_trusts_state_db_over_an_older_snapshot() {
    let db = warm_db(&["Ethernet0"]);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    db.hset(
        Db::State,
        "PORT_TABLE|Ethernet0",
        &[("state", "ok"), ("netdev_oper_status", "down"), ("admin_status", "down"), ("mtu", "9100")],
    );
    let snapshots = MemorySnapshots::new();
    snapshots.set_bytes(postcard::to_allocvec(&snapshot_of(&[("Ethernet0", up)])).unwrap());
    let kernel = LinkScript::new();
    kernel.set_links(vec![newlink("Ethernet0", 5, UP_RUNNING, 9100)]);
    let sw = Switch::start(&db, &kernel, &snapshots, config());
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"));
}

#[test]
fn warm_start_with_a_dump_that_times_out_deletes_nothing() {
    let db = warm_db(&["Ethernet0", "Ethernet4"]);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 1500 };
    for p in ["Ethernet0", "Ethernet4"] {
        db.hset(
            Db::State,
            &format!("PORT_TABLE|{p}"),
            &[("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "up"), ("mtu", "1500")],
        );
    }
    let snapshots = MemorySnapshots::new();
    snapshots.set_bytes(
        postcard::to_allocvec(&snapshot_of(&[
            ("Ethernet0", up),
            ("Ethernet4", LinkState { ifindex: 6, ..up }),
        ]))
        .unwrap(),
    );
    let kernel = LinkScript::new();
    kernel.set_links(vec![newlink("Ethernet0", 5, UP_RUNNING, 1500)]);
    kernel.never_complete_dumps();
    let mut sw = Switch::start(
        &db,
        &kernel,
        &snapshots,
        DriverConfig { dump_timeout: Duration::from_millis(300), ..config() },
    );
    assert_eq!(sw.driver.milestones().eoiu, None);
    sw.advance(Duration::from_millis(299));
    assert_eq!(sw.driver.milestones().eoiu, None);
    sw.advance(Duration::from_millis(1));
    assert_eq!(sw.driver.milestones().eoiu, Some(Duration::from_millis(300)));
    assert!(sw.state_db("Ethernet4").is_some(), "an incomplete dump must not delete");
    assert_eq!(sw.driver.counters().vanished, 0);
}

#[test]
fn an_initial_dump_that_never_completes_ends_at_the_timeout_and_is_not_repeated() {
    let db = seeded(&["Ethernet0", "Ethernet4"]);
    let kernel = LinkScript::new();
    kernel.set_links(vec![newlink("Ethernet0", 7, UP_RUNNING, 1500)]);
    kernel.never_complete_dumps();
    let mut sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    assert!(!sw.produced("PortConfigDone"));
    sw.advance(Duration::from_millis(4_999));
    assert!(!sw.produced("PortConfigDone"));
    sw.advance(Duration::from_millis(1));
    assert!(sw.produced("PortConfigDone"), "the initial sync goes on without the dump's end");
    assert_eq!(kernel.brought_down(), [7], "what the dump did report was acted on");
    assert_eq!(kernel.dumps().len(), 1, "an initial dump that timed out is not repeated");
}

/// Ethernet0 and Ethernet4 configured, produced (orchagent pops at once)
/// and their host interfaces up (ifindexes 10 and 11).
fn two_ports_up() -> (MockDatabases, LinkScript, Switch) {
    let db = seeded(&["Ethernet0", "Ethernet4"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let mut sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    sw.kernel_says(newlink("Ethernet4", 11, UP_RUNNING, 9100));
    (db, kernel, sw)
}

#[test]
fn an_overrun_is_answered_by_a_dump_that_deletes_vanished_ports() {
    let (_db, kernel, mut sw) = two_ports_up();
    assert!(sw.state_db("Ethernet4").is_some());
    // Ethernet4's DELLINK is lost in the overrun; Ethernet0 went down meanwhile.
    kernel.set_links(vec![newlink("Ethernet0", 10, iff::UP, 9100)]);
    kernel.push_overrun();
    sw.settle();
    assert_eq!(kernel.dumps().len(), 2);
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("down", "up", "9100"));
    assert!(sw.state_db("Ethernet4").is_none(), "vanished while notifications were lost");
    assert_eq!((sw.driver.counters().redumps, sw.driver.counters().vanished), (1, 1));
}

/// The netlink socket fails (not an overrun): the daemon goes on, opens it
/// again (after two failed attempts), and reconciles: what changed while
/// notifications were lost reaches STATE_DB.
#[test]
fn a_failed_netlink_socket_is_opened_again_and_state_db_catches_up() {
    let (_db, kernel, mut sw) = two_ports_up();
    kernel.fail_reopens(2);
    kernel.push_failure();
    // Lost with the socket: Ethernet0 deleted, Ethernet4 down.
    kernel.push(newlink("Ethernet4", 11, iff::UP, 9100));
    kernel.set_links(vec![newlink("Ethernet4", 11, iff::UP, 9100)]);
    sw.settle();
    let c = sw.driver.counters();
    assert!(c.netlink_failures >= 1 && c.netlink_reopens == 0, "the source failed");
    assert!(sw.exit.is_none(), "the run goes on");
    assert_eq!(sw.state_db("Ethernet4").unwrap(), state("up", "up", "9100"), "nothing known yet");
    sw.advance(Duration::from_secs(10));
    assert_eq!(sw.driver.counters().netlink_reopens, 1, "open again");
    assert_eq!(kernel.reopens(), 1);
    assert_eq!(sw.state_db("Ethernet4").unwrap(), state("down", "up", "9100"));
    assert!(sw.state_db("Ethernet0").is_none(), "gone while notifications were lost");
    let c = sw.driver.counters();
    assert_eq!((c.netlink_failures, c.netlink_reopens, c.reconciliations), (3, 1, 1));
    assert_eq!(sw.terminate(), Ok(()));
}

#[test]
fn writes_kept_through_an_outage_land_when_the_database_is_back() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let mut sw = Switch::start(&db, &kernel, &MemorySnapshots::new(), config());
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    db.disconnect();
    // What a dump finds from now on (APPL_DB cannot be asked about the
    // batch, so the driver dumps again later).
    kernel.set_links(vec![newlink("Ethernet0", 10, iff::UP, 9100)]);
    sw.kernel_says(newlink("Ethernet0", 10, iff::UP, 9100));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"), "not yet");
    sw.advance(Duration::from_secs(3));
    db.reconnect();
    sw.advance(Duration::from_secs(1));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("down", "up", "9100"));
}

/// Fault 2 of the driver issue: a write the database refuses (OOM) is kept
/// and written again once it accepts writes, from the latest state.
#[test]
fn writes_refused_are_written_again_once_accepted() {
    let (_db, _kernel, mut sw) = two_ports_up();
    // Redis out of memory (`maxmemory 1`): every write is refused, reads work.
    sw.faults.refuse_writes();
    sw.kernel_says(newlink("Ethernet0", 10, iff::UP, 9100));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"), "refused");
    assert_eq!(sw.driver.refused_writes(), 1);
    sw.advance(Duration::from_secs(3));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"), "still refused");
    assert_eq!(sw.driver.refused_writes(), 1, "kept, however often retried");
    sw.faults.accept_writes();
    sw.advance(Duration::from_secs(5));
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("down", "up", "9100"), "written again");
    assert_eq!(sw.driver.refused_writes(), 0);
}

/// Fault 1 of the driver issue: periodic work (snapshot saves, the LOGGER
/// poll, backend maintenance) goes on while a port flaps faster than the tick.
#[test]
fn periodic_work_goes_on_under_continuous_events() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let snapshots = MemorySnapshots::new();
    let mut sw = Switch::start(&db, &kernel, &snapshots, config());
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    let saves = snapshots.saves();
    for i in 0..32 {
        if i == 4 {
            db.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "INFO")]);
        }
        let flags = if i % 2 == 0 { iff::UP } else { UP_RUNNING };
        sw.kernel_says(newlink("Ethernet0", 10, flags, 9100));
        sw.advance(Duration::from_millis(250));
    }
    assert_eq!(sw.driver.level(), Level::Info, "the LOGLEVEL change was applied");
    assert!(snapshots.saves() >= saves + 6, "{} snapshot saves in 8 s", snapshots.saves() - saves);
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"));
}

/// Fault 1 again, through the daemon's own loop (`ferry::run`, as `main`
/// runs it): a port flapping every 250 ms for 8 s while the LOGGER changes.
/// The loop wakes for a datagram every time; the timers still fire.
#[test]
fn the_real_loop_does_periodic_work_under_continuous_events() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let snapshots = MemorySnapshots::new();
    let clock = TestClock::default();
    let mut parts = parts(&db, &kernel, &snapshots, &Told::default(), 1);
    let mut driver = Box::new(DefaultDriver::new(clock.now(), config()));
    let scenario = async {
        // Let the start-up happen, then the host interface appear.
        smol::future::yield_now().await;
        kernel.push(newlink("Ethernet0", 10, UP_RUNNING, 9100));
        for i in 0..32u64 {
            for _ in 0..4 {
                smol::future::yield_now().await;
            }
            if i == 4 {
                db.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "DEBUG")]);
            }
            // Time passes and a datagram is waiting whenever the loop looks:
            // it always wakes for the datagram first.
            clock.set(Instant::from_millis((i + 1) * 250));
            let flags = if i % 2 == 0 { iff::UP } else { UP_RUNNING };
            kernel.push(newlink("Ethernet0", 10, flags, 9100));
        }
        for _ in 0..8 {
            smol::future::yield_now().await;
        }
    };
    let result =
        smol::block_on(ferry::run(&mut driver, &mut parts, &clock, ferry::TerminateOn::new(scenario)));
    assert_eq!(result, Ok(()));
    assert_eq!(driver.level(), Level::Debug, "the LOGLEVEL change was applied while the port flapped");
    assert!(snapshots.saves() >= 6, "{} snapshot saves in 8 s of flapping", snapshots.saves());
    assert!(driver.counters().datagrams >= 30, "{:?}", driver.counters());
}

/// A port published after the last snapshot save (the daemon crashed within
/// the save interval) and deleted while the daemon was down: the warm start
/// reads STATE_DB for it too, and deletes it at the end of the dump.
#[test]
fn warm_start_deletes_a_port_the_snapshot_missed_that_vanished_while_down() {
    let db = warm_db(&["Ethernet0", "Ethernet4", "Ethernet8"]);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    for p in ["Ethernet0", "Ethernet4", "Ethernet8"] {
        db.hset(
            Db::State,
            &format!("PORT_TABLE|{p}"),
            &[("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "up"), ("mtu", "9100")],
        );
    }
    let snapshots = MemorySnapshots::new();
    snapshots.set_bytes(postcard::to_allocvec(&snapshot_of(&[("Ethernet0", up)])).unwrap());
    let kernel = LinkScript::new();
    // Ethernet4 vanished; Ethernet8 is as STATE_DB has it.
    kernel.set_links(vec![
        newlink("Ethernet0", 5, UP_RUNNING, 9100),
        newlink("Ethernet8", 9, UP_RUNNING, 9100),
    ]);
    let sw = Switch::start(&db, &kernel, &snapshots, config());
    assert!(sw.state_db("Ethernet4").is_none(), "vanished while down: deleted");
    let c = sw.driver.engine().counters();
    assert_eq!((c.state_sets, c.suppressed, c.vanished), (0, 2, 1), "{c:?}");
    assert_eq!(sw.state_db("Ethernet8").unwrap(), state("up", "up", "9100"));
}

/// SIGHUP (issue 10): CONFIG_DB's LOGLEVEL is read again at once, not at the
/// next LOGGER poll (5 s), and new settings re-arm the timers at once (here
/// the snapshot is saved 100 ms after a change instead of 1 s).
#[test]
fn a_reload_reads_the_log_level_at_once_and_applies_new_timer_settings() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let snapshots = MemorySnapshots::new();
    let mut sw = Switch::start(&db, &kernel, &snapshots, config());
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    sw.advance(Duration::from_millis(1500));
    assert_eq!(sw.driver.level(), Level::Notice);
    db.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "INFO")]);
    let now = sw.now();
    sw.driver.reconfigure(now, DriverConfig { snapshot_interval: Duration::from_millis(100), ..config() });
    let _ = sw.driver.handle(now, Input::Signal(Signal::Reload));
    sw.settle();
    assert_eq!(sw.driver.level(), Level::Info, "read at the reload, {} ms after the start", now.as_millis());
    // The last save was at 1 s: more than 100 ms ago, so a change is saved at once…
    let saves = snapshots.saves();
    sw.kernel_says(newlink("Ethernet0", 10, iff::UP, 9100));
    assert_eq!(snapshots.saves(), saves + 1);
    // … and the next one 100 ms after that save (not 1 s).
    sw.kernel_says(newlink("Ethernet0", 10, UP_RUNNING, 9100));
    sw.advance(Duration::from_millis(99));
    assert_eq!(snapshots.saves(), saves + 1);
    sw.advance(Duration::from_millis(1));
    assert_eq!(snapshots.saves(), saves + 2, "saved 100 ms after the last save");
    assert_eq!(sw.state_db("Ethernet0").unwrap(), state("up", "up", "9100"));
}

/// The loop's signals, sent by the test.
struct TestSignals(smol::channel::Receiver<Signalled>);

impl Signals for TestSignals {
    async fn next(&mut self) -> Signalled {
        match self.0.recv().await {
            Ok(signal) => signal,
            Err(_) => std::future::pending().await,
        }
    }
}

/// The same through the daemon's own loop (`ferry::run`): SIGHUP with a bad
/// settings file (no new settings) still reads LOGLEVEL at once; one with
/// new settings applies them; the loop goes on serving link changes, and
/// stops on SIGTERM. The clock never reaches the 5 s LOGGER poll.
#[test]
fn the_real_loop_hands_reloads_to_the_driver() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let snapshots = MemorySnapshots::new();
    let clock = TestClock::default();
    let mut parts = parts(&db, &kernel, &snapshots, &Told::default(), 1);
    let mut driver = Box::new(DefaultDriver::new(clock.now(), config()));
    let (tx, rx) = smol::channel::unbounded();
    let levels = std::cell::RefCell::new(Vec::new());
    let settle = || async {
        for _ in 0..8 {
            smol::future::yield_now().await;
        }
    };
    let scenario = async {
        settle().await;
        kernel.push(newlink("Ethernet0", 10, UP_RUNNING, 9100));
        settle().await;
        db.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "INFO")]);
        tx.send(Signalled::Reload(None)).await.unwrap();
        settle().await;
        levels.borrow_mut().push(portsyncd::logging::level());
        db.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL", "DEBUG")]);
        let faster = DriverConfig { snapshot_interval: Duration::from_millis(10), ..config() };
        tx.send(Signalled::Reload(Some(Box::new((faster, Default::default()))))).await.unwrap();
        settle().await;
        levels.borrow_mut().push(portsyncd::logging::level());
        let saves = snapshots.saves();
        kernel.push(newlink("Ethernet0", 10, iff::UP, 9100));
        settle().await;
        clock.set(Instant::from_millis(10));
        settle().await;
        assert_eq!(snapshots.saves(), saves + 1, "saved 10 ms after the change");
        tx.send(Signalled::Terminate).await.unwrap();
    };
    let (result, ()) = smol::block_on(smol::future::zip(
        ferry::run(&mut driver, &mut parts, &clock, TestSignals(rx)),
        scenario,
    ));
    assert_eq!(result, Ok(()));
    assert_eq!(*levels.borrow(), [Level::Info, Level::Debug]);
    assert_eq!(driver.level(), Level::Debug);
    assert!(clock.now() < Instant::from_millis(5000));
    let published: Vec<_> = db.hash(Db::State, "PORT_TABLE|Ethernet0").unwrap().into_iter().collect();
    assert_eq!(published, state("down", "up", "9100"));
}

/// Liveness through the daemon's own loop: READY once synced, Alive every
/// interval while the loop goes on — none while a database write hangs (a
/// stuck loop must get killed by the supervisor's watchdog), again once it
/// is answered — the slow request said in the status line, STOPPING on
/// SIGTERM. The scenario and the loop run as two tasks, so that the
/// scenario goes on while the loop is stuck.
#[test]
fn the_loop_is_called_alive_only_while_it_makes_progress() {
    let db = seeded(&["Ethernet0"]);
    db.consume_produced_at_once();
    let kernel = LinkScript::new();
    let clock = TestClock::default();
    let told = Told::default();
    let mut parts = parts(&db, &kernel, &MemorySnapshots::new(), &told, 1);
    let faults = parts.db.handle();
    let settings = DriverConfig {
        liveness_interval: Some(Duration::from_millis(500)),
        health: portsyncd_core::health::HealthThresholds {
            stall_after: Duration::from_secs(2),
            ..Default::default()
        },
        ..config()
    };
    let mut driver = Box::new(DefaultDriver::new(clock.now(), settings));
    let alive = |told: &Told| told.0.borrow().iter().filter(|n| **n == Notify::Alive).count();
    let (tx, rx) = smol::channel::unbounded();
    let ex = smol::LocalExecutor::new();
    let scenario = ex.spawn(async {
        let settle = || async {
            for _ in 0..8 {
                smol::future::yield_now().await;
            }
        };
        settle().await;
        kernel.push(newlink("Ethernet0", 10, UP_RUNNING, 9100));
        // Two seconds of a healthy loop: an Alive every 500 ms.
        for ms in (100..=2000).step_by(100) {
            clock.set(Instant::from_millis(ms));
            settle().await;
        }
        let healthy = alive(&told);
        assert!((3..=5).contains(&healthy), "{healthy} Alive in 2 s at 500 ms: {:?}", told.0.borrow());
        assert!(matches!(told.0.borrow().first(), Some(Notify::Ready(_))), "{:?}", told.0.borrow());
        // A write that is never answered: the loop is stuck in it.
        faults.hang_writes();
        kernel.push(newlink("Ethernet0", 10, iff::UP, 9100));
        for ms in (2100..=5000).step_by(100) {
            clock.set(Instant::from_millis(ms));
            settle().await;
        }
        assert_eq!(alive(&told), healthy, "Alive said by a stuck loop: {:?}", told.0.borrow());
        // Answered (after 3 s): alive again.
        faults.answer_writes();
        for ms in (5100..=6000).step_by(100) {
            clock.set(Instant::from_millis(ms));
            settle().await;
        }
        assert!(alive(&told) > healthy, "{:?}", told.0.borrow());
        tx.send(Signalled::Terminate).await.unwrap();
    });
    // Both as tasks: the executor takes turns between them.
    let ferry = ex.spawn(ferry::run(&mut driver, &mut parts, &clock, TestSignals(rx)));
    let result = smol::block_on(ex.run(async {
        scenario.await;
        ferry.await
    }));
    assert_eq!(result, Ok(()));
    let told = told.0.borrow();
    assert!(
        told.iter().any(|n| matches!(n, Notify::Status(s) if s.to_string().contains("health unhealthy (a database request took 3"))),
        "{told:?}"
    );
    assert_eq!(told.last(), Some(&Notify::Stopping));
    assert_eq!(db.hash(Db::State, "PORT_TABLE|Ethernet0").unwrap()["netdev_oper_status"], "down");
    // The histograms saw the three decided writes (the ports produced after
    // the dump, the first link change, the hung one): two at once, one
    // about 3 s after its notification.
    drop(ex);
    let m = driver.metrics();
    assert_eq!(m.write_batch_ops.count(), 3, "{m:?}");
    let within_1s = m.event_to_write_ms.cumulative().find(|(bound, _)| *bound == 1_000).map(|(_, n)| n);
    assert_eq!((within_1s, m.event_to_write_ms.count()), (Some(2), 3), "{m:?}");
    assert!(m.event_to_write_ms.sum() >= 2_900, "{m:?}");
}

/// `n` partitioned instances over one database, each with its own kernel
/// view (the same links), as `[instance]` would start them.
fn instances(
    db: &MockDatabases,
    shares: &[(u8, u8, portsyncd_core::partition::Share)],
) -> Vec<(Switch, LinkScript)> {
    shares
        .iter()
        .map(|&(id, count, share)| {
            let kernel = LinkScript::new();
            let partition = portsyncd_core::partition::Partition::new(id, count, share).unwrap();
            let config = DriverConfig { partition, run_token: 4242, ..config() };
            (Switch::start(db, &kernel, &MemorySnapshots::new(), config), kernel)
        })
        .collect()
}

/// Time passes for every instance alike, in steps.
fn advance_all(all: &mut [(Switch, LinkScript)], total: Duration) {
    let step = Duration::from_millis(250);
    let mut passed = Duration::ZERO;
    while passed < total {
        for (sw, _) in all.iter_mut() {
            sw.advance(step);
        }
        passed += step;
    }
}

/// Four instances, `even` over 8 ports: the leader alone produces the
/// configuration (PortConfigDone counting all 8) and, once every instance
/// has said its ports are there, PortInitDone, once; each instance
/// publishes only its own ports and takes no other's link.
#[test]
fn partitioned_instances_each_keep_to_their_ports_and_port_init_done_waits_for_all() {
    use portsyncd_core::partition::Share;
    let ports = [
        "Ethernet0",
        "Ethernet4",
        "Ethernet8",
        "Ethernet12",
        "Ethernet16",
        "Ethernet20",
        "Ethernet24",
        "Ethernet28",
    ];
    let db = seeded(&ports);
    db.consume_produced_at_once();
    let mut all =
        instances(&db, &[(0, 4, Share::Even), (1, 4, Share::Even), (2, 4, Share::Even), (3, 4, Share::Even)]);
    assert_eq!(db.hash(Db::Appl, "PORT_TABLE:PortConfigDone").unwrap()["count"], "8");
    assert_eq!(all[0].0.driver.counters().appl_produces, 9, "8 ports and PortConfigDone, by the leader");
    assert!(all[1..].iter().all(|(sw, _)| sw.driver.counters().appl_produces == 0));
    // Every host interface but Ethernet28's (index 7: instance 3's).
    for (i, port) in ports.iter().enumerate().take(7) {
        for (sw, kernel) in all.iter_mut() {
            kernel.push(newlink(port, 10 + i as u32, UP_RUNNING, 9100));
            sw.settle();
        }
    }
    advance_all(&mut all, Duration::from_secs(12));
    assert!(!all[0].0.produced("PortInitDone"), "instance 3 still awaits Ethernet28");
    for (sw, kernel) in all.iter_mut() {
        kernel.push(newlink("Ethernet28", 17, UP_RUNNING, 9100));
        sw.settle();
    }
    advance_all(&mut all, Duration::from_secs(12));
    assert!(all[0].0.produced("PortInitDone"));
    assert_eq!(all[0].0.driver.counters().appl_produces, 10, "PortInitDone once, by the leader");
    for (id, (sw, _)) in all.iter().enumerate() {
        // Index i is instance i % 4's: two ports each, written by it alone.
        assert_eq!(sw.driver.engine().counters().state_sets, 2, "instance {id}");
        let published: Vec<&str> = sw.driver.engine().published().map(|(n, _)| n.as_str()).collect();
        assert_eq!(published, [ports[id], ports[id + 4]], "instance {id}");
        assert_eq!(
            sw.driver.engine().counters().ignored
                [portsyncd_core::filter::IgnoreReason::OtherInstance.index()],
            6
        );
        assert!(sw.driver.milestones().port_init_done.is_some(), "instance {id}");
    }
    for port in ports {
        assert_eq!(db.hash(Db::State, &format!("PORT_TABLE|{port}")).unwrap()["netdev_oper_status"], "up");
    }
    // A link that is no port (a veth peer) concerns no instance.
    for (sw, kernel) in all.iter_mut() {
        kernel.push(newlink("v0", 99, UP_RUNNING, 9100));
        sw.settle();
    }
    advance_all(&mut all, Duration::from_secs(2));
    // Other instances' links, and links that are no port, no longer wake an
    // instance: its link source drops their notifications (a socket filter
    // in the kernel).
    for (id, (_, kernel)) in all.iter().enumerate() {
        let mut denied = kernel.denied();
        denied.sort();
        let mut others: Vec<u32> = (0..8u32).filter(|i| i % 4 != id as u32).map(|i| 10 + i).collect();
        others.push(99);
        assert_eq!(denied, others, "instance {id}");
    }
    for (i, port) in ports.iter().enumerate() {
        for (sw, kernel) in all.iter_mut() {
            kernel.push(newlink(port, 10 + i as u32, iff::UP, 9100));
            kernel.push(newlink("v0", 99, iff::UP, 9100));
            sw.settle();
        }
    }
    for (id, (sw, _)) in all.iter().enumerate() {
        let ignored = sw.driver.engine().counters().ignored
            [portsyncd_core::filter::IgnoreReason::OtherInstance.index()];
        assert_eq!(ignored, 6, "instance {id}: other instances' notifications reached it");
        assert_eq!(sw.driver.engine().counters().state_sets, 4, "instance {id}: its own two, written again");
    }
    // The coordination keys: every instance's, ready for the leader's run.
    assert_eq!(db.hash(Db::State, "PORTSYNCD_INSTANCE|0").unwrap()["token"], "4242");
    for id in 1..4 {
        let key = db.hash(Db::State, &format!("PORTSYNCD_INSTANCE|{id}")).unwrap();
        assert_eq!((key["count"].as_str(), key["ports"].as_str(), key["ready"].as_str()), ("4", "2", "4242"));
    }
}

/// Shares that overlap (and so leave a port to none) are found by the
/// leader: one ERROR line, and PortInitDone is withheld.
#[test]
fn overlapping_shares_withhold_port_init_done() {
    use portsyncd_core::partition::Share;
    let ports = ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"];
    let db = seeded(&ports);
    db.consume_produced_at_once();
    // Both own indexes 1 and 2; index 3 is nobody's.
    let mut all = instances(
        &db,
        &[(0, 2, Share::Range { first: 0, last: 2 }), (1, 2, Share::Range { first: 1, last: 2 })],
    );
    for (i, port) in ports.iter().enumerate() {
        for (sw, kernel) in all.iter_mut() {
            kernel.push(newlink(port, 10 + i as u32, UP_RUNNING, 9100));
            sw.settle();
        }
    }
    advance_all(&mut all, Duration::from_secs(12));
    assert!(!all[0].0.produced("PortInitDone"));
    assert!(!all[0].0.driver.engine().is_init_done());
    assert_eq!(
        all[0].0.driver.partition_mismatch(),
        Some(portsyncd_core::driver::Mismatch::Ports { owned: 5, configured: 4 })
    );
    assert_eq!(all[0].0.driver.health().0, portsyncd_core::health::HealthState::Unhealthy);
    assert!(db.hash(Db::State, "PORT_TABLE|Ethernet12").is_none(), "nobody's port");
}

/// Followers ready before there is a leader (APPL_DB still holds the ports
/// an earlier leader produced) ask for its token as often as the leader
/// polls: PortInitDone follows the leader's own port within a second, not a
/// follower's slower refresh.
#[test]
fn followers_ready_before_the_leader_are_heard_at_once() {
    use portsyncd_core::partition::Share;
    let ports = ["Ethernet0", "Ethernet4"];
    let db = seeded(&ports);
    db.consume_produced_at_once();
    for port in ports {
        db.hset(Db::Appl, &format!("PORT_TABLE:{port}"), &[("mtu", "9100")]);
    }
    let mut followers = instances(&db, &[(1, 2, Share::Even)]);
    for (sw, kernel) in followers.iter_mut() {
        kernel.push(newlink("Ethernet4", 11, UP_RUNNING, 9100));
        sw.settle();
    }
    advance_all(&mut followers, Duration::from_secs(10));
    assert!(followers[0].0.driver.engine().is_init_done(), "the follower has its port");
    // The leader starts late; its port comes.
    let mut all = instances(&db, &[(0, 2, Share::Even)]);
    all.append(&mut followers);
    for (sw, kernel) in all.iter_mut() {
        kernel.push(newlink("Ethernet0", 10, UP_RUNNING, 9100));
        sw.settle();
    }
    advance_all(&mut all, Duration::from_millis(1500));
    assert!(all[0].0.produced("PortInitDone"), "PortInitDone within 1.5 s of the leader's port");
}
