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

#[cfg(doc)]
use portsyncd_core::backend::Databases;

pub mod clock;
pub mod faults;
pub mod links;
pub mod memory;
pub mod snapshots;

use portsyncd_pending::Journaled;

pub use memory::{MemoryDatabases, MockError, Value, layout};

/// Default bound of writes kept while disconnected, in keys.
pub const DEFAULT_PENDING_CAPACITY: usize = 4096;

/// In-memory SONiC databases with the write journal: what the daemon uses
/// with `--db memory` and what its tests use. Clones share the store (each
/// has its own journal, as two Redis clients would). The store's inspection
/// and fault methods ([`MemoryDatabases::hash`], [`MemoryDatabases::disconnect`],
/// …) are reached through `Deref`.
pub type MockDatabases = Journaled<MemoryDatabases>;

impl MemoryDatabases {
    /// Empty databases, connected, under the write journal.
    pub fn journaled() -> MockDatabases {
        Self::journaled_with_capacity(DEFAULT_PENDING_CAPACITY)
    }

    /// The same, keeping at most `capacity` keys while disconnected.
    pub fn journaled_with_capacity(capacity: usize) -> MockDatabases {
        Journaled::new(MemoryDatabases::new(), capacity)
    }
}
