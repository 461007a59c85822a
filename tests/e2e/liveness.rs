//! Liveness as a supervisor sees it: systemd's notification socket (a path,
//! or an abstract name, bound by the test inside the daemon's network
//! namespace, where abstract names live) with a watchdog, and supervisord's
//! heartbeat on stdout. A stopped process (SIGSTOP: a loop that does not
//! run) says nothing; it says it is alive again once it runs.

use std::io::{BufRead as _, BufReader};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A datagram socket bound in `ns` (a thread enters the namespace to make it).
fn bind_in(ns: &Netns, addr: &SocketAddr) -> UnixDatagram {
    in_netns(&ns.name, || UnixDatagram::bind_addr(addr).expect("bind"))
}

/// The daemon, killed if the test ends first (a failed assertion must not
/// leave it running after its Redis and namespace are gone).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn spawn(sw: &Switch, env: &[(&str, &str)], stdout: Stdio) -> Running {
    let state = sw.state_dir();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &sw.ns.name, &crate::harness::portsyncd_bin()])
        .args(["--db-config", sw.db_config.to_str().unwrap(), "--config", sw.conf.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .env_remove("NOTIFY_SOCKET")
        .stdout(stdout)
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Running(cmd.spawn().unwrap())
}

fn signal(child: &Child, name: &str) {
    assert!(
        Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap().success()
    );
}

/// Everything received within `d`.
fn received(socket: &UnixDatagram, d: Duration) -> Vec<String> {
    let end = Instant::now() + d;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

fn watchdog_run(sw: &Switch, socket: UnixDatagram, notify_socket: &str) {
    // WATCHDOG_USEC 400 ms: WATCHDOG=1 every 200 ms.
    let mut child =
        spawn(sw, &[("NOTIFY_SOCKET", notify_socket), ("WATCHDOG_USEC", "400000")], Stdio::null());
    socket.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 1024];
    let ready = loop {
        let n = socket.recv(&mut buf).expect("READY");
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        if got.contains("READY=1") {
            break got;
        }
    };
    assert!(ready.contains("STATUS=initial sync done; 1 ports await their host interface"), "{ready}");
    assert!(ready.contains("health healthy (all well)"), "{ready}");
    let running = received(&socket, Duration::from_millis(1500));
    let pings = running.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    assert!((4..=10).contains(&pings), "{pings} pings in 1.5 s at 200 ms: {running:?}");
    // A loop that does not run says nothing (systemd would kill it).
    signal(&child, "STOP");
    let _ = received(&socket, Duration::from_millis(100));
    let stopped = received(&socket, Duration::from_millis(1000));
    assert!(stopped.is_empty(), "said while stopped: {stopped:?}");
    signal(&child, "CONT");
    let again = received(&socket, Duration::from_millis(800));
    assert!(again.iter().any(|m| m.trim() == "WATCHDOG=1"), "{again:?}");
    signal(&child, "TERM");
    let last = received(&socket, Duration::from_secs(2));
    assert!(last.iter().any(|m| m.trim() == "STOPPING=1"), "{last:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn systemd_watchdog_over_a_path_socket() {
    let sw = Switch::new(1);
    let path = sw.dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    watchdog_run(&sw, socket, path.to_str().unwrap());
}

#[test]
fn systemd_watchdog_over_an_abstract_socket() {
    let sw = Switch::new(1);
    let name = format!("portsyncd-test-notify-{}", sw.ns.name);
    let socket = bind_in(&sw.ns, &SocketAddr::from_abstract_name(name.as_bytes()).unwrap());
    watchdog_run(&sw, socket, &format!("@{name}"));
}

/// The heartbeat asked for in the settings, outside supervisord (one per
/// line): printed at the interval asked, not while the process is stopped.
/// (Under the real supervisord: supervisord.rs.)
#[test]
fn supervisord_heartbeat_on_stdout() {
    let sw = Switch::new(1);
    std::fs::write(&sw.conf, "[log]\noutput = \"STDERR\"\n[liveness]\nsupervisor_heartbeat_ms = 200\n")
        .unwrap();
    let mut child = spawn(&sw, &[], Stdio::piped());
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let lines = |d: Duration| {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok((_, line)) => got.push(line),
                Err(_) => break,
            }
        }
        got
    };
    let beat = "<!--XSUPERVISOR:BEGIN-->heartbeat<!--XSUPERVISOR:END-->";
    let first = lines(Duration::from_millis(1600));
    let beats = first.iter().filter(|l| *l == beat).count();
    assert!((4..=9).contains(&beats), "{beats} heartbeats in 1.6 s at 200 ms: {first:?}");
    signal(&child, "STOP");
    let _ = lines(Duration::from_millis(100));
    let stopped = lines(Duration::from_millis(1000));
    assert!(stopped.is_empty(), "printed while stopped: {stopped:?}");
    signal(&child, "CONT");
    assert!(lines(Duration::from_millis(800)).iter().any(|l| l == beat));
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}
