//! SONiC's databases in memory, as a bare backend: the storage part of the mock.
//!
//! [`MemoryDatabases`] keeps data the way Redis does — hashes and sets under
//! full key names, per database, with SONiC's default separators and ids —
//! and carries out writes with the Redis adapter's semantics, producer tables
//! included. It decides what a read returns and what a write leaves behind,
//! and plays a server that goes away ([`disconnect`](MemoryDatabases::disconnect))
//! or restarts empty ([`crash`](MemoryDatabases::crash)).
//!
//! Like the Redis adapter, it reads at most [`DEFAULT_READ_LIMIT`] at once
//! (or what [`set_read_limit`](MemoryDatabases::set_read_limit) says): a
//! hash whose names and values add up to more, a longer value or key, is
//! handed over as [`TooLarge`].
//!
//! It does not keep writes through an outage: it is a
//! [`RawBackend`], and the shared write journal
//! ([`Journaled`](portsyncd_pending::Journaled), as in
//! [`MockDatabases`](crate::MockDatabases)) does that, exactly as for Redis.
//! It does not inject faults either: wrap the databases in a
//! [`FaultInjector`](crate::faults::FaultInjector).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use indexmap::IndexMap;
use portsyncd_core::backend::{
    DatabaseReads, Db, Field, FieldVisitor, KeyFieldVisitor, TooLarge, ValueVisitor, Write, swss_cut,
};
use portsyncd_pending::{BufferFull, RawBackend, SendError};

/// A value under one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A hash, fields in insertion order; names and values are bytes, as
    /// in Redis.
    Hash(IndexMap<Vec<u8>, Vec<u8>>),
    /// A set.
    Set(BTreeSet<String>),
}

/// Failures of the in-memory databases, named like the Redis adapter's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The databases are disconnected and this operation cannot be kept.
    #[error("{db} {key}: {op} failed: disconnected")]
    Disconnected {
        /// Database.
        db: Db,
        /// Full key.
        key: String,
        /// Operation.
        op: &'static str,
    },
    /// Disconnected and the write journal is full.
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

/// What a read takes at once unless told otherwise: the Redis adapter's
/// default, so that the in-memory databases answer as Redis would.
pub const DEFAULT_READ_LIMIT: u64 = 64 << 20;

/// What every clone shares: the "server".
#[derive(Debug, Default)]
struct Store {
    data: [BTreeMap<String, Value>; 3],
    publishes: BTreeMap<String, u64>,
    disconnected: bool,
    /// Changes when the "server" loses its data, like Redis's run_id.
    run_id: u64,
    ops: u64,
    /// Producer writes land in the final hashes at once, as if a consumer
    /// had popped them (what the C++ unit tests' mock does).
    consume_at_once: bool,
    /// What a read takes at once (`None`: [`DEFAULT_READ_LIMIT`]).
    read_limit: Option<u64>,
}

/// In-memory SONiC databases without a write journal; clones share the data
/// and the connection state.
#[derive(Clone, Debug, Default)]
pub struct MemoryDatabases {
    store: Rc<RefCell<Store>>,
    /// The run id this client first saw: each client notices a restart for
    /// itself, as each Redis client does.
    seen_run_id: u64,
}

impl MemoryDatabases {
    /// Empty databases, connected.
    pub fn new() -> Self {
        Self::default()
    }

    /// `<table><sep><key>` in `db`.
    pub fn full_key(db: Db, table: &str, key: &str) -> String {
        format!("{table}{}{key}", layout(db).0)
    }

    /// The hash at `full_key`, if any, as text (bytes that are not UTF-8
    /// shown as U+FFFD: for assertions; [`raw_hash`](Self::raw_hash) has
    /// the bytes).
    pub fn hash(&self, db: Db, full_key: &str) -> Option<IndexMap<String, String>> {
        self.raw_hash(db, full_key).map(|h| {
            h.iter()
                .map(|(f, v)| {
                    (String::from_utf8_lossy(f).into_owned(), String::from_utf8_lossy(v).into_owned())
                })
                .collect()
        })
    }

    /// The hash at `full_key`, if any, byte for byte.
    pub fn raw_hash(&self, db: Db, full_key: &str) -> Option<IndexMap<Vec<u8>, Vec<u8>>> {
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

    /// Operations carried out against the store: each read, and each batch
    /// of writes sent (a flush of kept writes is one). Operations refused
    /// because the store is disconnected are not counted.
    pub fn operations(&self) -> u64 {
        self.store.borrow().ops
    }

    /// From now on, producer writes land in the final `<TABLE><sep><key>`
    /// hashes at once, as if orchagent had popped them: with no consumer
    /// running (`--db memory`), this is what makes produced ports visible.
    pub fn consume_produced_at_once(&self) {
        self.store.borrow_mut().consume_at_once = true;
    }

    /// From now on a read takes at most `bytes` at once: a hash whose names
    /// and values add up to more, a longer value or key, is [`TooLarge`].
    pub fn set_read_limit(&self, bytes: u64) {
        self.store.borrow_mut().read_limit = Some(bytes);
    }

    /// `Err(TooLarge)` if `bytes` is more than a read takes.
    fn within_limit(&self, bytes: usize) -> Result<(), TooLarge> {
        let limit = self.store.borrow().read_limit.unwrap_or(DEFAULT_READ_LIMIT);
        let bytes = bytes as u64;
        if bytes > limit { Err(TooLarge { bytes, limit }) } else { Ok(()) }
    }

    /// Hands the fields of `hash` to `visit`, or [`TooLarge`] in their place.
    fn visit_hash(
        &self,
        hash: &IndexMap<Vec<u8>, Vec<u8>>,
        visit: &mut dyn FnMut(Result<Field<'_>, TooLarge>),
    ) {
        match self.within_limit(hash.iter().map(|(f, v)| f.len() + v.len()).sum()) {
            Ok(()) => hash.iter().for_each(|(f, v)| visit(Ok((swss_cut(f), v)))),
            Err(e) => visit(Err(e)),
        }
    }

    /// From now on reads fail and writes are not carried out (the journal
    /// above keeps them).
    pub fn disconnect(&self) {
        self.store.borrow_mut().disconnected = true;
    }

    /// Disconnects and loses all data, like a Redis restarted without
    /// persistence; [`reconnect`](Self::reconnect) brings it back empty,
    /// with a new run id.
    pub fn crash(&self) {
        let mut store = self.store.borrow_mut();
        store.disconnected = true;
        store.data = Default::default();
        store.run_id = store.run_id.wrapping_add(1);
    }

    /// Reachable again; kept writes go out at the next
    /// [`Databases::maintain`](portsyncd_core::backend::Databases::maintain) or write.
    pub fn reconnect(&self) {
        self.store.borrow_mut().disconnected = false;
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
        let fields: Vec<Field<'_>> = fields.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())).collect();
        self.store.borrow_mut().hset(db, full_key, &fields);
    }

    /// Raw access: merge `fields` (any bytes) into the hash at `full_key`.
    pub fn hset_bytes(&self, db: Db, full_key: &str, fields: &[Field<'_>]) {
        self.store.borrow_mut().hset(db, full_key, fields);
    }

    /// Raw access: delete `full_key`.
    pub fn del(&self, db: Db, full_key: &str) -> bool {
        self.store.borrow_mut().data[db.index()].remove(full_key).is_some()
    }

    /// Counts a read, or fails it if disconnected.
    fn read(&self, db: Db, key: &str, op: &'static str) -> Result<(), MockError> {
        let mut store = self.store.borrow_mut();
        if store.disconnected {
            return Err(MockError::Disconnected { db, key: key.to_owned(), op });
        }
        store.ops += 1;
        Ok(())
    }
}

impl Store {
    fn hset(&mut self, db: Db, full_key: &str, fields: &[Field<'_>]) {
        if fields.is_empty() {
            return;
        }
        let entry =
            self.data[db.index()].entry(full_key.to_owned()).or_insert_with(|| Value::Hash(IndexMap::new()));
        if let Value::Hash(h) = entry {
            for (f, v) in fields {
                h.insert(f.to_vec(), v.to_vec());
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
    /// Carries out `write`; `false` if it is a check-and-write whose guard
    /// is missing (nothing written).
    fn apply(&mut self, write: &Write<'_>) -> bool {
        let db = write.db();
        let (sep, id) = layout(db);
        let (table, key) = write.target();
        match *write {
            Write::Set { fields, .. } => self.hset(db, &format!("{table}{sep}{key}"), fields),
            Write::SetIfPresent { fields, guard, .. } => {
                let (guard_sep, _) = layout(guard.db);
                let guard_key = format!("{}{guard_sep}{}", guard.table, guard.key);
                if !self.data[guard.db.index()].contains_key(&guard_key) {
                    return false;
                }
                self.hset(db, &format!("{table}{sep}{key}"), fields);
            }
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
        true
    }
}

impl DatabaseReads for MemoryDatabases {
    type Error = MockError;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut FieldVisitor<'_>,
    ) -> Result<bool, MockError> {
        let full = Self::full_key(db, table, key);
        self.read(db, &full, "HGETALL")?;
        let Some(hash) = self.raw_hash(db, &full) else { return Ok(false) };
        self.visit_hash(&hash, visit);
        Ok(true)
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut KeyFieldVisitor<'_>,
    ) -> Result<(), MockError> {
        self.read(db, &Self::full_key(db, table, "*"), "HGETALL")?;
        for (i, key) in keys.iter().enumerate() {
            if let Some(hash) = self.raw_hash(db, &Self::full_key(db, table, key)) {
                self.visit_hash(&hash, &mut |field| visit(i, field));
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
        visit: &mut ValueVisitor<'_>,
    ) -> Result<bool, MockError> {
        let full = Self::full_key(db, table, key);
        self.read(db, &full, "HGET")?;
        match self.raw_hash(db, &full).and_then(|h| h.get(field.as_bytes()).cloned()) {
            Some(value) => {
                visit(self.within_limit(value.len()).map(|()| swss_cut(&value)));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn keys(&mut self, db: Db, table: &str, visit: &mut ValueVisitor<'_>) -> Result<(), MockError> {
        let prefix = Self::full_key(db, table, "");
        self.read(db, &format!("{prefix}*"), "KEYS")?;
        let store = self.store.borrow();
        for (key, value) in store.data[db.index()].range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else { break };
            if matches!(value, Value::Hash(_)) {
                visit(self.within_limit(key.len()).map(|()| rest.as_bytes()));
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
        self.read(db, &Self::full_key(db, table, "*"), "EXISTS")?;
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
        self.read(db, &Self::full_key(db, table, "*"), "HEXISTS")?;
        for (key, slot) in keys.iter().zip(present.iter_mut()) {
            *slot = self
                .raw_hash(db, &Self::full_key(db, table, key))
                .is_some_and(|h| h.contains_key(field.as_bytes()));
        }
        Ok(())
    }
}

impl RawBackend for MemoryDatabases {
    /// All of `writes`, or (disconnected) none of them: the store never
    /// drops a connection halfway, and never refuses a command.
    async fn send(
        &mut self,
        writes: &[Write<'_>],
        absent: &mut [bool],
    ) -> Result<(), (usize, SendError<MockError>)> {
        let mut store = self.store.borrow_mut();
        if store.disconnected {
            return Err((0, SendError::Down));
        }
        store.ops += 1;
        for (i, w) in writes.iter().enumerate() {
            let landed = store.apply(w);
            if let Some(slot) = absent.get_mut(i) {
                *slot = !landed;
            }
        }
        Ok(())
    }

    /// Nothing to do: the test reconnects by hand ([`reconnect`](Self::reconnect)).
    async fn reconnect_due(&mut self) {}

    fn all_up(&self) -> bool {
        !self.store.borrow().disconnected
    }

    fn restarted(&self) -> bool {
        self.store.borrow().run_id != self.seen_run_id
    }
}
