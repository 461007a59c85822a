//! The backend contract against real redis-servers started by the tests.

use std::time::Duration;

use portsyncd_contract::InjectFaults;
use portsyncd_contract::redis_server::{RedisRaw as Raw, RedisServer};
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
