//! Each connection names itself (`CLIENT SETNAME`), on its first connect and
//! on every reconnect, so that `CLIENT LIST` tells the daemon's connections
//! apart from everyone else's.

use std::time::Duration;

use portsyncd_contract::redis_server::RedisServer;
use portsyncd_core::backend::{Databases, Db, Field, Write};
use portsyncd_redis::{DbConfig, RedisConnections, RedisOptions};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    portsyncd_reactor::block_on(f).expect("the reactor starts")
}

/// The names `CLIENT LIST` shows (one per connection; unnamed ones as "").
fn names(socket: &std::path::Path) -> Vec<String> {
    let mut conn =
        redis::Client::open(format!("unix://{}", socket.display())).unwrap().get_connection().unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut conn).unwrap();
    let mut names: Vec<String> = list
        .lines()
        .map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("name=")).unwrap_or("").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_connection_is_named_and_named_again_after_a_reconnect() {
    let mut server = RedisServer::start_unix();
    let config = DbConfig::load(&server.write_db_config(false)).unwrap();
    let options = RedisOptions {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        client_name: Some("portsyncd-asic0-1".into()),
        ..RedisOptions::default()
    };
    let socket = server.socket();
    block_on(async {
        let mut db = RedisConnections::journaled(&config, options).await.unwrap();
        // Three, and the test's own (unnamed) connection.
        assert_eq!(names(&socket), ["", "portsyncd-asic0-1", "portsyncd-asic0-1", "portsyncd-asic0-1"]);
        server.cut_off();
        server.reachable_again();
        let fields: [Field<'_>; 1] = [(b"state", b"ok")];
        let batch = [Write::Set { db: Db::State, table: "PORT_TABLE", key: "Ethernet0", fields: &fields }];
        let mut named_again = false;
        for _ in 0..200 {
            db.write(&batch).await.unwrap();
            if names(&socket).iter().filter(|n| *n == "portsyncd-asic0-1").count() >= 1 {
                named_again = true;
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        assert!(named_again, "no named connection after the reconnect: {:?}", names(&socket));
    });
}

#[test]
fn without_a_name_nothing_is_sent() {
    let server = RedisServer::start_unix();
    let config = DbConfig::load(&server.write_db_config(false)).unwrap();
    let socket = server.socket();
    block_on(async {
        let _db = RedisConnections::journaled(&config, RedisOptions::default()).await.unwrap();
        assert_eq!(names(&socket), ["", "", "", ""]);
    });
}
