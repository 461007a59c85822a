//! Dynamic port breakout and port removal through APPL_DB, as SONiC does
//! them: the port's APPL_DB entry is deleted first (a ProducerStateTable
//! delete that orchagent pops), orchagent removes the port, and only then
//! does its host interface go. A link event in that gap must write nothing
//! to STATE_DB: the C++ daemon checks APPL_DB `PORT_TABLE` on every link
//! event, and SONiC's consumers assume STATE_DB describes only ports APPL_DB
//! holds. The DELLINK that follows deletes the STATE_DB entry, as the C++
//! daemon's does.

use std::time::Duration;

use portsyncd_core::backend::Db;

use crate::harness::*;

/// A ProducerStateTable delete of APPL_DB `PORT_TABLE:<key>`, as portmgrd
/// sends it (SONIC.md §3): the key into the pending and delete-marker sets,
/// its staging hash gone, one publish.
fn producer_del(sw: &Switch, key: &str) {
    let url = format!("redis+unix://{}?db=0", sw.raw.socket().display());
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::pipe()
        .cmd("SADD")
        .arg("PORT_TABLE_KEY_SET")
        .arg(key)
        .cmd("SADD")
        .arg("PORT_TABLE_DEL_SET")
        .arg(key)
        .cmd("DEL")
        .arg(format!("_PORT_TABLE:{key}"))
        .cmd("PUBLISH")
        .arg("PORT_TABLE_CHANNEL@0")
        .arg("G")
        .query(&mut conn)
        .unwrap();
}

#[test]
fn a_link_event_after_the_port_left_appl_db_writes_nothing_and_its_dellink_deletes() {
    let mut sw = Switch::new(2);
    sw.start();
    let before = state("down", "down", "1500");
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &before, T);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &before, T);
    // Recently confirmed present: a change now is written (and would make
    // an answer kept for a while "fresh").
    sw.ns.ip(&["link", "set", "Ethernet0", "mtu", "9100"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet0", &state("down", "down", "9100"), T);
    // Breakout: APPL_DB's entry goes first; the orchagent stand-in pops it.
    producer_del(&sw, "Ethernet0");
    assert!(
        wait_until(T, || !sw.exists(Db::Appl, "PORT_TABLE:Ethernet0")),
        "the consumer did not pop the delete"
    );
    // A link event in the gap, then one of a port APPL_DB still holds: once
    // the second is in STATE_DB, the first has been handled too.
    sw.ns.ip(&["link", "set", "Ethernet0", "mtu", "1500"]);
    sw.ns.ip(&["link", "set", "Ethernet0", "up"]);
    sw.ns.ip(&["link", "set", "Ethernet4", "mtu", "9000"]);
    sw.expect_hash(Db::State, "PORT_TABLE|Ethernet4", &state("down", "down", "9000"), T);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        sw.hgetall(Db::State, "PORT_TABLE|Ethernet0"),
        state("down", "down", "9100"),
        "STATE_DB written for a port APPL_DB no longer holds\n{}",
        sw.log()
    );
    // orchagent removed the port; its host interface goes.
    sw.ns.ip(&["link", "del", "Ethernet0"]);
    sw.expect_absent(Db::State, "PORT_TABLE|Ethernet0", T);
    assert_eq!(sw.hgetall(Db::State, "PORT_TABLE|Ethernet4"), state("down", "down", "9000"));
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "exit {status:?}\n{}", sw.log());
}
