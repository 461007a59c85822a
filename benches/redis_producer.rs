//! Producer sets per second for 512 ports into APPL_DB `PORT_TABLE`, written
//! one by one (one round trip each, as the C++ daemon does) and as one batch
//! (one pipeline), in the same run against the same redis-server; and the
//! same comparison for the STATE_DB port writes of a netlink batch.
//!
//! Run: `cargo bench -p portsyncd-benches --bench redis_producer` (needs
//! redis-server installed; starts and stops its own on a unix socket).

use std::time::{Duration, Instant};

use portsyncd_contract::redis_server::RedisServer;
use portsyncd_core::backend::{Databases, Db, Field, Write};
use portsyncd_redis::{DbConfig, RedisConnections, RedisOptions};

#[path = "machine.rs"]
mod machine;

const PORTS: usize = 512;
const ROUNDS: usize = 15;

fn main() {
    let server = RedisServer::start_unix();
    let config = DbConfig::load(&server.write_db_config(false)).expect("db config");
    let mut flush = redis::Client::open(format!("redis+unix://{}", server.socket().display()))
        .and_then(|c| c.get_connection())
        .expect("raw connection");
    let names: Vec<String> = (0..PORTS).map(|i| format!("Ethernet{}", i * 4)).collect();
    let lanes: Vec<String> =
        (0..PORTS).map(|i| format!("{},{},{},{}", i * 4, i * 4 + 1, i * 4 + 2, i * 4 + 3)).collect();
    let aliases: Vec<String> = (0..PORTS).map(|i| format!("etp{}", i + 1)).collect();
    let indexes: Vec<String> = (0..PORTS).map(|i| i.to_string()).collect();
    let port_fields: Vec<[Field<'_>; 6]> = (0..PORTS)
        .map(|i| {
            [
                (&b"admin_status"[..], &b"up"[..]),
                (&b"alias"[..], aliases[i].as_bytes()),
                (&b"index"[..], indexes[i].as_bytes()),
                (&b"lanes"[..], lanes[i].as_bytes()),
                (&b"mtu"[..], &b"9100"[..]),
                (&b"speed"[..], &b"100000"[..]),
            ]
        })
        .collect();
    let produce: Vec<Write<'_>> = (0..PORTS)
        .map(|i| Write::Produce {
            db: Db::Appl,
            table: "PORT_TABLE",
            key: &names[i],
            fields: &port_fields[i],
        })
        .collect();
    let state_fields: [Field<'_>; 4] = [
        (&b"state"[..], &b"ok"[..]),
        (&b"netdev_oper_status"[..], &b"up"[..]),
        (&b"admin_status"[..], &b"up"[..]),
        (&b"mtu"[..], &b"9100"[..]),
    ];
    let state: Vec<Write<'_>> = names
        .iter()
        .map(|n| Write::Set { db: Db::State, table: "PORT_TABLE", key: n, fields: &state_fields })
        .collect();

    let results = smol::block_on(async {
        let mut db = RedisConnections::journaled(&config, RedisOptions::default()).await.expect("connect");
        let mut results = Vec::new();
        for (label, writes) in [("APPL_DB producer set", &produce), ("STATE_DB HSET", &state)] {
            let mut one_by_one = Vec::new();
            let mut batched = Vec::new();
            let mut trips = (0, 0);
            for _ in 0..ROUNDS {
                // Alternate which goes first; start each from an empty database.
                let _: () = redis::cmd("FLUSHALL").query(&mut flush).expect("flushall");
                let before = db.counters().round_trips;
                let t = Instant::now();
                for w in writes.iter() {
                    db.write(std::slice::from_ref(w)).await.expect("write");
                }
                one_by_one.push(t.elapsed());
                trips.0 = db.counters().round_trips - before;
                let _: () = redis::cmd("FLUSHALL").query(&mut flush).expect("flushall");
                let before = db.counters().round_trips;
                let t = Instant::now();
                db.write(writes).await.expect("write");
                batched.push(t.elapsed());
                trips.1 = db.counters().round_trips - before;
            }
            results.push((label, one_by_one, batched, trips));
        }
        results
    });

    println!("## Redis writes for {PORTS} ports, one by one vs one batch ({ROUNDS} rounds each)\n");
    println!("machine: {}", machine::describe());
    println!("redis-server: {}\n", redis_version());
    println!("| writes | mode | round trips | median | min | max | writes/s (median) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (label, one, batch, trips) in &results {
        let rate = |d: Duration| PORTS as f64 / d.as_secs_f64();
        for (mode, times, t) in [("one by one", one, trips.0), ("batched", batch, trips.1)] {
            let (min, med, max) = stats(times);
            println!(
                "| {label} | {mode} | {t} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} |",
                ms(med),
                ms(min),
                ms(max),
                rate(med)
            );
        }
        let ratio = stats(one).1.as_secs_f64() / stats(batch).1.as_secs_f64();
        println!("| {label} | **batched / one-by-one** | | | | | **{ratio:.1}×** |");
    }
}

fn stats(times: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    (sorted[0], sorted[sorted.len() / 2], sorted[sorted.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn redis_version() -> String {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
