//! Multi-ASIC: two ASIC namespaces, each with its own network namespace,
//! Redis and `database_config.json`, one host-side `database_global.json`
//! naming both, and two daemons started from the host network namespace
//! (`-n asicN --netns <ns>`, not `ip netns exec`). Each must watch only its
//! own links, write only its own Redis, and say which ASIC it serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portsyncd_contract::RawView as _;
use portsyncd_contract::redis_server::{RedisRaw, RedisServer};
use portsyncd_core::backend::Db;

use crate::harness::*;

/// One ASIC: its network namespace, Redis, orchagent stand-in and daemon
/// (dropped in that order, reversed: the stand-in stops before its Redis).
struct Asic {
    /// `asic0`, `asic1`.
    name: String,
    /// The CONFIG_DB ports, as indexes for [`port_config`] / [`name`].
    ports: Vec<usize>,
    daemon: Option<Daemon>,
    orchagent: Option<Orchagent>,
    raw: RedisRaw,
    ns: Netns,
    log: PathBuf,
    state_dir: PathBuf,
}

/// Two ASICs (asic0: Ethernet0, Ethernet4; asic1: Ethernet8, Ethernet12)
/// and the files a multi-ASIC host has.
struct Box2 {
    asics: Vec<Asic>,
    /// `<tmp>/database_global.json`.
    global: PathBuf,
    conf: PathBuf,
    tmp: tempfile::TempDir,
}

impl Box2 {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("portsyncd.conf");
        std::fs::write(&conf, "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n").unwrap();
        let mut asics = Vec::new();
        for (i, ports) in [vec![0, 1], vec![2, 3]].into_iter().enumerate() {
            let name = format!("asic{i}");
            let server = RedisServer::start_unix();
            // Each namespace's own copy, where the global file's include says.
            let dir = tmp.path().join(&name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::copy(server.write_db_config(false), dir.join("database_config.json")).unwrap();
            let mut raw = RedisRaw::new(server);
            for &p in &ports {
                let fields = port_config(p);
                let pairs: Vec<(&str, &str)> = fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
                smol::block_on(raw.hset(Db::Config, &format!("PORT|{}", self::name(p)), &pairs));
            }
            asics.push(Asic {
                log: tmp.path().join(format!("{name}.log")),
                state_dir: tmp.path().join(format!("state-{name}")),
                name,
                ports,
                raw,
                ns: Netns::new(),
                orchagent: None,
                daemon: None,
            });
        }
        // The host's own file: named, never read by a namespaced daemon (its
        // socket leads nowhere).
        std::fs::write(
            tmp.path().join("database_config.json"),
            std::fs::read_to_string(tmp.path().join("asic0/database_config.json"))
                .unwrap()
                .replace(asics[0].raw.socket().to_str().unwrap(), "/nonexistent/redis.sock"),
        )
        .unwrap();
        let global = tmp.path().join("database_global.json");
        std::fs::write(
            &global,
            r#"{
    "INCLUDES": [
        { "include": "database_config.json" },
        { "namespace": "asic0", "include": "asic0/database_config.json" },
        { "namespace": "asic1", "include": "asic1/database_config.json" }
    ],
    "VERSION": "1.0"
}"#,
        )
        .unwrap();
        Self { asics, global, conf, tmp }
    }

    /// `portsyncd -n <asic> --netns <its netns> --db-global-config <global>
    /// --config <conf> --state-dir <its dir>` and `extra`, from the host.
    fn args(&self, i: usize, extra: &[&str]) -> Vec<String> {
        let a = &self.asics[i];
        let mut args: Vec<String> = vec![
            "-n".into(),
            a.name.clone(),
            "--netns".into(),
            a.ns.name.clone(),
            "--db-global-config".into(),
            self.global.display().to_string(),
            "--config".into(),
            self.conf.display().to_string(),
            "--state-dir".into(),
            a.state_dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn start(&mut self, i: usize, extra: &[&str]) {
        let args = self.args(i, extra);
        let a = &mut self.asics[i];
        a.orchagent = Some(Orchagent::start(a.raw.socket().to_owned(), a.ns.name.clone()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        a.daemon = Some(Daemon::start_host(a.log.clone(), &args));
    }

    /// Both daemons' logs, for failure messages.
    fn logs(&self) -> String {
        self.asics
            .iter()
            .map(|a| {
                format!("--- {} ---\n{}", a.name, a.daemon.as_ref().map(Daemon::log).unwrap_or_default())
            })
            .collect()
    }
}

impl Asic {
    fn hgetall(&mut self, db: Db, key: &str) -> Hash {
        smol::block_on(self.raw.hgetall(db, key))
    }

    /// Every key of CONFIG_DB, APPL_DB and STATE_DB with its serialized
    /// value (`DUMP`): equal before and after means nothing was written.
    fn fingerprint(&mut self) -> BTreeMap<(String, String), Vec<u8>> {
        let mut all = BTreeMap::new();
        for db in Db::ALL {
            for key in smol::block_on(self.raw.keys(db)) {
                let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(self.raw.conn(db)).unwrap();
                all.insert((db.to_string(), key), dump);
            }
        }
        all
    }
}

/// Runs the binary from the host with `args`; its exit status and stderr.
fn run_host(args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(crate::harness::portsyncd_bin())
        .args(args)
        .env_remove("NAMESPACE_ID")
        .env_remove("NAMESPACE_PREFIX")
        .output()
        .expect("run portsyncd");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `ip netns exec <ns> curl` the metrics of the daemon in `ns`.
fn scrape(ns: &Netns, port: u16) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "curl", "-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_asics_from_the_host_each_keep_to_their_own_links_and_databases() {
    let mut b = Box2::new();
    // The same metrics port for both: each binds it in its own network namespace.
    b.start(0, &["--metrics-addr", "9100"]);
    b.start(1, &["--metrics-addr", "9100"]);

    // Both reach PortInitDone, each in its own APPL_DB.
    for i in 0..2 {
        let ok = wait_until(T, || b.asics[i].orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some());
        assert!(ok, "{}: no PortInitDone\n{}", b.asics[i].name, b.logs());
        assert_eq!(b.asics[i].hgetall(Db::Appl, "PORT_TABLE:PortInitDone"), hash(&[("lanes", "0")]));
        assert_eq!(b.asics[i].hgetall(Db::Appl, "PORT_TABLE:PortConfigDone"), hash(&[("count", "2")]));
    }
    // Each publishes its own ports (whose links exist only in its netns),
    // and none of the other's.
    for i in 0..2 {
        let (mine, theirs) = (b.asics[i].ports.clone(), b.asics[1 - i].ports.clone());
        let logs = b.logs();
        let a = &mut b.asics[i];
        for p in mine {
            let key = format!("PORT_TABLE|{}", name(p));
            let ok = wait_until(T, || a.hgetall(Db::State, &key) == state("down", "down", "1500"));
            if !ok {
                let got = a.hgetall(Db::State, &key);
                panic!("{}: STATE_DB {key} = {got:?}\n{logs}", a.name);
            }
            let want: Hash = port_config(p).into_iter().collect();
            assert_eq!(a.hgetall(Db::Appl, &format!("PORT_TABLE:{}", name(p))), want, "{}", a.name);
        }
        for p in theirs {
            for (db, key) in [
                (Db::State, format!("PORT_TABLE|{}", name(p))),
                (Db::Appl, format!("PORT_TABLE:{}", name(p))),
            ] {
                assert!(
                    !smol::block_on(a.raw.exists(db, &key)),
                    "{}: {db} {key} is the other ASIC's",
                    a.name
                );
            }
            assert!(a.ns.link(&name(p)).is_none(), "{}: the other ASIC's link {}", a.name, name(p));
        }
    }

    // A storm on asic0: Ethernet0 admin up, its carrier flapped ten times.
    let ns0 = b.asics[0].ns.name.clone();
    b.asics[0].ns.ip(&["link", "set", "Ethernet0", "up"]);
    let ok =
        wait_until(T, || b.asics[0].hgetall(Db::State, "PORT_TABLE|Ethernet0") == state("up", "up", "1500"));
    assert!(ok, "Ethernet0 not up\n{}", b.logs());
    // asic1 is quiet from here: record everything it has, and every
    // STATE_DB event and notification from now on.
    let before = b.asics[1].fingerprint();
    let watcher = KeyspaceWatcher::start(b.asics[1].raw.socket());
    let published_before = smol::block_on(b.asics[1].raw.publishes("PORT_TABLE_CHANNEL@0"));
    let watcher0 = KeyspaceWatcher::start(b.asics[0].raw.socket());
    for _ in 0..10 {
        b.asics[0].ns.ip(&["link", "set", "v0", "down"]);
        b.asics[0].ns.ip(&["link", "set", "v0", "up"]);
    }
    let ok =
        wait_until(T, || b.asics[0].hgetall(Db::State, "PORT_TABLE|Ethernet0") == state("up", "up", "1500"));
    assert!(ok, "Ethernet0 after the storm\n{}", b.logs());
    let ok = wait_until(T, || watcher0.port_events().iter().any(|(k, _)| k == "PORT_TABLE|Ethernet0"));
    assert!(ok, "asic0 saw its own storm in {ns0}\n{}", b.logs());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        watcher.events.lock().unwrap().clone(),
        vec![],
        "asic1's STATE_DB written during asic0's storm"
    );
    assert_eq!(b.asics[1].fingerprint(), before, "asic1's databases changed during asic0's storm");
    assert_eq!(smol::block_on(b.asics[1].raw.publishes("PORT_TABLE_CHANNEL@0")), published_before);
    assert_eq!(b.asics[1].hgetall(Db::State, "PORT_TABLE|Ethernet8"), state("down", "down", "1500"));

    // Each daemon's metrics, on the same port in its own netns, name its ASIC.
    for i in 0..2 {
        let text = scrape(&b.asics[i].ns, 9100);
        let line = text.lines().find(|l| l.starts_with("portsyncd_build_info{")).expect("build info");
        assert!(line.contains(&format!(r#"namespace="{}""#, b.asics[i].name)), "{line}");
    }

    // A second daemon for asic0 (another state dir) is refused; one for
    // asic0 in asic1's netns would not be, but that is the operator's call.
    let other_dir = b.tmp.path().join("state-asic0-again");
    let mut args = b.args(0, &[]);
    let at = args.iter().position(|a| a == "--state-dir").unwrap();
    args[at + 1] = other_dir.display().to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before0 = b.asics[0].fingerprint();
    let (status, stderr) = run_host(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("another portsyncd for namespace asic0 runs in this network namespace"),
        "{stderr}"
    );
    assert_eq!(b.asics[0].fingerprint(), before0, "the refused daemon wrote");

    // Every line each daemon logged says which ASIC it serves.
    for a in &mut b.asics {
        let (status, _) = a.daemon.as_mut().unwrap().stop_with("TERM");
        assert!(status.success(), "{}: exit {status:?}", a.name);
        let log = a.daemon.as_ref().unwrap().log();
        let prefix = format!("portsyncd[{}] ", a.name);
        assert!(log.lines().count() > 2, "{log}");
        for line in log.lines() {
            assert!(line.starts_with(&prefix), "{}: line without {prefix:?}: {line}\n{log}", a.name);
        }
    }
}

/// No running daemon: what each ASIC's Redis holds, to compare after a
/// refused start.
fn fingerprints(b: &mut Box2) -> Vec<BTreeMap<(String, String), Vec<u8>>> {
    b.asics.iter_mut().map(Asic::fingerprint).collect()
}

#[test]
fn an_unknown_namespace_is_one_line_and_nothing_written() {
    let mut b = Box2::new();
    let before = fingerprints(&mut b);
    let mut args = b.args(0, &[]);
    args[1] = "nosuch".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stderr) = run_host(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "portsyncd: namespace nosuch is not in SONiC global database config {} (its namespaces: asic0, asic1)\n",
            b.global.display()
        )
    );
    assert_eq!(fingerprints(&mut b), before);
    assert!(!b.asics[0].state_dir.exists(), "state dir created");
}

#[test]
fn a_missing_netns_is_one_line_and_nothing_written() {
    let mut b = Box2::new();
    let before = fingerprints(&mut b);
    let mut args = b.args(0, &[]);
    let missing = format!("psd{}-nosuch", std::process::id());
    args[3] = missing.clone();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stderr) = run_host(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("portsyncd: network namespace {missing}: no /run/netns/{missing} (see ip netns list)\n")
    );
    assert_eq!(fingerprints(&mut b), before);
    assert!(!b.asics[0].state_dir.exists(), "state dir created");
}

#[test]
fn a_namespace_without_its_global_file_is_one_line() {
    let b = Box2::new();
    let missing: &Path = &b.tmp.path().join("nope/database_global.json");
    let (status, stderr) = run_host(&[
        "-n",
        "asic0",
        "--db-global-config",
        missing.to_str().unwrap(),
        "--config",
        b.conf.to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "portsyncd: cannot read SONiC global database config {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}
