//! A throwaway `redis-server` for tests and benchmarks: its own temp dir, a
//! unix socket there (or a free loopback TCP port), no persistence unless
//! asked, stopped when dropped. Never a Redis the test did not start.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portsyncd_core::backend::Db;
use redis::Commands;

use crate::RawView;

/// A redis-server this process started.
pub struct RedisServer {
    dir: tempfile::TempDir,
    tcp_port: Option<u16>,
    /// The network namespace it runs in (`ip netns exec`), if not this one.
    netns: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one listening on a unix socket only.
    pub fn start_unix() -> Self {
        Self::start(None)
    }

    /// Starts one listening on a free loopback TCP port (and its socket).
    pub fn start_tcp() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self::start(Some(port))
    }

    /// Starts one inside network namespace `netns` (`ip netns exec`),
    /// listening on loopback TCP port `port` there (and on its socket, which
    /// reaches it from anywhere): daemons in that namespace connect over TCP,
    /// so that `MONITOR` and `CLIENT LIST` tell each connection apart by its
    /// address (every unix-socket client shows as the same path).
    pub fn start_tcp_in_netns(netns: &str, port: u16) -> Self {
        Self::start_in(Some(port), Some(netns.to_owned()))
    }

    fn start(tcp_port: Option<u16>) -> Self {
        Self::start_in(tcp_port, None)
    }

    fn start_in(tcp_port: Option<u16>, netns: Option<String>) -> Self {
        let dir = tempfile::Builder::new().prefix("portsyncd-redis-").tempdir().expect("temp dir");
        let mut server = Self { dir, tcp_port, netns, child: None };
        server.spawn();
        server
    }

    /// The unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The TCP port, if started with one.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The temp dir (for other files of the test).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let port = self.tcp_port.unwrap_or(0).to_string();
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "redis-server"]);
                c
            }
            None => Command::new("redis-server"),
        };
        let child = command
            .args(["--port", &port, "--bind", "127.0.0.1", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--databases", "20", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started: is it installed? (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer on {}", self.socket().display());
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(self.socket()) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// A `database_config.json` placing CONFIG_DB, APPL_DB and STATE_DB (and
    /// the rest of SONiC's defaults) on this server; TCP if `tcp`.
    pub fn write_db_config(&self, tcp: bool) -> PathBuf {
        let socket = if tcp { String::new() } else { self.socket().display().to_string() };
        let port = self.tcp_port.unwrap_or(6379);
        let text = format!(
            r#"{{
  "INSTANCES": {{ "redis": {{ "hostname": "127.0.0.1", "port": {port}, "unix_socket_path": "{socket}" }} }},
  "DATABASES": {{
    "APPL_DB": {{ "id": 0, "separator": ":", "instance": "redis" }},
    "ASIC_DB": {{ "id": 1, "separator": ":", "instance": "redis" }},
    "COUNTERS_DB": {{ "id": 2, "separator": ":", "instance": "redis" }},
    "CONFIG_DB": {{ "id": 4, "separator": "|", "instance": "redis" }},
    "STATE_DB": {{ "id": 6, "separator": "|", "instance": "redis" }}
  }},
  "VERSION": "1.0"
}}"#
        );
        let path =
            self.dir.path().join(if tcp { "database_config_tcp.json" } else { "database_config.json" });
        std::fs::write(&path, text).expect("write database_config.json");
        path
    }

    /// Stops the server, saving its data first (it comes back with it).
    pub fn shutdown_saving(&mut self) {
        if let Ok(mut s) = UnixStream::connect(self.socket()) {
            let _ = s.write_all(b"SHUTDOWN SAVE\r\n");
            let _ = s.read(&mut [0u8; 64]);
        }
        self.reap();
    }

    /// Cuts every client off while the server keeps running with its data
    /// and run id (a network outage, not a restart): its socket is moved
    /// aside, so that connecting fails, and connected clients are dropped.
    pub fn cut_off(&mut self) {
        let aside = self.socket().with_extension("aside");
        std::fs::rename(self.socket(), &aside).expect("move the socket aside");
        let mut s = UnixStream::connect(&aside).expect("connect to the moved socket");
        // SKIPME yes (the default): this connection survives to read the reply.
        s.write_all(b"CLIENT KILL TYPE normal\r\n").expect("CLIENT KILL");
        let _ = s.read(&mut [0u8; 64]);
    }

    /// Ends [`cut_off`](Self::cut_off): the socket is back where clients look.
    pub fn reachable_again(&mut self) {
        let aside = self.socket().with_extension("aside");
        std::fs::rename(&aside, self.socket()).expect("move the socket back");
    }

    /// Stops the server process (SIGSTOP): clients' requests go unanswered
    /// until [`resume`](Self::resume); its data and run id stay.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a [`pause`](Self::pause)d server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        if let Some(child) = self.child.as_ref() {
            let status = std::process::Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status()
                .expect("kill");
            assert!(status.success(), "kill -{name} redis-server");
        }
    }

    /// Kills the server; its data is lost.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap();
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same socket (and port), with whatever data was saved.
    pub fn start_again(&mut self) {
        self.reap();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Test-side access: plain synchronous connections, one per database, and a
/// subscriber thread counting producer notifications.
pub struct RedisRaw {
    server: Option<RedisServer>,
    socket: PathBuf,
    conns: HashMap<Db, redis::Connection>,
    published: Arc<Mutex<HashMap<String, u64>>>,
    /// The server is [cut off](RedisServer::cut_off) (not stopped).
    cut_off: bool,
}

const IDS: [(Db, u32, char); 3] = [(Db::Config, 4, '|'), (Db::Appl, 0, ':'), (Db::State, 6, '|')];

fn connect(socket: &Path, id: u32) -> redis::Connection {
    let url = format!("redis+unix://{}?db={id}", socket.display());
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

impl RedisRaw {
    /// Raw access to `server`'s CONFIG_DB, APPL_DB and STATE_DB (SONiC's
    /// default ids), counting every notification published on it.
    pub fn new(server: RedisServer) -> Self {
        let socket = server.socket();
        Self::with(Some(server), socket)
    }

    /// Raw access to the server listening on `socket`, which it does not own
    /// (it cannot stop or restart it).
    pub fn connect(socket: &Path) -> Self {
        Self::with(None, socket.to_owned())
    }

    fn with(server: Option<RedisServer>, socket: PathBuf) -> Self {
        let conns = IDS.iter().map(|&(db, id, _)| (db, connect(&socket, id))).collect();
        let published = Arc::new(Mutex::new(HashMap::new()));
        let counts = published.clone();
        let mut sub = connect(&socket, 0);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut pubsub = sub.as_pubsub();
            if pubsub.psubscribe("*").is_err() {
                return;
            }
            let _ = ready_tx.send(());
            while let Ok(msg) = pubsub.get_message() {
                *counts.lock().unwrap().entry(msg.get_channel_name().to_owned()).or_default() += 1;
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("subscriber ready");
        Self { server, socket, conns, published, cut_off: false }
    }

    /// The server's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The plain connection to `db`.
    pub fn conn(&mut self, db: Db) -> &mut redis::Connection {
        self.conns.get_mut(&db).unwrap()
    }

    /// The server, to stop or restart it.
    pub fn server(&mut self) -> &mut RedisServer {
        self.server.as_mut().expect("this view does not own its redis-server")
    }

    /// New connections (after a restart).
    pub fn reconnect_all(&mut self) {
        for (db, id, _) in IDS {
            self.conns.insert(db, connect(&self.socket, id));
        }
    }
}

impl RawView for RedisRaw {
    fn separator(&self, db: Db) -> char {
        IDS.iter().find(|i| i.0 == db).unwrap().2
    }
    fn db_id(&self, db: Db) -> u32 {
        IDS.iter().find(|i| i.0 == db).unwrap().1
    }
    async fn hgetall(&mut self, db: Db, key: &str) -> BTreeMap<String, String> {
        // Bytes that are not UTF-8 are shown as U+FFFD: this is a view.
        let raw: Vec<(Vec<u8>, Vec<u8>)> = self.conn(db).hgetall(key).unwrap();
        raw.iter()
            .map(|(f, v)| (String::from_utf8_lossy(f).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }
    async fn hset(&mut self, db: Db, key: &str, fields: &[(&str, &str)]) {
        if !fields.is_empty() {
            let _: () = self.conn(db).hset_multiple(key, fields).unwrap();
        }
    }
    async fn smembers(&mut self, db: Db, key: &str) -> BTreeSet<String> {
        self.conn(db).smembers(key).unwrap()
    }
    async fn spop(&mut self, db: Db, key: &str, count: usize) -> Vec<String> {
        redis::cmd("SPOP").arg(key).arg(count).query(self.conn(db)).unwrap()
    }
    async fn srem(&mut self, db: Db, key: &str, member: &str) -> bool {
        self.conn(db).srem::<_, _, i64>(key, member).unwrap() == 1
    }
    async fn del(&mut self, db: Db, key: &str) {
        let _: i64 = self.conn(db).del(key).unwrap();
    }
    async fn exists(&mut self, db: Db, key: &str) -> bool {
        self.conn(db).exists(key).unwrap()
    }
    async fn publishes(&mut self, channel: &str) -> u64 {
        // Publishes reach a subscriber in order: once our marker arrives,
        // every earlier notification has been counted.
        let marker = format!("marker-{}", rand_suffix());
        let _: i64 = self.conn(Db::Appl).publish(&marker, "x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.published.lock().unwrap().contains_key(&marker) {
            assert!(Instant::now() < deadline, "subscriber did not see {marker}");
            std::thread::sleep(Duration::from_millis(2));
        }
        self.published.lock().unwrap().get(channel).copied().unwrap_or(0)
    }
    async fn keys(&mut self, db: Db) -> BTreeSet<String> {
        self.conn(db).keys("*").unwrap()
    }
    async fn outage(&mut self) {
        self.server().cut_off();
        self.cut_off = true;
    }
    async fn crash(&mut self) {
        self.server().kill();
    }
    async fn recover(&mut self) {
        if std::mem::take(&mut self.cut_off) {
            self.server().reachable_again();
        } else {
            self.server().start_again();
        }
        self.reconnect_all();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
