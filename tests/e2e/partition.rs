//! Partitioned instances of the real daemon: four instances share 128 ports
//! of one namespace and one Redis. Every write is attributed to the instance
//! that made it: Redis runs in the test's namespace on loopback TCP, so each
//! connection has an address of its own in MONITOR, and `CLIENT LIST` maps
//! the address to the name the connection gave itself (`portsyncd-<id>`).
//! Every key is written by one instance, exactly: the APPL_DB configuration
//! and the markers once, by the leader; each STATE_DB port entry by one
//! instance only, each instance a quarter of them, and each instance's own
//! count of its writes equal to what MONITOR saw from it. PortInitDone comes
//! once every instance has its ports, and Redis ends as one instance leaves
//! it (apart from the coordination keys).

use std::collections::BTreeMap;
use std::process::Command;

use portsyncd_core::backend::Db;

use crate::faults::kernel;
use crate::harness::*;

const PORTS: usize = 128;

/// Writes MONITOR saw, by the name of the connection that sent them.
type ByClient = BTreeMap<String, usize>;

/// What a run left.
struct Outcome {
    /// Every key of APPL_DB, CONFIG_DB and STATE_DB with its value, shown.
    redis: BTreeMap<String, String>,
    /// STATE_DB PORT_TABLE HSETs: by instance name, by key.
    state_sets: BTreeMap<String, BTreeMap<String, usize>>,
    /// APPL_DB producer calls, restore_count and LOGGER writes.
    produces: ByClient,
    restore_counts: ByClient,
    logger_writes: ByClient,
    /// Each instance's own count of the STATE_DB port writes it decided, by
    /// its name.
    instance_state_sets: BTreeMap<String, usize>,
}

/// `CLIENT LIST`: each connection's address and the name it gave itself.
fn client_names(sw: &mut Switch) -> BTreeMap<String, String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(sw.raw.conn(Db::Config)).unwrap();
    list.lines()
        .filter_map(|l| {
            let field = |f: &str| l.split(' ').find_map(|kv| kv.strip_prefix(f)).map(str::to_owned);
            Some((field("addr=")?, field("name=")?))
        })
        .collect()
}

/// MONITOR's lines of `db` starting with `prefix`, by the name of the
/// connection that sent each; a line from a connection `names` does not know
/// fails the test.
fn attributed(
    monitor: &Monitor,
    names: &BTreeMap<String, String>,
    db: u32,
    prefix: &str,
) -> Vec<(String, String)> {
    monitor
        .by_client(db, prefix)
        .into_iter()
        .map(|(addr, line)| {
            let name = names
                .get(&addr)
                .unwrap_or_else(|| panic!("{line}: from {addr}, not in CLIENT LIST {names:?}"));
            (name.clone(), line)
        })
        .collect()
}

fn count_by(lines: &[(String, String)]) -> ByClient {
    let mut by = ByClient::new();
    for (name, _) in lines {
        *by.entry(name.clone()).or_default() += 1;
    }
    by
}

/// Every key of the three databases, `type` and contents as text.
fn dump(sw: &mut Switch) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for (db, id) in [(Db::Appl, 0), (Db::Config, 4), (Db::State, 6)] {
        let conn = sw.raw.conn(db);
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(conn).unwrap();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(conn).unwrap();
            let value = match kind.as_str() {
                "hash" => format!(
                    "{:?}",
                    redis::cmd("HGETALL").arg(&key).query::<BTreeMap<String, String>>(conn).unwrap()
                ),
                "set" => format!(
                    "{:?}",
                    redis::cmd("SMEMBERS")
                        .arg(&key)
                        .query::<std::collections::BTreeSet<String>>(conn)
                        .unwrap()
                ),
                other => other.to_owned(),
            };
            all.insert(format!("{id}/{key}"), value);
        }
    }
    all
}

/// The kernel's every port equals its STATE_DB entry (the four fields).
fn converged(sw: &mut Switch) -> bool {
    let Ok(kernel) = kernel(&sw.ns) else { return false };
    kernel.len() == PORTS
        && kernel.iter().all(|(port, want)| {
            let got: Hash = sw
                .hgetall(Db::State, &format!("PORT_TABLE|{port}"))
                .into_iter()
                .filter(|(f, _)| {
                    matches!(f.as_str(), "state" | "admin_status" | "netdev_oper_status" | "mtu")
                })
                .collect();
            &got == want
        })
}

/// One run with `instances` instances (1: no `[instance]` at all).
fn run(instances: u8) -> Outcome {
    let mut sw = Switch::new_tcp(PORTS);
    let monitor = Monitor::start(sw.raw.socket());
    sw.orchagent = Some(Orchagent::start(sw.raw.socket().to_owned(), sw.ns.name.clone()));
    let mut daemons = Vec::new();
    for id in 0..instances {
        let conf = sw.dir.join(format!("instance{id}.conf"));
        let mut text = "[log]\noutput = \"STDERR\"\n[netlink]\ndump_timeout_ms = 3000\n".to_owned();
        if instances > 1 {
            text += &format!("[instance]\nid = {id}\ncount = {instances}\npartition = \"even\"\n");
        }
        std::fs::write(&conf, text).unwrap();
        let args = sw.daemon_args_for(&conf, &sw.dir.join(format!("state{id}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        daemons.push(Daemon::start(&sw.ns, sw.dir.join(format!("instance{id}.log")), &args));
    }
    let logs = |daemons: &[Daemon]| daemons.iter().map(Daemon::log).collect::<Vec<_>>().join("\n---\n");
    let ready = wait_until(T * 2, || {
        sw.orchagent.as_ref().unwrap().popped_at("PortInitDone").is_some() && converged(&mut sw)
    });
    assert!(ready, "{instances} instances: not ready\n{}", logs(&daemons));
    // A storm over a third of the ports, every instance's: admin up, carrier down and up, an MTU.
    let mut batch = String::new();
    for i in (0..PORTS).step_by(3) {
        batch += &format!(
            "link set dev {} up\nlink set dev v{} down\nlink set dev v{} up\n",
            name(i),
            i * 4,
            i * 4
        );
        if i % 9 == 0 {
            batch += &format!("link set dev {} mtu 9100\n", name(i));
        }
    }
    let path = sw.dir.join("storm.batch");
    std::fs::write(&path, batch).unwrap();
    let out = Command::new("ip").args(["-n", &sw.ns.name, "-batch"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        wait_until(T, || converged(&mut sw)),
        "{instances} instances: STATE_DB is not the kernel\n{}",
        logs(&daemons)
    );
    if instances > 1 {
        for (id, d) in daemons.iter().enumerate() {
            let owns =
                format!("instance {id} of {instances}: owns {} of {PORTS} configured ports", PORTS / 4);
            assert!(d.log().contains(&owns), "{}", d.log());
        }
        assert!(daemons[0].log().contains("all 4 instances have their ports' host interfaces"));
    }
    // Every daemon connection named, and which address is whose, while they
    // are all connected.
    let names = client_names(&mut sw);
    let mut named: Vec<&String> = names.values().filter(|n| n.starts_with("portsyncd")).collect();
    named.sort();
    named.dedup();
    let want: Vec<String> = if instances > 1 {
        (0..instances).map(|id| format!("portsyncd-{id}")).collect()
    } else {
        vec!["portsyncd".to_owned()]
    };
    assert_eq!(named, want.iter().collect::<Vec<_>>(), "CLIENT LIST names: {names:?}");
    // Three connections each: CONFIG_DB, APPL_DB, STATE_DB.
    for name in &want {
        let conns = names.values().filter(|n| *n == name).count();
        assert_eq!(conns, 3, "{name}: {names:?}");
    }
    let mut instance_state_sets = BTreeMap::new();
    for (d, name) in daemons.iter_mut().zip(&want) {
        let (status, _) = d.stop_with("TERM");
        assert!(status.success(), "{}", d.log());
        let log = d.log();
        let sets = log
            .split("state sets ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no stop line: {log}"));
        instance_state_sets.insert(name.clone(), sets);
    }
    // Every command sent so far is in MONITOR's lines.
    monitor.mark_after(sw.raw.conn(Db::State));
    let mut state_sets: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (name, line) in attributed(&monitor, &names, 6, r#""HSET" "PORT_TABLE|"#) {
        let key = line.split('"').nth(3).unwrap_or_default().to_owned();
        *state_sets.entry(name).or_default().entry(key).or_default() += 1;
    }
    let mut redis = dump(&mut sw);
    redis.retain(|key, _| !key.starts_with("6/PORTSYNCD_INSTANCE|"));
    Outcome {
        redis,
        state_sets,
        produces: count_by(&attributed(&monitor, &names, 0, r#""EVALSHA""#)),
        restore_counts: count_by(&attributed(
            &monitor,
            &names,
            6,
            r#""HSET" "WARM_RESTART_TABLE|portsyncd""#,
        )),
        logger_writes: count_by(&attributed(&monitor, &names, 4, r#""HSET" "LOGGER|portsyncd""#)),
        instance_state_sets,
    }
}

#[test]
fn four_instances_over_128_ports_write_each_key_once_and_leave_redis_as_one_does() {
    let four = run(4);
    let leader = |n: usize| ByClient::from([("portsyncd-0".to_owned(), n)]);
    // The configuration and both markers once each, by the leader; the
    // daemon's own keys once, by the leader.
    assert_eq!(four.produces, leader(PORTS + 2));
    assert_eq!(four.restore_counts, leader(1));
    assert_eq!(four.logger_writes, leader(1));
    // Each STATE_DB port entry written by one instance only, each instance
    // a quarter of them, and each instance's own count of its writes is
    // what MONITOR saw from it.
    let mut writers: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (name, keys) in &four.state_sets {
        for key in keys.keys() {
            writers.entry(key).or_default().push(name);
        }
    }
    assert_eq!(writers.len(), PORTS, "{writers:?}");
    let shared: Vec<_> = writers.iter().filter(|(_, w)| w.len() != 1).collect();
    assert!(shared.is_empty(), "port entries written by more than one instance: {shared:?}");
    for id in 0..4 {
        let name = format!("portsyncd-{id}");
        let keys = &four.state_sets[&name];
        assert_eq!(keys.len(), PORTS / 4, "{name} wrote {keys:?}");
        let seen: usize = keys.values().sum();
        assert_eq!(four.instance_state_sets[&name], seen, "{name}: its own count against MONITOR's");
    }
    let one = run(1);
    let only = |n: usize| ByClient::from([("portsyncd".to_owned(), n)]);
    assert_eq!(one.produces, only(PORTS + 2));
    assert_eq!((one.restore_counts, one.logger_writes), (only(1), only(1)));
    let seen: usize = one.state_sets["portsyncd"].values().sum();
    assert_eq!(one.instance_state_sets["portsyncd"], seen);
    assert_eq!(one.state_sets["portsyncd"].len(), PORTS);
    // How many writes a storm takes depends on how each daemon's batches
    // fall (not compared); where Redis ends does not.
    let differing: Vec<_> = one
        .redis
        .keys()
        .chain(four.redis.keys())
        .filter(|k| one.redis.get(*k) != four.redis.get(*k))
        .collect();
    assert!(differing.is_empty(), "Redis differs from one instance's at {differing:?}");
}

/// Two instances with one id: the second is refused before it touches
/// anything, naming the instance.
#[test]
fn a_second_instance_with_the_same_id_is_refused() {
    let mut sw = Switch::new(4);
    std::fs::write(
        &sw.conf,
        "[log]\noutput = \"STDERR\"\n[instance]\nid = 1\ncount = 2\npartition = \"even\"\n",
    )
    .unwrap();
    sw.start();
    assert!(wait_until(T, || sw.log().contains("instance 1 of 2: owns 2 of 4")), "{}", sw.log());
    // Its own state dir too: only the abstract socket can refuse it.
    let args = sw.daemon_args_for(&sw.conf, &sw.dir.join("other-state"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut second = Daemon::start(&sw.ns, sw.dir.join("second.log"), &args);
    let status = second.wait_exit(T).expect("refused");
    assert_eq!(status.code(), Some(1));
    let log = second.log();
    assert!(log.contains("another portsyncd for instance 1 runs in this network namespace"), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
}
