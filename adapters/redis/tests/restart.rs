//! redis-server killed in the middle of a stream of writes and started again
//! on the same socket with empty data: the restart is noticed (a new run
//! id), reported as `BackendStatus::Restarted`, and nothing more is written
//! to the new server — what this process wrote came from the old CONFIG_DB.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portsyncd_contract::redis_server::RedisServer;
use portsyncd_core::backend::Db;
use portsyncd_core::backend::Field;
use portsyncd_core::backend::{BackendStatus, Databases, Write};
use portsyncd_redis::{DbConfig, RedisConnections, RedisOptions};
use redis::Commands;

#[test]
fn a_server_restarted_with_empty_data_is_written_nothing_more() {
    let server = Arc::new(Mutex::new(RedisServer::start_unix()));
    let (config, socket) = {
        let s = server.lock().unwrap();
        (DbConfig::load(&s.write_db_config(false)).unwrap(), s.socket())
    };
    let options = RedisOptions {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(100),
        response_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    // The outage: kill -9 (data lost) some way into the stream, start again
    // empty 150 ms later. From another thread, so it can land mid-pipeline.
    let killer = {
        let server = server.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            server.lock().unwrap().kill();
            std::thread::sleep(Duration::from_millis(150));
            server.lock().unwrap().start_again();
        })
    };

    let stats = block_on(async {
        let mut db = RedisConnections::journaled(&config, options).await.unwrap();
        let mut degraded_batches = 0;
        let start = Instant::now();
        let mut i = 0u64;
        // Keep writing for a while after the restart, then stop.
        while start.elapsed() < Duration::from_millis(450) {
            let port = format!("Ethernet{}", (i * 7 % 64) * 4);
            let seq = i.to_string();
            let fields: [Field<'_>; 2] = [(b"state", b"ok"), (b"seq", seq.as_bytes())];
            let mut batch =
                vec![Write::Set { db: Db::State, table: "PORT_TABLE", key: &port, fields: &fields }];
            if i.is_multiple_of(5) {
                batch.push(Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: &port, fields: &fields });
            }
            db.write(&batch).await.unwrap();
            if db.status() != BackendStatus::Connected {
                degraded_batches += 1;
            }
            if i.is_multiple_of(20) {
                db.maintain().await;
            }
            i += 1;
            smol::Timer::after(Duration::from_micros(300)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while db.maintain().await != BackendStatus::Restarted {
            assert!(Instant::now() < deadline, "restart not noticed: {:?}", db.status());
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        (i, degraded_batches, db.counters(), db.kept())
    });
    killer.join().unwrap();
    let (writes, degraded_batches, counters, kept) = stats;
    eprintln!("{writes} batches, {degraded_batches} while degraded, {kept} keys kept, {counters:?}");
    assert!(degraded_batches > 0, "the outage did not happen during the stream");
    assert_eq!(counters.server_restarts, 1, "{counters:?}");
    assert!(kept > 0, "the writes after the restart are kept, not dropped");

    for id in [0, 6] {
        let client = redis::Client::open(format!("redis+unix://{}?db={id}", socket.display())).unwrap();
        let mut conn = client.get_connection().unwrap();
        let keys: Vec<String> = conn.keys("*").unwrap();
        assert!(keys.is_empty(), "db {id} of the restarted server was written: {keys:?}");
    }
}

/// Runs `f` on the reactor the adapter's sockets wait on.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    portsyncd_reactor::block_on(f).expect("the reactor starts")
}
