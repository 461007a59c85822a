//! The backend contract against real redis-servers started by the tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portsyncd_contract::RawView;
use portsyncd_contract::redis_server::RedisServer;
use portsyncd_core::ports::Db;
use portsyncd_redis::{DbConfig, RedisDatabases, RedisOptions};
use redis::Commands;

/// Test-side access: plain synchronous connections, one per database, and a
/// subscriber thread counting producer notifications.
struct Raw {
    server: RedisServer,
    conns: HashMap<Db, redis::Connection>,
    published: Arc<Mutex<HashMap<String, u64>>>,
}

const IDS: [(Db, u32, char); 3] = [(Db::Config, 4, '|'), (Db::Appl, 0, ':'), (Db::State, 6, '|')];

fn connect(server: &RedisServer, id: u32) -> redis::Connection {
    let url = format!("redis+unix://{}?db={id}", server.socket().display());
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

impl Raw {
    fn new(server: RedisServer) -> Self {
        let conns = IDS.iter().map(|&(db, id, _)| (db, connect(&server, id))).collect();
        let published = Arc::new(Mutex::new(HashMap::new()));
        let counts = published.clone();
        let mut sub = connect(&server, 0);
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
        Self { server, conns, published }
    }

    fn conn(&mut self, db: Db) -> &mut redis::Connection {
        self.conns.get_mut(&db).unwrap()
    }

    fn reconnect_all(&mut self) {
        for (db, id, _) in IDS {
            self.conns.insert(db, connect(&self.server, id));
        }
    }
}

impl RawView for Raw {
    fn separator(&self, db: Db) -> char {
        IDS.iter().find(|i| i.0 == db).unwrap().2
    }
    fn db_id(&self, db: Db) -> u32 {
        IDS.iter().find(|i| i.0 == db).unwrap().1
    }
    async fn hgetall(&mut self, db: Db, key: &str) -> BTreeMap<String, String> {
        self.conn(db).hgetall(key).unwrap()
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
        self.server.shutdown_saving();
    }
    async fn crash(&mut self) {
        self.server.kill();
    }
    async fn recover(&mut self) {
        self.server.start_again();
        self.reconnect_all();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn options() -> RedisOptions {
    RedisOptions {
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        ..RedisOptions::default()
    }
}

async fn setup() -> (RedisDatabases, Raw, ()) {
    let server = RedisServer::start_unix();
    let config = DbConfig::load(&server.write_db_config(false)).unwrap();
    let db = RedisDatabases::connect(&config, options()).await.unwrap();
    (db, Raw::new(server), ())
}

portsyncd_contract::contract_tests!(setup);

/// The same contract over TCP on a free loopback port (one case suffices to
/// show the TCP path; the rest is the same code).
#[test]
fn tcp_connection_from_database_config() {
    smol::block_on(async {
        let server = RedisServer::start_tcp();
        let path = server.write_db_config(true);
        let config = DbConfig::load(&path).unwrap();
        assert!(matches!(config.resolve("APPL_DB").unwrap().addr, portsyncd_redis::RedisAddr::Tcp(_, _)));
        let mut db = RedisDatabases::connect(&config, options()).await.unwrap();
        let mut raw = Raw::new(server);
        portsyncd_contract::producer_set_and_pop(&mut db, &mut raw).await;
        portsyncd_contract::warm_start_keys(&mut db, &mut raw).await;
    });
}

#[test]
fn unreachable_redis_at_start_is_one_clear_error() {
    smol::block_on(async {
        let mut server = RedisServer::start_unix();
        let path = server.write_db_config(false);
        server.kill();
        let err = RedisDatabases::connect_with_file(&path, options()).await.err().expect("no redis");
        let text = err.to_string();
        assert!(text.starts_with("cannot connect to CONFIG_DB at unix:"), "{text}");
    });
}
