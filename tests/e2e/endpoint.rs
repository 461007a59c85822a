//! The metrics endpoint against clients that are slow, idle, terse or
//! unusual (issue 22): 64 idle connections do not delay a scrape, a head
//! ending in a bare `\n\n` is answered, `Accept` is negotiated with its
//! q-values, an absolute-form target is served; the unix-socket form takes
//! over only a stale socket, sets its mode and group itself whatever the
//! umask, and a non-root scraper of that group reads it.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;

use crate::harness::*;

/// One exchange; the whole reply, read until the endpoint closes (or
/// `limit` passes: then what came).
fn exchange(socket: &Path, request: &[u8], limit: Duration) -> String {
    let mut s = UnixStream::connect(socket).expect("metrics socket");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The reply's `Content-Type`.
fn content_type(reply: &str) -> &str {
    let head = reply.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_else(|| panic!("no Content-Type in {head:?}"))
}

fn switch_with_endpoint() -> (Switch, PathBuf) {
    let mut sw = Switch::new(1);
    let sock = sw.dir.join("metrics.sock");
    sw.start_with(&["--metrics-addr", &format!("unix:{}", sock.display())]);
    assert!(wait_until(T, || sock.exists()), "{}", sw.log());
    (sw, sock)
}

#[test]
fn sixty_four_idle_connections_do_not_delay_a_scrape() {
    let (mut sw, sock) = switch_with_endpoint();
    let idle: Vec<UnixStream> = (0..64).map(|_| UnixStream::connect(&sock).unwrap()).collect();
    // Two more of them, each having sent half a head.
    let mut half: Vec<UnixStream> = (0..2).map(|_| UnixStream::connect(&sock).unwrap()).collect();
    for s in &mut half {
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    }
    let asked = Instant::now();
    let reply = exchange(&sock, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(1));
    let took = asked.elapsed();
    assert!(reply.starts_with("HTTP/1.1 200 OK") && reply.contains("portsyncd_build_info"), "{reply:?}");
    assert!(took < Duration::from_secs(1), "the scrape took {took:?}");
    // An idle client is dropped after the head deadline (2 s): the
    // connection reads as closed well before the test's own limit.
    let mut first = &idle[0];
    first.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    let n = first.read(&mut buf).unwrap_or(usize::MAX);
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"), "{n}");
    drop((idle, half));
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}

#[test]
fn a_head_ending_in_bare_newlines_and_an_absolute_target_are_answered() {
    let (mut sw, sock) = switch_with_endpoint();
    let limit = Duration::from_secs(1);
    let reply = exchange(&sock, b"GET /metrics HTTP/1.1\nHost: x\n\n", limit);
    assert!(reply.starts_with("HTTP/1.1 200 OK") && reply.contains("portsyncd_build_info"), "{reply:?}");
    let reply =
        exchange(&sock, b"GET http://switch:9101/metrics?x=1 HTTP/1.1\r\nHost: switch\r\n\r\n", limit);
    assert!(reply.starts_with("HTTP/1.1 200 OK") && reply.contains("portsyncd_build_info"), "{reply:?}");
    let reply = exchange(&sock, b"GET http://switch:9101/other HTTP/1.1\r\n\r\n", limit);
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply:?}");
    // Malformed heads: 400, at once.
    for bad in [
        &b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"[..],
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"\x01\x02\r\n\r\n",
    ] {
        let reply = exchange(&sock, bad, limit);
        assert!(reply.starts_with("HTTP/1.1 400"), "{:?}: {reply:?}", String::from_utf8_lossy(bad));
    }
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}

#[test]
fn accept_is_negotiated_with_q_values() {
    let (mut sw, sock) = switch_with_endpoint();
    let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    let text = "text/plain; version=0.0.4; charset=utf-8";
    for (accept, want) in [
        // Refused outright: never OpenMetrics.
        ("application/openmetrics-text;q=0", text),
        ("application/openmetrics-text; q=0.0, text/plain; q=0.5", text),
        ("application/openmetrics-text;version=1.0.0;q=0, */*", text),
        // The best q wins, whatever the order.
        ("text/plain;q=0.2, application/openmetrics-text;q=0.9", om),
        ("application/openmetrics-text;q=0.3, text/plain;version=0.0.4;q=0.8", text),
        // What Prometheus 2.42 sends.
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            om,
        ),
        // A version we do not write does not match.
        ("application/openmetrics-text;version=0.0.1, text/plain;q=0.1", text),
        ("*/*", text),
        ("APPLICATION/OpenMetrics-Text", om),
    ] {
        let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n");
        let reply = exchange(&sock, request.as_bytes(), Duration::from_secs(5));
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{accept}: {reply:?}");
        assert_eq!(content_type(&reply), want, "Accept: {accept}");
        assert_eq!(reply.ends_with("# EOF\n"), want == om, "{accept}");
    }
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}

/// A directory every user can traverse, of this test's own (a test's temp
/// dir is 0700: a scraper that is not root could not reach the socket).
struct OpenDir(PathBuf);

impl OpenDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "psd-endpoint-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self(path)
    }
}

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_live_socket_is_refused_and_a_stale_one_replaced() {
    let mut sw = Switch::new(1);
    let sock = sw.dir.join("metrics.sock");
    let live = UnixListener::bind(&sock).unwrap();
    sw.start_daemon_with(&["--metrics-addr", &format!("unix:{}", sock.display())]);
    let status = sw.daemon().wait_exit(T).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", sw.log());
    let log = sw.log();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains(&format!("metrics endpoint unix:{}", sock.display())) && log.contains("in use"),
        "{log}"
    );
    assert!(!sw.exists(Db::Config, "LOGGER|portsyncd"), "nothing written");
    // The other process's socket is still there, and still its own.
    let _client = UnixStream::connect(&sock).expect("the live socket still answers");
    assert!(live.accept().is_ok());
    // Once nobody listens, the socket is stale: taken over.
    drop(live);
    sw.start_with(&["--metrics-addr", &format!("unix:{}", sock.display())]);
    let ok = wait_until(T, || {
        UnixStream::connect(&sock).is_ok_and(|mut s| {
            s.set_read_timeout(Some(T)).unwrap();
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.starts_with("HTTP/1.1 200")
        })
    });
    assert!(ok, "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}

#[test]
fn the_socket_mode_and_group_are_set_whatever_the_umask_and_a_scraper_of_the_group_reads_it() {
    let mut sw = Switch::new(1);
    let open = OpenDir::new();
    // Its parent does not exist yet: made 0755 (not 0777, whatever the umask).
    let sock = open.0.join("run/portsyncd/metrics.sock");
    let (gid, other_gid) = (54_321 + std::process::id() % 1000, 53_321 + std::process::id() % 1000);
    std::fs::write(
        &sw.conf,
        format!(
            "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n\
             [metrics]\naddr = \"unix:{}\"\nsocket_group = \"{gid}\"\n",
            sock.display()
        ),
    )
    .unwrap();
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let args = sw.daemon_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let wrapper = ["sh", "-c", "umask 000 && exec \"$0\" \"$@\""];
    sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), &wrapper, &args));
    assert!(wait_until(T, || sock.exists()), "{}", sw.log());
    assert_eq!(mode(&sock), 0o660, "the socket's mode");
    assert_eq!(mode(sock.parent().unwrap()), 0o755, "the directory made for it");
    assert_eq!(mode(&open.0.join("run")), 0o755);
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(std::fs::metadata(&sock).unwrap().gid(), gid);
    // A scraper that is not root: in the group, it reads; in no group, it
    // cannot connect.
    let scrape = |gid: u32| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                &format!("--regid={gid}"),
                "--clear-groups",
                "curl",
                "-sS",
                "--max-time",
                "5",
            ])
            .arg("--unix-socket")
            .arg(&sock)
            .arg("http://localhost/metrics")
            .output()
            .expect("setpriv and curl")
    };
    let out = scrape(gid);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && body.contains("portsyncd_build_info"), "{out:?}");
    let out = scrape(other_gid);
    assert!(!out.status.success(), "a scraper outside the group read it: {out:?}");
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
    assert!(!sock.exists());
}
