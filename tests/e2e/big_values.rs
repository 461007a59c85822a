//! CONFIG_DB values of any size: what the server holds is read whatever its
//! size, produced byte for byte, and what is beyond the read limit (64 MiB a
//! hash, a value or a key) is skipped with one warning each, never an exit
//! (issue 21).

use std::time::Duration;

use portsyncd_core::backend::Db;

use crate::harness::*;

/// A MiB.
const MIB: usize = 1 << 20;

/// `len` bytes that differ from port to port and are not all text.
fn blob(seed: usize, len: usize) -> Vec<u8> {
    let pattern: Vec<u8> =
        format!("port {seed} \u{e9}\u{2603} ").into_bytes().into_iter().chain([0xff, 0]).collect();
    pattern.iter().copied().cycle().take(len).collect()
}

fn hset(sw: &mut Switch, db: Db, key: &[u8], fields: &[(&[u8], &[u8])]) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for (f, v) in fields {
        cmd.arg(*f).arg(*v);
    }
    let () = cmd.query(sw.raw.conn(db)).expect("HSET");
}

fn hgetall(sw: &mut Switch, db: Db, key: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut got: Vec<(Vec<u8>, Vec<u8>)> =
        redis::cmd("HGETALL").arg(key).query(sw.raw.conn(db)).expect("HGETALL");
    got.sort();
    got
}

/// Waits for PortConfigDone to be produced (no consumer pops it: it stays
/// in the staging hash).
fn wait_port_config_done(sw: &mut Switch) {
    let done = wait_until(Duration::from_secs(60), || {
        sw.exists(Db::Appl, "_PORT_TABLE:PortConfigDone")
            || sw.daemon.as_mut().is_some_and(|d| d.wait_exit(Duration::from_millis(1)).is_some())
    });
    assert!(done && sw.exists(Db::Appl, "_PORT_TABLE:PortConfigDone"), "no PortConfigDone\n{}", sw.log());
}

/// 72 ports with a 1 MiB description each (72 MiB of replies to the start's
/// one pipeline of HGETALLs), and one with 40 MiB: every port is produced
/// to APPL_DB byte for byte, PortConfigDone counts them all, and the daemon
/// runs on and stops cleanly.
#[test]
fn ports_with_values_of_many_mib_are_produced_whole() {
    let ports = 73;
    let mut sw = Switch::new(ports);
    for i in 0..ports {
        let len = if i == ports - 1 { 40 * MIB } else { MIB };
        let key = format!("PORT|{}", name(i));
        hset(&mut sw, Db::Config, key.as_bytes(), &[(b"description", &blob(i, len))]);
    }
    sw.start_daemon();
    wait_port_config_done(&mut sw);
    for i in 0..ports {
        let config = hgetall(&mut sw, Db::Config, &format!("PORT|{}", name(i)));
        let produced = hgetall(&mut sw, Db::Appl, &format!("_PORT_TABLE:{}", name(i)));
        assert!(produced == config, "{}: not produced byte for byte\n{}", name(i), sw.log());
    }
    assert_eq!(
        hgetall(&mut sw, Db::Appl, "_PORT_TABLE:PortConfigDone"),
        [(b"count".to_vec(), ports.to_string().into_bytes())]
    );
    assert!(!sw.log().contains("WARN"), "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}

/// Beyond the read limit — a port's fields, a PORT key, LOGGER|portsyncd,
/// switch_type — each is skipped with one warning naming it and counted; the
/// other ports are produced and counted, and the daemon runs on, through
/// LOGGER polls that meet the same hash again.
#[test]
fn what_is_too_large_to_read_is_skipped_with_one_warning_each() {
    let mut sw = Switch::new(3);
    let huge = blob(4, 65 * MIB);
    hset(&mut sw, Db::Config, b"PORT|Ethernet4", &[(b"description", &huge)]);
    let mut key = b"PORT|Ethernet".to_vec();
    key.extend_from_slice(&huge);
    hset(&mut sw, Db::Config, &key, &[(b"lanes", b"99")]);
    hset(&mut sw, Db::Config, b"LOGGER|portsyncd", &[(b"LOGLEVEL", b"INFO"), (b"x", &huge)]);
    hset(&mut sw, Db::Config, b"DEVICE_METADATA|localhost", &[(b"switch_type", &huge)]);
    drop(huge);
    drop(key);
    sw.start_daemon();
    wait_port_config_done(&mut sw);
    assert_eq!(
        hgetall(&mut sw, Db::Appl, "_PORT_TABLE:PortConfigDone"),
        [(b"count".to_vec(), b"2".to_vec())]
    );
    for i in [0, 2] {
        let config = hgetall(&mut sw, Db::Config, &format!("PORT|{}", name(i)));
        assert_eq!(hgetall(&mut sw, Db::Appl, &format!("_PORT_TABLE:{}", name(i))), config);
    }
    assert!(!sw.exists(Db::Appl, "_PORT_TABLE:Ethernet4"), "a port too large to read was produced");
    // Two LOGGER polls (every 5 s) meet the same hash again: said once.
    std::thread::sleep(Duration::from_secs(11));
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
    let log = sw.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    let size = "65.0 MiB, more than the 64.0 MiB a read takes";
    for said in [
        format!("CONFIG_DB PORT|Ethernet4: its fields are {size}; skipped, and not counted"),
        format!("CONFIG_DB PORT: a key of {size}; skipped"),
        format!("CONFIG_DB LOGGER|portsyncd: its fields are {size}; LOGLEVEL and LOGOUTPUT not read"),
        format!("CONFIG_DB DEVICE_METADATA|localhost switch_type is {size}; taken as a switch"),
    ] {
        assert_eq!(warnings.iter().filter(|l| l.ends_with(&said)).count(), 1, "{said:?} once\n{log}");
    }
    assert_eq!(warnings.len(), 4, "{log}");
    assert!(log.contains(", too large to read 4"), "not counted\n{log}");
}
