//! Syslog that survives its server, against the real rsyslogd (Debian's
//! `rsyslog`; tests/run-all.sh installs it): a private one — its own
//! config, socket, work directory and output file in the test's temp dir —
//! run in the foreground as the test's child. The daemon's `/dev/log` (in a
//! mount namespace of its own) is a symlink to that socket. rsyslogd is
//! stopped and started again on the same socket path, as `supervisorctl
//! restart rsyslogd` does in SONiC; the next line the daemon logs reaches
//! the new rsyslogd. Then rsyslogd is stopped for good (lines go to stderr,
//! counted), and started once more (syslog takes lines again and is told
//! how many went to stderr).

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

/// A private rsyslogd in `dir`: it takes lines on `dir/log` (imuxsock,
/// no rate limit) and writes each as `facility.severity tag message` to
/// `dir/out.log`. Killed on drop.
struct Rsyslogd {
    dir: PathBuf,
    child: Option<Child>,
}

impl Rsyslogd {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir(&dir).unwrap();
        let d = dir.display();
        let conf = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Name=\"{d}/log\" SysSock.Unlink=\"on\" \
             SysSock.RateLimit.Interval=\"0\")\n\
             template(name=\"test\" type=\"string\" string=\"%syslogfacility-text%.%syslogseverity-text% \
             %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{d}/out.log\" template=\"test\")\n"
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Self { dir, child: None }
    }

    /// The socket it takes lines on.
    fn socket(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn is_bound(path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
    }

    /// Starts it (`rsyslogd -n`: in the foreground) and waits for its socket.
    fn start(&mut self) {
        assert!(self.child.is_none(), "rsyslogd already running");
        assert!(!Self::is_bound(&self.socket()), "a socket is left at {}", self.socket().display());
        let err = std::fs::File::create(self.dir.join("rsyslogd.err")).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("rsyslogd (tests/run-all.sh installs Debian's rsyslog)");
        self.child = Some(child);
        let socket = self.socket();
        let bound = wait_until(T, || {
            Self::is_bound(&socket)
                || self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
        }) && Self::is_bound(&socket);
        assert!(bound, "rsyslogd did not bind {}: {}", socket.display(), self.stderr());
    }

    /// Stops it with SIGTERM (as supervisord does) and waits for it: it
    /// exits 0 and unlinks its socket.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("rsyslogd running");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = child.wait().unwrap();
        assert!(status.success(), "rsyslogd: {status}: {}", self.stderr());
        assert!(!self.socket().exists(), "rsyslogd left its socket");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.err")).unwrap_or_default()
    }

    /// What it wrote so far.
    fn out(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default()
    }

    /// The lines it wrote from byte `from` of its output on, once one
    /// contains `want` (all of them if none does within [`T`]).
    fn lines_until(&self, from: usize, want: &str) -> Vec<String> {
        let lines =
            || -> Vec<String> { self.out().get(from..).unwrap_or("").lines().map(str::to_owned).collect() };
        wait_until(T, || lines().iter().any(|l| l.contains(want)));
        lines()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hup(sw: &mut Switch) {
    let pid = sw.daemon().pid_for_signals();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
}

#[test]
fn a_restarted_rsyslogd_gets_the_next_line_and_long_lines_are_cut() {
    let mut sw = Switch::new(1);
    std::fs::write(&sw.conf, "[netlink]\ndump_timeout_ms = 3000\n").unwrap();
    smol::block_on(sw.raw.hset(
        Db::Config,
        "LOGGER|portsyncd",
        &[("LOGLEVEL", "NOTICE"), ("LOGOUTPUT", "SYSLOG")],
    ));
    let mut rsyslogd = Rsyslogd::new(sw.dir.join("rsyslogd"));
    rsyslogd.start();
    // /dev/log a symlink, not a bind mount: the new socket rsyslogd binds
    // at the path is what the daemon finds when it connects again.
    let mount = format!(
        "mount -t tmpfs none /dev && ln -s {} /dev/log && exec \"$0\" \"$@\"",
        rsyslogd.socket().display()
    );
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let metrics = sw.dir.join("metrics.sock");
    let mut args = sw.daemon_args();
    args.extend(["--metrics-addr".to_owned(), format!("unix:{}", metrics.display())]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount.as_str()];
    sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), &wrapper, &args));
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "1500"), T);
    // The daemon's own pid (the wrappers exec it): rsyslogd writes it in the tag.
    let tag = format!("portsyncd[{}]: ", sw.daemon().pid_for_signals());
    let said = rsyslogd.lines_until(0, "PortInitDone");
    let line = said.iter().find(|l| l.contains("PortInitDone")).cloned().unwrap_or_default();
    assert!(line.starts_with(&format!("daemon.notice {tag}")), "{said:?}\n{}", sw.log());

    // rsyslogd restarts: SIGTERM, it exits and unlinks its socket; a new
    // process binds the same path.
    let first = rsyslogd.pid();
    rsyslogd.stop();
    let mark = rsyslogd.out().len();
    rsyslogd.start();
    assert_ne!(rsyslogd.pid(), first);
    hup(&mut sw);
    let said = rsyslogd.lines_until(mark, "SIGHUP");
    let line = said.iter().find(|l| l.contains("SIGHUP")).cloned().unwrap_or_default();
    assert!(
        line.starts_with(&format!("daemon.notice {tag}SIGHUP: ")),
        "the line after the restart did not reach the new rsyslogd: {said:?}\n--- portsyncd stderr ---\n{}",
        sw.log()
    );
    assert!(!sw.log().contains("SIGHUP"), "a line went to stderr\n{}", sw.log());
    assert!(!sw.log().contains("syslog /dev/log"), "syslog was taken for gone\n{}", sw.log());
    let to_stderr = || {
        let text = crate::metrics::scrape(&metrics, "text/plain");
        text.lines()
            .find_map(|l| l.strip_prefix("portsyncd_log_lines_to_stderr_total "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(to_stderr(), Some(0.0), "no line went to stderr across the restart");

    // A 5,000-byte settings key: its ERROR line is cut at 2 KiB of text,
    // and rsyslogd takes it whole.
    let key = "k".repeat(5000);
    std::fs::write(&sw.conf, format!("[netlink]\ndump_timeout_ms = 3000\n{key} = 1\n")).unwrap();
    let mark = rsyslogd.out().len();
    hup(&mut sw);
    let said = rsyslogd.lines_until(mark, "SIGHUP");
    let line = said.iter().find(|l| l.contains("SIGHUP")).cloned().unwrap_or_default();
    let text = line.split_once("]: ").map_or("", |(_, t)| t);
    assert!(line.starts_with(&format!("daemon.err {tag}SIGHUP: ")) && text.ends_with("…[cut]"), "{said:?}");
    assert_eq!(text.len(), 2048, "{line}");

    // rsyslogd gone for good (its socket with it): lines go to stderr, in
    // the stderr format.
    rsyslogd.stop();
    hup(&mut sw);
    assert!(
        wait_until(T, || sw.log().lines().any(|l| l.starts_with("portsyncd ERROR SIGHUP:"))),
        "{}",
        sw.log()
    );
    assert!(sw.log().lines().any(|l| l.starts_with("portsyncd WARN syslog /dev/log:")), "{}", sw.log());
    // ... and counted (the lines so far: the SIGHUP line at least).
    let held = to_stderr().unwrap_or_default();
    assert!(held >= 1.0, "{:?}", to_stderr());

    // rsyslogd back (after the daemon's 1 s between tries): the next line
    // reaches it, followed by how many went to stderr meanwhile.
    let mark = rsyslogd.out().len();
    rsyslogd.start();
    std::thread::sleep(portsyncd::logging::RECONNECT_INTERVAL);
    hup(&mut sw);
    let said = rsyslogd.lines_until(mark, "syslog answers again");
    let back =
        format!("daemon.notice {tag}syslog answers again: {held} lines went to stderr while it did not");
    assert!(
        said.iter().any(|l| l.starts_with(&format!("daemon.err {tag}SIGHUP: "))),
        "{said:?}\n{}",
        sw.log()
    );
    assert!(said.contains(&back), "{said:?}\n{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw.log());
}
