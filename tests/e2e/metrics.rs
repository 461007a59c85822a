//! The metrics endpoint of the real daemon: what it exports agrees with
//! what Redis saw (a MONITOR of the server), the text passes `promtool check
//! metrics` in both formats, a configured alert rule fires and shows in the
//! gauges, and a stalled or bad client gets a bounded answer.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;

use crate::harness::*;

/// One HTTP exchange over the endpoint's unix socket.
fn http(socket: &Path, request: &str) -> String {
    let mut s = UnixStream::connect(socket).expect("metrics socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

pub fn scrape(socket: &Path, accept: &str) -> String {
    let reply = http(socket, &format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"));
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.to_owned()
}

/// The value of the sample `series` (name with labels, as written).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn promtool(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; tests/run-all.sh installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_agree_with_what_redis_saw_and_an_alert_fires() {
    let mut sw = Switch::new(4);
    let sock = sw.dir.join("metrics.sock");
    std::fs::write(
        &sw.conf,
        "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n\
         [alerts]\ninterval_ms = 200\nstate_db = true\n\
         [[alerts.rule]]\nname = \"Flapping\"\nmetric = \"portsyncd_port_flaps_max_per_minute\"\n\
         above = 4\nseverity = \"MINOR\"\n",
    )
    .unwrap();
    let monitor = Monitor::start(sw.raw.socket());
    sw.start_with(&["--metrics-addr", &format!("unix:{}", sock.display())]);
    let key = "PORT_TABLE|Ethernet0";
    sw.expect_hash(Db::State, key, &state("down", "down", "1500"), T);
    // Seven oper changes of Ethernet0, each seen in STATE_DB before the next.
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    for _ in 0..3 {
        sw.ns.ip(&["link", "set", "v0", "down"]);
        sw.expect_hash(Db::State, key, &state("down", "up", "1500"), T);
        sw.ns.ip(&["link", "set", "v0", "up"]);
        sw.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    }
    sw.ns.ip(&["link", "set", "Ethernet4", "mtu", "9100"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("down", "down", "9100"), T);
    // A port deleted: its STATE_DB entry goes.
    sw.ns.ip(&["link", "del", "Ethernet12"]);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet12", T);

    // The snapshot is published once a second: wait until two scrapes agree
    // with each other and with the MONITOR.
    let mut text = String::new();
    let agreed = wait_until(T, || {
        text = scrape(&sock, "text/plain");
        value(&text, "portsyncd_state_db_writes_total")
            == Some(monitor.count(6, r#""HSET" "PORT_TABLE|"#) as f64)
            && value(&text, "portsyncd_state_db_deletes_total")
                == Some(monitor.count(6, r#""DEL" "PORT_TABLE|"#) as f64)
            && value(&text, "portsyncd_appl_db_produces_total")
                == Some(monitor.count(0, r#""EVALSHA""#) as f64)
    });
    assert!(
        agreed,
        "metrics and MONITOR disagree: HSET {} DEL {} EVALSHA {}\n{text}\n--- log ---\n{}",
        monitor.count(6, r#""HSET" "PORT_TABLE|"#),
        monitor.count(6, r#""DEL" "PORT_TABLE|"#),
        monitor.count(0, r#""EVALSHA""#),
        sw.log()
    );
    // 4 ports, PortConfigDone, PortInitDone; the deletion was written.
    assert_eq!(value(&text, "portsyncd_appl_db_produces_total"), Some(6.0));
    assert!(value(&text, "portsyncd_state_db_deletes_total").unwrap() >= 1.0);
    let state_keys: Vec<String> =
        redis::cmd("KEYS").arg("PORT_TABLE|*").query(sw.raw.conn(Db::State)).unwrap();
    assert_eq!(value(&text, "portsyncd_published_ports"), Some(state_keys.len() as f64));
    let config_keys: Vec<String> = redis::cmd("KEYS").arg("PORT|*").query(sw.raw.conn(Db::Config)).unwrap();
    assert_eq!(value(&text, "portsyncd_configured_ports"), Some(config_keys.len() as f64));
    assert_eq!(value(&text, r#"portsyncd_port_flaps_total{port="Ethernet0"}"#), Some(7.0), "{text}");
    assert_eq!(value(&text, r#"portsyncd_port_flaps_total{port="Ethernet4"}"#), Some(0.0));
    assert_eq!(value(&text, "portsyncd_port_flaps_max_per_minute"), Some(7.0));
    assert_eq!(value(&text, "portsyncd_port_init_done"), Some(1.0));
    assert!(value(&text, "portsyncd_port_init_done_seconds").is_some_and(|s| s < 30.0));
    assert_eq!(value(&text, "portsyncd_health_state"), Some(0.0));
    assert_eq!(value(&text, "portsyncd_redis_connected"), Some(1.0));
    assert!(value(&text, "portsyncd_redis_round_trips_total").unwrap() > 0.0);
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    // The rule fired: a line at WARN (MINOR), and the gauge.
    let firing = r#"portsyncd_alerts{alertname="Flapping",alertstate="firing",severity="MINOR"}"#;
    assert!(wait_until(T, || value(&scrape(&sock, "text/plain"), firing) == Some(1.0)), "no alert gauge");
    assert!(sw.log().contains("WARN alert Flapping firing (MINOR): value 7"), "{}", sw.log());
    // ... and, asked for, a row in STATE_DB SYSTEM_ALARMS.
    let row = sw.hgetall(Db::State, "SYSTEM_ALARMS|portsyncd|Flapping");
    assert_eq!(row.get("type-id").map(String::as_str), Some("Flapping"), "{row:?}");
    assert_eq!(row.get("severity").map(String::as_str), Some("MINOR"));
    assert_eq!(row.get("action").map(String::as_str), Some("RAISE"));
    assert_eq!(row.get("text").map(String::as_str), Some("portsyncd alert Flapping: value 7"));
    let created: u128 = row["time-created"].parse().unwrap();
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    assert!(created <= now_ns && now_ns - created < 60_000_000_000, "{created} vs {now_ns}");
    // promtool accepts what a Prometheus scrape reads; OpenMetrics is
    // served when asked for (its rules are checked by the unit tests).
    promtool(&scrape(&sock, "text/plain"));
    let om = scrape(&sock, "application/openmetrics-text; version=1.0.0");
    assert!(om.contains("# TYPE portsyncd_state_db_writes counter") && om.ends_with("# EOF\n"), "{om}");
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
    assert!(!sock.exists(), "the socket is removed on exit");
}

#[test]
fn the_endpoint_answers_bad_and_stalled_clients_within_its_limits() {
    let mut sw = Switch::new(1);
    let sock = sw.dir.join("metrics.sock");
    sw.start_with(&["--metrics-addr", &format!("unix:{}", sock.display())]);
    assert!(wait_until(T, || sock.exists()), "{}", sw.log());
    assert!(http(&sock, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(http(&sock, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(http(&sock, "nonsense\r\n\r\n").starts_with("HTTP/1.1 400"));
    let big = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert!(http(&sock, &big).starts_with("HTTP/1.1 431"));
    let head = http(&sock, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
    // A client that connects and says nothing does not hold the endpoint
    // (it is dropped after the head deadline, 2 s): the next one is
    // answered meanwhile.
    let _stalled = UnixStream::connect(&sock).unwrap();
    let asked = Instant::now();
    let body = scrape(&sock, "text/plain");
    assert!(body.contains("portsyncd_build_info"));
    assert!(asked.elapsed() < Duration::from_secs(9), "took {:?}", asked.elapsed());
    // The daemon itself went on meanwhile.
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    sw.ns.ip(&["link", "set", "Ethernet0", "mtu", "9000"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "9000"), T);
    // Without [alerts] state_db, nothing of the alerts is in Redis.
    let alarms: Vec<String> = redis::cmd("KEYS").arg("SYSTEM_ALARMS*").query(sw.raw.conn(Db::State)).unwrap();
    assert!(alarms.is_empty(), "{alarms:?}");
}

#[test]
fn an_endpoint_that_cannot_be_bound_stops_the_start_before_any_write() {
    let mut sw = Switch::new(1);
    let taken = sw.dir.join("taken");
    std::fs::write(&taken, "a regular file").unwrap();
    sw.start_daemon_with(&["--metrics-addr", taken.to_str().unwrap()]);
    let status = sw.daemon().wait_exit(T).expect("exits");
    assert_eq!(status.code(), Some(1));
    let log = sw.log();
    assert!(log.contains("metrics endpoint unix:") && log.contains("exists and is not a socket"), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(!sw.exists(Db::Config, "LOGGER|portsyncd"), "nothing written");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "a regular file");
}
