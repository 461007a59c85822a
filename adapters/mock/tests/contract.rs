//! The backend contract, against the in-memory mock.

use std::collections::{BTreeMap, BTreeSet};

use portsyncd_contract::{InjectFaults, RawView};
use portsyncd_core::backend::{DatabaseReads, Db};
use portsyncd_mock::faults::{FaultHandle, FaultInjector};
use portsyncd_mock::{MemoryDatabases, MockDatabases, Value, layout};

struct MockRaw(MockDatabases);

impl RawView for MockRaw {
    fn separator(&self, db: Db) -> char {
        layout(db).0
    }
    fn db_id(&self, db: Db) -> u32 {
        layout(db).1
    }
    async fn hgetall(&mut self, db: Db, key: &str) -> BTreeMap<String, String> {
        self.0.hash(db, key).unwrap_or_default().into_iter().collect()
    }
    async fn hset(&mut self, db: Db, key: &str, fields: &[(&str, &str)]) {
        self.0.hset(db, key, fields);
    }
    async fn smembers(&mut self, db: Db, key: &str) -> BTreeSet<String> {
        self.0.set_members(db, key)
    }
    async fn spop(&mut self, db: Db, key: &str, count: usize) -> Vec<String> {
        self.0.spop(db, key, count)
    }
    async fn srem(&mut self, db: Db, key: &str, member: &str) -> bool {
        self.0.srem(db, key, member)
    }
    async fn del(&mut self, db: Db, key: &str) {
        self.0.del(db, key);
    }
    async fn exists(&mut self, db: Db, key: &str) -> bool {
        self.0.dump(db).contains_key(key)
    }
    async fn publishes(&mut self, channel: &str) -> u64 {
        self.0.publishes(channel)
    }
    async fn keys(&mut self, db: Db) -> BTreeSet<String> {
        self.0.dump(db).into_keys().collect()
    }
    async fn outage(&mut self) {
        self.0.disconnect();
    }
    async fn crash(&mut self) {
        self.0.crash();
    }
    async fn recover(&mut self) {
        self.0.reconnect();
    }
}

async fn setup() -> (MockDatabases, MockRaw, ()) {
    let db = MemoryDatabases::journaled();
    (db.clone(), MockRaw(db), ())
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

async fn faulty() -> (FaultInjector<MockDatabases>, MockRaw, (), Faults) {
    let (db, raw, guard) = setup().await;
    let db = FaultInjector::new(db, 0x5eed);
    let faults = Faults(db.handle());
    (db, raw, guard, faults)
}

portsyncd_contract::contract_tests!(setup, faults: faulty);

#[test]
fn injected_failures_fail_the_next_operations_only() {
    use portsyncd_core::backend::{Databases, Write};
    smol::block_on(async {
        let mut db = FaultInjector::new(MemoryDatabases::journaled(), 1);
        db.handle().fail_next(2);
        const MTU: &[portsyncd_core::backend::Field<'static>] = &[(b"mtu", b"1")];
        let w = [Write::Set { db: Db::State, table: "PORT_TABLE", key: "Ethernet0", fields: MTU }];
        let err = db.write(&w).await.unwrap_err();
        assert_eq!(err.to_string(), "STATE_DB PORT_TABLE Ethernet0: write failed (injected)");
        assert!(db.get(Db::State, "PORT_TABLE", "Ethernet0", &mut |_| {}).await.is_err());
        db.write(&w).await.unwrap();
        assert!(matches!(db.inner().dump(Db::State).get("PORT_TABLE|Ethernet0"), Some(Value::Hash(_))));
    });
}

#[test]
fn full_buffer_is_an_error_not_a_silent_drop() {
    use portsyncd_core::backend::{Databases, Write};
    smol::block_on(async {
        let mut db = MemoryDatabases::journaled_with_capacity(1);
        db.disconnect();
        const MTU: &[portsyncd_core::backend::Field<'static>] = &[(b"mtu", b"1")];
        let w = |key| [Write::Set { db: Db::State, table: "PORT_TABLE", key, fields: MTU }];
        db.write(&w("Ethernet0")).await.unwrap();
        let err = db.write(&w("Ethernet4")).await.unwrap_err();
        assert!(err.to_string().contains("Ethernet4 not kept"), "{err}");
    });
}
