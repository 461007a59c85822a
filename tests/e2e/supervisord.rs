//! portsyncd under the real supervisord (Debian's `supervisor`; installed
//! by tests/run-all.sh when missing), with the section the package ships
//! (`packaging/supervisord/portsyncd.conf`) as SONiC's swss container has
//! it, only its paths changed: the binary under test with this switch's
//! settings, database_config.json, state dir and network namespace, and
//! stdout/stderr also kept in files, so that what supervisord would send to
//! syslog can be read. An event listener of the test's own (a small Python
//! program speaking supervisord's eventlistener protocol) records every
//! PROCESS_STATE and PROCESS_COMMUNICATION event, as SONiC's
//! supervisor-proc-exit-listener receives them.
//!
//! What it shows: RUNNING after the start; with the settings as shipped
//! (no `[liveness]` key) the XSUPERVISOR heartbeat reaches the listener as
//! PROCESS_COMMUNICATION_STDOUT, so `watchdog_processes` works as installed;
//! at the interval asked, heartbeats while the loop runs, none while the
//! process is SIGSTOPped, again after SIGCONT; nothing of them is logged (no
//! empty line per heartbeat); a killed daemon is seen as EXITED, not
//! expected (what makes SONiC's listener stop the container for a critical
//! process).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Orchagent, Switch, portsyncd_bin, wait_until};

const SHIPPED: &str = include_str!("../../packaging/supervisord/portsyncd.conf");

/// The recording listener: each event one line, `<eventname> <payload
/// header> | <payload data>` (newlines in the data as `\n`).
const LISTENER: &str = r#"import sys
out = open(sys.argv[1], "a", buffering=1)
while True:
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    header = dict(kv.split(":", 1) for kv in sys.stdin.readline().split())
    payload = sys.stdin.read(int(header["len"]))
    head, _, data = payload.partition("\n")
    out.write("%s %s | %s\n" % (header["eventname"], head, data.replace("\n", "\\n")))
    sys.stdout.write("RESULT 2\nOK")
    sys.stdout.flush()
"#;

/// A supervisord of the test's own, stopped (with what it runs) on drop.
struct Supervisord {
    child: Child,
    conf: PathBuf,
    events: PathBuf,
    dir: PathBuf,
}

impl Supervisord {
    fn start(sw: &Switch) -> Self {
        let dir = sw.dir.join("supervisor");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        let listener = dir.join("listener.py");
        std::fs::write(&listener, LISTENER).unwrap();
        let events = dir.join("events");
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut command = vec![portsyncd_bin(), "--netns".into(), sw.ns.name.clone()];
        command.extend(sw.daemon_args());
        let section = shipped_section(&command.join(" "), &dir);
        let conf = dir.join("supervisord.conf");
        std::fs::write(
            &conf,
            format!(
                "[unix_http_server]\nfile={d}/supervisor.sock\n\
                 [supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
                 childlogdir={d}\n\
                 [rpcinterface:supervisor]\n\
                 supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
                 [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\
                 [eventlistener:recorder]\ncommand={python} {listener} {events}\n\
                 events=PROCESS_STATE,PROCESS_COMMUNICATION\nbuffer_size=1024\nautostart=true\n\
                 stderr_logfile={d}/listener.err\n\n{section}",
                listener = listener.display(),
                events = events.display(),
            ),
        )
        .unwrap();
        let child = Command::new("supervisord")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("supervisord (tests/run-all.sh installs Debian's supervisor)");
        let sv = Self { child, conf, events, dir };
        assert!(wait_until(crate::harness::T, || sv.ctl(&["status", "recorder"]).contains("RUNNING")));
        sv
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("supervisorctl").arg("-c").arg(&self.conf).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pid(&self) -> String {
        self.ctl(&["pid", "portsyncd"]).trim().to_owned()
    }

    /// Every event recorded so far, one per line.
    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.events).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.events().iter().filter(|e| e.starts_with(prefix)).count()
    }

    /// Waits until an event starting with `prefix` is recorded after the
    /// first `after` events.
    fn wait_event(&self, after: usize, prefix: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.events().into_iter().skip(after).find(|e| e.starts_with(prefix));
            found.is_some()
        });
        found
    }

    /// What supervisord wrote of the daemon's stdout (and would have sent
    /// to syslog with it).
    fn stdout_log(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("portsyncd.stdout")).unwrap_or_default()
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped `[program:portsyncd]` section, its paths changed: `command`,
/// and stdout/stderr kept in files of `dir` as well as sent to syslog.
fn shipped_section(command: &str, dir: &Path) -> String {
    let mut seen = (false, false, false);
    let section: Vec<String> = SHIPPED
        .lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .map(|l| match l.split_once('=') {
            Some(("command", _)) => {
                seen.0 = true;
                format!("command={command}")
            }
            Some(("stdout_logfile", "NONE")) => {
                seen.1 = true;
                format!("stdout_logfile={}/portsyncd.stdout", dir.display())
            }
            Some(("stderr_logfile", "NONE")) => {
                seen.2 = true;
                format!("stderr_logfile={}/portsyncd.stderr", dir.display())
            }
            _ => l.to_owned(),
        })
        .collect();
    assert_eq!(seen, (true, true, true), "the shipped section's command and log lines:\n{SHIPPED}");
    section.join("\n") + "\n"
}

fn signal(pid: &str, sig: &str) {
    assert!(Command::new("kill").args([&format!("-{sig}"), pid]).status().unwrap().success());
}

const BEAT: &str = "PROCESS_COMMUNICATION_STDOUT processname:portsyncd";

#[test]
fn under_the_real_supervisord_with_the_shipped_section() {
    let mut sw = Switch::new(1);
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let sv = Supervisord::start(&sw);
    // The shipped section does not start it (SONiC's dependent-startup
    // does, after rsyslogd); here the test does.
    assert!(sv.ctl(&["status", "portsyncd"]).contains("STOPPED"), "{}", sv.ctl(&["status"]));
    sv.ctl(&["start", "portsyncd"]);
    let running = sv.wait_event(0, "PROCESS_STATE_RUNNING processname:portsyncd", crate::harness::T);
    assert!(running.is_some(), "{:?}", sv.events());

    // The settings as shipped (no [liveness] key): under supervisord the
    // heartbeat is on, every 10 s; the listener has it as a
    // PROCESS_COMMUNICATION_STDOUT event carrying the word between the tokens.
    let beat = sv.wait_event(0, BEAT, Duration::from_secs(15));
    let beat = beat.unwrap_or_else(|| panic!("no heartbeat in 15 s: {:?}", sv.events()));
    assert!(beat.ends_with("| heartbeat"), "{beat}");

    // At 300 ms (the settings file changed, the program restarted).
    let settings = std::fs::read_to_string(&sw.conf).unwrap();
    std::fs::write(&sw.conf, format!("{settings}[liveness]\nsupervisor_heartbeat_ms = 300\n")).unwrap();
    sv.ctl(&["restart", "portsyncd"]);
    let mark = sv.events().len();
    assert!(sv.wait_event(mark, BEAT, crate::harness::T).is_some(), "{:?}", sv.events());
    let before = sv.count(BEAT);
    std::thread::sleep(Duration::from_millis(1500));
    let running = sv.count(BEAT) - before;
    assert!((3..=7).contains(&running), "{running} heartbeats in 1.5 s at 300 ms");

    // Stopped: not one.
    let pid = sv.pid();
    signal(&pid, "STOP");
    std::thread::sleep(Duration::from_millis(400));
    let before = sv.count(BEAT);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sv.count(BEAT), before, "heartbeats while SIGSTOPped");
    signal(&pid, "CONT");
    let mark = sv.events().len();
    assert!(sv.wait_event(mark, BEAT, Duration::from_secs(5)).is_some(), "none after SIGCONT");

    // None of it was logged: no line (an empty one per heartbeat was what
    // syslog got) in what supervisord kept of stdout.
    assert!(sv.count(BEAT) >= 8);
    let logged = sv.stdout_log();
    assert!(
        logged.is_empty(),
        "supervisord logged the daemon's stdout: {:?}",
        String::from_utf8_lossy(&logged)
    );

    // An exit: EXITED, not expected (SIGKILL: nothing could be said).
    let mark = sv.events().len();
    signal(&pid, "KILL");
    let exited = sv.wait_event(mark, "PROCESS_STATE_EXITED processname:portsyncd", crate::harness::T);
    let exited = exited.unwrap_or_else(|| panic!("no EXITED: {:?}", sv.events()));
    assert!(exited.contains("expected:0"), "{exited}");
    assert!(exited.contains(&format!("pid:{pid}")), "{exited}");
}
