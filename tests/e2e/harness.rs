//! What every end-to-end scenario stands on: a fresh network namespace, a
//! redis-server of its own, the real `portsyncd` binary running inside the
//! namespace, and an orchagent stand-in that pops APPL_DB `PORT_TABLE` with
//! ConsumerStateTable semantics and — like syncd — creates each popped port's
//! host interface only then (SONIC.md §9.1–9.2).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portsyncd_contract::redis_server::{RedisRaw, RedisServer};
use portsyncd_contract::{Popped, RawView, consumer_pop};
use portsyncd_core::backend::Db;

pub type Hash = BTreeMap<String, String>;

/// How long a scenario waits for anything to happen.
pub const T: Duration = Duration::from_secs(10);

/// The n-th port's name: Ethernet0, Ethernet4, ...
/// The daemon under test: `PORTSYNCD_BIN` when set (tests/run-all.sh runs
/// the suite again against the static build that ships), else this build's.
pub fn portsyncd_bin() -> String {
    std::env::var("PORTSYNCD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_portsyncd").to_owned())
}

pub fn name(i: usize) -> String {
    format!("Ethernet{}", i * 4)
}

pub fn hash(pairs: &[(&str, &str)]) -> Hash {
    pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A network namespace of this test's own, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("psd{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    /// A veth pair.
    pub fn veth(&self, name: &str, peer: &str) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
    }

    /// `ip -o link show dev <name>`, or `None` if it does not exist.
    pub fn link(&self, name: &str) -> Option<String> {
        let out =
            Command::new("ip").args(["-n", &self.name, "-o", "link", "show", "dev", name]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The link's ifindex.
    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.link(name)?.split(':').next()?.trim().parse().ok()
    }

    /// Whether the link is administratively up.
    pub fn is_up(&self, name: &str) -> bool {
        self.link(name).is_some_and(|l| {
            l.split('>').next().is_some_and(|flags| flags.contains(",UP") || flags.contains("<UP"))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run command");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The portsyncd binary under test, running in a namespace.
pub struct Daemon {
    child: Option<Child>,
    /// What it printed on stdout, once stopped.
    pub stdout: String,
    log: PathBuf,
    pub started: Instant,
}

impl Daemon {
    /// Starts `portsyncd` in `ns` with `args`; its stderr goes to `log`.
    pub fn start(ns: &Netns, log: PathBuf, args: &[&str]) -> Self {
        Self::start_via(ns, log, &[], args)
    }

    /// Starts `portsyncd` in `ns` through `wrapper` (a command that ends by
    /// running the rest of its arguments); its stderr goes to `log`.
    pub fn start_via(ns: &Netns, log: PathBuf, wrapper: &[&str], args: &[&str]) -> Self {
        let stderr = std::fs::File::create(&log).expect("log file");
        let started = Instant::now();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(wrapper)
            .arg(portsyncd_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start portsyncd");
        Self { child: Some(child), stdout: String::new(), log, started }
    }

    /// Starts `portsyncd` in the test's own (host) network namespace, not
    /// through `ip netns exec` (a daemon that enters one itself: `--netns`);
    /// its stderr goes to `log`.
    pub fn start_host(log: PathBuf, args: &[&str]) -> Self {
        let stderr = std::fs::File::create(&log).expect("log file");
        let started = Instant::now();
        let child = Command::new(portsyncd_bin())
            .args(args)
            .env_remove("NAMESPACE_ID")
            .env_remove("NAMESPACE_PREFIX")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start portsyncd");
        Self { child: Some(child), stdout: String::new(), log, started }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the exit; returns the status
    /// and how long the exit took.
    pub fn stop_with(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let sent = Instant::now();
        run(Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()));
        let status = child.wait().expect("wait");
        let took = sent.elapsed();
        if let Some(mut out) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut out, &mut self.stdout);
        }
        (status, took)
    }

    /// Waits for it to exit by itself (start-up failures); its status and stdout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Daemon {
    /// Waits for it to exit by itself; its status and everything it printed
    /// on stdout (a run that only reports, like `--check-config`).
    pub fn wait_output(&mut self, timeout: Duration) -> Option<(ExitStatus, String)> {
        let status = self.wait_exit(timeout)?;
        if let Some(mut out) = self.child.as_mut().and_then(|c| c.stdout.take()) {
            let _ = std::io::Read::read_to_string(&mut out, &mut self.stdout);
        }
        Some((status, self.stdout.clone()))
    }

    /// The pid, as a string for `kill`.
    pub fn pid_for_signals(&self) -> String {
        self.child.as_ref().map_or(0, Child::id).to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// orchagent + syncd, as far as portsyncd can tell: pops APPL_DB
/// `PORT_TABLE` and creates each newly popped port's host interface (a veth
/// whose peer is up), replacing one left over from before.
pub struct Orchagent {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub popped: Arc<Mutex<Vec<(String, Popped, Instant)>>>,
}

impl Orchagent {
    pub fn start(socket: PathBuf, ns_name: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let popped = Arc::new(Mutex::new(Vec::new()));
        let (stop2, popped2) = (stop.clone(), popped.clone());
        let thread = std::thread::spawn(move || {
            let mut raw = RedisRaw::connect(&socket);
            let ns = Netns { name: ns_name };
            let mut created = std::collections::HashSet::new();
            while !stop2.load(Ordering::Relaxed) {
                let got = smol::block_on(consumer_pop(&mut raw, Db::Appl, "PORT_TABLE"));
                for (key, op) in got {
                    if key.starts_with("Ethernet")
                        && matches!(op, Popped::Set(_))
                        && created.insert(key.clone())
                    {
                        let peer = format!("v{}", &key["Ethernet".len()..]);
                        if ns.link(&key).is_some() {
                            ns.ip(&["link", "del", &key]);
                        }
                        ns.veth(&key, &peer);
                        ns.ip(&["link", "set", &peer, "up"]);
                    }
                    popped2.lock().unwrap().push((key, op, Instant::now()));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // The namespace belongs to the test; don't delete it from here.
            std::mem::forget(ns);
        });
        Self { stop, thread: Some(thread), popped }
    }

    /// When `key` was first popped.
    pub fn popped_at(&self, key: &str) -> Option<Instant> {
        self.popped.lock().unwrap().iter().find(|(k, _, _)| k == key).map(|(_, _, t)| *t)
    }
}

impl Drop for Orchagent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The CONFIG_DB fields of port `i` (as a SONiC port_config would give them).
pub fn port_config(i: usize) -> Vec<(String, String)> {
    vec![
        ("admin_status".into(), "down".into()),
        ("alias".into(), format!("etp{}", i + 1)),
        ("index".into(), i.to_string()),
        ("lanes".into(), format!("{},{},{},{}", i * 4, i * 4 + 1, i * 4 + 2, i * 4 + 3)),
        ("mtu".into(), "9100".into()),
        ("speed".into(), "100000".into()),
    ]
}

/// One scenario's switch: namespace, Redis, CONFIG_DB, and (once started)
/// portsyncd and the orchagent stand-in.
pub struct Switch {
    pub orchagent: Option<Orchagent>,
    pub daemon: Option<Daemon>,
    pub raw: RedisRaw,
    pub ns: Netns,
    pub db_config: PathBuf,
    pub conf: PathBuf,
    pub dir: PathBuf,
}

impl Switch {
    /// A switch whose CONFIG_DB has `ports` ports `Ethernet0`, `Ethernet4`, ...
    pub fn new(ports: usize) -> Self {
        Self::with_server(ports, Netns::new(), RedisServer::start_unix, false)
    }

    /// As [`Switch::new`], with Redis inside the namespace on loopback TCP
    /// (and its unix socket, which the test uses): the daemons connect over
    /// TCP, each connection with an address of its own in `MONITOR` and
    /// `CLIENT LIST`.
    pub fn new_tcp(ports: usize) -> Self {
        let ns = Netns::new();
        let name = ns.name.clone();
        Self::with_server(ports, ns, || RedisServer::start_tcp_in_netns(&name, 6379), true)
    }

    fn with_server(ports: usize, ns: Netns, server: impl FnOnce() -> RedisServer, tcp: bool) -> Self {
        let server = server();
        let db_config = server.write_db_config(tcp);
        let dir = server.dir().to_owned();
        let conf = dir.join("portsyncd.conf");
        std::fs::write(&conf, "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n").unwrap();
        let mut raw = RedisRaw::new(server);
        for i in 0..ports {
            let fields = port_config(i);
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
            smol::block_on(raw.hset(Db::Config, &format!("PORT|Ethernet{}", i * 4), &pairs));
        }
        Self { orchagent: None, daemon: None, raw, ns, db_config, conf, dir }
    }

    /// Starts orchagent's stand-in, then portsyncd.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// Starts orchagent's stand-in, then portsyncd with more arguments.
    pub fn start_with(&mut self, extra: &[&str]) {
        self.orchagent = Some(Orchagent::start(self.raw.socket().to_owned(), self.ns.name.clone()));
        self.start_daemon_with(extra);
    }

    /// Starts portsyncd only.
    pub fn start_daemon(&mut self) {
        self.start_daemon_with(&[]);
    }

    /// Starts portsyncd only, with more arguments.
    pub fn start_daemon_with(&mut self, extra: &[&str]) {
        let mut args = self.daemon_args();
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.daemon = Some(Daemon::start(&self.ns, self.dir.join("portsyncd.log"), &args));
    }

    /// The arguments every daemon of this switch takes: its database
    /// config, settings file and state dir.
    pub fn daemon_args(&self) -> Vec<String> {
        self.daemon_args_for(&self.conf, &self.state_dir())
    }

    /// The arguments of a daemon of this switch with its own settings file
    /// and state dir.
    pub fn daemon_args_for(&self, conf: &std::path::Path, state: &std::path::Path) -> Vec<String> {
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        vec![
            "--db-config".into(),
            path(&self.db_config),
            "--config".into(),
            path(conf),
            "--state-dir".into(),
            path(state),
        ]
    }

    /// The daemon's warm-restart snapshot directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn daemon(&mut self) -> &mut Daemon {
        self.daemon.as_mut().expect("daemon started")
    }

    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }

    pub fn hgetall(&mut self, db: Db, key: &str) -> Hash {
        smol::block_on(self.raw.hgetall(db, key))
    }

    pub fn exists(&mut self, db: Db, key: &str) -> bool {
        smol::block_on(self.raw.exists(db, key))
    }

    /// Waits for `db` `key` to equal `want` (for at most `timeout`); on
    /// failure, panics with what it was and the daemon's log.
    pub fn expect_hash(&mut self, db: Db, key: &str, want: &Hash, timeout: Duration) {
        let ok = wait_until(timeout, || &self.hgetall(db, key) == want);
        if !ok {
            let got = self.hgetall(db, key);
            panic!("{db} {key}: got {got:?}, want {want:?}\n--- portsyncd log ---\n{}", self.log());
        }
    }

    /// Waits for `db` `key` to be absent.
    pub fn expect_absent(&mut self, db: Db, key: &str, timeout: Duration) {
        if !wait_until(timeout, || !self.exists(db, key)) {
            let got = self.hgetall(db, key);
            panic!("{db} {key} still there: {got:?}\n--- portsyncd log ---\n{}", self.log());
        }
    }
}

/// The four STATE_DB fields portsyncd writes.
pub fn state(oper: &str, admin: &str, mtu: &str) -> Hash {
    hash(&[("state", "ok"), ("netdev_oper_status", oper), ("admin_status", admin), ("mtu", mtu)])
}

/// Every keyspace event of STATE_DB (database 6), as Redis publishes them.
pub struct KeyspaceWatcher {
    pub events: Arc<Mutex<Vec<(String, String)>>>,
}

impl KeyspaceWatcher {
    /// Turns keyspace notifications on and starts recording.
    pub fn start(socket: &std::path::Path) -> Self {
        let url = format!("redis+unix://{}", socket.display());
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_connection().unwrap();
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("KA").query(&mut conn).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let record = events.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sub = client.get_connection().unwrap();
            let mut pubsub = sub.as_pubsub();
            pubsub.psubscribe("__keyspace@6__:*").unwrap();
            let _ = ready_tx.send(());
            while let Ok(msg) = pubsub.get_message() {
                let key = msg.get_channel_name().trim_start_matches("__keyspace@6__:").to_owned();
                let event: String = msg.get_payload().unwrap_or_default();
                record.lock().unwrap().push((key, event));
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Self { events }
    }

    /// Events on STATE_DB port keys so far.
    pub fn port_events(&self) -> Vec<(String, String)> {
        self.events.lock().unwrap().iter().filter(|(k, _)| k.starts_with("PORT_TABLE|")).cloned().collect()
    }
}

/// Every command MONITOR shows, as its raw line.
pub struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    pub fn start(socket: &std::path::Path) -> Self {
        let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("redis socket");
        std::io::Write::write_all(&mut stream, b"*1\r\n$7\r\nMONITOR\r\n").unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let record = lines.clone();
        let mut reader = std::io::BufReader::new(stream);
        let mut ok = String::new();
        std::io::BufRead::read_line(&mut reader, &mut ok).unwrap();
        assert_eq!(ok, "+OK\r\n");
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 0) {
                record.lock().unwrap().push(line.trim_end().to_owned());
                line.clear();
            }
        });
        Self { lines }
    }

    /// A mark after every command `conn` has sent so far: MONITOR's lines
    /// come on their own connection, later than the commands' replies, so
    /// an ECHO of a unique word is sent and waited for.
    pub fn mark_after(&self, conn: &mut redis::Connection) -> usize {
        static MARKS: AtomicU32 = AtomicU32::new(0);
        let word = format!("monitor-mark-{}-{}", std::process::id(), MARKS.fetch_add(1, Ordering::Relaxed));
        let _: String = redis::cmd("ECHO").arg(&word).query(conn).unwrap();
        let mut at = None;
        assert!(
            wait_until(Duration::from_secs(5), || {
                at = self.lines.lock().unwrap().iter().position(|l| l.contains(&word));
                at.is_some()
            }),
            "MONITOR never showed {word}"
        );
        at.unwrap() + 1
    }

    /// Commands carried out in database `db` whose text starts with
    /// `prefix` (`"HSET" "PORT_TABLE|`): sent by a client, or called by a
    /// script (the STATE_DB port writes are check-and-write scripts).
    pub fn count(&self, db: u32, prefix: &str) -> usize {
        self.count_since(0, db, prefix)
    }

    /// As [`count`](Self::count), from line `mark` on.
    pub fn count_since(&self, mark: usize, db: u32, prefix: &str) -> usize {
        self.lines_since(mark, db, prefix).len()
    }

    /// Each command carried out in database `db` whose text starts with
    /// `prefix`, with the client that caused it: its address as MONITOR
    /// shows it (`127.0.0.1:40312`, or `unix:/path` for every unix-socket
    /// client alike) and the line. A command a script called (MONITOR shows
    /// it as `lua`, right after the script's own line: a script runs whole)
    /// is the client's that called the script.
    pub fn by_client(&self, db: u32, prefix: &str) -> Vec<(String, String)> {
        let lines = self.lines.lock().unwrap();
        let mut caller = String::new();
        let mut out = Vec::new();
        for l in lines.iter() {
            // `<time> [<db> <client>] "CMD" ...`
            let Some((at, client)) =
                l.split_once(" [").and_then(|(_, rest)| rest.split_once(']')?.0.split_once(' '))
            else {
                continue;
            };
            if client != "lua" {
                caller = client.to_owned();
            }
            if at == db.to_string() && l.contains(prefix) {
                out.push((caller.clone(), l.clone()));
            }
        }
        out
    }

    /// The lines from `mark` on that match.
    pub fn lines_since(&self, mark: usize, db: u32, prefix: &str) -> Vec<String> {
        let (client, script) = (format!("[{db} unix:"), format!("[{db} lua]"));
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(mark)
            .filter(|l| (l.contains(&client) || l.contains(&script)) && l.contains(prefix))
            .cloned()
            .collect()
    }
}

/// Runs `f` on a thread that has entered `ns`'s network namespace: the
/// sockets it makes are that namespace's.
pub fn in_netns<R: Send>(ns: &str, f: impl FnOnce() -> R + Send) -> R {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("the namespace");
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            f()
        })
        .join()
        .unwrap()
    })
}

/// What a service manager's notify socket was told, so far.
pub fn notifications(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_owned));
    }
    got
}
