//! portsyncd's databases in memory.
//!
//! This crate keeps SONiC's data the way Redis does — hashes and sets under
//! full key names (`PORT_TABLE|Ethernet0`, `_PORT_TABLE:Ethernet0`,
//! `PORT_TABLE_KEY_SET`), per database, with SONiC's default separators and
//! ids — and implements [`Databases`] over it with the same semantics as the
//! Redis adapter, producer tables included. It runs on any OS and needs no
//! server: for trying the daemon without Redis (`--db memory`) and for tests.
//! It is never a stand-in for Redis in a test of the Redis adapter.
//!
//! Clones share one store, so a test keeps a clone to inspect what the code
//! under test wrote. Failures can be injected: the next N operations fail; the
//! backend "disconnects" — reads fail, writes are kept (latest per key) and
//! flushed by [`Databases::maintain`] after [`MockDatabases::reconnect`]; or it
//! "crashes" — it also loses all data, as a Redis restarted without
//! persistence does, and every key this client wrote is given back on
//! reconnect (see `portsyncd_pending::WriteJournal`).

#![forbid(unsafe_code)]

pub mod links;
pub mod snapshots;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use indexmap::IndexMap;
use portsyncd_core::backend::{BackendStatus, Databases, Db, Write, swss_cut};
use portsyncd_pending::{BufferFull, WriteJournal, field_lists, replay};

/// A value under one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A hash, fields in insertion order.
    Hash(IndexMap<String, String>),
    /// A set.
    Set(BTreeSet<String>),
}

/// Failures of the mock, named like the Redis adapter's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// Injected with [`MockDatabases::fail_next`].
    #[error("{db} {key}: {op} failed (injected)")]
    Injected {
        /// Database.
        db: Db,
        /// Full key.
        key: String,
        /// Operation.
        op: &'static str,
    },
    /// The mock is disconnected and this operation cannot be kept.
    #[error("{db} {key}: {op} failed: disconnected")]
    Disconnected {
        /// Database.
        db: Db,
        /// Full key.
        key: String,
        /// Operation.
        op: &'static str,
    },
    /// Disconnected and the write buffer is full.
    #[error(transparent)]
    BufferFull(#[from] BufferFull),
}

/// SONiC's default separator and id of each database (`database_config.json`).
pub const fn layout(db: Db) -> (char, u32) {
    match db {
        Db::Config => ('|', 4),
        Db::Appl => (':', 0),
        Db::State => ('|', 6),
    }
}

#[derive(Debug)]
struct Store {
    data: [BTreeMap<String, Value>; 3],
    publishes: BTreeMap<String, u64>,
    fail_next: usize,
    connected: bool,
    /// Changes when the "server" loses its data, like Redis's run_id.
    run_id: u64,
    /// The run id the client last flushed against.
    seen_run_id: u64,
    journal: WriteJournal,
    ops: u64,
    /// Producer writes land in the final hashes at once, as if a consumer
    /// had popped them (what the C++ unit tests' mock does).
    consume_at_once: bool,
}

/// In-memory SONiC databases; clones share the store.
#[derive(Clone, Debug)]
pub struct MockDatabases {
    store: Rc<RefCell<Store>>,
}

impl Default for MockDatabases {
    fn default() -> Self {
        Self::new()
    }
}

/// Default bound of writes kept while disconnected, in keys.
pub const DEFAULT_PENDING_CAPACITY: usize = 4096;

impl MockDatabases {
    /// Empty databases, connected.
    pub fn new() -> Self {
        Self::with_pending_capacity(DEFAULT_PENDING_CAPACITY)
    }

    /// Empty databases keeping at most `capacity` keys while disconnected.
    pub fn with_pending_capacity(capacity: usize) -> Self {
        let store = Store {
            data: Default::default(),
            publishes: BTreeMap::new(),
            fail_next: 0,
            connected: true,
            run_id: 0,
            seen_run_id: 0,
            journal: WriteJournal::new(capacity),
            ops: 0,
            consume_at_once: false,
        };
        Self { store: Rc::new(RefCell::new(store)) }
    }

    /// `<table><sep><key>` in `db`.
    pub fn full_key(db: Db, table: &str, key: &str) -> String {
        format!("{table}{}{key}", layout(db).0)
    }

    /// The hash at `full_key`, if any.
    pub fn hash(&self, db: Db, full_key: &str) -> Option<IndexMap<String, String>> {
        match self.store.borrow().data[db.index()].get(full_key) {
            Some(Value::Hash(h)) => Some(h.clone()),
            _ => None,
        }
    }

    /// The set at `full_key` (empty if none).
    pub fn set_members(&self, db: Db, full_key: &str) -> BTreeSet<String> {
        match self.store.borrow().data[db.index()].get(full_key) {
            Some(Value::Set(s)) => s.clone(),
            _ => BTreeSet::new(),
        }
    }

    /// Everything in `db`.
    pub fn dump(&self, db: Db) -> BTreeMap<String, Value> {
        self.store.borrow().data[db.index()].clone()
    }

    /// Messages published on `channel` so far.
    pub fn publishes(&self, channel: &str) -> u64 {
        self.store.borrow().publishes.get(channel).copied().unwrap_or(0)
    }

    /// Operations carried out against the store (reads and writes, per key).
    pub fn operations(&self) -> u64 {
        self.store.borrow().ops
    }

    /// From now on, producer writes land in the final `<TABLE><sep><key>`
    /// hashes at once, as if orchagent had popped them: with no consumer
    /// running (`--db memory`), this is what makes produced ports visible.
    pub fn consume_produced_at_once(&self) {
        self.store.borrow_mut().consume_at_once = true;
    }

    /// The next `n` operations fail with [`MockError::Injected`].
    pub fn fail_next(&self, n: usize) {
        self.store.borrow_mut().fail_next = n;
    }

    /// From now on reads fail and writes are kept.
    pub fn disconnect(&self) {
        self.store.borrow_mut().connected = false;
    }

    /// Disconnects and loses all data, like a Redis restarted without
    /// persistence; [`reconnect`](Self::reconnect) brings it back empty.
    pub fn crash(&self) {
        let mut store = self.store.borrow_mut();
        store.connected = false;
        store.data = Default::default();
        store.run_id += 1;
    }

    /// Reachable again; kept writes go out at the next [`Databases::maintain`]
    /// or write.
    pub fn reconnect(&self) {
        self.store.borrow_mut().connected = true;
    }

    /// Raw access for test-side consumers: remove and return up to `n` members.
    pub fn spop(&self, db: Db, full_key: &str, n: usize) -> Vec<String> {
        let mut store = self.store.borrow_mut();
        let Some(Value::Set(set)) = store.data[db.index()].get_mut(full_key) else { return Vec::new() };
        let popped: Vec<String> = set.iter().take(n).cloned().collect();
        for m in &popped {
            set.remove(m);
        }
        if set.is_empty() {
            store.data[db.index()].remove(full_key);
        }
        popped
    }

    /// Raw access: remove `member`; whether it was there.
    pub fn srem(&self, db: Db, full_key: &str, member: &str) -> bool {
        let mut store = self.store.borrow_mut();
        let Some(Value::Set(set)) = store.data[db.index()].get_mut(full_key) else { return false };
        let removed = set.remove(member);
        if set.is_empty() {
            store.data[db.index()].remove(full_key);
        }
        removed
    }

    /// Raw access: merge `fields` into the hash at `full_key`.
    pub fn hset(&self, db: Db, full_key: &str, fields: &[(&str, &str)]) {
        self.store.borrow_mut().hset(db, full_key, fields);
    }

    /// Raw access: delete `full_key`.
    pub fn del(&self, db: Db, full_key: &str) -> bool {
        self.store.borrow_mut().data[db.index()].remove(full_key).is_some()
    }

    fn check(&self, db: Db, key: &str, op: &'static str, read: bool) -> Result<(), MockError> {
        let mut store = self.store.borrow_mut();
        if store.fail_next > 0 {
            store.fail_next -= 1;
            return Err(MockError::Injected { db, key: key.to_owned(), op });
        }
        if read && !store.connected {
            return Err(MockError::Disconnected { db, key: key.to_owned(), op });
        }
        store.ops += 1;
        Ok(())
    }
}

impl Store {
    fn hset(&mut self, db: Db, full_key: &str, fields: &[(&str, &str)]) {
        if fields.is_empty() {
            return;
        }
        let entry =
            self.data[db.index()].entry(full_key.to_owned()).or_insert_with(|| Value::Hash(IndexMap::new()));
        if let Value::Hash(h) = entry {
            for (f, v) in fields {
                h.insert((*f).to_owned(), (*v).to_owned());
            }
        }
    }

    fn sadd(&mut self, db: Db, full_key: &str, member: &str) -> bool {
        let entry =
            self.data[db.index()].entry(full_key.to_owned()).or_insert_with(|| Value::Set(BTreeSet::new()));
        match entry {
            Value::Set(s) => s.insert(member.to_owned()),
            Value::Hash(_) => false,
        }
    }

    fn publish(&mut self, channel: String) {
        *self.publishes.entry(channel).or_default() += 1;
    }

    /// One write, with the ProducerStateTable semantics of SONIC.md §3.
    fn apply(&mut self, write: &Write<'_>) {
        let db = write.db();
        let (sep, id) = layout(db);
        let (table, key) = write.target();
        match *write {
            Write::Set { fields, .. } => self.hset(db, &format!("{table}{sep}{key}"), fields),
            Write::Del { .. } => {
                self.data[db.index()].remove(&format!("{table}{sep}{key}"));
            }
            Write::Produce { fields, .. } if self.consume_at_once => {
                self.hset(db, &format!("{table}{sep}{key}"), fields);
                if fields.is_empty() {
                    self.data[db.index()].remove(&format!("{table}{sep}{key}"));
                }
            }
            Write::ProduceDel { .. } if self.consume_at_once => {
                self.data[db.index()].remove(&format!("{table}{sep}{key}"));
            }
            Write::Produce { fields, .. } => {
                let added = self.sadd(db, &format!("{table}_KEY_SET"), key);
                self.hset(db, &format!("_{table}{sep}{key}"), fields);
                if added {
                    self.publish(format!("{table}_CHANNEL@{id}"));
                }
            }
            Write::ProduceDel { .. } => {
                let added = self.sadd(db, &format!("{table}_KEY_SET"), key);
                self.sadd(db, &format!("{table}_DEL_SET"), key);
                self.data[db.index()].remove(&format!("_{table}{sep}{key}"));
                if added {
                    self.publish(format!("{table}_CHANNEL@{id}"));
                }
            }
        }
    }

    /// Once connected: what was kept, and everything if the data was lost.
    fn flush_pending(&mut self) {
        let emptied = self.run_id != self.seen_run_id;
        if self.journal.pending() == 0 && !emptied {
            return;
        }
        self.seen_run_id = self.run_id;
        let taken = self.journal.to_flush(emptied);
        let fields = field_lists(&taken);
        let writes = replay(&taken, &fields);
        for w in &writes {
            self.apply(w);
        }
        self.journal.written(&writes);
    }

    fn pending_len(&self) -> usize {
        self.journal.pending()
    }
}

impl Databases for MockDatabases {
    type Error = MockError;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<bool, MockError> {
        let full = Self::full_key(db, table, key);
        self.check(db, &full, "HGETALL", true)?;
        let Some(hash) = self.hash(db, &full) else { return Ok(false) };
        for (f, v) in &hash {
            visit(swss_cut(f), v);
        }
        Ok(true)
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut (dyn FnMut(usize, &str, &str) + Send),
    ) -> Result<(), MockError> {
        let prefix = Self::full_key(db, table, "*");
        self.check(db, &prefix, "HGETALL", true)?;
        for (i, key) in keys.iter().enumerate() {
            for (f, v) in self.hash(db, &Self::full_key(db, table, key)).unwrap_or_default() {
                visit(i, swss_cut(&f), &v);
            }
        }
        Ok(())
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, MockError> {
        let full = Self::full_key(db, table, key);
        self.check(db, &full, "HGET", true)?;
        match self.hash(db, &full).and_then(|h| h.get(field).cloned()) {
            Some(value) => {
                visit(swss_cut(&value));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn keys(
        &mut self,
        db: Db,
        table: &str,
        visit: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), MockError> {
        let prefix = Self::full_key(db, table, "");
        self.check(db, &format!("{prefix}*"), "KEYS", true)?;
        let store = self.store.borrow();
        for (key, value) in store.data[db.index()].range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else { break };
            if matches!(value, Value::Hash(_)) {
                visit(rest);
            }
        }
        Ok(())
    }

    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), MockError> {
        let prefix = Self::full_key(db, table, "*");
        self.check(db, &prefix, "EXISTS", true)?;
        let store = self.store.borrow();
        for (key, slot) in keys.iter().zip(present.iter_mut()) {
            *slot = store.data[db.index()].contains_key(&Self::full_key(db, table, key));
        }
        Ok(())
    }

    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), MockError> {
        let prefix = Self::full_key(db, table, "*");
        self.check(db, &prefix, "HEXISTS", true)?;
        for (key, slot) in keys.iter().zip(present.iter_mut()) {
            *slot = self.hash(db, &Self::full_key(db, table, key)).is_some_and(|h| h.contains_key(field));
        }
        Ok(())
    }

    async fn write(&mut self, writes: &[Write<'_>]) -> Result<(), MockError> {
        let Some(first) = writes.first() else { return Ok(()) };
        let (table, key) = first.target();
        self.check(first.db(), &Self::full_key(first.db(), table, key), "write", false)?;
        let mut store = self.store.borrow_mut();
        if !store.connected {
            store.journal.keep(writes)?;
            return Ok(());
        }
        store.flush_pending();
        for w in writes {
            store.apply(w);
        }
        store.journal.written(writes);
        Ok(())
    }

    async fn maintain(&mut self) -> BackendStatus {
        let mut store = self.store.borrow_mut();
        if store.connected {
            store.flush_pending();
        }
        status_of(&store)
    }

    fn status(&self) -> BackendStatus {
        status_of(&self.store.borrow())
    }
}

fn status_of(store: &Store) -> BackendStatus {
    if store.connected && store.pending_len() == 0 && store.run_id == store.seen_run_id {
        BackendStatus::Connected
    } else {
        BackendStatus::Degraded { pending: store.pending_len() }
    }
}
