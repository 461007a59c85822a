//! portsyncd's surroundings in memory, as parts that compose.
//!
//! - [`memory`]: SONiC's databases in memory ([`MemoryDatabases`]), kept the
//!   way Redis keeps them — hashes and sets under full key names
//!   (`PORT_TABLE|Ethernet0`, `_PORT_TABLE:Ethernet0`, `PORT_TABLE_KEY_SET`),
//!   per database, with SONiC's default separators and ids — with the Redis
//!   adapter's semantics, producer tables included.
//! - [`MockDatabases`]: those databases under the write journal the Redis
//!   adapter uses too (`portsyncd_pending::Journaled`): the [`Databases`]
//!   to hand to the daemon. The backend "disconnects" — reads fail, writes
//!   are kept (latest per key) and flushed by [`Databases::maintain`] after
//!   [`MemoryDatabases::reconnect`] — or "crashes" — it also loses all data,
//!   as a Redis restarted without persistence does, and every key this
//!   client wrote is given back on reconnect.
//! - [`faults`]: a seeded [`FaultInjector`](faults::FaultInjector) over any
//!   [`Databases`] (this mock or Redis): failed operations, refused writes,
//!   failed reads, random failures.
//! - [`links`]: a scripted link source and a recording link controller.
//! - [`clock`]: a [`ManualClock`](clock::ManualClock) that tests move.
//! - [`snapshots`]: the warm-restart snapshot in memory.
//!
//! It runs on any OS and needs no server: for trying the daemon without
//! Redis (`--db memory`) and for tests. It is never a stand-in for Redis in a
//! test of the Redis adapter.
//!
//! Clones of [`MockDatabases`] share one store (data, connection state,
//! counters), so a test keeps a clone to inspect what the code under test
//! wrote. Each clone has its own write journal, as two clients of one Redis
//! would: the clone that writes is the one whose status reports kept writes.

#![forbid(unsafe_code)]

pub mod clock;
pub mod faults;
pub mod links;
pub mod memory;
pub mod snapshots;

use std::ops::Deref;

use portsyncd_core::backend::{BackendStatus, Databases, Db, Write};
use portsyncd_pending::{Journaled, WriteJournal};

pub use memory::{MemoryDatabases, MockError, Value, layout};

/// Default bound of writes kept while disconnected, in keys.
pub const DEFAULT_PENDING_CAPACITY: usize = 4096;

/// In-memory SONiC databases with the write journal: what the daemon uses
/// with `--db memory` and what its tests use. Clones share the store.
///
/// The store's inspection and fault methods ([`MemoryDatabases::hash`],
/// [`MemoryDatabases::disconnect`], …) are reached through `Deref`.
#[derive(Clone, Debug)]
pub struct MockDatabases {
    journaled: Journaled<MemoryDatabases>,
}

impl Default for MockDatabases {
    fn default() -> Self {
        Self::new()
    }
}

impl MockDatabases {
    /// Empty databases, connected.
    pub fn new() -> Self {
        Self::with_pending_capacity(DEFAULT_PENDING_CAPACITY)
    }

    /// Empty databases keeping at most `capacity` keys while disconnected.
    pub fn with_pending_capacity(capacity: usize) -> Self {
        Self { journaled: Journaled::new(MemoryDatabases::new(), capacity) }
    }

    /// `<table><sep><key>` in `db`.
    pub fn full_key(db: Db, table: &str, key: &str) -> String {
        MemoryDatabases::full_key(db, table, key)
    }

    /// This clone's write journal: keys waiting, keys recorded.
    pub fn journal(&self) -> &WriteJournal {
        self.journaled.journal()
    }
}

impl Deref for MockDatabases {
    type Target = MemoryDatabases;

    fn deref(&self) -> &MemoryDatabases {
        self.journaled.inner()
    }
}

/// Reads pass straight through to the store; writes, `maintain` and
/// `status` follow the journal's policy (`portsyncd_pending::journaled`).
impl Databases for MockDatabases {
    type Error = MockError;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<bool, MockError> {
        self.journaled.get(db, table, key, visit).await
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut (dyn FnMut(usize, &str, &str) + Send),
    ) -> Result<(), MockError> {
        self.journaled.get_many(db, table, keys, visit).await
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, MockError> {
        self.journaled.hget(db, table, key, field, visit).await
    }

    async fn keys(
        &mut self,
        db: Db,
        table: &str,
        visit: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), MockError> {
        self.journaled.keys(db, table, visit).await
    }

    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), MockError> {
        self.journaled.exists(db, table, keys, present).await
    }

    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), MockError> {
        self.journaled.has_field(db, table, keys, field, present).await
    }

    async fn write(&mut self, writes: &[Write<'_>]) -> Result<(), MockError> {
        self.journaled.write(writes).await
    }

    async fn maintain(&mut self) -> BackendStatus {
        self.journaled.maintain().await
    }

    fn status(&self) -> BackendStatus {
        self.journaled.status()
    }
}
