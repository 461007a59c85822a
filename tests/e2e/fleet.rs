//! The fleet path, end to end, with the real programs (issue 22): two
//! switches, each a network namespace with its own redis-server and the real
//! daemon; a real Prometheus (Debian's `prometheus`) scraping both over TCP
//! with the shipped rules file; a real Alertmanager (Debian's
//! `prometheus-alertmanager`) routing to a webhook receiver this test runs.
//!
//! Topology: the fleet's Prometheus runs off the switch, as in a real fleet.
//! A third namespace stands for the monitoring host: Prometheus, Alertmanager
//! and the receiver listen on its loopback (fixed ports are free there: the
//! namespace is this test's own), and each switch namespace is joined to it
//! by a veth pair (the switch's `eth0`, its management port) with link-local
//! addresses (169.254.22.0/30 and .4/30) that exist only inside these
//! namespaces; each daemon's `--metrics-addr` is its `eth0` address, port
//! 9101. No port forwarder, no root-namespace address or route.
//!
//! The configurations are the shipped examples
//! (`packaging/prometheus/prometheus.example.yml`,
//! `alertmanager.example.yml`) with only their targets, URLs, paths and
//! intervals replaced (each replacement must match exactly once); the rules
//! file is `packaging/prometheus/portsyncd.rules.yml` itself, unchanged:
//! no threshold and no `for:` is shortened.
//!
//! What is checked: a flap storm on switch 1 makes `PortFlapping` reach the
//! tickets receiver with exactly its labels, then resolve; killing switch 2's
//! daemon makes `PortsyncdDown` reach the pager receiver; every rule loads
//! and evaluates without error; every query of the Grafana dashboard runs
//! without error, and each metric it names (and each label its matchers
//! name) exists in that Prometheus (a made-up name is shown to fail).
//!
//! Alertmanager's `resolve_timeout` is left as shipped: Prometheus sends
//! every alert with its `endsAt`, so it never applies here.
//!
//! Run time: about 2 minutes (121 s in three runs in a row), set by the
//! daemon, not by the rules: the flap gauge
//! `portsyncd_port_flaps_max_per_minute` is the larger of this minute's
//! window and the last one (windows roll every 60 s from the daemon's
//! start), so it falls back to 0 two rolls after a storm in the first
//! minute, ~120 s after start; `PortsyncdDown`'s `for: 1m` runs meanwhile.
//! Nothing is shortened to get there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;
use serde_json::Value;

use crate::harness::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../daemon/tests/promql/mod.rs"]
mod promql;

/// Where Prometheus and Alertmanager listen, in the monitoring namespace.
const PROMETHEUS: &str = "127.0.0.1:9090";
const ALERTMANAGER: &str = "127.0.0.1:9093";
/// The port each daemon's metrics endpoint takes on its `eth0` address.
const METRICS_PORT: u16 = 9101;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// `text` with `from` replaced by `to`, where `from` must occur exactly once
/// (a changed template fails here, not later in a puzzling way).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` should occur once in:\n{text}");
    text.replacen(from, to, 1)
}

/// Percent-encoding of a query parameter's value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A program of the monitoring host, killed on drop; its output goes to a log.
struct Program {
    child: Child,
    log: PathBuf,
}

impl Program {
    fn start(ns: &Netns, log: PathBuf, program: &str, args: &[String]) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} (tests/run-all.sh installs it): {e}"));
        Self { child, log }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One notification the receiver got: the path (which receiver) and the
/// webhook's JSON.
#[derive(Clone, Debug)]
struct Notification {
    path: String,
    body: Value,
    at: Instant,
}

/// Alertmanager's webhook receiver: a tiny HTTP server on the monitoring
/// host's loopback that keeps every POSTed JSON.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(ns: &Netns) -> Self {
        let listener = in_netns(&ns.name, || TcpListener::bind("127.0.0.1:0").expect("bind the receiver"));
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (got2, stop2) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(n) = Self::serve(stream) {
                            got2.lock().unwrap().push(n);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("receiver accept: {e}"),
                }
            }
        });
        Self { port, got, stop, thread: Some(thread) }
    }

    /// Reads one request; answers 200 to a POST of JSON, 400 otherwise.
    fn serve(mut stream: TcpStream) -> Option<Notification> {
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (path, body_at, length) = loop {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(at)) = req.parse(&buf) {
                let length = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let post = req.method == Some("POST");
                break (req.path.filter(|_| post).map(str::to_owned), at, length);
            }
        };
        while buf.len() < body_at + length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf.get(body_at..body_at + length).and_then(|b| serde_json::from_slice(b).ok());
        let status = if path.is_some() && body.is_some() { "200 OK" } else { "400 Bad Request" };
        let _ = stream.write_all(
            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        Some(Notification { path: path?, body: body?, at: Instant::now() })
    }

    fn all(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }

    /// The alerts (status, labels) of every notification to `path`, with
    /// when they came.
    fn alerts(&self, path: &str) -> Vec<(String, BTreeMap<String, String>, Instant)> {
        let mut out = Vec::new();
        for n in self.all().iter().filter(|n| n.path == path) {
            for a in n.body["alerts"].as_array().into_iter().flatten() {
                let labels = a["labels"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                out.push((a["status"].as_str().unwrap_or_default().to_owned(), labels, n.at));
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Prometheus' HTTP API, asked from inside the monitoring namespace.
struct Api {
    ns: String,
}

impl Api {
    /// GET `path_and_query`: the HTTP status and the JSON answer.
    fn get(&self, path_and_query: &str) -> (u16, Value) {
        let request = format!("GET {path_and_query} HTTP/1.0\r\nHost: {PROMETHEUS}\r\n\r\n");
        let reply = in_netns(&self.ns, || -> std::io::Result<Vec<u8>> {
            let mut s = TcpStream::connect(PROMETHEUS)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(request.as_bytes())?;
            let mut out = Vec::new();
            s.read_to_end(&mut out)?;
            Ok(out)
        });
        let Ok(reply) = reply else { return (0, Value::Null) };
        let text = String::from_utf8_lossy(&reply);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return (0, Value::Null) };
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// An instant query: its result, or the error Prometheus gave.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let (status, v) = self.get(&format!("/api/v1/query?query={}", encode(expr)));
        if status == 200 && v["status"] == "success" {
            Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
        } else {
            Err(format!("HTTP {status}: {} {}", v["errorType"], v["error"]))
        }
    }

    /// The values of `label` on the series `matching` selects (Grafana's
    /// `label_values`), or the error Prometheus gave.
    fn label_values(&self, matching: &str, label: &str) -> Result<Vec<String>, String> {
        let (status, v) =
            self.get(&format!("/api/v1/label/{}/values?match[]={}", encode(label), encode(matching)));
        if status == 200 && v["status"] == "success" {
            Ok(v["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect())
        } else {
            Err(format!("HTTP {status}: {} {}", v["errorType"], v["error"]))
        }
    }

    /// Every metric name Prometheus holds.
    fn names(&self) -> BTreeSet<String> {
        let (_, v) = self.get("/api/v1/label/__name__/values");
        v["data"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)).collect()
    }

    /// The label names on any series of metric `name`.
    fn labels_of(&self, name: &str) -> BTreeSet<String> {
        let (_, v) = self.get(&format!("/api/v1/series?match[]={}", encode(name)));
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .collect()
    }
}

/// One switch of the fleet: its namespace joined to the monitoring one.
fn join(mon: &Netns, sw: &Switch, mon_side: &str, mon_addr: &str, sw_addr: &str) {
    mon.ip(&["link", "add", mon_side, "type", "veth", "peer", "name", "eth0", "netns", &sw.ns.name]);
    mon.ip(&["addr", "add", &format!("{mon_addr}/30"), "dev", mon_side]);
    mon.ip(&["link", "set", mon_side, "up"]);
    sw.ns.ip(&["addr", "add", &format!("{sw_addr}/30"), "dev", "eth0"]);
    sw.ns.ip(&["link", "set", "eth0", "up"]);
}

/// Grafana's variables, as a dashboard opened on "All" fills them.
fn expand(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$__interval", "15s")
        .replace("${instance}", ".*")
        .replace("$instance", ".*");
    assert!(!out.contains('$'), "a dashboard variable the test does not know: {expr}");
    out
}

/// What is wrong with `exprs` against the live Prometheus, one line each:
/// a query that fails, a metric name Prometheus has no series of, a label a
/// matcher names that no series of that metric has.
fn check_queries(api: &Api, exprs: &[String]) -> Vec<String> {
    let names = api.names();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for expr in exprs {
        let ran = match label_values(expr) {
            Some((matching, label)) => api
                .label_values(&expand(matching), label)
                .and_then(|values| if values.is_empty() { Err("no values".into()) } else { Ok(()) }),
            None => api.query(&expand(expr)).map(drop),
        };
        if let Err(e) = ran {
            problems.push(format!("`{expr}` fails: {e}"));
        }
        let selectors = match promql::selectors(expr) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("`{expr}`: {e}"));
                continue;
            }
        };
        for s in selectors {
            if !names.contains(&s.name) {
                problems.push(format!("`{expr}` names `{}`, which Prometheus has no series of", s.name));
                continue;
            }
            let have = labels.entry(s.name.clone()).or_insert_with(|| api.labels_of(&s.name));
            let matchers = s.matchers.unwrap_or_default();
            for item in promql::split_top_level(&matchers.chars().collect::<Vec<_>>()) {
                let label: String =
                    item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !label.is_empty() && label != "__name__" && !have.contains(&label) {
                    problems.push(format!("`{expr}`: no series of `{}` has a label `{label}`", s.name));
                }
            }
        }
    }
    problems
}

/// Grafana's variable query `label_values(<selector>, <label>)`, which is no
/// PromQL: Grafana asks `/api/v1/label/<label>/values?match[]=<selector>`.
fn label_values(expr: &str) -> Option<(&str, &str)> {
    let inner = expr.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (matching, label) = inner.rsplit_once(',')?;
    Some((matching.trim(), label.trim()))
}

/// Every query of the dashboard: panel targets at any depth, and the
/// templating variables' queries.
fn dashboard_queries() -> Vec<String> {
    fn walk(panels: &Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.extend(t["expr"].as_str().map(str::to_owned));
            }
            walk(&p["panels"], out);
        }
    }
    let text = std::fs::read_to_string(repo_file("docs/grafana/portsyncd.json")).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    for var in d["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] == "query" {
            let q = match &var["query"] {
                Value::String(s) => Some(s.clone()),
                q => q["query"].as_str().map(str::to_owned),
            };
            out.extend(q);
        }
    }
    out
}

fn wait_for(timeout: Duration, what: &str, context: &dyn Fn() -> String, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}\n{}", context());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_fleet_prometheus_and_alertmanager_get_port_flapping_and_portsyncd_down() {
    let began = Instant::now();
    // Dropped last: every program in it is gone by then.
    let mon = Netns::new();
    let mut sw1 = Switch::new(2);
    let mut sw2 = Switch::new(2);
    join(&mon, &sw1, "sw1", "169.254.22.1", "169.254.22.2");
    join(&mon, &sw2, "sw2", "169.254.22.5", "169.254.22.6");
    let (target1, target2) = (format!("169.254.22.2:{METRICS_PORT}"), format!("169.254.22.6:{METRICS_PORT}"));
    // The daemons first: the flap window (and so the test's length) runs
    // from their start.
    sw1.start_with(&["--metrics-addr", &target1]);
    let started1 = Instant::now();
    sw2.start_with(&["--metrics-addr", &target2]);

    let tmp = tempfile::Builder::new().prefix("portsyncd-fleet-").tempdir().unwrap();
    let receiver = Receiver::start(&mon);
    let hook = |path: &str| format!("http://127.0.0.1:{}/{path}", receiver.port);
    let am_conf =
        std::fs::read_to_string(repo_file("packaging/prometheus/alertmanager.example.yml")).unwrap();
    let am_conf = replace_once(&am_conf, "group_wait: 30s", "group_wait: 1s");
    let am_conf = replace_once(&am_conf, "group_interval: 5m", "group_interval: 1s");
    let am_conf = replace_once(&am_conf, "repeat_interval: 4h", "repeat_interval: 1h");
    let am_conf = replace_once(&am_conf, "http://pager.example:5001/portsyncd", &hook("pager"));
    let am_conf = replace_once(&am_conf, "http://tickets.example:5001/portsyncd", &hook("tickets"));
    std::fs::write(tmp.path().join("alertmanager.yml"), am_conf).unwrap();
    std::fs::create_dir(tmp.path().join("am-data")).unwrap();
    let alertmanager = Program::start(
        &mon,
        tmp.path().join("alertmanager.log"),
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", tmp.path().join("alertmanager.yml").display()),
            format!("--storage.path={}", tmp.path().join("am-data").display()),
            format!("--web.listen-address={ALERTMANAGER}"),
            // No cluster: a single Alertmanager.
            "--cluster.listen-address=".into(),
        ],
    );

    let rules = repo_file("packaging/prometheus/portsyncd.rules.yml").canonicalize().unwrap();
    let prom_conf =
        std::fs::read_to_string(repo_file("packaging/prometheus/prometheus.example.yml")).unwrap();
    let prom_conf = replace_once(&prom_conf, "scrape_interval: 15s", "scrape_interval: 1s");
    let prom_conf = replace_once(&prom_conf, "evaluation_interval: 15s", "evaluation_interval: 1s");
    let prom_conf =
        replace_once(&prom_conf, "/etc/prometheus/rules.d/portsyncd.rules.yml", rules.to_str().unwrap());
    let prom_conf = replace_once(&prom_conf, r#""localhost:9093""#, &format!("{ALERTMANAGER:?}"));
    let prom_conf = replace_once(
        &prom_conf,
        r#"["switch1:9101", "switch2:9101"]"#,
        &format!("[{target1:?}, {target2:?}]"),
    );
    std::fs::write(tmp.path().join("prometheus.yml"), prom_conf).unwrap();
    std::fs::create_dir(tmp.path().join("tsdb")).unwrap();
    let prometheus = Program::start(
        &mon,
        tmp.path().join("prometheus.log"),
        "prometheus",
        &[
            format!("--config.file={}", tmp.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", tmp.path().join("tsdb").display()),
            format!("--web.listen-address={PROMETHEUS}"),
        ],
    );
    let api = Api { ns: mon.name.clone() };
    let context = || {
        format!(
            "--- notifications ---\n{:#?}\n--- prometheus ---\n{}\n--- alertmanager ---\n{}",
            receiver.all().iter().map(|n| (&n.path, &n.body["alerts"])).collect::<Vec<_>>(),
            prometheus.log(),
            alertmanager.log()
        )
    };

    // Both targets up, every rule of the shipped file loaded.
    wait_for(T * 3, "both daemons scraped", &context, || {
        api.query(r#"up{job="portsyncd"} == 1"#).is_ok_and(|r| r.len() == 2)
    });
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let shipped = rules_text.matches("- alert: ").count() + rules_text.matches("- record: ").count();
    assert!(
        shipped > 6,
        "{shipped} rules counted in the shipped file: its six alerts and its recording rules"
    );
    let mut loaded = Vec::new();
    wait_for(T, "the rules evaluated", &context, || {
        let (_, v) = api.get("/api/v1/rules");
        loaded = v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        loaded.len() == shipped && loaded.iter().all(|r| r["health"] == "ok")
    });
    assert!(loaded.iter().all(|r| r["lastError"].as_str().unwrap_or_default().is_empty()), "{loaded:#?}");

    // The flap storm on switch 1's Ethernet0: up, then four times down and
    // up again (its peer's carrier), each seen in STATE_DB: 9 flaps, more
    // than the rule's 5 a minute.
    let key = "PORT_TABLE|Ethernet0";
    sw1.expect_hash(Db::State, key, &state("down", "down", "1500"), T);
    sw1.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw1.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    for _ in 0..4 {
        sw1.ns.ip(&["link", "set", "v0", "down"]);
        sw1.expect_hash(Db::State, key, &state("down", "up", "1500"), T);
        sw1.ns.ip(&["link", "set", "v0", "up"]);
        sw1.expect_hash(Db::State, key, &state("up", "up", "1500"), T);
    }
    let flapping = labels(&[
        ("alertname", "PortFlapping"),
        ("instance", &target1),
        ("job", "portsyncd"),
        ("severity", "warning"),
        ("sonic_severity", "MINOR"),
    ]);
    wait_for(T * 3, "PortFlapping at the tickets receiver", &context, || {
        receiver.alerts("/tickets").iter().any(|(s, l, _)| s == "firing" && *l == flapping)
    });
    // Which port: the dashboard's per-port series says.
    let per_port = api
        .query(&format!(r#"portsyncd_port_flaps_total{{instance="{target1}", port="Ethernet0"}}"#))
        .unwrap();
    assert_eq!(per_port.len(), 1, "{per_port:?}");
    assert_eq!(per_port[0]["value"][1], "9", "{per_port:?}");

    // The dashboard, against this Prometheus, with both switches up and
    // one flapping. The check itself fails on what does not exist.
    let problems = check_queries(
        &api,
        &[
            r#"portsyncd_no_such_series{instance=~"$instance"}"#.into(),
            r#"portsyncd_build_info{no_such_label="x"}"#.into(),
            "rate(portsyncd_link_events_total[5m]".into(),
        ],
    );
    assert_eq!(
        problems.len(),
        4,
        "the check must catch a missing name, a missing label, a bad query: {problems:#?}"
    );
    let queries = dashboard_queries();
    assert!(queries.len() > 50, "{} dashboard queries", queries.len());
    let problems = check_queries(&api, &queries);
    assert!(problems.is_empty(), "dashboard queries against Prometheus:\n{}", problems.join("\n"));
    let instances: BTreeSet<String> =
        api.label_values("portsyncd_build_info", "instance").unwrap().into_iter().collect();
    assert_eq!(instances, BTreeSet::from([target1.clone(), target2.clone()]), "the $instance variable");

    // Switch 2's daemon killed: PortsyncdDown pages (after its `for: 1m`).
    let (status, _) = sw2.daemon().stop_with("KILL");
    assert!(!status.success());
    let killed = Instant::now();
    let down = labels(&[
        ("alertname", "PortsyncdDown"),
        ("instance", &target2),
        ("job", "portsyncd"),
        ("severity", "critical"),
        ("sonic_severity", "CRITICAL"),
    ]);
    wait_for(Duration::from_secs(120), "PortsyncdDown at the pager receiver", &context, || {
        receiver.alerts("/pager").iter().any(|(s, l, _)| s == "firing" && *l == down)
    });
    let paged = receiver.alerts("/pager").iter().find(|(s, l, _)| s == "firing" && *l == down).unwrap().2;
    assert!(
        paged - killed >= Duration::from_secs(59),
        "PortsyncdDown before its for: 1m: {:?}",
        paged - killed
    );

    // The storm is over: PortFlapping resolves once the daemon's gauge
    // falls back (two flap windows after its start).
    wait_for(
        Duration::from_secs(180).saturating_sub(started1.elapsed()),
        "PortFlapping resolved at the tickets receiver",
        &context,
        || receiver.alerts("/tickets").iter().any(|(s, l, _)| s == "resolved" && *l == flapping),
    );

    // Nothing else: no alert for the healthy switch 1 but its flapping, no
    // page for it, and each alert only at its own receiver.
    for (path, status, l, _) in ["/pager", "/tickets"]
        .iter()
        .flat_map(|p| receiver.alerts(p).into_iter().map(move |(s, l, t)| (*p, s, l, t)))
    {
        let expected = (path == "/tickets" && l == flapping) || (path == "/pager" && l == down);
        assert!(expected, "unexpected {status} alert at {path}: {l:?}\n{}", context());
    }
    assert!(receiver.all().iter().all(|n| n.path == "/pager" || n.path == "/tickets"));

    let (status, _) = sw1.daemon().stop_with("TERM");
    assert!(status.success(), "{}", sw1.log());
    eprintln!("fleet test: {:.1} s", began.elapsed().as_secs_f64());
}
