//! The contract of a portsyncd database backend, written once and run against
//! each backend (the mock and real Redis).
//!
//! A backend's test file provides a set-up function returning the backend
//! under test, a [`RawView`] of the same storage (for the test-side consumer
//! and for assertions on raw keys), and a guard that tears the set-up down;
//! then [`contract_tests!`] generates one test per case.
//!
//! The fault cases check a fault injector over the backend (the mock crate's
//! `FaultInjector`, over the mock and over Redis): their set-up also returns
//! the injector's controls, seen through [`InjectFaults`], and
//! `contract_tests!(setup, faults: faulty_setup)` adds them.
//!
//! The consumer here pops producer tables with orchagent's ConsumerStateTable
//! semantics (SONIC.md §3), so the suite checks what orchagent would see, not
//! just which keys exist.

#![forbid(unsafe_code)]
#![allow(missing_docs)] // test support: the cases document themselves by name

use std::collections::{BTreeMap, BTreeSet};

use portsyncd_core::backend::{BackendStatus, Databases, Db, Field, Guard, TooLarge, Write};

pub use smol;

/// Runs a contract case: on Linux on the reactor the Redis adapter's
/// sockets wait on (any other backend's futures run there as well),
/// elsewhere on smol.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    #[cfg(target_os = "linux")]
    {
        portsyncd_reactor::block_on(f).expect("the reactor starts")
    }
    #[cfg(not(target_os = "linux"))]
    {
        smol::block_on(f)
    }
}

pub mod redis_server;

/// Raw, test-side access to the storage behind a backend.
#[allow(async_fn_in_trait)]
pub trait RawView {
    fn separator(&self, db: Db) -> char;
    fn db_id(&self, db: Db) -> u32;
    async fn hgetall(&mut self, db: Db, key: &str) -> BTreeMap<String, String>;
    async fn hset(&mut self, db: Db, key: &str, fields: &[(&str, &str)]);
    async fn smembers(&mut self, db: Db, key: &str) -> BTreeSet<String>;
    async fn spop(&mut self, db: Db, key: &str, count: usize) -> Vec<String>;
    async fn srem(&mut self, db: Db, key: &str, member: &str) -> bool;
    async fn del(&mut self, db: Db, key: &str);
    async fn exists(&mut self, db: Db, key: &str) -> bool;
    /// Messages published on `channel` since the set-up.
    async fn publishes(&mut self, channel: &str) -> u64;
    /// All keys of `db`.
    async fn keys(&mut self, db: Db) -> BTreeSet<String>;
    /// The backend becomes unreachable (its data kept).
    async fn outage(&mut self);
    /// The backend becomes unreachable and loses all its data.
    async fn crash(&mut self);
    /// The backend is reachable again.
    async fn recover(&mut self);
}

/// The controls of a fault injector over the backend under test.
pub trait InjectFaults {
    /// Every write is refused (as Redis refuses them when out of memory)
    /// until [`stop`](Self::stop); reads are served.
    fn refuse_writes(&self);
    /// Every read fails until [`stop`](Self::stop); writes go through.
    fn fail_reads(&self);
    /// The next `n` operations fail.
    fn fail_next(&self, n: usize);
    /// No more injected faults.
    fn stop(&self);
}

/// What a consumer pop yields for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popped {
    Set(BTreeMap<String, String>),
    Del,
}

/// Pops every queued key of producer table `table` like orchagent's
/// ConsumerStateTable: delete-marked keys lose their final hash first, then
/// staged fields are merged into it; a key with no staged fields is a DEL.
pub async fn consumer_pop<R: RawView>(raw: &mut R, db: Db, table: &str) -> BTreeMap<String, Popped> {
    let sep = raw.separator(db);
    let mut out = BTreeMap::new();
    loop {
        let keys = raw.spop(db, &format!("{table}_KEY_SET"), 128).await;
        if keys.is_empty() {
            return out;
        }
        for key in keys {
            let final_key = format!("{table}{sep}{key}");
            if raw.srem(db, &format!("{table}_DEL_SET"), &key).await {
                raw.del(db, &final_key).await;
            }
            let staging = format!("_{table}{sep}{key}");
            let fields = raw.hgetall(db, &staging).await;
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
            raw.hset(db, &final_key, &pairs).await;
            raw.del(db, &staging).await;
            out.insert(key, if fields.is_empty() { Popped::Del } else { Popped::Set(fields) });
        }
    }
}

/// Field pairs as writes carry them (leaked: test support only).
pub fn fv(pairs: &[(&'static str, &'static str)]) -> &'static [Field<'static>] {
    pairs.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())).collect::<Vec<_>>().leak()
}

/// A plain set of STATE_DB `PORT_TABLE|<key>` (leaked fields: test support only).
fn set(key: &'static str, pairs: &[(&'static str, &'static str)]) -> Write<'static> {
    Write::Set { db: Db::State, table: "PORT_TABLE", key, fields: fv(pairs) }
}

/// A field read, owned (it must not be too large).
fn owned(field: Result<Field<'_>, TooLarge>) -> (Vec<u8>, Vec<u8>) {
    let (f, v) = field.expect("not too large");
    (f.to_vec(), v.to_vec())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 in this test")
}

pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect()
}

async fn get_all<D: Databases>(
    db: &mut D,
    which: Db,
    table: &str,
    key: &str,
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut visit = |field: Result<Field<'_>, TooLarge>| {
        let (f, v) = field.expect("not too large");
        out.insert(text(f), text(v));
    };
    let found = db.get(which, table, key, &mut visit).await.unwrap();
    found.then_some(out)
}

async fn hget<D: Databases>(db: &mut D, which: Db, table: &str, key: &str, field: &str) -> Option<String> {
    let mut out = None;
    db.hget(which, table, key, field, &mut |v| out = Some(text(v.expect("not too large")))).await.unwrap();
    out
}

async fn wait_connected<D: Databases>(db: &mut D) {
    for _ in 0..200 {
        if db.maintain().await == BackendStatus::Connected {
            return;
        }
        smol::Timer::after(std::time::Duration::from_millis(25)).await;
    }
    panic!("backend did not come back: {:?}", db.status());
}

/// Plain tables: HSET merges, each database's own separator, GET/HGET, KEYS, DEL of the whole hash.
pub async fn plain_table_operations<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    let s = raw.separator(Db::State);
    db.write(&[Write::Set {
        db: Db::State,
        table: "PORT_TABLE",
        key: "Ethernet0",
        fields: fv(&[("state", "ok"), ("mtu", "1500")]),
    }])
    .await
    .unwrap();
    raw.hset(Db::State, &format!("PORT_TABLE{s}Ethernet0"), &[("speed", "100000")]).await;
    db.write(&[Write::Set {
        db: Db::State,
        table: "PORT_TABLE",
        key: "Ethernet0",
        fields: fv(&[("mtu", "9100")]),
    }])
    .await
    .unwrap();
    assert_eq!(
        raw.hgetall(Db::State, &format!("PORT_TABLE{s}Ethernet0")).await,
        fields(&[("state", "ok"), ("mtu", "9100"), ("speed", "100000")]),
        "HSET merges; other writers' fields stay"
    );
    assert_eq!(
        get_all(db, Db::State, "PORT_TABLE", "Ethernet0").await,
        Some(fields(&[("state", "ok"), ("mtu", "9100"), ("speed", "100000")]))
    );
    assert_eq!(get_all(db, Db::State, "PORT_TABLE", "Ethernet4").await, None);
    assert_eq!(hget(db, Db::State, "PORT_TABLE", "Ethernet0", "mtu").await.as_deref(), Some("9100"));
    let mut many: Vec<(usize, String, String)> = Vec::new();
    db.get_many(Db::State, "PORT_TABLE", &["Ethernet4", "Ethernet0"], &mut |i, field| {
        let (f, v) = field.expect("not too large");
        many.push((i, text(f), text(v)))
    })
    .await
    .unwrap();
    many.sort();
    let want: Vec<(usize, String, String)> = [("mtu", "9100"), ("speed", "100000"), ("state", "ok")]
        .iter()
        .map(|(f, v)| (1, f.to_string(), v.to_string()))
        .collect();
    assert_eq!(many, want, "one key absent, the other's fields under its index");
    assert_eq!(hget(db, Db::State, "PORT_TABLE", "Ethernet0", "nope").await, None);
    assert_eq!(hget(db, Db::State, "PORT_TABLE", "Ethernet4", "mtu").await, None);

    // Each database's separator: CONFIG_DB '|', APPL_DB ':', STATE_DB '|'.
    db.write(&[
        Write::Set { db: Db::Config, table: "PORT", key: "Ethernet0", fields: fv(&[("lanes", "0,1,2,3")]) },
        Write::Set { db: Db::Config, table: "PORT", key: "Ethernet4", fields: fv(&[("lanes", "4,5,6,7")]) },
        Write::Set {
            db: Db::Appl,
            table: "PORT_TABLE",
            key: "Ethernet0",
            fields: fv(&[("admin_status", "up")]),
        },
    ])
    .await
    .unwrap();
    let (c, a) = (raw.separator(Db::Config), raw.separator(Db::Appl));
    assert_eq!((c, a, s), ('|', ':', '|'));
    assert!(raw.exists(Db::Config, "PORT|Ethernet4").await);
    assert!(raw.exists(Db::Appl, "PORT_TABLE:Ethernet0").await);
    let mut keys = BTreeSet::new();
    db.keys(Db::Config, "PORT", &mut |k| {
        keys.insert(text(k.expect("not too large")));
    })
    .await
    .unwrap();
    assert_eq!(keys, ["Ethernet0", "Ethernet4"].map(String::from).into());

    // A set with no fields writes nothing.
    db.write(&[Write::Set { db: Db::State, table: "PORT_TABLE", key: "Ethernet8", fields: &[] }])
        .await
        .unwrap();
    assert!(!raw.exists(Db::State, "PORT_TABLE|Ethernet8").await);

    db.write(&[Write::Del { db: Db::State, table: "PORT_TABLE", key: "Ethernet0" }]).await.unwrap();
    assert!(!raw.exists(Db::State, "PORT_TABLE|Ethernet0").await, "DEL removes the whole hash");
}

/// EXISTS for many keys in one call.
pub async fn exists_many<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    raw.hset(Db::Appl, "PORT_TABLE:Ethernet0", &[("lanes", "0")]).await;
    raw.hset(Db::Appl, "PORT_TABLE:Ethernet8", &[("lanes", "8")]).await;
    let mut present = [false; 4];
    db.exists(Db::Appl, "PORT_TABLE", &["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet|1"], &mut present)
        .await
        .unwrap();
    assert_eq!(present, [true, false, true, false]);
    db.exists(Db::Appl, "PORT_TABLE", &[], &mut []).await.unwrap();

    // HEXISTS for many keys: the cold-start prune's question.
    raw.hset(Db::Appl, "PORT_TABLE:Ethernet4", &[("admin_status", "down")]).await;
    let mut has = [true; 4];
    let keys = ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"];
    db.has_field(Db::Appl, "PORT_TABLE", &keys, "admin_status", &mut has).await.unwrap();
    assert_eq!(has, [false, true, false, false]);
}

/// swss-common's Table::get cuts field names, and hget values, at the first '@'.
pub async fn at_sign_cuts<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    raw.hset(Db::Config, "LOGGER|portsyncd", &[("LOGLEVEL@x", "NOTICE"), ("LOGOUTPUT", "SYS@LOG")]).await;
    assert_eq!(
        get_all(db, Db::Config, "LOGGER", "portsyncd").await,
        Some(fields(&[("LOGLEVEL", "NOTICE"), ("LOGOUTPUT", "SYS@LOG")]))
    );
    assert_eq!(hget(db, Db::Config, "LOGGER", "portsyncd", "LOGOUTPUT").await.as_deref(), Some("SYS"));
}

/// ProducerStateTable set: key set, staging hash, one publish per newly queued key; the consumer sees the merge.
pub async fn producer_set_and_pop<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    let channel = format!("PORT_TABLE_CHANNEL@{}", raw.db_id(Db::Appl));
    let p = |key, pairs| Write::Produce { db: Db::Appl, table: "PORT_TABLE", key, fields: fv(pairs) };
    db.write(&[p("Ethernet0", &[("lanes", "0,1"), ("mtu", "9100")])]).await.unwrap();
    db.write(&[p("Ethernet0", &[("mtu", "1500")]), p("Ethernet4", &[("lanes", "4,5")])]).await.unwrap();
    assert_eq!(
        raw.smembers(Db::Appl, "PORT_TABLE_KEY_SET").await,
        ["Ethernet0", "Ethernet4"].map(String::from).into()
    );
    assert_eq!(
        raw.hgetall(Db::Appl, "_PORT_TABLE:Ethernet0").await,
        fields(&[("lanes", "0,1"), ("mtu", "1500")])
    );
    assert!(!raw.exists(Db::Appl, "PORT_TABLE:Ethernet0").await, "final hash only after the pop");
    assert_eq!(raw.publishes(&channel).await, 2, "one publish per newly queued key");

    let popped = consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    assert_eq!(popped["Ethernet0"], Popped::Set(fields(&[("lanes", "0,1"), ("mtu", "1500")])));
    assert_eq!(
        raw.hgetall(Db::Appl, "PORT_TABLE:Ethernet0").await,
        fields(&[("lanes", "0,1"), ("mtu", "1500")])
    );
    assert!(!raw.exists(Db::Appl, "_PORT_TABLE:Ethernet0").await);
    assert!(!raw.exists(Db::Appl, "PORT_TABLE_KEY_SET").await);

    db.write(&[p("Ethernet0", &[("admin_status", "up")])]).await.unwrap();
    assert_eq!(raw.publishes(&channel).await, 3, "queued anew after the pop: published again");
    let popped = consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    assert_eq!(
        popped["Ethernet0"],
        Popped::Set(fields(&[("admin_status", "up")])),
        "only fields since the last pop"
    );
    assert_eq!(
        raw.hgetall(Db::Appl, "PORT_TABLE:Ethernet0").await,
        fields(&[("lanes", "0,1"), ("mtu", "1500"), ("admin_status", "up")]),
        "merged into the final hash"
    );
}

/// ProducerStateTable del: the consumer deletes; a del then a set before the pop replaces; zero fields pop as DEL.
pub async fn producer_del_and_replace<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    let t = "PORT_TABLE";
    let channel = format!("PORT_TABLE_CHANNEL@{}", raw.db_id(Db::Appl));
    db.write(&[
        Write::Produce { db: Db::Appl, table: t, key: "Ethernet0", fields: fv(&[("a", "1"), ("b", "1")]) },
        Write::Produce { db: Db::Appl, table: t, key: "Ethernet4", fields: fv(&[("a", "1")]) },
    ])
    .await
    .unwrap();
    consumer_pop(raw, Db::Appl, t).await;
    db.write(&[
        Write::ProduceDel { db: Db::Appl, table: t, key: "Ethernet0" },
        Write::Produce { db: Db::Appl, table: t, key: "Ethernet0", fields: fv(&[("c", "3")]) },
        Write::ProduceDel { db: Db::Appl, table: t, key: "Ethernet4" },
        Write::Produce { db: Db::Appl, table: t, key: "Ethernet8", fields: &[] },
    ])
    .await
    .unwrap();
    assert_eq!(
        raw.smembers(Db::Appl, "PORT_TABLE_DEL_SET").await,
        ["Ethernet0", "Ethernet4"].map(String::from).into()
    );
    assert_eq!(raw.publishes(&channel).await, 5);
    let popped = consumer_pop(raw, Db::Appl, t).await;
    assert_eq!(popped["Ethernet0"], Popped::Set(fields(&[("c", "3")])));
    assert_eq!(
        raw.hgetall(Db::Appl, "PORT_TABLE:Ethernet0").await,
        fields(&[("c", "3")]),
        "replaced, not merged"
    );
    assert_eq!(popped["Ethernet4"], Popped::Del);
    assert!(!raw.exists(Db::Appl, "PORT_TABLE:Ethernet4").await);
    assert_eq!(popped["Ethernet8"], Popped::Del, "a set with no fields is seen as a delete");
    assert!(!raw.exists(Db::Appl, "PORT_TABLE_DEL_SET").await);
}

/// A long stream of producer writes in batches: what the consumer ends with equals a model applied in order.
pub async fn producer_stream_matches_model<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    let mut model: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let names: Vec<String> = (0..16).map(|i| format!("Ethernet{}", i * 4)).collect();
    for round in 0..40 {
        let mut ops = Vec::new();
        for _ in 0..next(12) {
            let key = names[next(16) as usize].clone();
            let del = next(5) == 0;
            let value = format!("{round}-{}", next(1000));
            ops.push((key, del, value));
        }
        let field_lists: Vec<[Field<'_>; 1]> =
            ops.iter().map(|(_, _, v)| [(&b"v"[..], v.as_bytes())]).collect();
        let writes: Vec<Write<'_>> = ops
            .iter()
            .zip(&field_lists)
            .map(|((key, del, _), fields)| {
                if *del {
                    Write::ProduceDel { db: Db::Appl, table: "PORT_TABLE", key }
                } else {
                    Write::Produce { db: Db::Appl, table: "PORT_TABLE", key, fields }
                }
            })
            .collect();
        db.write(&writes).await.unwrap();
        for (key, del, value) in &ops {
            if *del {
                model.remove(key);
            } else {
                model.entry(key.clone()).or_default().insert("v".into(), value.clone());
            }
        }
        if next(3) == 0 {
            consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
        }
    }
    consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    for name in &names {
        let got = raw.hgetall(Db::Appl, &format!("PORT_TABLE:{name}")).await;
        let want = model.get(name).cloned().unwrap_or_default();
        assert_eq!(got, want, "{name}");
    }
}

/// While the backend is away: reads fail, writes are kept (latest per key),
/// the backend reports Degraded, and everything lands once it is back.
pub async fn outage_keeps_writes<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    db.write(&[set("Ethernet0", &[("mtu", "1500")]), set("Ethernet4", &[("mtu", "1500")])]).await.unwrap();
    assert_eq!(db.status(), BackendStatus::Connected);
    raw.outage().await;
    let mut present = [false];
    assert!(db.exists(Db::State, "PORT_TABLE", &["Ethernet0"], &mut present).await.is_err(), "reads fail");
    db.write(&[set("Ethernet0", &[("mtu", "9100")])]).await.unwrap();
    db.write(&[Write::Del { db: Db::State, table: "PORT_TABLE", key: "Ethernet4" }]).await.unwrap();
    db.write(&[set("Ethernet8", &[("mtu", "9100")]), set("Ethernet0", &[("state", "ok")])]).await.unwrap();
    db.write(&[Write::Produce {
        db: Db::Appl,
        table: "PORT_TABLE",
        key: "PortInitDone",
        fields: fv(&[("lanes", "0")]),
    }])
    .await
    .unwrap();
    assert!(matches!(db.status(), BackendStatus::Degraded { pending: 4 }), "{:?}", db.status());
    raw.recover().await;
    wait_connected(db).await;
    assert_eq!(
        raw.hgetall(Db::State, "PORT_TABLE|Ethernet0").await,
        fields(&[("mtu", "9100"), ("state", "ok")])
    );
    assert!(!raw.exists(Db::State, "PORT_TABLE|Ethernet4").await);
    assert_eq!(raw.hgetall(Db::State, "PORT_TABLE|Ethernet8").await, fields(&[("mtu", "9100")]));
    let popped = consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    assert_eq!(popped["PortInitDone"], Popped::Set(fields(&[("lanes", "0")])));
}

/// A STATE_DB port write guarded by APPL_DB `PORT_TABLE:<port>`
/// (leaked fields: test support only).
fn set_if_in_appl(key: &'static str, pairs: &[(&'static str, &'static str)]) -> Write<'static> {
    Write::SetIfPresent {
        db: Db::State,
        table: "PORT_TABLE",
        key,
        fields: fv(pairs),
        guard: Guard { db: Db::Appl, table: "PORT_TABLE", key },
    }
}

/// A check-and-write lands only while its guard exists, and says which did
/// not: in a pipeline among other writes, after a producer set that only
/// staged the guard (the consumer has not popped it), after the pop, and
/// once the guard is deleted again (a dynamic port breakout). A write kept
/// through an outage is checked when it lands, not when it was made.
pub async fn check_and_write_follows_its_guard<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    raw.hset(Db::Appl, &format!("PORT_TABLE{}Ethernet0", raw.separator(Db::Appl)), &[("lanes", "0")]).await;
    let writes = [
        set_if_in_appl("Ethernet0", &[("mtu", "9100")]),
        set_if_in_appl("Ethernet0", &[("state", "ok"), ("mtu", "9100")]),
        Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: "Ethernet4", fields: fv(&[("lanes", "4")]) },
        set_if_in_appl("Ethernet4", &[("mtu", "9100")]),
        set("Ethernet8", &[("mtu", "9100")]),
        set_if_in_appl("Ethernet8", &[("state", "ok")]),
    ];
    let mut absent = [false; 6];
    db.write_checked(&writes, &mut absent).await.unwrap();
    assert_eq!(
        absent,
        [false, false, false, true, false, true],
        "staged is not held; a plain set is no guard"
    );
    assert_eq!(
        raw.hgetall(Db::State, "PORT_TABLE|Ethernet0").await,
        fields(&[("mtu", "9100"), ("state", "ok")])
    );
    assert!(!raw.exists(Db::State, "PORT_TABLE|Ethernet4").await);
    assert_eq!(raw.hgetall(Db::State, "PORT_TABLE|Ethernet8").await, fields(&[("mtu", "9100")]));

    consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    let mut absent = [true; 2];
    db.write_checked(
        &[set_if_in_appl("Ethernet4", &[("mtu", "1500")]), set_if_in_appl("Ethernet0", &[])],
        &mut absent,
    )
    .await
    .unwrap();
    assert_eq!(absent, [false, false], "popped, it is held; no fields writes nothing but is not absent");
    assert_eq!(raw.hgetall(Db::State, "PORT_TABLE|Ethernet4").await, fields(&[("mtu", "1500")]));

    // Breakout: APPL_DB's entry goes first; the port's writes stop with it.
    raw.del(Db::Appl, &format!("PORT_TABLE{}Ethernet0", raw.separator(Db::Appl))).await;
    let mut absent = [false];
    db.write_checked(&[set_if_in_appl("Ethernet0", &[("mtu", "1500")])], &mut absent).await.unwrap();
    assert_eq!(absent, [true]);
    assert_eq!(
        raw.hgetall(Db::State, "PORT_TABLE|Ethernet0").await,
        fields(&[("mtu", "9100"), ("state", "ok")])
    );

    // Kept through an outage: checked when it lands.
    raw.outage().await;
    let mut absent = [false; 2];
    let kept =
        [set_if_in_appl("Ethernet0", &[("mtu", "4000")]), set_if_in_appl("Ethernet4", &[("mtu", "4000")])];
    db.write_checked(&kept, &mut absent).await.unwrap();
    assert_eq!(absent, [false, false], "kept: not known yet");
    // Back, but the backend has not flushed yet (it does when maintained).
    raw.recover().await;
    raw.hset(Db::Appl, &format!("PORT_TABLE{}Ethernet0", raw.separator(Db::Appl)), &[("lanes", "0")]).await;
    raw.del(Db::Appl, &format!("PORT_TABLE{}Ethernet4", raw.separator(Db::Appl))).await;
    wait_connected(db).await;
    assert_eq!(
        raw.hgetall(Db::State, "PORT_TABLE|Ethernet0").await,
        fields(&[("mtu", "4000"), ("state", "ok")])
    );
    assert_eq!(raw.hgetall(Db::State, "PORT_TABLE|Ethernet4").await, fields(&[("mtu", "1500")]));
}

/// Redis values are bytes: field names and values that are not UTF-8 are
/// written and read back byte for byte (swss-common copies CONFIG_DB's
/// fields to APPL_DB so); a read does not fail on them.
pub async fn bytes_are_carried_verbatim<D: Databases, R: RawView>(db: &mut D, _raw: &mut R) {
    const FIELDS: &[Field<'static>] = &[(b"description", b"caf\xe9 \xff\x00 end"), (b"\xfe", b"x")];
    db.write(&[
        Write::Set { db: Db::State, table: "PORT_TABLE", key: "Ethernet0", fields: FIELDS },
        Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: "Ethernet0", fields: FIELDS },
    ])
    .await
    .unwrap();
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    assert!(db.get(Db::State, "PORT_TABLE", "Ethernet0", &mut |field| got.push(owned(field))).await.unwrap());
    let want: Vec<(Vec<u8>, Vec<u8>)> = FIELDS.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
    got.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    // The producer's staging hash holds the same bytes.
    let mut staged: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    db.get_many(Db::Appl, "_PORT_TABLE", &["Ethernet0"], &mut |_, field| staged.push(owned(field)))
        .await
        .unwrap();
    staged.sort();
    assert_eq!(staged, sorted);
    let mut value = Vec::new();
    assert!(
        db.hget(Db::State, "PORT_TABLE", "Ethernet0", "description", &mut |v| value = v.unwrap().to_vec())
            .await
            .unwrap()
    );
    assert_eq!(value, b"caf\xe9 \xff\x00 end");
}

/// A MiB.
const MIB: usize = 1 << 20;

/// What both backends read at once (the Redis adapter's default
/// `read_limit`, which the in-memory databases copy).
pub const READ_LIMIT: u64 = 64 << 20;

/// `len` bytes that differ from port to port and are not all text.
pub fn blob(seed: usize, len: usize) -> Vec<u8> {
    let pattern: Vec<u8> = format!("port {seed} \u{e9} ").into_bytes().into_iter().chain([0xff, 0]).collect();
    pattern.iter().copied().cycle().take(len).collect()
}

/// Every field of each of `keys`, owned, as `get_many` hands them over.
async fn read_many<D: Databases>(
    db: &mut D,
    which: Db,
    table: &str,
    keys: &[&str],
) -> Vec<Vec<Result<(Vec<u8>, Vec<u8>), TooLarge>>> {
    let mut got = vec![Vec::new(); keys.len()];
    db.get_many(which, table, keys, &mut |i, field| {
        got[i].push(field.map(|(f, v)| (f.to_vec(), v.to_vec())));
    })
    .await
    .unwrap();
    got
}

/// Values of many MiB — 72 ports of 1 MiB each (72 MiB for one read of
/// every port's hash) and one of 40 MiB — are written, read back whole by
/// every read, and produced, byte for byte; the backend goes on as usual.
pub async fn values_of_many_mib_are_read_and_produced_whole<D: Databases, R: RawView>(
    db: &mut D,
    raw: &mut R,
) {
    let names: Vec<String> = (0..73).map(|i| format!("Ethernet{}", i * 4)).collect();
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    let blobs: Vec<Vec<u8>> = (0..73).map(|i| blob(i, if i == 72 { 40 * MIB } else { MIB })).collect();
    let fields: Vec<[Field<'_>; 2]> =
        blobs.iter().map(|b| [(&b"lanes"[..], &b"0,1"[..]), (b"description", b)]).collect();
    let sets: Vec<Write<'_>> = keys
        .iter()
        .zip(&fields)
        .map(|(key, fields)| Write::Set { db: Db::Config, table: "PORT", key, fields })
        .collect();
    db.write(&sets).await.unwrap();

    let mut listed = BTreeSet::new();
    db.keys(Db::Config, "PORT", &mut |k| {
        listed.insert(text(k.expect("not too large")));
    })
    .await
    .unwrap();
    assert_eq!(listed, names.iter().cloned().collect());
    let want = |i: usize| {
        let mut pairs =
            vec![(b"description".to_vec(), blobs[i].clone()), (b"lanes".to_vec(), b"0,1".to_vec())];
        pairs.sort();
        pairs
    };
    let got = read_many(db, Db::Config, "PORT", &keys).await;
    for (i, fields) in got.into_iter().enumerate() {
        let mut fields: Vec<_> = fields.into_iter().map(|f| f.expect("not too large")).collect();
        fields.sort();
        assert!(fields == want(i), "{}: not read whole", keys[i]);
    }
    let mut one = Vec::new();
    assert!(db.get(Db::Config, "PORT", keys[72], &mut |field| one.push(owned(field))).await.unwrap());
    one.sort();
    assert!(one == want(72), "one hash of 40 MiB");
    let mut value = Vec::new();
    assert!(
        db.hget(Db::Config, "PORT", keys[72], "description", &mut |v| value = v.unwrap().to_vec())
            .await
            .unwrap()
    );
    assert!(value == blobs[72], "one value of 40 MiB");

    // Produced, one write for all of them, as the start produces them.
    let produce: Vec<Write<'_>> = keys
        .iter()
        .zip(&fields)
        .map(|(key, fields)| Write::Produce { db: Db::Appl, table: "PORT_TABLE", key, fields })
        .collect();
    db.write(&produce).await.unwrap();
    let staged = read_many(db, Db::Appl, "_PORT_TABLE", &keys).await;
    for (i, fields) in staged.into_iter().enumerate() {
        let mut fields: Vec<_> = fields.into_iter().map(|f| f.expect("not too large")).collect();
        fields.sort();
        assert!(fields == want(i), "{}: not produced whole", keys[i]);
    }
    assert_eq!(raw.smembers(Db::Appl, "PORT_TABLE_KEY_SET").await.len(), 73);
    db.write(&[set("Ethernet0", &[("mtu", "9100")])]).await.unwrap();
    assert_eq!(hget(db, Db::State, "PORT_TABLE", "Ethernet0", "mtu").await.as_deref(), Some("9100"));
}

/// Beyond the read limit, a hash (all of it), a value or a key is one
/// `TooLarge` in its place, never a failed read: the rest of the read is
/// handed over, and the backend goes on as usual.
pub async fn what_is_beyond_the_read_limit_is_too_large<D: Databases, R: RawView>(db: &mut D, _raw: &mut R) {
    let huge = blob(4, 65 * MIB);
    let huge_key = format!("Ethernet{}", "9".repeat(65 * MIB));
    let small: &[Field<'static>] = &[(b"lanes", b"0")];
    let big: [Field<'_>; 2] = [(b"lanes", b"4"), (b"description", &huge)];
    db.write(&[
        Write::Set { db: Db::Config, table: "PORT", key: "Ethernet0", fields: small },
        Write::Set { db: Db::Config, table: "PORT", key: "Ethernet4", fields: &big },
        Write::Set { db: Db::Config, table: "PORT", key: "Ethernet8", fields: small },
        Write::Set { db: Db::Config, table: "PORT", key: &huge_key, fields: small },
    ])
    .await
    .unwrap();
    let too_large = |t: TooLarge| t.limit == READ_LIMIT && t.bytes >= 65 * MIB as u64;

    let got = read_many(db, Db::Config, "PORT", &["Ethernet0", "Ethernet4", "Ethernet8"]).await;
    assert_eq!(got[0], [Ok((b"lanes".to_vec(), b"0".to_vec()))]);
    assert!(
        matches!(got[1][..], [Err(t)] if too_large(t)),
        "{:?}",
        got[1].iter().map(|f| f.as_ref().err()).collect::<Vec<_>>()
    );
    assert_eq!(got[2], [Ok((b"lanes".to_vec(), b"0".to_vec()))]);

    let mut one = Vec::new();
    assert!(db.get(Db::Config, "PORT", "Ethernet4", &mut |field| one.push(field.map(|_| ()))).await.unwrap());
    assert!(matches!(one[..], [Err(t)] if too_large(t)), "{one:?}");
    let mut value = None;
    assert!(
        db.hget(Db::Config, "PORT", "Ethernet4", "description", &mut |v| value = Some(v.map(<[u8]>::len)))
            .await
            .unwrap()
    );
    assert!(matches!(value, Some(Err(t)) if too_large(t)), "{value:?}");
    assert_eq!(
        hget(db, Db::Config, "PORT", "Ethernet4", "lanes").await.as_deref(),
        Some("4"),
        "a small value of a large hash"
    );

    let mut listed = BTreeSet::new();
    let mut keys_too_large = Vec::new();
    db.keys(Db::Config, "PORT", &mut |k| match k {
        Ok(k) => drop(listed.insert(text(k))),
        Err(t) => keys_too_large.push(t),
    })
    .await
    .unwrap();
    assert_eq!(listed, ["Ethernet0", "Ethernet4", "Ethernet8"].map(String::from).into());
    assert!(matches!(keys_too_large[..], [t] if too_large(t)), "{keys_too_large:?}");

    // Nothing is left over: the backend answers the next requests right.
    db.write(&[set("Ethernet0", &[("mtu", "9100")])]).await.unwrap();
    let mut present = [false; 2];
    db.exists(Db::State, "PORT_TABLE", &["Ethernet0", "Ethernet4"], &mut present).await.unwrap();
    assert_eq!(present, [true, false]);
    assert_eq!(db.status(), BackendStatus::Connected);
}

/// The backend comes back restarted (without its data): nothing more is
/// written to it — neither what was kept during the outage nor new writes —
/// and the status says so. What this client wrote came from a CONFIG_DB that
/// may be gone; the driver decides what follows.
pub async fn a_restarted_backend_is_written_nothing<D: Databases, R: RawView>(db: &mut D, raw: &mut R) {
    db.write(&[set("Ethernet0", &[("mtu", "1500")])]).await.unwrap();
    raw.crash().await;
    db.write(&[set("Ethernet4", &[("mtu", "9100")])]).await.unwrap();
    raw.recover().await;
    let mut status = db.maintain().await;
    for _ in 0..200 {
        if status == BackendStatus::Restarted {
            break;
        }
        smol::Timer::after(std::time::Duration::from_millis(25)).await;
        status = db.maintain().await;
    }
    assert_eq!(status, BackendStatus::Restarted);
    db.write(&[Write::Produce {
        db: Db::Appl,
        table: "PORT_TABLE",
        key: "Ethernet0",
        fields: fv(&[("lanes", "0")]),
    }])
    .await
    .unwrap();
    assert_eq!(db.maintain().await, BackendStatus::Restarted);
    for which in [Db::Appl, Db::State] {
        let keys = raw.keys(which).await;
        assert!(keys.is_empty(), "{which}: {keys:?}");
    }
}

/// A write refused (out of memory) leaves the backend untouched — nothing of
/// the batch, plain or producer, no notification — and is not kept for
/// later; reads go on. Once the refusal stops, writes land.
pub async fn refused_writes_leave_the_backend_untouched<D: Databases, R: RawView, F: InjectFaults>(
    db: &mut D,
    raw: &mut R,
    faults: &F,
) {
    let s = raw.separator(Db::State);
    let channel = format!("PORT_TABLE_CHANNEL@{}", raw.db_id(Db::Appl));
    db.write(&[set("Ethernet0", &[("mtu", "1500")])]).await.unwrap();
    let before = (raw.keys(Db::State).await, raw.keys(Db::Appl).await, raw.publishes(&channel).await);

    faults.refuse_writes();
    let batch = [
        set("Ethernet0", &[("mtu", "9100")]),
        set("Ethernet4", &[("mtu", "9100")]),
        Write::Del { db: Db::State, table: "PORT_TABLE", key: "Ethernet0" },
        Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: "Ethernet0", fields: fv(&[("lanes", "0")]) },
    ];
    assert!(db.write(&batch).await.is_err(), "a refused write is an error");
    assert!(db.write(&batch[3..]).await.is_err(), "and so is the next one");
    assert_eq!(
        get_all(db, Db::State, "PORT_TABLE", "Ethernet0").await,
        Some(fields(&[("mtu", "1500")])),
        "reads are served"
    );
    assert_eq!(
        (raw.keys(Db::State).await, raw.keys(Db::Appl).await, raw.publishes(&channel).await),
        before,
        "nothing of the refused batches was written"
    );
    assert_eq!(db.maintain().await, BackendStatus::Connected, "nothing kept for later either");
    assert_eq!(raw.hgetall(Db::State, &format!("PORT_TABLE{s}Ethernet0")).await, fields(&[("mtu", "1500")]));

    faults.stop();
    db.write(&batch).await.unwrap();
    assert!(!raw.exists(Db::State, &format!("PORT_TABLE{s}Ethernet0")).await);
    assert_eq!(raw.hgetall(Db::State, &format!("PORT_TABLE{s}Ethernet4")).await, fields(&[("mtu", "9100")]));
    assert_eq!(raw.publishes(&channel).await, before.2 + 1);
    let popped = consumer_pop(raw, Db::Appl, "PORT_TABLE").await;
    assert_eq!(popped["Ethernet0"], Popped::Set(fields(&[("lanes", "0")])));
}

/// Failed reads leave writes alone; `fail_next` fails that many operations
/// of any kind, then everything goes through.
pub async fn injected_failures_fail_only_what_they_say<D: Databases, R: RawView, F: InjectFaults>(
    db: &mut D,
    raw: &mut R,
    faults: &F,
) {
    let s = raw.separator(Db::State);
    faults.fail_reads();
    db.write(&[set("Ethernet0", &[("mtu", "9100")])]).await.unwrap();
    assert_eq!(raw.hgetall(Db::State, &format!("PORT_TABLE{s}Ethernet0")).await, fields(&[("mtu", "9100")]));
    let mut present = [false];
    assert!(db.exists(Db::State, "PORT_TABLE", &["Ethernet0"], &mut present).await.is_err());
    assert!(db.get(Db::State, "PORT_TABLE", "Ethernet0", &mut |_| {}).await.is_err());
    faults.stop();
    assert_eq!(hget(db, Db::State, "PORT_TABLE", "Ethernet0", "mtu").await.as_deref(), Some("9100"));

    faults.fail_next(2);
    assert!(db.write(&[set("Ethernet4", &[("mtu", "1500")])]).await.is_err());
    assert!(db.exists(Db::State, "PORT_TABLE", &["Ethernet0"], &mut present).await.is_err());
    assert!(
        !raw.exists(Db::State, &format!("PORT_TABLE{s}Ethernet4")).await,
        "the failed write wrote nothing"
    );
    db.write(&[set("Ethernet4", &[("mtu", "1500")])]).await.unwrap();
    db.exists(Db::State, "PORT_TABLE", &["Ethernet4"], &mut present).await.unwrap();
    assert_eq!(present, [true]);
}

/// Generates one `#[test]` per contract case. `$setup` is an async fn
/// returning `(backend, raw view, guard)`. With `faults: $faulty`, also the
/// fault cases: `$faulty` returns `(fault injector over the backend, raw
/// view, guard, controls)`, the controls implementing [`InjectFaults`].
#[macro_export]
macro_rules! contract_tests {
    ($setup:path, faults: $faulty:path) => {
        $crate::contract_tests!($setup);
        $crate::contract_tests!(@fault_case $faulty, refused_writes_leave_the_backend_untouched);
        $crate::contract_tests!(@fault_case $faulty, injected_failures_fail_only_what_they_say);
    };
    ($setup:path) => {
        $crate::contract_tests!(@case $setup, plain_table_operations);
        $crate::contract_tests!(@case $setup, exists_many);
        $crate::contract_tests!(@case $setup, at_sign_cuts);
        $crate::contract_tests!(@case $setup, producer_set_and_pop);
        $crate::contract_tests!(@case $setup, producer_del_and_replace);
        $crate::contract_tests!(@case $setup, producer_stream_matches_model);
        $crate::contract_tests!(@case $setup, outage_keeps_writes);
        $crate::contract_tests!(@case $setup, check_and_write_follows_its_guard);
        $crate::contract_tests!(@case $setup, a_restarted_backend_is_written_nothing);
        $crate::contract_tests!(@case $setup, bytes_are_carried_verbatim);
        $crate::contract_tests!(@case $setup, values_of_many_mib_are_read_and_produced_whole);
        $crate::contract_tests!(@case $setup, what_is_beyond_the_read_limit_is_too_large);
    };
    (@fault_case $setup:path, $case:ident) => {
        #[test]
        fn $case() {
            $crate::block_on(async {
                let (mut db, mut raw, _guard, faults) = $setup().await;
                $crate::$case(&mut db, &mut raw, &faults).await;
            });
        }
    };
    (@case $setup:path, $case:ident) => {
        #[test]
        fn $case() {
            $crate::block_on(async {
                let (mut db, mut raw, _guard) = $setup().await;
                $crate::$case(&mut db, &mut raw).await;
            });
        }
    };
}
