//! The driver's call protocol: what it asks, and in which order. An answer
//! it did not ask for, or of the wrong kind, is no longer a typed error at
//! run time: each request is answered through itself, so such an answer
//! does not compile (the `compile_fail` doc test in `driver/request.rs`).

use core::time::Duration;

use portsyncd_core::Instant;
use portsyncd_core::backend::{BackendStatus, Db};
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{
    DefaultDriver, DriverConfig, Input, Io, Notify, Read, ReadRequest, Receive, Replies, Reply, Signal,
    Taken, WriteRequest, WriteResult,
};
use portsyncd_core::netlink::emit_done;
use portsyncd_core::writes::WriteOp;

struct Empty;
impl Facts for Empty {}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The answer to a read that finds nothing.
const NOTHING: [Reply<'static>; 0] = [];

/// A read's answer held in a `Vec`.
struct Parts<'a>(Vec<Reply<'a>>);

impl Replies for Parts<'_> {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        self.0.as_slice().each(part);
    }
}

/// `io` must be a read.
fn expect_read<'d>(io: Option<Io<'d, 1024, 1024>>) -> ReadRequest<'d, 1024, 1024> {
    match io {
        Some(Io::Read(read)) => read,
        other => panic!("not a read: {other:?}"),
    }
}

/// `io` must be a write.
fn expect_write<'d>(io: Option<Io<'d, 1024, 1024>>) -> WriteRequest<'d, 1024, 1024> {
    match io {
        Some(Io::Write(write)) => write,
        other => panic!("not a write: {other:?}"),
    }
}

/// A request every virtual-clock loop below answers the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Routine {
    Maintain,
    Read,
    Write,
    Save,
    /// The driver would read the link source: nothing else to do.
    Receive,
    /// Not routine: nothing is answered (a notification, say).
    Other,
}

/// Answers a routine request at `now` as a world whose databases say
/// `status` (reads find nothing, writes are done); which it was.
fn routine<const P: usize, const B: usize>(io: Io<'_, P, B>, now: Instant, status: BackendStatus) -> Routine {
    match io {
        Io::Maintain(maintain) => {
            maintain.answer(now, status);
            Routine::Maintain
        }
        Io::Read(read) => {
            read.answer(now, &NOTHING);
            Routine::Read
        }
        Io::Write(write) => {
            write.answer(now, WriteResult::Done, &[]);
            Routine::Write
        }
        Io::SaveSnapshot(save) => {
            save.answer(now, Ok(1));
            Routine::Save
        }
        Io::Receive(_) => Routine::Receive,
        _ => Routine::Other,
    }
}

/// Answers routine requests at `now` until the driver has nothing else to
/// do but read the link source (or nothing at all); whether it asked for
/// maintenance.
fn routines(d: &mut DefaultDriver, now: Instant, status: BackendStatus) -> bool {
    let mut maintained = false;
    while let Some(io) = d.poll_io() {
        match routine(io, now, status) {
            Routine::Receive => break,
            Routine::Maintain => maintained = true,
            _ => {}
        }
    }
    maintained
}

/// The end of our first dump (sequence 1, as the canned world numbers it).
fn dump_done() -> [u8; 20] {
    let mut done = [0u8; 20];
    emit_done(&mut done, 1).unwrap();
    done
}

/// Start-up answered by `facts` at `start`, then the dump's end at `end`
/// and whatever follows answered: the initial sync is over.
fn synced(d: &mut DefaultDriver, facts: &mut impl Facts, start: u64, end: u64) {
    assert!(canned::answer_all(d, at(start), facts).is_none());
    assert_eq!(d.handle(at(end), Input::Datagram(&dump_done())), Taken::All);
    let _ = d.handle(at(end), Input::QueueEmpty);
    assert!(canned::answer_all(d, at(end), facts).is_none());
}

#[test]
fn start_up_asks_in_sonics_order() {
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    assert_eq!(d.handle(at(0), Input::Datagram(&[0; 20])), Taken::Part(0), "no input during start-up");
    let read = expect_read(d.poll_io());
    assert_eq!(read.read(), Read::Hash { db: Db::Config, table: "LOGGER", key: "portsyncd" });
    read.answer(at(0), &NOTHING);
    assert!(matches!(d.poll_io(), Some(Io::SetLogOutput(_))));
    // Every read that can refuse the run comes before the first write.
    let read = expect_read(d.poll_io());
    assert!(matches!(read.read(), Read::Field { table: "DEVICE_METADATA", .. }));
    read.answer(at(0), &NOTHING);
    for key in ["system", "swss"] {
        let read = expect_read(d.poll_io());
        assert!(
            matches!(read.read(), Read::Field { table: "WARM_RESTART_ENABLE_TABLE", key: k, .. } if k == key)
        );
        read.answer(at(0), &NOTHING);
    }
    let read = expect_read(d.poll_io());
    assert_eq!(read.read(), Read::Keys { db: Db::Config, table: "PORT" });
    read.answer(at(0), &NOTHING);
    // Both LOGGER fields were missing: their defaults are written in one HSET, as SONiC does.
    let write = expect_write(d.poll_io());
    assert_eq!(write.ops(), [WriteOp::LoggerDefaults { level: true, output: true }]);
    write.answer(at(0), WriteResult::Done, &[]);
    let write = expect_write(d.poll_io());
    assert_eq!(write.ops(), [WriteOp::RestoreCount { count: 0 }]);
    write.answer(at(0), WriteResult::Done, &[]);
    // No ports, cold: no fields to read, no snapshot to load; the dump.
    while d.poll_event().is_some() {}
    match d.poll_io() {
        Some(Io::RequestDump(dump)) => dump.answer(at(0), Some(7)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.poll_io(), Some(Io::Receive(Receive::Wait))), "it takes input");
}

#[test]
fn a_start_up_write_refused_ends_the_run_before_anything_else() {
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    loop {
        match d.poll_io() {
            Some(Io::Write(write)) => {
                write.answer(at(0), WriteResult::Refused, &[]);
                break;
            }
            Some(Io::Read(read)) => read.answer(at(0), &NOTHING),
            Some(_) => {}
            None => panic!("stalled"),
        }
    }
    assert!(matches!(d.poll_io(), Some(Io::Exit(Err(_)))));
    assert!(d.poll_io().is_none(), "nothing after the exit");
    assert!(d.poll_io().is_none());
}

/// CONFIG_DB holds more port keys than the build has room for: the run is
/// refused, naming both numbers, before anything is written.
#[test]
fn more_ports_than_the_capacity_refuse_the_run_before_any_write() {
    let capacity = portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    let keys: Vec<String> = (0..capacity + 3).map(|i| format!("Ethernet{}", i * 4)).collect();
    loop {
        match d.poll_io() {
            Some(Io::Read(read)) if matches!(read.read(), Read::Keys { .. }) => {
                read.answer(at(0), &Parts(keys.iter().map(|k| Reply::Key(k.as_bytes())).collect()));
            }
            Some(Io::Read(read)) => read.answer(at(0), &NOTHING),
            Some(Io::Write(write)) => panic!("wrote {:?}", write.ops()),
            Some(Io::Exit(result)) => {
                let e = result.unwrap_err().to_string();
                assert!(
                    e.starts_with(&format!(
                        "CONFIG_DB holds {} PORT keys but this build has room for {capacity} ports",
                        capacity + 3
                    )),
                    "{e}"
                );
                break;
            }
            Some(_) => {}
            None => panic!("stalled"),
        }
    }
    assert!(d.poll_io().is_none(), "nothing after the exit");
}

#[test]
fn shutdown_says_stopping_flushes_within_its_deadline_saves_and_exits() {
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut Empty, 0, 10);
    assert!(d.milestones().port_init_done.is_some(), "no ports: PortInitDone after the dump");
    let _ = d.handle(at(20), Input::Signal(Signal::Terminate));
    while d.poll_event().is_some() {}
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Stopping))));
    match d.poll_io() {
        Some(Io::Maintain(maintain)) => {
            assert_eq!(maintain.deadline(), Some(at(20).saturating_add(Duration::from_millis(500))));
            maintain.answer(at(30), BackendStatus::Degraded { pending: 3 });
        }
        other => panic!("{other:?}"),
    }
    // Health went to degraded: the status line says so.
    match d.poll_io() {
        Some(Io::Notify(Notify::Status(status))) => {
            assert!(
                status.to_string().contains("health degraded (databases unreachable, 3 keys' writes kept)")
            )
        }
        other => panic!("{other:?}"),
    }
    match d.poll_io() {
        Some(Io::SaveSnapshot(save)) => save.answer(at(30), Ok(10)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.poll_io(), Some(Io::Exit(Ok(())))));
    assert!(d.poll_io().is_none(), "nothing after the exit");
}

/// A database server that restarted (it lost its data) while running ends
/// the run through the stop sequence, with the failure the supervisor sees.
#[test]
fn a_restarted_database_ends_the_run_with_a_failure() {
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut Empty, 0, 10);
    // The next maintenance hears of the restart.
    d.handle_timeout(at(1000));
    match d.poll_io() {
        Some(Io::Maintain(maintain)) => {
            assert_eq!(maintain.deadline(), None);
            maintain.answer(at(1000), BackendStatus::Restarted);
        }
        other => panic!("{other:?}"),
    }
    let mut said = Vec::new();
    while let Some(e) = d.poll_event() {
        said.push(e.to_string());
    }
    assert!(said.iter().any(|l| l.contains("restarted (new run id)")), "{said:?}");
    assert!(
        said.iter().any(|l| l == "health: healthy => unhealthy (a database server restarted)"),
        "{said:?}"
    );
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Status(_)))));
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Stopping))));
    match d.poll_io() {
        Some(Io::Maintain(maintain)) => {
            assert!(maintain.deadline().is_some());
            maintain.answer(at(1001), BackendStatus::Restarted);
        }
        other => panic!("{other:?}"),
    }
    match d.poll_io() {
        Some(Io::SaveSnapshot(save)) => save.answer(at(1002), Ok(10)),
        other => panic!("{other:?}"),
    }
    match d.poll_io() {
        Some(Io::Exit(Err(failure))) => assert!(failure.to_string().contains("restarted"), "{failure}"),
        other => panic!("{other:?}"),
    }
    assert!(d.poll_io().is_none(), "nothing after the exit");

    // Stopping on SIGTERM when the flush finds the server restarted: the
    // stop goes on, and ends with the failure.
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut Empty, 0, 10);
    let _ = d.handle(at(20), Input::Signal(Signal::Terminate));
    while d.poll_event().is_some() {}
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Stopping))));
    match d.poll_io() {
        Some(Io::Maintain(maintain)) => maintain.answer(at(30), BackendStatus::Restarted),
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Status(_)))));
    match d.poll_io() {
        Some(Io::SaveSnapshot(save)) => save.answer(at(30), Ok(10)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.poll_io(), Some(Io::Exit(Err(_)))));
}

/// A configured port whose CONFIG_DB hash has no fields when they are read
/// (gone since KEYS, or not a hash) is dropped: neither produced nor
/// counted, so that orchagent does not wait for it.
#[test]
fn a_config_port_without_fields_is_neither_produced_nor_counted() {
    use portsyncd_core::driver::Keep;
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    let mut written = Vec::new();
    let mut said = Vec::new();
    let mut dumped = false;
    for _ in 0..100 {
        while let Some(e) = d.poll_event() {
            said.push(e.to_string());
        }
        match d.poll_io() {
            Some(Io::Read(read)) => match read.read() {
                Read::Keys { .. } => {
                    read.answer(at(0), &[Reply::Key(b"Ethernet0"), Reply::Key(b"Ethernet4")])
                }
                Read::Hashes { keep: Keep::ConfigPortFields, keys, .. } => {
                    let empty = keys.iter().position(|k| k.as_str() == "Ethernet0").unwrap();
                    let flags = [0, 1].map(|index| Reply::Flag { index, present: index != empty });
                    read.answer(at(0), &flags);
                }
                _ => read.answer(at(0), &NOTHING),
            },
            Some(Io::Write(write)) => {
                written.extend_from_slice(write.ops());
                write.answer(at(0), WriteResult::Done, &[]);
            }
            Some(Io::RequestDump(dump)) => {
                dump.answer(at(0), Some(1));
                dumped = true;
            }
            Some(Io::Receive(_)) if dumped => {
                assert_eq!(d.handle(at(10), Input::Datagram(&dump_done())), Taken::All);
                let _ = d.handle(at(10), Input::QueueEmpty);
                dumped = false;
            }
            Some(Io::Receive(_)) | None => break,
            Some(_) => {}
        }
    }
    let produced: Vec<_> = written.iter().filter_map(WriteOp::config_port).map(|n| n.as_str()).collect();
    assert_eq!(produced, ["Ethernet4"]);
    assert!(written.contains(&WriteOp::PortConfigDone { count: 1 }), "{written:?}");
    assert!(said.iter().any(|l| l.contains("PORT|Ethernet0 has no fields")), "{said:?}");
}

/// What is too large to read — a port's fields, a PORT key, LOGGER,
/// switch_type — is taken as absent, said once each and counted: the other
/// port is produced and counted, and the LOGGER poll that finds the same
/// hash too large again says nothing more.
#[test]
fn what_is_too_large_to_read_is_taken_as_absent_said_once_and_counted() {
    use portsyncd_core::backend::TooLarge;
    use portsyncd_core::driver::Keep;
    let size = TooLarge { bytes: 65 << 20, limit: 64 << 20 };
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    let mut written = Vec::new();
    let mut said = Vec::new();
    let mut dumped = false;
    let mut logger_reads = 0;
    let mut run = |d: &mut DefaultDriver, now: u64, said: &mut Vec<String>| {
        for _ in 0..100 {
            while let Some(e) = d.poll_event() {
                said.push(e.to_string());
            }
            match d.poll_io() {
                Some(Io::Read(read)) => match read.read() {
                    Read::Keys { .. } => read.answer(
                        at(now),
                        &[
                            Reply::Key(b"Ethernet0"),
                            Reply::TooLarge { index: 0, size },
                            Reply::Key(b"Ethernet4"),
                        ],
                    ),
                    Read::Hashes { keep: Keep::ConfigPortFields, keys, .. } => {
                        let big = keys.iter().position(|k| k.as_str() == "Ethernet0").unwrap();
                        let parts = [0, 1].map(|index| match index == big {
                            true => Reply::TooLarge { index, size },
                            false => Reply::Flag { index, present: true },
                        });
                        read.answer(at(now), &parts);
                    }
                    Read::Hash { .. } | Read::Field { table: "DEVICE_METADATA", .. } => {
                        logger_reads += usize::from(matches!(read.read(), Read::Hash { .. }));
                        read.answer(at(now), &[Reply::TooLarge { index: 0, size }])
                    }
                    _ => read.answer(at(now), &NOTHING),
                },
                Some(Io::Write(write)) => {
                    written.extend_from_slice(write.ops());
                    write.answer(at(now), WriteResult::Done, &[]);
                }
                Some(Io::RequestDump(dump)) => {
                    dump.answer(at(now), Some(1));
                    dumped = true;
                }
                Some(Io::Receive(_)) if dumped => {
                    assert_eq!(d.handle(at(now), Input::Datagram(&dump_done())), Taken::All);
                    let _ = d.handle(at(now), Input::QueueEmpty);
                    dumped = false;
                }
                Some(Io::Maintain(maintain)) => maintain.answer(at(now), BackendStatus::Connected),
                Some(Io::SaveSnapshot(save)) => save.answer(at(now), Ok(10)),
                Some(Io::Receive(_)) | None => break,
                Some(_) => {}
            }
        }
    };
    run(&mut d, 0, &mut said);
    // Two LOGGER polls meet the same hash again.
    for now in [6_000, 12_000] {
        d.handle_timeout(at(now));
        run(&mut d, now, &mut said);
    }
    assert_eq!(logger_reads, 3, "the start's read and two polls");
    let produced: Vec<_> = written.iter().filter_map(WriteOp::config_port).map(|n| n.as_str()).collect();
    assert_eq!(produced, ["Ethernet4"]);
    assert!(written.contains(&WriteOp::PortConfigDone { count: 1 }), "{written:?}");
    let too_large: Vec<&String> =
        said.iter().filter(|l| l.contains("more than the 64.0 MiB a read takes")).collect();
    assert_eq!(
        too_large,
        [
            "CONFIG_DB LOGGER|portsyncd: its fields are 65.0 MiB, more than the 64.0 MiB a read takes; LOGLEVEL \
             and LOGOUTPUT not read",
            "CONFIG_DB DEVICE_METADATA|localhost switch_type is 65.0 MiB, more than the 64.0 MiB a read takes; \
             taken as a switch",
            "CONFIG_DB PORT: a key of 65.0 MiB, more than the 64.0 MiB a read takes; skipped",
            "CONFIG_DB PORT|Ethernet0: its fields are 65.0 MiB, more than the 64.0 MiB a read takes; skipped, \
             and not counted",
        ],
        "{said:?}"
    );
    assert_eq!(d.counters().too_large, 4);
}

/// Liveness as the daemon builds the driver (`Driver::BLANK`, then
/// `configure`): Alive every interval from any input or answer, and, until
/// ready, room to start asked for with each.
#[test]
fn alive_every_interval_from_inputs_and_extend_timeout_until_ready() {
    let mut d: Box<DefaultDriver> = Box::new(DefaultDriver::BLANK);
    let settings =
        DriverConfig { liveness_interval: Some(Duration::from_millis(100)), ..DriverConfig::default() };
    d.configure(at(0), settings).unwrap();
    // Start-up answers arrive late: the first one past the interval says alive.
    expect_read(d.poll_io()).answer(at(150), &NOTHING);
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Alive))));
    match d.poll_io() {
        Some(Io::Notify(Notify::ExtendTimeout(more))) => assert_eq!(more, Duration::from_millis(300)),
        other => panic!("{other:?}"),
    }
    synced(&mut d, &mut Empty, 160, 170);
    // Ready: Alive at the next deadline, without ExtendTimeout.
    assert_eq!(d.poll_timeout(), Some(at(250)));
    d.handle_timeout(at(250));
    assert!(matches!(d.poll_io(), Some(Io::Notify(Notify::Alive))));
    assert!(matches!(d.poll_io(), Some(Io::Receive(Receive::Wait))), "nothing else to do");
}

/// Every deadline handed out is ahead of the driver's time, whatever has
/// been crossed: databases away past the unhealthy threshold, PortInitDone
/// never reached (a deadline in the past would make the loop spin).
#[test]
fn no_deadline_is_ever_in_the_past() {
    struct OnePort;
    impl Facts for OnePort {
        fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
            key(b"Ethernet0");
        }
    }
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut OnePort, 0, 10);
    assert!(d.milestones().port_init_done.is_none(), "Ethernet0 never comes");
    let mut now = at(10);
    let mut degraded_once = false;
    while now < at(400_000) {
        now = d.poll_timeout().expect("a deadline");
        d.handle_timeout(now);
        degraded_once |= routines(&mut d, now, BackendStatus::Degraded { pending: 1 });
        while d.poll_event().is_some() {}
        assert!(d.poll_timeout().is_some_and(|t| t > now), "deadline {:?} at {now:?}", d.poll_timeout());
    }
    assert!(degraded_once);
    assert_eq!(d.health().0, portsyncd_core::health::HealthState::Unhealthy);
}

/// The shipped alert rules on the driver's virtual clock: the databases
/// away for 100 s (RedisUnreachable fires after its 30 s, resolves when
/// they are back; health goes unhealthy and Unhealthy fires), and a port
/// that never comes (PortInitDoneLate after 300 s); every deadline stays
/// ahead of now with the rules evaluated.
#[test]
fn shipped_alert_rules_fire_and_resolve_on_the_virtual_clock() {
    use portsyncd_core::alerts::{AlertSettings, AlertState, NoticeKind};
    use portsyncd_core::driver::default_rules;
    use portsyncd_core::event::Event;

    struct OnePort;
    impl Facts for OnePort {
        fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
            key(b"Ethernet0");
        }
    }
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut OnePort, 0, 10);
    d.set_alert_rules(at(10), AlertSettings::default(), &default_rules()).unwrap();
    let mut lines = Vec::new();
    let mut now = at(10);
    while now < at(320_000) {
        now = d.poll_timeout().expect("a deadline");
        d.handle_timeout(now);
        let away = now < at(100_000);
        let status = if away { BackendStatus::Degraded { pending: 1 } } else { BackendStatus::Connected };
        routines(&mut d, now, status);
        while let Some(event) = d.poll_event() {
            if let Event::Alert(line) = event {
                lines.push((now.as_millis(), line));
            }
        }
        assert!(d.poll_timeout().is_some_and(|t| t > now), "deadline {:?} at {now:?}", d.poll_timeout());
    }
    let when = |name: &str, kind: NoticeKind| {
        lines.iter().find(|(_, l)| l.name.bytes() == name.as_bytes() && l.kind == kind).map(|(t, _)| *t)
    };
    // Degraded from the first maintenance (1 s) on: firing 30 s later.
    let fired = when("RedisUnreachable", NoticeKind::Firing).expect("RedisUnreachable fired");
    assert!((31_000..=32_000).contains(&fired), "fired at {fired} ms");
    let resolved = when("RedisUnreachable", NoticeKind::Resolved).expect("resolved");
    assert!((100_000..=102_000).contains(&resolved), "resolved at {resolved} ms");
    assert!(when("Unhealthy", NoticeKind::Firing).is_some(), "{lines:?}");
    assert!(when("Unhealthy", NoticeKind::Resolved).is_some_and(|t| t >= 100_000));
    let late = when("PortInitDoneLate", NoticeKind::Firing).expect("PortInitDoneLate fired");
    assert!((300_000..=301_000).contains(&late), "fired at {late} ms");
    assert_eq!(when("PortInitDoneLate", NoticeKind::StillFiring), None, "repeats after 5 minutes only");
    let line = lines.iter().find(|(t, _)| *t == late).unwrap().1;
    assert_eq!(line.to_string(), "alert PortInitDoneLate firing (MAJOR): value 0, active for 300 s");
    let states: Vec<(&str, AlertState)> = d.alerts().map(|a| (a.name, a.state)).collect();
    assert!(states.contains(&("PortInitDoneLate", AlertState::Firing)), "{states:?}");
    assert!(states.contains(&("RedisUnreachable", AlertState::Inactive)), "{states:?}");
    assert_eq!(when("NetlinkOverruns", NoticeKind::Firing), None);
}

/// `[alerts] state_db`: rows for the rules are cleared at start, a firing
/// rule's row is written (after a refusal, not before the next
/// maintenance), and deleted when it resolves; nothing of it without the
/// setting.
#[test]
fn alarm_rows_follow_the_alerts_when_asked_for() {
    use portsyncd_core::alerts::{AlertSettings, Condition, Rule, RuleName, Severity};
    use portsyncd_core::driver::{AlarmRow, Watched};

    let rule = Rule {
        name: RuleName::try_from("Overruns").unwrap(),
        metric: Watched::NetlinkOverruns,
        condition: Condition::RateOfChange { over: Duration::from_secs(2), by: 0.0 },
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        severity: Severity::Major,
    };
    for asked in [false, true] {
        let config = DriverConfig { alarm_table: asked, ..DriverConfig::default() };
        let mut d = Box::new(DefaultDriver::new(at(0), config));
        synced(&mut d, &mut Empty, 0, 10);
        d.set_alert_rules(at(10), AlertSettings::default(), core::slice::from_ref(&rule)).unwrap();
        let mut rows: Vec<(u64, AlarmRow)> = Vec::new();
        let mut refuse_next = asked;
        let mut now = at(10);
        while now < at(8_000) {
            if now == at(3_000) {
                let _ = d.handle(now, Input::Overrun);
                let _ = d.handle(now, Input::QueueEmpty);
            }
            while let Some(io) = d.poll_io() {
                match io {
                    Io::WriteAlarm(alarm) => {
                        let row = alarm.row().clone();
                        // The first raise is refused once.
                        let refused = row.raise && core::mem::take(&mut refuse_next);
                        if !refused {
                            rows.push((now.as_millis(), row));
                        }
                        let result = if refused { WriteResult::Refused } else { WriteResult::Done };
                        alarm.answer(now, result);
                    }
                    Io::RequestDump(dump) => dump.answer(now, Some(2)),
                    other => {
                        if routine(other, now, BackendStatus::Connected) == Routine::Receive {
                            break;
                        }
                    }
                }
            }
            while d.poll_event().is_some() {}
            let next = d.poll_timeout().unwrap();
            now = if now < at(3_000) && next > at(3_000) { at(3_000) } else { next };
            d.handle_timeout(now);
        }
        if !asked {
            assert!(rows.is_empty(), "{rows:?}");
            continue;
        }
        let kinds: Vec<bool> = rows.iter().map(|(_, r)| r.raise).collect();
        assert_eq!(kinds, [false, true, false], "a clear at start, the raise, the clear: {rows:?}");
        assert!(rows[0].0 <= 20, "cleared at start: {rows:?}");
        // Fired at 3 s (the overrun), refused, written after the next maintenance.
        assert!((3_001..=4_100).contains(&rows[1].0), "{rows:?}");
        assert_eq!(rows[1].1.value, Some(1.0));
        // The increase leaves the 2 s window: resolved, the row deleted.
        assert!((5_000..=6_100).contains(&rows[2].0), "{rows:?}");
        let text = rows[1].1.text(1_764_000_000_000_000_000);
        let fields = rows[1].1.fields(&text);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(f, v)| (core::str::from_utf8(f).unwrap(), core::str::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("id", "portsyncd|Overruns"),
                ("type-id", "Overruns"),
                ("resource", "portsyncd"),
                ("severity", "MAJOR"),
                ("text", "portsyncd alert Overruns: value 1"),
                ("time-created", "1764000000000000000"),
                ("action", "RAISE"),
                ("acknowledged", "false"),
            ]
        );
    }
}

/// A netlink socket that fails once the run is going is opened again with
/// growing delays (not the end of the run); meanwhile health is degraded,
/// then unhealthy; once open, the driver reconciles (a dump first).
#[test]
fn a_failed_link_source_is_opened_again_and_a_reconciliation_follows() {
    use portsyncd_core::event::Event;
    use portsyncd_core::health::HealthState;

    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    synced(&mut d, &mut Empty, 0, 10);
    assert!(matches!(d.poll_io(), Some(Io::Receive(Receive::Wait))), "the link source is read");
    let _ = d.handle(at(100), Input::LinksFailed);
    let _ = d.handle(at(100), Input::QueueEmpty);
    // Not read while it is down (the status line says degraded).
    while let Some(io) = d.poll_io() {
        assert!(matches!(io, Io::Notify(_)), "{io:?} while the link source is down");
    }
    let mut said = Vec::new();
    while let Some(e) = d.poll_event() {
        said.push(e);
    }
    assert!(said.contains(&Event::LinksFailed), "{said:?}");
    assert_eq!(d.health().0, HealthState::Degraded);
    // Attempts, each refused, at growing intervals; unhealthy after 30 s.
    let mut attempts = Vec::new();
    let mut now = at(100);
    while now < at(40_000) {
        now = d.poll_timeout().unwrap();
        d.handle_timeout(now);
        while let Some(io) = d.poll_io() {
            match io {
                Io::ReopenLinks(reopen) => {
                    attempts.push(now.as_millis());
                    reopen.answer(now, false);
                }
                Io::RequestDump(_) => panic!("no dump while the source is down"),
                Io::Receive(_) => panic!("no read while the source is down"),
                other => {
                    routine(other, now, BackendStatus::Connected);
                }
            }
        }
        while d.poll_event().is_some() {}
    }
    assert!(attempts.len() >= 8, "{attempts:?}");
    let gaps: Vec<u64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| g <= 5_000), "at most retry_max apart: {gaps:?}");
    assert!(gaps.last() > gaps.first(), "growing: {gaps:?}");
    assert_eq!(d.health().0, HealthState::Unhealthy);
    assert_eq!(d.counters().netlink_failures, 1 + attempts.len() as u64);
    // Open again: said, counted, healthy again, and the reconciliation's dump.
    'reopen: loop {
        now = d.poll_timeout().unwrap();
        d.handle_timeout(now);
        while let Some(io) = d.poll_io() {
            match io {
                Io::ReopenLinks(reopen) => {
                    reopen.answer(now, true);
                    break 'reopen;
                }
                other => {
                    routine(other, now, BackendStatus::Connected);
                }
            }
        }
    }
    let mut said = Vec::new();
    while let Some(e) = d.poll_event() {
        said.push(e);
    }
    assert!(
        said.iter().any(|e| matches!(e, Event::LinksReopened { after_ms } if *after_ms >= 39_000)),
        "{said:?}"
    );
    let mut dumped = false;
    while let Some(io) = d.poll_io() {
        match io {
            Io::RequestDump(dump) => {
                dump.answer(now, Some(2));
                dumped = true;
                break;
            }
            Io::Notify(_) => {}
            other => panic!("{other:?} before the reconciliation's dump"),
        }
    }
    assert!(dumped);
    // Up again: the link source is read.
    let mut read = None;
    while let Some(io) = d.poll_io() {
        match io {
            Io::Receive(receive) => {
                read = Some(receive);
                break;
            }
            Io::Notify(_) => {}
            other => panic!("{other:?} before the link source is read"),
        }
    }
    assert_eq!(read, Some(Receive::Wait));
    assert_eq!(d.counters().netlink_reopens, 1);
    assert_eq!(d.counters().reconciliations, 1);
    assert_eq!(d.health().0, HealthState::Healthy);
}
