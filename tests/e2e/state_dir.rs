//! Issue 21: the snapshot is a cache. A state dir that is read-only, full,
//! or missing and uncreatable never stops the start: the ports are synced,
//! health is degraded with the reason, one WARN says what is lost, and the
//! directory is tried again on the save cadence, so that saves resume (and
//! health recovers) once it takes them. A SIGTERM whose last save fails says
//! so and still exits 0.
//!
//! Root ignores mode bits, so the directories are made unusable with mounts:
//! each daemon runs in a mount namespace of its own (`unshare -m`, private),
//! where a shell first mounts a tmpfs over its state dir; the test reaches
//! that namespace later with `nsenter` and sees its files through
//! `/proc/<pid>/root`. The mounts go with the daemon.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portsyncd_core::backend::Db;

use crate::harness::*;

/// The line that says what is lost, for `fault` (its words).
fn lost(fault: &str) -> String {
    format!(
        "portsyncd WARN warm-restart snapshot cannot be saved ({fault}): crash-safe warm restart is lost \
         until a save succeeds (a start meanwhile is cold, or warm from STATE_DB alone); the port tables \
         are kept as usual; trying again every 1000 ms\n"
    )
}

/// A switch with `ports` ports whose daemon saves every 200 ms (tried again
/// every 1 s while saves fail) and serves metrics on a unix socket.
fn switch(ports: usize) -> Switch {
    let sw = Switch::new(ports);
    let text = format!(
        "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n[state]\nsave_interval_ms = 200\n\
         [metrics]\naddr = \"unix:{}\"\n",
        sw.dir.join("metrics.sock").display()
    );
    std::fs::write(&sw.conf, text).unwrap();
    sw
}

/// Starts orchagent's stand-in, then the daemon with `state` as its state
/// dir, in a mount namespace of its own where `setup` (shell) ran first.
fn start_in_own_mounts(sw: &mut Switch, state: &Path, setup: &str) {
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let args = sw.daemon_args_for(&sw.conf, state);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let script = format!("set -e; {setup}; exec \"$@\"");
    let wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", &script, "sh"];
    sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), &wrapper, &args));
}

/// Runs `command` (shell) in the daemon's mount namespace.
fn in_daemon_mounts(sw: &mut Switch, command: &str) {
    let pid = sw.daemon().pid_for_signals();
    let out = Command::new("nsenter").args(["-t", &pid, "-m", "sh", "-c", command]).output().unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
}

/// `path` as the daemon sees it (its mount namespace).
fn seen_by_daemon(sw: &mut Switch, path: &Path) -> PathBuf {
    let pid = sw.daemon().pid_for_signals();
    Path::new(&format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap())
}

/// Every port synced to STATE_DB as the kernel has it.
fn synced(sw: &mut Switch, ports: usize) {
    for i in 0..ports {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    assert!(wait_until(T, || sw.log().contains("PortInitDone")), "{}", sw.log());
}

/// Waits for the metrics to show health `state` for `reason`.
fn expect_health(sw: &Switch, state: &str, reason: &str) {
    let series = format!("portsyncd_health_info{{state=\"{state}\",reason=\"{reason}\"}} 1");
    let sock = sw.dir.join("metrics.sock");
    assert!(
        wait_until(T, || crate::metrics::scrape(&sock, "text/plain").lines().any(|l| l == series)),
        "no {series}\n{}",
        sw.log()
    );
}

#[test]
fn a_read_only_state_dir_degrades_warm_restart_and_saves_resume_once_it_is_writable() {
    let mut sw = switch(2);
    let dir_path = sw.state_dir();
    std::fs::create_dir_all(&dir_path).unwrap();
    start_in_own_mounts(
        &mut sw,
        &dir_path,
        &format!("mount -t tmpfs -o ro,size=1m tmpfs {}", dir_path.display()),
    );
    synced(&mut sw, 2);
    let line = lost("the state dir is read-only");
    assert!(wait_until(T, || sw.log().contains(&line)), "{}", sw.log());
    assert!(
        sw.log().contains(
            "portsyncd WARN health: healthy => degraded (warm-restart snapshot not saved: the state dir is read-only)\n"
        ),
        "{}",
        sw.log()
    );
    expect_health(&sw, "degraded", "snapshot_not_saved");
    // Tried again on the cadence, said once.
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("up", "up", "1500"), T);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sw.log().matches(&line).count(), 1, "{}", sw.log());
    let snapshot = seen_by_daemon(&mut sw, &dir_path.join("portsyncd.snapshot"));
    assert!(!snapshot.exists());

    // Writable again: the next try takes the directory and saves.
    in_daemon_mounts(&mut sw, &format!("mount -o remount,rw {}", dir_path.display()));
    assert!(wait_until(T, || snapshot.exists()), "no snapshot saved\n{}", sw.log());
    let pid = sw.daemon().pid_for_signals();
    let lock = seen_by_daemon(&mut sw, &dir_path.join("portsyncd.lock"));
    assert_eq!(std::fs::read_to_string(lock).unwrap(), format!("{pid}\n"));
    assert!(wait_until(T, || sw.log().contains("health: degraded => healthy (all well)")), "{}", sw.log());
    assert!(sw.log().contains("warm-restart snapshot saved again: crash-safe warm restart is back"));
    expect_health(&sw, "healthy", "all_well");
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
}

#[test]
fn a_full_state_dir_at_start_degrades_and_saves_resume_once_there_is_room() {
    let mut sw = switch(2);
    let dir_path = sw.state_dir();
    std::fs::create_dir_all(&dir_path).unwrap();
    let dir = dir_path.display();
    let setup = format!(
        "mount -t tmpfs -o size=64k tmpfs {dir}; dd if=/dev/zero of={dir}/fill bs=4k 2>/dev/null || true"
    );
    start_in_own_mounts(&mut sw, &dir_path, &setup);
    synced(&mut sw, 2);
    let line = lost("the state dir is full");
    assert!(wait_until(T, || sw.log().contains(&line)), "{}", sw.log());
    expect_health(&sw, "degraded", "snapshot_not_saved");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sw.log().matches(&line).count(), 1, "{}", sw.log());

    in_daemon_mounts(&mut sw, &format!("rm {dir}/fill"));
    let snapshot = seen_by_daemon(&mut sw, &dir_path.join("portsyncd.snapshot"));
    assert!(wait_until(T, || snapshot.exists()), "no snapshot saved\n{}", sw.log());
    assert!(wait_until(T, || sw.log().contains("health: degraded => healthy (all well)")), "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
}

#[test]
fn a_sigterm_whose_last_save_fails_says_so_and_exits_0() {
    let mut sw = switch(2);
    let dir_path = sw.state_dir();
    std::fs::create_dir_all(&dir_path).unwrap();
    let dir = dir_path.display();
    start_in_own_mounts(&mut sw, &dir_path, &format!("mount -t tmpfs -o size=64k tmpfs {dir}"));
    synced(&mut sw, 2);
    let snapshot = seen_by_daemon(&mut sw, &dir_path.join("portsyncd.snapshot"));
    assert!(wait_until(T, || snapshot.exists()), "no snapshot saved\n{}", sw.log());
    // The disk fills up; nothing changes, so the save on the way out is the first to fail.
    in_daemon_mounts(&mut sw, &format!("dd if=/dev/zero of={dir}/fill bs=4k 2>/dev/null || true"));
    let (status, _) = sw.daemon().stop_with("TERM");
    let log = sw.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(
        log.matches(
            "portsyncd WARN stopping without a warm-restart snapshot (the state dir is full): the next \
             start is cold, or warm from STATE_DB alone; the port tables are as they should be\n"
        )
        .count(),
        1,
        "{log}"
    );
    assert!(log.contains("stopped: "), "{log}");
}

#[test]
fn a_missing_state_dir_that_cannot_be_created_degrades_and_check_config_refuses_it() {
    let mut sw = switch(2);
    let ro = sw.dir.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let state = ro.join("x/state");
    start_in_own_mounts(&mut sw, &state, &format!("mount -t tmpfs -o ro,size=1m tmpfs {}", ro.display()));
    synced(&mut sw, 2);
    let line = lost("the state dir is missing and cannot be created");
    assert!(wait_until(T, || sw.log().contains(&line)), "{}", sw.log());
    expect_health(&sw, "degraded", "snapshot_not_saved");

    // No lock on a directory that does not exist: the network namespace's
    // still refuses a second daemon, with the same state dir or another.
    let args = sw.daemon_args_for(&sw.conf, &state);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let script = format!("mount -t tmpfs -o ro,size=1m tmpfs {}; exec \"$@\"", ro.display());
    let wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", &script, "sh"];
    let mut second = Daemon::start_via(&sw.ns, sw.dir.join("second.log"), &wrapper, &args);
    assert_eq!(second.wait_exit(T).and_then(|s| s.code()), Some(1), "{}", second.log());
    assert!(second.log().starts_with("portsyncd: another portsyncd runs in this network namespace"));

    // --check-config validates: it says so, exit 1.
    let mut check = args.clone();
    check.push("--check-config");
    let mut d = Daemon::start_via(&sw.ns, sw.dir.join("check.log"), &wrapper, &check);
    let (status, out) = d.wait_output(T).unwrap_or_else(|| panic!("still running\n{}", d.log()));
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(
        d.log(),
        format!(
            "portsyncd: state dir {}: cannot be created (Read-only file system (os error 30)); a run would \
             start, but save no warm-restart snapshot until that changes\n",
            state.display()
        )
    );
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
}

/// The pid of the only child of `pid` (the daemon under a wrapper that
/// runs it as its child: strace).
fn only_child(pid: &str) -> String {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children.split_whitespace().next().unwrap_or_default().to_owned()
}

/// Whether a thread named `name` runs in process `pid`.
fn has_thread(pid: &str, name: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
}

/// The snapshot is written beside the loop: a disk whose every fsync stalls
/// for 4 s (strace injects the delay into the daemon's fsyncs) holds no
/// link event back, and a stop waits for the save under way only
/// `shutdown_flush` (500 ms), says so, and exits 0. Saved on the loop, the
/// link change below would wait for the save's two fsyncs (8 s).
#[test]
fn a_stalled_disk_holds_no_link_event_back_and_a_stop_waits_for_it_only_so_long() {
    let mut sw = switch(2);
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let args = sw.daemon_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stall = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e"];
    let wrapper: Vec<&str> = stall.iter().copied().chain(["inject=fsync:delay_enter=4000000"]).collect();
    sw.daemon = Some(Daemon::start_via(&sw.ns, sw.dir.join("portsyncd.log"), &wrapper, &args));
    synced(&mut sw, 2);
    let strace = sw.daemon().pid_for_signals();
    let pid = only_child(&strace);
    assert!(!pid.is_empty(), "no daemon under strace\n{}", sw.log());
    // The first save (owed since the ports were written) is stuck in its fsync.
    assert!(wait_until(T, || has_thread(&pid, "portsyncd-save")), "no save under way\n{}", sw.log());

    sw.ns.ip(&["link", "set", "Ethernet0", "mtu", "9000"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "9000"), Duration::from_secs(2));
    assert!(has_thread(&pid, "portsyncd-save"), "the save was over before the change landed: nothing shown");

    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = sw.daemon().wait_exit(Duration::from_secs(5)).expect("exited within 5 s");
    assert!(status.success(), "{status:?}\n{}", sw.log());
    assert!(
        sw.log().contains(
            "portsyncd WARN stopping without a warm-restart snapshot (a save is still under way, on a \
             slow or stuck disk): the next start is cold, or warm from STATE_DB alone; the port tables are as \
             they should be\n"
        ),
        "{}",
        sw.log()
    );
}
