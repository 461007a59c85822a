//! redis-server killed in the middle of a stream of writes and started again
//! on the same socket with empty data: afterwards every key holds the last
//! value written to it, and every deleted key is gone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portsyncd_contract::redis_server::RedisServer;
use portsyncd_core::backend::Db;
use portsyncd_core::backend::{BackendStatus, Databases, Write};
use portsyncd_redis::{DbConfig, RedisConnections, RedisOptions};
use redis::Commands;

#[test]
fn every_final_value_survives_a_restart_with_empty_data() {
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

    let (state_model, appl_model, stats) = smol::block_on(async {
        let mut db = RedisConnections::journaled(&config, options).await.unwrap();
        let mut state: BTreeMap<String, Option<BTreeMap<String, String>>> = BTreeMap::new();
        let mut appl: BTreeMap<String, Option<BTreeMap<String, String>>> = BTreeMap::new();
        let mut degraded_batches = 0;
        let start = Instant::now();
        let mut i = 0u64;
        // Keep writing for a while after the restart, then stop.
        while start.elapsed() < Duration::from_millis(450) {
            let port = format!("Ethernet{}", (i * 7 % 64) * 4);
            let seq = i.to_string();
            let oper = if i.is_multiple_of(3) { "down" } else { "up" };
            let state_fields = [("state", "ok"), ("netdev_oper_status", oper), ("seq", seq.as_str())];
            let appl_fields = [("seq", seq.as_str())];
            let mut batch =
                vec![Write::Set { db: Db::State, table: "PORT_TABLE", key: &port, fields: &state_fields }];
            if i.is_multiple_of(11) {
                batch.push(Write::Del { db: Db::State, table: "PORT_TABLE", key: &port });
            }
            if i.is_multiple_of(5) {
                batch.push(Write::Produce {
                    db: Db::Appl,
                    table: "PORT_TABLE",
                    key: &port,
                    fields: &appl_fields,
                });
            }
            db.write(&batch).await.unwrap();
            for w in &batch {
                match *w {
                    Write::Set { key, fields, .. } => {
                        let entry =
                            state.entry(key.to_owned()).or_insert(None).get_or_insert_with(BTreeMap::new);
                        entry.extend(fields.iter().map(|(f, v)| (f.to_string(), v.to_string())));
                    }
                    Write::Del { key, .. } => {
                        state.insert(key.to_owned(), None);
                    }
                    Write::Produce { key, fields, .. } => {
                        let entry =
                            appl.entry(key.to_owned()).or_insert(None).get_or_insert_with(BTreeMap::new);
                        entry.extend(fields.iter().map(|(f, v)| (f.to_string(), v.to_string())));
                    }
                    Write::ProduceDel { .. } => unreachable!(),
                }
            }
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
        while db.maintain().await != BackendStatus::Connected {
            assert!(Instant::now() < deadline, "never reconnected: {:?}", db.status());
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        (state, appl, (i, degraded_batches, db.counters()))
    });
    killer.join().unwrap();
    let (writes, degraded_batches, counters) = stats;
    eprintln!("{writes} batches, {degraded_batches} while degraded, {counters:?}");
    assert!(degraded_batches > 0, "the outage did not happen during the stream");
    assert!(counters.server_restarts >= 1, "{counters:?}");

    let client = redis::Client::open(format!("redis+unix://{}?db=6", socket.display())).unwrap();
    let mut state_db = client.get_connection().unwrap();
    for (key, want) in &state_model {
        let got: BTreeMap<String, String> = state_db.hgetall(format!("PORT_TABLE|{key}")).unwrap();
        assert_eq!(&got, want.as_ref().unwrap_or(&BTreeMap::new()), "STATE_DB PORT_TABLE|{key}");
    }
    // What orchagent would pop from APPL_DB equals the last values produced.
    let client = redis::Client::open(format!("redis+unix://{}?db=0", socket.display())).unwrap();
    let mut appl_db = client.get_connection().unwrap();
    let queued: Vec<String> = appl_db.smembers("PORT_TABLE_KEY_SET").unwrap();
    for (key, want) in &appl_model {
        let staged: BTreeMap<String, String> = appl_db.hgetall(format!("_PORT_TABLE:{key}")).unwrap();
        assert!(queued.contains(key), "{key} not queued for the consumer");
        assert_eq!(&staged, want.as_ref().unwrap(), "APPL_DB _PORT_TABLE:{key}");
    }
}
