//! Redis in trouble while the links storm: paused (SIGSTOP), refusing
//! writes (OOM), killed and started again empty. Each run plays 20 storms of
//! random link changes over 16 ports and ends with STATE_DB equal to the
//! kernel. The storms come from a seeded generator: set `FAULTS_SEED` to
//! play a failed run again (every failure message says its seed).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::process::Command;
use std::time::{Duration, Instant};

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

const PORTS: usize = 16;
const STORMS: usize = 20;
/// How long STATE_DB has to come to equal the kernel once the trouble is over.
const CONVERGE: Duration = Duration::from_secs(15);

/// xorshift64*: small, seeded, good enough for storms.
struct Rng(u64);

impl Rng {
    /// From `FAULTS_SEED` if set, else from the clock (mixed with `salt`).
    fn seeded(salt: u64) -> (Self, u64) {
        let seed = std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        (Self(seed | 1), seed)
    }

    fn step(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.step() % n
    }

    fn coin(&mut self) -> bool {
        self.step() & (1 << 40) != 0
    }
}

pub(crate) fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

/// One storm: one `ip -batch` that sets, for every port, admin (EthernetN)
/// and carrier (its peer vN) to several values in a row, ending in a random
/// final state, sometimes with a new MTU.
fn storm(sw: &Switch, rng: &mut Rng, seed: u64, n: usize) {
    let mut batch = String::new();
    let rounds = 2 + rng.below(3);
    for _ in 0..rounds {
        for i in 0..PORTS {
            for _ in 0..1 + rng.below(2) {
                let dev = if rng.coin() { name(i) } else { format!("v{}", i * 4) };
                batch += &format!("link set dev {dev} {}\n", up_down(rng.coin()));
            }
        }
    }
    for i in 0..PORTS {
        batch += &format!("link set dev {} {}\n", name(i), up_down(rng.coin()));
        batch += &format!("link set dev v{} {}\n", i * 4, up_down(rng.coin()));
        if rng.below(4) == 0 {
            let mtu = [1500, 9100, 9000, 4000, 1280 + rng.below(2000)][rng.below(5) as usize];
            batch += &format!("link set dev {} mtu {mtu}\n", name(i));
        }
    }
    let path = sw.dir.join("storm.batch");
    std::fs::write(&path, batch).unwrap();
    let out = Command::new("ip").args(["-n", &sw.ns.name, "-batch"]).arg(&path).output().expect("ip -batch");
    assert!(out.status.success(), "storm {n} (seed {seed}) failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The kernel's view of every `Ethernet*` link, as STATE_DB should have it,
/// read in one command. `IFF_RUNNING` is not in sysfs' `flags` (the kernel
/// adds it when it reports flags over netlink, from the operational state),
/// so it is taken from `operstate` as the kernel does: running when up and
/// the operational state is up or unknown.
pub(crate) fn kernel(ns: &Netns) -> Result<BTreeMap<String, Hash>, String> {
    let script = r#"for i in /sys/class/net/Ethernet*; do echo "$(basename $i) $(cat $i/flags) $(cat $i/operstate) $(cat $i/mtu)"; done"#;
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c", script])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut links = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, flags, operstate, mtu] = parts[..] else {
            return Err(format!("unreadable: {line:?} in\n{text}"));
        };
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16)
            .map_err(|_| format!("flags {flags:?} in\n{text}"))?;
        let up = flags & 0x1 != 0;
        let running = up && matches!(operstate, "up" | "unknown");
        links.insert(name.to_owned(), state(up_down(running), up_down(up), mtu));
    }
    Ok(links)
}

/// STATE_DB's four fields of every port (others ignored); absent ports left out.
fn state_db(sw: &mut Switch) -> BTreeMap<String, Hash> {
    let mut ports = BTreeMap::new();
    for i in 0..PORTS {
        let got = sw.hgetall(Db::State, &format!("PORT_TABLE|{}", name(i)));
        if got.is_empty() {
            continue;
        }
        let four = got
            .into_iter()
            .filter(|(f, _)| matches!(f.as_str(), "state" | "admin_status" | "netdev_oper_status" | "mtu"))
            .collect();
        ports.insert(name(i), four);
    }
    ports
}

fn same(sw: &mut Switch) -> bool {
    let Ok(kernel) = kernel(&sw.ns) else { return false };
    kernel.len() == PORTS && state_db(sw) == kernel
}

/// Waits until STATE_DB equals the kernel for every port; else panics with
/// both sides, the differences and the daemon's log.
fn expect_converged(sw: &mut Switch, seed: u64, timeout: Duration) {
    let started = Instant::now();
    if wait_until(timeout, || same(sw)) {
        eprintln!("STATE_DB equal to the kernel after {} ms", started.elapsed().as_millis());
        return;
    }
    let kernel = kernel(&sw.ns);
    let db = state_db(sw);
    let (mut diff, mut both) = (String::new(), String::new());
    match &kernel {
        Ok(kernel) => {
            for i in 0..PORTS {
                let (k, d) = (kernel.get(&name(i)), db.get(&name(i)));
                let line = format!("  {}: kernel {k:?}, STATE_DB {d:?}\n", name(i));
                if k != d {
                    diff += &line;
                }
                both += &line;
            }
        }
        Err(e) => both = format!("kernel unreadable: {e}\nSTATE_DB: {db:?}\n"),
    }
    panic!(
        "STATE_DB is not the kernel after {timeout:?} (seed {seed}; FAULTS_SEED={seed} plays it again)\n\
         differences:\n{diff}both:\n{both}--- portsyncd log ---\n{}",
        sw.log()
    );
}

/// Waits for the 16 ports' host interfaces to be published and PortInitDone
/// popped: the storms play on links the daemon knows.
fn expect_ready(sw: &mut Switch, seed: u64) {
    let ok = wait_until(T, || {
        sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some() && state_db(sw).len() == PORTS
    });
    assert!(ok, "ports not ready (seed {seed})\n{:?}\n--- portsyncd log ---\n{}", state_db(sw), sw.log());
    expect_converged(sw, seed, T);
}

/// The daemon still runs.
fn expect_running(sw: &mut Switch, seed: u64) {
    let exited = sw.daemon().wait_exit(Duration::from_millis(50));
    assert!(exited.is_none(), "portsyncd exited {exited:?} (seed {seed})\n{}", sw.log());
}

/// Stops the daemon with SIGTERM: it must exit 0 (it ran through).
fn expect_clean_stop(sw: &mut Switch, seed: u64) {
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "exit {status:?} (seed {seed})\n{}", sw.log());
}

/// Whether Redis answers a PING on a new connection within `within`.
fn answers(sw: &mut Switch, within: Duration) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(sw.raw.socket()) else { return false };
    let _ = s.set_read_timeout(Some(within));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn config_set(sw: &mut Switch, what: &str, value: &str) {
    let () = redis::cmd("CONFIG").arg("SET").arg(what).arg(value).query(sw.raw.conn(Db::State)).unwrap();
}

/// Redis stops answering (SIGSTOP) for ~3 s over storms 5–9 and for ~1 s
/// around storm 15, the storms going on meanwhile. The daemon runs through
/// (it exits 0 on SIGTERM at the end) and STATE_DB ends equal to the kernel.
#[test]
fn redis_paused_mid_storm_ends_with_state_db_equal_to_the_kernel() {
    let (mut rng, seed) = Rng::seeded(1);
    let mut sw = Switch::new(PORTS);
    sw.start();
    expect_ready(&mut sw, seed);
    // Storms 5–9 spread over a 3 s pause, storm 15 in a 1 s one: each storm
    // ends no earlier than `at` after its pause began.
    let mut unanswered = Vec::new();
    let played = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut paused_at = Instant::now();
        for n in 1..=STORMS {
            if n == 5 || n == 15 {
                sw.raw.server().pause();
                paused_at = Instant::now();
            }
            storm(&sw, &mut rng, seed, n);
            let at = match n {
                5..=8 => Duration::from_millis(600) * (n as u32 - 4),
                9 => Duration::from_secs(3),
                15 => Duration::from_secs(1),
                _ => continue,
            };
            if n == 5 || n == 15 {
                unanswered.push((n, !answers(&mut sw, Duration::from_millis(300))));
            }
            std::thread::sleep((paused_at + at).saturating_duration_since(Instant::now()));
            if n == 9 || n == 15 {
                sw.raw.server().resume();
            }
        }
    }));
    // A failed storm must not leave Redis stopped: dropping the switch
    // would wait on it for good (orchagent's stand-in is blocked there).
    sw.raw.server().resume();
    if let Err(panic) = played {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(unanswered, [(5, true), (15, true)], "Redis answered while paused (seed {seed})");
    // 3 s is longer than the daemon's 2 s response timeout: it noticed.
    let felt = wait_until(T, || sw.log().contains("databases reachable again"));
    let log = sw.log();
    assert!(felt && log.contains("databases unreachable"), "the pause went unnoticed (seed {seed})\n{log}");
    expect_running(&mut sw, seed);
    expect_converged(&mut sw, seed, CONVERGE);
    expect_running(&mut sw, seed);
    expect_clean_stop(&mut sw, seed);
}

/// Redis refuses writes (out of memory, no eviction) from storm 5 to storm
/// 12, then accepts them again. The daemon says writes were refused, runs
/// through, and STATE_DB ends equal to the kernel.
#[test]
fn redis_refusing_writes_mid_storm_ends_with_state_db_equal_to_the_kernel() {
    let (mut rng, seed) = Rng::seeded(2);
    let mut sw = Switch::new(PORTS);
    sw.start();
    expect_ready(&mut sw, seed);
    config_set(&mut sw, "maxmemory-policy", "noeviction");
    for n in 1..=STORMS {
        if n == 5 {
            config_set(&mut sw, "maxmemory", "1");
        }
        storm(&sw, &mut rng, seed, n);
        if n == 12 {
            // The scenario needs one refusal before writes are accepted again.
            let refused = wait_until(T, || sw.log().contains("writes refused"));
            config_set(&mut sw, "maxmemory", "0");
            assert!(refused, "no write refused (seed {seed})\n{}", sw.log());
        }
    }
    expect_running(&mut sw, seed);
    expect_converged(&mut sw, seed, CONVERGE);
    let log = sw.log();
    assert!(log.contains("OOM"), "the refusal's reason not said (seed {seed})\n{log}");
    expect_running(&mut sw, seed);
    expect_clean_stop(&mut sw, seed);
}

/// Redis is killed (SIGKILL) at storm 10 and started again empty on the same
/// socket: the daemon exits 1 saying so. Then the supervisor's part, as in
/// SONiC once its database is back: CONFIG_DB loaded again, orchagent and
/// portsyncd started again (a cold start: the old host interfaces are
/// brought down and ignored, and orchagent's stand-in creates each port's
/// host interface anew as it pops it). Storms 11–20 play on the new links;
/// STATE_DB ends equal to the kernel.
#[test]
fn redis_killed_and_restarted_mid_storm_ends_with_state_db_equal_to_the_kernel() {
    let (mut rng, seed) = Rng::seeded(3);
    let mut sw = Switch::new(PORTS);
    sw.start();
    expect_ready(&mut sw, seed);
    let old: Vec<Option<u32>> = (0..PORTS).map(|i| sw.ns.ifindex(&name(i))).collect();
    for n in 1..=9 {
        storm(&sw, &mut rng, seed, n);
    }
    // orchagent goes with its database; its stand-in would only panic.
    drop(sw.orchagent.take());
    sw.raw.server().kill();
    storm(&sw, &mut rng, seed, 10);
    sw.raw.server().start_again();
    sw.raw.reconnect_all();
    let status = sw.daemon().wait_exit(T);
    let log = sw.log();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "seed {seed}\n{log}");
    assert!(log.contains("a database server restarted (new run id) and lost its data"), "seed {seed}\n{log}");
    for db in [Db::Appl, Db::State] {
        let keys = smol::block_on(sw.raw.keys(db));
        assert!(keys.is_empty(), "{db} of the new server written by the old run: {keys:?}\n{log}");
    }
    // The supervisor: CONFIG_DB again, orchagent, portsyncd (its own log).
    for i in 0..PORTS {
        let fields = port_config(i);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
        smol::block_on(sw.raw.hset(Db::Config, &format!("PORT|{}", name(i)), &pairs));
    }
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let args = sw.daemon_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.daemon = Some(Daemon::start(&sw.ns, sw.dir.join("portsyncd-again.log"), &args));
    // Every port popped (so its host interface is a new one), then published.
    let popped = wait_until(T, || {
        let oa = sw.orchagent.as_ref().unwrap();
        (0..PORTS).all(|i| oa.popped_at(&name(i)).is_some())
    });
    assert!(popped, "orchagent did not pop every port (seed {seed})\n{}", sw.log());
    expect_ready(&mut sw, seed);
    for (i, old) in old.iter().enumerate() {
        let new = sw.ns.ifindex(&name(i));
        assert!(new.is_some() && new != *old, "{} not created anew: {old:?} => {new:?}", name(i));
    }
    assert!(
        sw.log().contains("existed before this cold start: bringing it down and ignoring it"),
        "the cold start did not find the old links\n{}",
        sw.log()
    );
    for n in 11..=STORMS {
        storm(&sw, &mut rng, seed, n);
    }
    expect_running(&mut sw, seed);
    expect_converged(&mut sw, seed, CONVERGE);
    expect_clean_stop(&mut sw, seed);
}
