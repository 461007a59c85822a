//! Syslog that survives its server: the daemon's `/dev/log` (in a mount
//! namespace of its own) is a symlink to a socket of the test's; the
//! listener goes away and a new one binds the same path, as rsyslogd does
//! when SONiC restarts it; the next line reaches the new one.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

fn listener(path: &Path) -> UnixDatagram {
    let _ = std::fs::remove_file(path);
    let socket = UnixDatagram::bind(path).unwrap();
    socket.set_read_timeout(Some(T)).unwrap();
    socket
}

/// The datagrams `syslog` receives until one contains `want` (or none comes
/// for [`T`]).
fn until(syslog: &UnixDatagram, want: &str) -> Vec<String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut said = Vec::new();
    while let Ok(n) = syslog.recv(&mut buf) {
        said.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if said.last().is_some_and(|l| l.contains(want)) {
            break;
        }
    }
    said
}

fn hup(sw: &mut Switch) {
    let pid = sw.daemon().pid_for_signals();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
}

#[test]
fn a_restarted_syslog_listener_gets_the_next_line_and_long_lines_are_cut() {
    let mut sw = Switch::new(1);
    std::fs::write(&sw.conf, "[netlink]\ndump_timeout_ms = 3000\n").unwrap();
    smol::block_on(sw.raw.hset(
        Db::Config,
        "LOGGER|portsyncd",
        &[("LOGLEVEL", "NOTICE"), ("LOGOUTPUT", "SYSLOG")],
    ));
    let dir = sw.dir.join("syslogd");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("log");
    let first = listener(&path);
    // /dev/log a symlink, not a bind mount: a new socket at the path is
    // what the daemon finds when it connects again.
    let mount =
        format!("mount -t tmpfs none /dev && ln -s {} /dev/log && exec \"$0\" \"$@\"", path.display());
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let metrics = sw.dir.join("metrics.sock");
    let mut args = sw.daemon_args();
    args.extend(["--metrics-addr".to_owned(), format!("unix:{}", metrics.display())]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount.as_str()];
    sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), &wrapper, &args));
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    let said = until(&first, "PortInitDone");
    assert!(said.last().is_some_and(|l| l.contains("PortInitDone")), "{said:?}\n{}", sw.log());

    // syslogd restarts: its socket closed and unlinked, a new one bound.
    drop(first);
    std::thread::sleep(Duration::from_millis(100));
    let second = listener(&path);
    hup(&mut sw);
    let said = until(&second, "SIGHUP");
    let line = said.last().cloned().unwrap_or_default();
    assert!(line.starts_with("<29>portsyncd[") && line.contains("SIGHUP"), "{said:?}\n{}", sw.log());
    assert!(!sw.log().contains("SIGHUP"), "a line went to stderr\n{}", sw.log());
    let to_stderr = || {
        let text = crate::metrics::scrape(&metrics, "text/plain");
        text.lines()
            .find_map(|l| l.strip_prefix("portsyncd_log_lines_to_stderr_total "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(to_stderr(), Some(0.0), "no line went to stderr across the restart");

    // A 5,000-byte settings key: its ERROR line is cut at 2 KiB of text.
    let key = "k".repeat(5000);
    std::fs::write(&sw.conf, format!("[netlink]\ndump_timeout_ms = 3000\n{key} = 1\n")).unwrap();
    hup(&mut sw);
    let said = until(&second, "SIGHUP");
    let line = said.last().cloned().unwrap_or_default();
    let text = line.split_once("]: ").map_or("", |(_, t)| t);
    assert!(line.starts_with("<27>portsyncd[") && text.ends_with("…[cut]"), "{said:?}");
    assert_eq!(text.len(), 2048, "{line}");

    // syslogd gone for good: lines go to stderr, in the stderr format.
    drop(second);
    let _ = std::fs::remove_file(&path);
    hup(&mut sw);
    assert!(
        wait_until(T, || sw.log().lines().any(|l| l.starts_with("portsyncd ERROR SIGHUP:"))),
        "{}",
        sw.log()
    );
    assert!(sw.log().lines().any(|l| l.starts_with("portsyncd WARN syslog /dev/log:")), "{}", sw.log());
    // ... and counted (the lines so far: the SIGHUP line at least).
    assert!(to_stderr().is_some_and(|n| n >= 1.0), "{:?}", to_stderr());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}
