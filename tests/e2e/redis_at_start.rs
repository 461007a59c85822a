//! Redis not there when the daemon starts (SONiC: swss before the database
//! container is up; under supervisord an exit of portsyncd, a critical
//! process, restarts the whole swss container). The daemon waits, with
//! backoff, telling systemd why (STATUS, EXTEND_TIMEOUT_USEC), syncs the
//! ports once Redis comes; SIGTERM ends the wait; `[redis] connect_wait_ms`
//! bounds it, and then it exits 1 with one line.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;

use crate::harness::*;

/// The daemon with `NOTIFY_SOCKET` at `notify`, its stderr in `log`;
/// killed if the test ends first.
struct Waiting {
    child: Child,
    log: std::path::PathBuf,
}

impl Waiting {
    fn start(sw: &Switch, db_config: &Path, notify: &Path) -> Self {
        let log = sw.dir.join(format!("wait-{}.log", std::process::id()));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &sw.ns.name, &portsyncd_bin()])
            .arg("--db-config")
            .arg(db_config)
            .arg("--config")
            .arg(&sw.conf)
            .arg("--state-dir")
            .arg(sw.state_dir())
            .env("NOTIFY_SOCKET", notify)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Self { child: cmd.spawn().expect("portsyncd"), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify_socket(sw: &Switch) -> (UnixDatagram, std::path::PathBuf) {
    let path = sw.dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_nonblocking(true).unwrap();
    (socket, path)
}

#[test]
fn it_waits_for_redis_and_syncs_once_it_comes() {
    let mut sw = Switch::new(2);
    sw.raw.server().shutdown_saving();
    let (notify, notify_path) = notify_socket(&sw);
    let mut d = Waiting::start(&sw, &sw.db_config.clone(), &notify_path);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.child.try_wait().unwrap().is_none(), "exited without Redis: {}", d.log());
    let log = d.log();
    assert!(log.contains("waiting for Redis at unix:"), "{log}");
    let told = notifications(&notify);
    assert!(
        told.iter().any(|l| l.starts_with("STATUS=waiting for Redis at unix:") && l.contains("degraded")),
        "{told:?}"
    );
    assert!(told.iter().any(|l| l.starts_with("EXTEND_TIMEOUT_USEC=")), "{told:?}");
    assert!(!told.iter().any(|l| l == "READY=1"), "{told:?}");

    sw.raw.server().start_again();
    sw.raw.reconnect_all();
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    for i in 0..2 {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    assert!(wait_until(T, || notifications(&notify).iter().any(|l| l == "READY=1")));
    assert!(d.log().contains("Redis reachable after"), "{}", d.log());
    assert!(Command::new("kill").args(["-TERM", &d.child.id().to_string()]).status().unwrap().success());
    assert_eq!(d.wait_exit(T).expect("stops").code(), Some(0), "{}", d.log());
}

#[test]
fn sigterm_ends_the_wait() {
    let mut sw = Switch::new(1);
    sw.raw.server().shutdown_saving();
    let (_notify, notify_path) = notify_socket(&sw);
    let mut d = Waiting::start(&sw, &sw.db_config.clone(), &notify_path);
    assert!(wait_until(T, || d.log().contains("waiting for Redis")), "{}", d.log());
    let t = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &d.child.id().to_string()]).status().unwrap().success());
    assert_eq!(d.wait_exit(T).expect("stops").code(), Some(0), "{}", d.log());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn connect_wait_ms_bounds_the_wait() {
    let mut sw = Switch::new(1);
    sw.raw.server().shutdown_saving();
    std::fs::write(&sw.conf, "[log]\noutput = \"STDERR\"\n[redis]\nconnect_wait_ms = 700\n").unwrap();
    let (_notify, notify_path) = notify_socket(&sw);
    let t = Instant::now();
    let mut d = Waiting::start(&sw, &sw.db_config.clone(), &notify_path);
    assert_eq!(d.wait_exit(T).expect("exits").code(), Some(1), "{}", d.log());
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(700) && took < Duration::from_secs(4), "{took:?}");
    let last = d.log().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("portsyncd: Redis not reachable within 700 ms ([redis] connect_wait_ms): cannot connect to CONFIG_DB at unix:"),
        "{}",
        d.log()
    );
    // Nothing was written (it never connected); CONFIG_DB as seeded.
    sw.raw.server().start_again();
    sw.raw.reconnect_all();
    for db in [Db::Appl, Db::State] {
        let keys = smol::block_on(portsyncd_contract::RawView::keys(&mut sw.raw, db));
        assert!(keys.is_empty(), "{db}: {keys:?}");
    }
}
