//! The daemon in its systemd unit's sandbox, as far as a machine without
//! systemd as init allows (issue 23 item 3), and its unix-socket metrics
//! endpoint scraped by a user that is not root.
//!
//! The shipped unit file is read by the test (`packaging/systemd/…`, `%i`
//! replaced by the instance), and the sandbox is built from its directives
//! with the kernel features systemd itself uses, so the two cannot drift: a
//! `[Service]` directive the test neither reproduces nor lists below fails it.
//!
//! Reproduced (`ip netns exec` into the test's network namespace, then
//! `unshare --mount --uts --propagation private` and a shell script, then
//! `setpriv`):
//! - `ExecStart=`: its arguments as written; substituted are only the binary
//!   (this build's), and paths the test must own, appended:
//!   `--db-config`/`--db-global-config`, `--config` (the settings of the
//!   operator guide's recipe), `--state-dir`; for the template also the
//!   recipe's drop-in's `--metrics-addr unix:/run/portsyncd/asicN/…` (the
//!   settings file is every instance's). The template's instance is `0`: it
//!   must serve `asic0`, require and be ordered after `database@0.service`.
//! - `NetworkNamespacePath=`: the test's network namespace in place of
//!   `/run/netns/asicN`.
//! - `DynamicUser=yes`: an unused uid and gid (from systemd's dynamic range),
//!   no other group but `SupplementaryGroups=` of the recipe's drop-in; a clean
//!   environment as systemd gives it (`USER`, `HOME=/`, `RUNTIME_DIRECTORY`,
//!   `STATE_DIRECTORY`, `NOTIFY_SOCKET`, …).
//! - `RuntimeDirectory=`, `RuntimeDirectoryMode=`: made on the host's `/run`
//!   (parents root's, 0755), owned by that user, with that mode, and bound
//!   writable into the read-only root; removed afterwards.
//! - `StateDirectory=`, `StateDirectoryMode=`: the test's own directory (the
//!   path substituted), owned by that user, with that mode, bound writable.
//! - `UMask=`: the shell's umask before the `exec`.
//! - `CapabilityBoundingSet=`, `AmbientCapabilities=`, `NoNewPrivileges=`,
//!   `SecureBits=`: `setpriv`'s `--bounding-set`, `--inh-caps` and
//!   `--ambient-caps`, `--no-new-privs`, `--securebits`.
//! - `ProtectSystem=strict`: every mount but `/dev`, `/proc` and `/sys`
//!   remounted read-only (`remount,bind,ro`, one by one as systemd does).
//! - `ProtectKernelTunables=`, `ProtectControlGroups=`: `/sys` and every mount
//!   under it read-only (`/proc/sys` is not there at all: `ProcSubset=pid`).
//! - `ProtectHome=yes`: `/home`, `/root`, `/run/user` covered by an empty
//!   read-only tmpfs of mode 000.
//! - `PrivateTmp=yes`: a fresh tmpfs on `/tmp` and `/var/tmp`; the test's own
//!   directory (Redis' socket, `database_config.json`, the settings, the state
//!   dir) bound back in read-only, at its path: on a switch none of them is
//!   under `/tmp`.
//! - `PrivateDevices=yes`: a tmpfs on `/dev` with `null`, `zero`, `full`,
//!   `random`, `urandom`, `tty` and a `/dev/shm`, then read-only.
//! - `ProtectProc=invisible`, `ProcSubset=pid`: a new `/proc` mounted with
//!   `hidepid=invisible,subset=pid`.
//! - `ProtectHostname=yes`: a UTS namespace of its own.
//! - `PrivateMounts=yes`: the mount namespace, propagation private.
//! - `Type=notify`, `NotifyAccess=main`: `NOTIFY_SOCKET` is a datagram socket
//!   of the test's (mode 0777, as systemd's), in the read-only directory;
//!   `READY=1` must arrive.
//!
//! Not reproduced (see [`NOT_REPRODUCED`] for each reason): the system-call
//! filters systemd compiles to seccomp (`SystemCallFilter=`,
//! `RestrictAddressFamilies=`, `MemoryDenyWriteExecute=`, …), the cgroup ones
//! (`IPAddressDeny=`, `DevicePolicy=`), `KeyringMode=`, `RemoveIPC=`, and what
//! is the service manager's rather than the sandbox (`Restart=`, timeouts,
//! `WatchdogSec=`).
//!
//! The sandbox is checked from outside as well: the daemon's
//! `/proc/<pid>/status` (its uid, gid and groups, `NoNewPrivs`, the
//! capability sets) and `/proc/<pid>/mountinfo` (`/` and `/sys` read-only,
//! `/tmp` and `/dev` tmpfs, `/proc`'s options, the two directories writable).
//!
//! Then: the daemon syncs its port (STATE_DB), tells `READY=1`, makes its
//! socket in the runtime directory with the recipe's group and mode 0660, a
//! user that is not root, in that group, scrapes it with `curl
//! --unix-socket`, and one outside the group is refused.
//!
//! Without `RuntimeDirectory=` in the unit (as on main before it had one) the
//! daemon cannot make `/run/portsyncd` under the read-only root and exits 1
//! with one line: the test fails.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;

use portsyncd_core::backend::Db;

use crate::harness::*;

/// Directives of the unit's `[Service]` section the test reproduces.
const REPRODUCED: &[&str] = &[
    "Type",
    "NotifyAccess",
    "ExecStart",
    "NetworkNamespacePath",
    "DynamicUser",
    "StateDirectory",
    "StateDirectoryMode",
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "UMask",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "NoNewPrivileges",
    "SecureBits",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectControlGroups",
    "ProtectProc",
    "ProcSubset",
    "ProtectHostname",
    "PrivateMounts",
];

/// Directives of the unit's `[Service]` section the test does not
/// reproduce, and why.
pub const NOT_REPRODUCED: &[(&str, &str)] = &[
    ("WatchdogSec", "the service manager's: the pings are tests/e2e/liveness.rs's"),
    ("Restart", "the service manager's"),
    ("RestartSec", "the service manager's"),
    ("TimeoutStartSec", "the service manager's"),
    ("TimeoutStopSec", "the service manager's"),
    ("IPAddressDeny", "a cgroup BPF program systemd attaches; the daemon opens no IP socket here"),
    ("DevicePolicy", "the cgroup device controller; the private /dev holds the same devices"),
    ("KeyringMode", "the session keyring; the daemon uses none"),
    ("RemoveIPC", "a clean-up at stop; the daemon makes no System V IPC object"),
    ("RestrictAddressFamilies", "seccomp, compiled by systemd; no tool here builds the same filter"),
    ("SystemCallFilter", "seccomp, compiled by systemd"),
    ("SystemCallArchitectures", "seccomp, compiled by systemd"),
    ("SystemCallErrorNumber", "seccomp, compiled by systemd"),
    ("MemoryDenyWriteExecute", "seccomp, compiled by systemd"),
    ("LockPersonality", "seccomp, compiled by systemd"),
    ("RestrictNamespaces", "seccomp, compiled by systemd"),
    ("RestrictRealtime", "seccomp, compiled by systemd"),
    ("RestrictSUIDSGID", "seccomp, compiled by systemd"),
    ("ProtectClock", "seccomp (and /dev/rtc, absent from the private /dev anyway)"),
    ("ProtectKernelModules", "seccomp and inaccessible module directories; the daemon loads none"),
    ("ProtectKernelLogs", "seccomp (/dev/kmsg and /proc/kmsg are absent here anyway)"),
];

/// The `[Service]` section of a shipped unit, `%i` replaced: its
/// directives in order, a key given more than once kept each time.
struct Unit {
    file: String,
    /// `[Unit]`'s directives.
    unit: Vec<(String, String)>,
    service: Vec<(String, String)>,
}

impl Unit {
    fn read(file: &str, instance: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut section = "";
        let (mut unit, mut service) = (Vec::new(), Vec::new());
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line;
                continue;
            }
            assert!(!line.ends_with('\\'), "{file}: continued lines are not read by this test: {line}");
            let (key, value) =
                line.split_once('=').unwrap_or_else(|| panic!("{file}: not a directive: {line}"));
            let directive = (key.trim().to_owned(), value.trim().replace("%i", instance));
            match section {
                "[Unit]" => unit.push(directive),
                "[Service]" => service.push(directive),
                _ => {}
            }
        }
        Self { file: file.to_owned(), unit, service }
    }

    /// The value in effect (the last one given).
    fn get(&self, key: &str) -> Option<&str> {
        self.service.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every unit a `[Unit]` dependency directive names (`After=`, `Requires=`).
    fn depends(&self, key: &str) -> Vec<&str> {
        self.unit.iter().filter(|(k, _)| k == key).flat_map(|(_, v)| v.split_whitespace()).collect()
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }

    /// An octal mode directive (`UMask=0077`).
    fn mode(&self, key: &str) -> Option<u32> {
        self.get(key).map(|v| u32::from_str_radix(v, 8).unwrap_or_else(|e| panic!("{key}={v}: {e}")))
    }

    /// Every directive is one the test reproduces or has a reason not to.
    fn all_considered(&self) {
        for (key, _) in &self.service {
            assert!(
                REPRODUCED.contains(&key.as_str()) || NOT_REPRODUCED.iter().any(|(k, _)| k == key),
                "{}: {key}= is new to tests/e2e/sandbox.rs: reproduce it or say why not",
                self.file
            );
        }
    }

    /// `ExecStart=`'s words.
    fn exec_start(&self) -> Vec<String> {
        let line = self.get("ExecStart").expect("ExecStart=");
        assert!(!line.contains(['"', '\'', '$']), "ExecStart= with quoting or variables: {line}");
        line.split_whitespace().map(str::to_owned).collect()
    }

    /// A capability directive as setpriv takes it: `-all,+net_admin`.
    fn caps(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| {
            let caps: Vec<String> = v
                .split_whitespace()
                .map(|c| format!("+{}", c.strip_prefix("CAP_").expect("a CAP_ name").to_lowercase()))
                .collect();
            format!("-all,{}", caps.join(","))
        })
    }
}

/// Makes the runtime directory on the host's `/run` as systemd does (its
/// parents root's, 0755), owned by the unit's user, with the unit's mode;
/// removes what it made when dropped.
struct RuntimeDir {
    path: PathBuf,
    made: PathBuf,
}

impl RuntimeDir {
    fn new(relative: &str, mode: u32, uid: u32) -> Self {
        let top = Path::new("/run").join(relative.split('/').next().unwrap());
        let path = Path::new("/run").join(relative);
        // One left over by an earlier run of this test: gone unless a
        // daemon still serves in it.
        if top.exists() {
            let live =
                walk_sockets(&top).into_iter().any(|s| std::os::unix::net::UnixStream::connect(&s).is_ok());
            assert!(!live, "{} has a live socket: a portsyncd runs on this machine", top.display());
            std::fs::remove_dir_all(&top).unwrap();
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for dir in path.ancestors().skip(1).take_while(|d| d.starts_with(&top)) {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Self { path, made: top }
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.made);
    }
}

fn walk_sockets(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk_sockets(&path)),
            Ok(t) if std::os::unix::fs::FileTypeExt::is_socket(&t) => out.push(path),
            _ => {}
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
        & 0o7777
}

/// A line of `/proc/<pid>/status`.
fn status_line(pid: &str, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// The mounts `/proc/<pid>/mountinfo` lists: mount point, mount options,
/// file system type, super-block options.
fn mounts(pid: &str) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (before, after) = l.split_once(" - ")?;
            let before: Vec<&str> = before.split(' ').collect();
            let after: Vec<&str> = after.split(' ').collect();
            let point = before.get(4)?.replace("\\040", " ");
            Some((point, before.get(5)?.to_string(), after.first()?.to_string(), after.get(2)?.to_string()))
        })
        .collect()
}

/// The script that builds the sandbox from the unit's directives, run as
/// root by `sh` inside the new mount and UTS namespaces; it ends by `exec`ing
/// `setpriv` with the daemon's command line (its arguments).
fn sandbox_script(unit: &Unit, test_dir: &Path, writable: &[&Path], env: &[(String, String)]) -> String {
    let q = |p: &Path| format!("'{}'", p.display());
    let mut s = vec!["set -e".to_owned()];
    let tmp_dir = unit.is("PrivateTmp", "yes") && test_dir.starts_with("/tmp");
    if tmp_dir {
        // Kept open: bound back in once /tmp is a fresh tmpfs.
        s.push(format!("exec 3<{}", q(test_dir)));
    }
    if unit.is("ProtectSystem", "strict") {
        let keep_sys = !unit.is("ProtectKernelTunables", "yes");
        s.push(format!(
            r#"findmnt -rno TARGET | while read -r m; do
  m="$(printf '%b' "$m")"
  case "$m" in /proc|/proc/*|/dev|/dev/*) continue;; esac
  case "$m" in /sys|/sys/*) [ {keep_sys} = true ] && continue;; esac
  mount -o remount,bind,ro "$m"
done"#
        ));
    }
    if unit.is("ProtectHome", "yes") {
        s.push("for d in /home /root /run/user; do [ -d \"$d\" ] && mount -t tmpfs -o ro,mode=000 tmpfs \"$d\"; done; true".into());
    }
    if unit.is("PrivateTmp", "yes") {
        s.push("mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp".into());
        s.push("mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp".into());
        if tmp_dir {
            s.push(format!("mkdir -p {}", q(test_dir)));
            s.push(format!("mount --no-canonicalize --bind /proc/self/fd/3 {}", q(test_dir)));
            s.push(format!("mount -o remount,bind,ro {}", q(test_dir)));
            s.push("exec 3<&-".into());
        }
    }
    for dir in writable {
        s.push(format!("mount --bind {0} {0} && mount -o remount,bind,rw {0}", q(dir)));
    }
    if unit.is("PrivateDevices", "yes") {
        s.push("mount -t tmpfs -o mode=755,nosuid,noexec tmpfs /dev".into());
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            s.push(format!("mknod -m 666 /dev/{name} c {major} {minor}"));
        }
        s.push("mkdir /dev/shm && mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm".into());
        s.push("mount -o remount,ro /dev".into());
    }
    if unit.is("ProtectProc", "invisible") {
        let subset = if unit.is("ProcSubset", "pid") { ",subset=pid" } else { "" };
        s.push(format!("mount -t proc -o nosuid,nodev,noexec,hidepid=invisible{subset} proc /proc"));
    }
    if let Some(umask) = unit.mode("UMask") {
        s.push(format!("umask {umask:04o}"));
    }
    let env: Vec<String> = env.iter().map(|(k, v)| format!("'{k}={v}'")).collect();
    s.push(format!("exec env -i {} \"$@\"", env.join(" ")));
    s.join("\n")
}

/// Runs `unit` (instance `instance`) in its sandbox in a switch of one port,
/// with the operator guide's recipe for a scraper that is not root
/// (`socket_group`, and the drop-in's `SupplementaryGroups=`); returns after
/// the scrapes and a clean stop.
fn run_in_sandbox(file: &str, instance: &str) {
    // Both units' runtime directories are under /run/portsyncd: one at a time.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let unit = Unit::read(file, instance);
    unit.all_considered();
    let uid = 61_184 + std::process::id() % 4000;
    let (group, other_group) = (52_000 + std::process::id() % 1000, 53_000 + std::process::id() % 1000);
    assert!(unit.is("DynamicUser", "yes"), "{file}: the test runs the daemon as a dynamic user");
    let named = Command::new("getent").args(["passwd", &uid.to_string()]).output().expect("getent");
    assert!(!named.status.success(), "uid {uid} is a user of this machine: {named:?}");

    let mut sw = Switch::new(1);
    let dir = sw.dir.clone();
    // SONiC's Redis socket is world-writable (unixsocketperm 777); the
    // test's directory traversable by the daemon's user, as /var/run/redis is.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(sw.raw.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();

    // The runtime directory, and the socket in it as the operator guide says.
    let runtime = unit
        .get("RuntimeDirectory")
        .map(|d| RuntimeDir::new(d, unit.mode("RuntimeDirectoryMode").unwrap_or(0o755), uid));
    let run_dir = Path::new("/run").join(if instance.is_empty() {
        "portsyncd".to_owned()
    } else {
        format!("portsyncd/asic{instance}")
    });
    let sock = run_dir.join("metrics.sock");
    // The settings file is every instance's: the template's instances get
    // their socket from the recipe's drop-in (`--metrics-addr`, below).
    let addr =
        if instance.is_empty() { format!("addr = \"unix:{}\"\n", sock.display()) } else { String::new() };
    std::fs::write(
        &sw.conf,
        format!(
            "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n\
             [metrics]\n{addr}socket_group = \"{group}\"\n"
        ),
    )
    .unwrap();

    // The state directory, as StateDirectory= makes it.
    let state = sw.state_dir();
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(
        &state,
        std::fs::Permissions::from_mode(unit.mode("StateDirectoryMode").unwrap_or(0o755)),
    )
    .unwrap();

    // NOTIFY_SOCKET, writable by anyone as systemd's is.
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_nonblocking(true).unwrap();
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();

    // The command line: ExecStart='s, with the paths the test owns.
    let mut words = unit.exec_start();
    assert_eq!(words[0], "/usr/bin/portsyncd", "{file}: ExecStart=");
    words[0] = portsyncd_bin();
    let namespaced = words.iter().any(|w| w == "-n" || w == "--namespace" || w.starts_with("-n"));
    if namespaced {
        // database_global.json: the host's and the ASIC's, both this Redis.
        let global = dir.join("database_global.json");
        let ns = format!("asic{instance}");
        std::fs::write(
            &global,
            format!(
                r#"{{"INCLUDES": [{{ "include": "database_config.json" }},
                   {{ "namespace": "{ns}", "include": "database_config.json" }}], "VERSION": "1.0"}}"#
            ),
        )
        .unwrap();
        words.extend(["--db-global-config".into(), global.display().to_string()]);
        assert_eq!(
            unit.get("NetworkNamespacePath"),
            Some(format!("/run/netns/{ns}").as_str()),
            "{file}: the namespace entered is the one served"
        );
    } else {
        words.extend(["--db-config".into(), sw.db_config.display().to_string()]);
    }
    if !instance.is_empty() {
        // The operator guide's drop-in for the template (`systemctl edit
        // portsyncd@.service`): ExecStart= with one more argument.
        words.extend(["--metrics-addr".into(), format!("unix:/run/portsyncd/asic{instance}/metrics.sock")]);
    }
    words.extend(["--config".into(), sw.conf.display().to_string()]);
    // Without --state-dir, the daemon's own default is StateDirectory='s.
    let check =
        Command::new(&words[0]).args(&words[1..]).arg("--check-config").output().expect("--check-config");
    let said = String::from_utf8_lossy(&check.stdout);
    let default = format!("state dir: /var/lib/{}", unit.get("StateDirectory").expect("StateDirectory="));
    assert!(said.lines().any(|l| l == default), "{file}: want {default:?}, --check-config said {said}");
    words.extend(["--state-dir".into(), state.display().to_string()]);

    // The environment systemd gives a dynamic user's service.
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        ("USER".into(), "portsyncd".into()),
        ("LOGNAME".into(), "portsyncd".into()),
        ("HOME".into(), "/".into()),
        ("SHELL".into(), "/usr/sbin/nologin".into()),
        ("STATE_DIRECTORY".into(), state.display().to_string()),
    ];
    if let Some(r) = &runtime {
        env.push(("RUNTIME_DIRECTORY".into(), r.path.display().to_string()));
    }
    if unit.is("Type", "notify") {
        env.push(("NOTIFY_SOCKET".into(), notify_path.display().to_string()));
    }
    let mut writable: Vec<&Path> = vec![&state];
    if let Some(r) = &runtime {
        writable.push(&r.path);
    }
    let script = sandbox_script(&unit, &dir, &writable, &env);

    // setpriv: the dynamic user, the recipe's SupplementaryGroups=, the
    // capabilities, no new privileges, the securebits.
    let mut setpriv = vec![
        "setpriv".to_owned(),
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        format!("--groups={group}"),
    ];
    if unit.is("NoNewPrivileges", "yes") {
        setpriv.push("--no-new-privs".into());
    }
    if let Some(caps) = unit.caps("CapabilityBoundingSet") {
        setpriv.push(format!("--bounding-set={caps}"));
    }
    if let Some(caps) = unit.caps("AmbientCapabilities") {
        setpriv.extend([format!("--inh-caps={caps}"), format!("--ambient-caps={caps}")]);
    }
    if let Some(bits) = unit.get("SecureBits") {
        let bits: Vec<String> =
            bits.split_whitespace().map(|b| format!("+{}", b.replace('-', "_"))).collect();
        setpriv.push(format!("--securebits={}", bits.join(",")));
    }
    setpriv.push("--".into());
    let mut wrapper: Vec<String> = vec!["unshare".into(), "--mount".into()];
    if unit.is("ProtectHostname", "yes") {
        wrapper.push("--uts".into());
    }
    wrapper.extend(["--propagation".into(), "private".into(), "sh".into(), "-c".into(), script, "sh".into()]);
    wrapper.extend(setpriv);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();

    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let log = dir.join("portsyncd.log");
    // PORTSYNCD_BIN is words[0]: Daemon::start_via runs portsyncd_bin().
    sw.daemon = Some(Daemon::start_via(&sw.ns, log, &wrapper, &args));

    // It syncs its port, tells READY=1, and serves the socket.
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state_of_new_port(), T);
    let mut told = Vec::new();
    let ready = wait_until(T, || {
        told.extend(notifications(&notify));
        told.iter().any(|l| l == "READY=1")
    });
    assert!(ready, "no READY=1; told {told:?}\n{}", sw.log());
    assert!(wait_until(T, || sock.exists()), "no {}\n{}", sock.display(), sw.log());

    // The sandbox is the unit's: its user, capabilities, no new privileges.
    let pid = sw.daemon().pid_for_signals();
    let ids = format!("{uid}\t{uid}\t{uid}\t{uid}");
    assert_eq!(status_line(&pid, "Uid:"), ids, "{}", sw.log());
    assert_eq!(status_line(&pid, "Gid:"), ids);
    assert_eq!(status_line(&pid, "Groups:"), group.to_string());
    assert_eq!(status_line(&pid, "NoNewPrivs:"), "1");
    assert_eq!(status_line(&pid, "CapEff:"), "0000000000001000", "CAP_NET_ADMIN only");
    assert_eq!(status_line(&pid, "CapBnd:"), "0000000000001000");
    assert_eq!(status_line(&pid, "CapAmb:"), "0000000000001000");

    // The mounts it sees are the sandbox's (the last mount on each path).
    let mounts = mounts(&pid);
    let at = |path: &Path| {
        mounts
            .iter()
            .rev()
            .find(|m| Path::new(&m.0) == path)
            .unwrap_or_else(|| panic!("{path:?}: {mounts:?}"))
    };
    let read_only = |path: &Path| at(path).1.split(',').any(|o| o == "ro");
    assert!(read_only(Path::new("/")), "ProtectSystem=strict: / is not read-only: {mounts:?}");
    assert!(read_only(Path::new("/sys")), "ProtectKernelTunables=yes: /sys is not read-only");
    assert_eq!(at(Path::new("/tmp")).2, "tmpfs", "PrivateTmp=yes");
    assert_eq!(at(Path::new("/dev")).2, "tmpfs", "PrivateDevices=yes");
    let proc_options = &at(Path::new("/proc")).3;
    assert!(
        proc_options.contains("hidepid=invisible") && proc_options.contains("subset=pid"),
        "{proc_options}"
    );
    for dir in &writable {
        assert!(!read_only(dir), "{} is not writable in the sandbox", dir.display());
    }
    assert!(read_only(&dir), "the test's own directory is bound read-only");

    // The socket: the daemon's user's, the recipe's group, 0660 (whatever
    // UMask=0077 says); its directory as RuntimeDirectoryMode= says.
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!((meta.uid(), meta.gid(), mode(&sock)), (uid, group, 0o660), "{}", sock.display());
    assert_eq!(mode(&run_dir), unit.mode("RuntimeDirectoryMode").unwrap());

    // A scraper that is not root, in the group: reads; outside it: refused.
    let scrape = |groups: &str| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                groups,
                "curl",
                "-sS",
                "--max-time",
                "5",
                "--unix-socket",
            ])
            .arg(&sock)
            .arg("http://localhost/metrics")
            .output()
            .expect("setpriv and curl")
    };
    let out = scrape(&format!("--groups={group}"));
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && body.contains("portsyncd_build_info"), "{out:?}\n{}", sw.log());
    assert!(body.contains("portsyncd_health_state"), "{body}");
    for outside in [format!("--groups={other_group}"), "--clear-groups".to_owned()] {
        let out = scrape(&outside);
        assert!(!out.status.success(), "a scraper outside the group ({outside}) read it: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("connect"), "{out:?}");
    }

    let (status, _) = sw.daemon().stop_with("TERM");
    let log = sw.log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!sock.exists(), "the socket is left");
    assert!(!log.contains(" WARN ") && !log.contains(" ERR"), "{log}");
    if namespaced {
        assert!(log.contains(&format!("portsyncd[asic{instance}] ")), "{log}");
    }
    // The warm-restart snapshot went to the writable state dir.
    assert!(std::fs::read_dir(&state).unwrap().next().is_some(), "nothing in the state dir\n{log}");
    drop(runtime);
}

/// A port just configured, its host interface made by the stand-in: down,
/// admin down, the veth's MTU.
fn state_of_new_port() -> Hash {
    state("down", "down", "1500")
}

#[test]
fn the_unit_sandbox_syncs_and_a_scraper_of_the_group_reads_the_socket() {
    run_in_sandbox("portsyncd.service", "");
}

#[test]
fn the_template_instance_0_serves_asic0_in_its_sandbox() {
    // Numbered as SONiC's per-ASIC units: after ASIC 0's Redis, which it
    // requires, as sonic-buildimage's swss@.service does.
    let unit = Unit::read("portsyncd@.service", "0");
    for key in ["Requires", "After"] {
        assert!(unit.depends(key).contains(&"database@0.service"), "{key}={:?}", unit.depends(key));
    }
    run_in_sandbox("portsyncd@.service", "0");
}
