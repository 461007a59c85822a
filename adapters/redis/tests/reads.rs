//! Reads against a real redis-server with a small read limit: the limit
//! bounds each reply, not a pipeline's — one read of many hashes whose
//! replies add up to far more than the limit is one round trip and hands
//! every byte over; a hash, value or key beyond it is `TooLarge` in its
//! place, and the connection goes on in step (no reconnect, no error).

use std::collections::BTreeSet;

use portsyncd_contract::redis_server::{RedisRaw, RedisServer};
use portsyncd_core::backend::{DatabaseReads, Databases, Db, Field, TooLarge, Write};
use portsyncd_redis::{DbConfig, RedisConnections, RedisOptions};

const LIMIT: usize = 4096;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    portsyncd_reactor::block_on(f).expect("the reactor starts")
}

/// A value of `len` bytes, different per port.
fn value(port: usize, len: usize) -> Vec<u8> {
    format!("{port:04}-").bytes().cycle().take(len).collect()
}

#[test]
fn the_limit_bounds_each_reply_not_the_pipeline() {
    let server = RedisServer::start_unix();
    let config = DbConfig::load(&server.write_db_config(false)).unwrap();
    let _raw = RedisRaw::new(server);
    block_on(async {
        let options = RedisOptions { read_limit: LIMIT, ..RedisOptions::default() };
        let mut db = RedisConnections::journaled(&config, options).await.unwrap();
        // 300 hashes of 3 KiB (900 KiB of replies to one pipeline), one of 5 KiB.
        let names: Vec<String> = (0..301).map(|i| format!("Ethernet{}", i * 4)).collect();
        let values: Vec<Vec<u8>> =
            (0..301).map(|i| value(i, if i == 150 { 5 << 10 } else { 3 << 10 })).collect();
        let fields: Vec<[Field<'_>; 1]> =
            values.iter().map(|v| [(&b"description"[..], v.as_slice())]).collect();
        let writes: Vec<Write<'_>> = names
            .iter()
            .zip(&fields)
            .map(|(key, fields)| Write::Set { db: Db::Config, table: "PORT", key, fields })
            .collect();
        db.write(&writes).await.unwrap();

        let before = db.counters();
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut got: Vec<Vec<Result<Vec<u8>, TooLarge>>> = vec![Vec::new(); keys.len()];
        db.get_many(Db::Config, "PORT", &keys, &mut |i, field| got[i].push(field.map(|(_, v)| v.to_vec())))
            .await
            .unwrap();
        assert_eq!(db.counters().round_trips, before.round_trips + 1, "one pipeline");
        for (i, fields) in got.iter().enumerate() {
            if i == 150 {
                let [Err(t)] = fields[..] else { panic!("{i}: {fields:?}") };
                assert_eq!(t.limit, LIMIT as u64);
                assert!(t.bytes > 5 << 10, "{t:?}");
            } else {
                assert!(fields[..] == [Ok(values[i].clone())], "{i}");
            }
        }

        // One key, one value, a key listing: the same.
        let mut one = Vec::new();
        assert!(db.get(Db::Config, "PORT", "Ethernet600", &mut |f| one.push(f.is_err())).await.unwrap());
        assert_eq!(one, [true]);
        let mut small = None;
        db.hget(Db::Config, "PORT", "Ethernet4", "description", &mut |v| small = Some(v.map(<[u8]>::to_vec)))
            .await
            .unwrap();
        assert_eq!(small, Some(Ok(values[1].clone())));
        let long_key = format!("Ethernet{}", "9".repeat(LIMIT));
        db.write(&[Write::Set {
            db: Db::Config,
            table: "PORT",
            key: &long_key,
            fields: &[(b"lanes", b"1")],
        }])
        .await
        .unwrap();
        let (mut listed, mut too_large) = (BTreeSet::new(), 0);
        db.keys(Db::Config, "PORT", &mut |k| match k {
            Ok(k) => drop(listed.insert(k.to_vec())),
            Err(_) => too_large += 1,
        })
        .await
        .unwrap();
        assert_eq!((listed.len(), too_large), (301, 1));

        // In step: the hot path goes on, nothing was lost or reconnected.
        let mut present = [false; 2];
        db.exists(Db::Config, "PORT", &["Ethernet0", "Ethernet2"], &mut present).await.unwrap();
        assert_eq!(present, [true, false]);
        let c = db.counters();
        assert_eq!((c.reconnects, c.errors), (0, 0), "{c}");
    });
}
