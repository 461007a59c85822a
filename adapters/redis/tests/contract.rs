//! The backend contract against real redis-servers started by the tests.

use std::time::Duration;

use portsyncd_contract::InjectFaults;
use portsyncd_contract::redis_server::{RedisRaw as Raw, RedisServer};
use portsyncd_core::backend::{Databases, Db, Guard, Write};
use portsyncd_mock::faults::{FaultHandle, FaultInjector};
use portsyncd_redis::{DbConfig, RedisConnections, RedisDatabases, RedisOptions};

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
    let db = RedisConnections::journaled(&config, options()).await.unwrap();
    (db, Raw::new(server), ())
}

/// The fault injector's controls, as the contract sees them.
struct Faults(FaultHandle);

impl InjectFaults for Faults {
    fn refuse_writes(&self) {
        self.0.refuse_writes();
    }
    fn fail_reads(&self) {
        self.0.fail_reads();
    }
    fn fail_next(&self, n: usize) {
        self.0.fail_next(n);
    }
    fn stop(&self) {
        self.0.stop();
    }
}

/// The same fault injector the mock's tests use, over real Redis.
async fn faulty() -> (FaultInjector<RedisDatabases>, Raw, (), Faults) {
    let (db, raw, guard) = setup().await;
    let db = FaultInjector::new(db, 0x5eed);
    let faults = Faults(db.handle());
    (db, raw, guard, faults)
}

portsyncd_contract::contract_tests!(setup, faults: faulty);

/// The same contract over TCP on a free loopback port (one case suffices to
/// show the TCP path; the rest is the same code).
#[test]
fn tcp_connection_from_database_config() {
    block_on(async {
        let server = RedisServer::start_tcp();
        let path = server.write_db_config(true);
        let config = DbConfig::load(&path).unwrap();
        assert!(matches!(config.resolve("APPL_DB").unwrap().addr, portsyncd_redis::RedisAddr::Tcp(_, _)));
        let mut db = RedisConnections::journaled(&config, options()).await.unwrap();
        let mut raw = Raw::new(server);
        portsyncd_contract::producer_set_and_pop(&mut db, &mut raw).await;
        portsyncd_contract::plain_table_operations(&mut db, &mut raw).await;
    });
}

#[test]
fn unreachable_redis_at_start_is_one_clear_error() {
    block_on(async {
        let mut server = RedisServer::start_unix();
        let path = server.write_db_config(false);
        server.kill();
        let err = RedisConnections::journaled_from_file(&path, options()).await.err().expect("no redis");
        let text = err.to_string();
        assert!(text.starts_with("cannot connect to CONFIG_DB at unix:"), "{text}");
    });
}

/// Runs `f` on the reactor the adapter's sockets wait on.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    portsyncd_reactor::block_on(f).expect("the reactor starts")
}

/// A STATE_DB port write guarded by APPL_DB `PORT_TABLE:<port>`.
fn guarded<'a>(key: &'a str, fields: &'a [(&'a [u8], &'a [u8])]) -> Write<'a> {
    Write::SetIfPresent {
        db: Db::State,
        table: "PORT_TABLE",
        key,
        fields,
        guard: Guard { db: Db::Appl, table: "PORT_TABLE", key },
    }
}

/// With APPL_DB on another server than STATE_DB, no script can check and
/// write in one step: the guards are asked first, and only the writes whose
/// guard exists are sent.
#[test]
fn guards_on_another_server_are_asked_first() {
    block_on(async {
        let state_server = RedisServer::start_unix();
        let appl_server = RedisServer::start_unix();
        let text = format!(
            r#"{{
  "INSTANCES": {{
    "redis": {{ "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "{}" }},
    "redis_appl": {{ "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "{}" }}
  }},
  "DATABASES": {{
    "APPL_DB": {{ "id": 0, "separator": ":", "instance": "redis_appl" }},
    "CONFIG_DB": {{ "id": 4, "separator": "|", "instance": "redis" }},
    "STATE_DB": {{ "id": 6, "separator": "|", "instance": "redis" }}
  }},
  "VERSION": "1.0"
}}"#,
            state_server.socket().display(),
            appl_server.socket().display()
        );
        let path = state_server.dir().join("split_database_config.json");
        std::fs::write(&path, text).unwrap();
        let mut db = RedisConnections::journaled(&DbConfig::load(&path).unwrap(), options()).await.unwrap();
        let mut state = Raw::new(state_server);
        let mut appl = Raw::new(appl_server);
        let _: () = redis::cmd("HSET")
            .arg("PORT_TABLE:Ethernet0")
            .arg("lanes")
            .arg("0")
            .query(appl.conn(Db::Appl))
            .unwrap();
        let mtu: &[(&[u8], &[u8])] = &[(b"mtu", b"9100")];
        let mut absent = [false; 3];
        let writes = [
            guarded("Ethernet0", mtu),
            guarded("Ethernet4", mtu),
            guarded("Ethernet0", &[(b"state", b"ok")]),
        ];
        db.write_checked(&writes, &mut absent).await.unwrap();
        assert_eq!(absent, [false, true, false]);
        let held: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg("PORT_TABLE|Ethernet0").query(state.conn(Db::State)).unwrap();
        assert_eq!(held.len(), 2, "{held:?}");
        let e4: bool = redis::cmd("EXISTS").arg("PORT_TABLE|Ethernet4").query(state.conn(Db::State)).unwrap();
        assert!(!e4);
    });
}

/// A server that lost the guarded set scripts (SCRIPT FLUSH) — the one
/// loaded at connect and the one made for these field names at their first
/// write — has them loaded again, and the checks still say which writes
/// found no guard.
#[test]
fn a_flushed_guard_script_is_loaded_again() {
    block_on(async {
        let (mut db, mut raw, ()) = setup().await;
        let _: () = redis::cmd("HSET")
            .arg("PORT_TABLE:Ethernet0")
            .arg("lanes")
            .arg("0")
            .query(raw.conn(Db::Appl))
            .unwrap();
        let mtu: &[(&[u8], &[u8])] = &[(b"mtu", b"1500")];
        let mut absent = [true];
        db.write_checked(&[guarded("Ethernet0", mtu)], &mut absent).await.unwrap();
        assert_eq!(absent, [false], "its script made and loaded with it");
        assert_eq!(db.counters().script_reloads, 0);
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(raw.conn(Db::Appl)).unwrap();
        let mtu: &[(&[u8], &[u8])] = &[(b"mtu", b"9100")];
        let mut absent = [false; 2];
        db.write_checked(&[guarded("Ethernet0", mtu), guarded("Ethernet4", mtu)], &mut absent).await.unwrap();
        assert_eq!(absent, [false, true]);
        assert_eq!(db.counters().script_reloads, 1);
        let mtu: Option<String> =
            redis::cmd("HGET").arg("PORT_TABLE|Ethernet0").arg("mtu").query(raw.conn(Db::State)).unwrap();
        assert_eq!(mtu.as_deref(), Some("9100"));
    });
}

/// A slice of writes larger than one pipeline's cap (64 KiB encoded) goes
/// out as several pipelines, in order, all of it landing: the send buffer
/// never holds a whole start-up's production.
#[test]
fn a_large_slice_goes_out_in_capped_pipelines() {
    block_on(async {
        let (mut db, mut raw, ()) = setup().await;
        let names: Vec<String> = (0..2000).map(|i| format!("Ethernet{}", i * 4)).collect();
        let description = [b'x'; 100];
        let fields: &[(&[u8], &[u8])] = &[(b"description", &description), (b"mtu", b"9100")];
        let mut writes: Vec<Write<'_>> =
            names.iter().map(|key| Write::Set { db: Db::State, table: "PORT_TABLE", key, fields }).collect();
        // The last word on the first port comes last, many pipelines later.
        writes.push(Write::Del { db: Db::State, table: "PORT_TABLE", key: &names[0] });
        let before = db.counters().round_trips;
        db.write(&writes).await.unwrap();
        let trips = db.counters().round_trips - before;
        // About 2000 × 180 bytes: more than four pipelines, far fewer than writes.
        assert!((5..=20).contains(&trips), "{trips} round trips");
        let held: usize = redis::cmd("DBSIZE").query(raw.conn(Db::State)).unwrap();
        assert_eq!(held, 1999, "every port but the deleted one");
    });
}
