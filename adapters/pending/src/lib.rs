//! Writes kept while a database backend is unreachable.
//!
//! This crate decides what must still be written when the backend comes back:
//! for each key (database, table, key, plain or producer), only the net effect
//! of everything written to it meanwhile, and keys in the order they were
//! first touched. The buffer and the journal talk to no backend; the
//! [`Journaled`] decorator decides when to flush them, and each backend's
//! [`RawBackend`] carries the writes out. Nothing here reconnects: the
//! backends keep their own schedules.
//!
//! The net effect of a run of writes to one key is one of: delete it; merge
//! these fields into it; or delete it, then set these fields. Replaying that
//! leaves the backend exactly as replaying every write would (for producer
//! tables: the consumer sees the same final hash and the same deletes). A
//! key's sets that were check-and-writes ([`Write::SetIfPresent`]) are
//! replayed as one, under the guard of the latest: what counts is whether
//! the guard exists when the write lands, not when it was decided.
//!
//! The buffer is bounded by a number of keys (the ports a daemon can have,
//! times a small factor); a write to a new key when it is full is refused with
//! [`BufferFull`], never dropped silently.
//!
//! Nothing here restores a server that restarted and lost its data: what
//! this process produced from an older CONFIG_DB must not be written into a
//! newer one. A restart is reported, and the daemon's driver decides (it
//! exits, as SONiC expects: see `portsyncd_core::driver`).
//!
//! [`Journaled`] is the policy around them, written once for every backend: a
//! decorator that turns a backend's bare connections ([`RawBackend`]) into
//! the core's `Databases` port, keeping writes while the backend is away and
//! flushing them when it is back (see the [`journaled`] module).

#![forbid(unsafe_code)]

pub mod journaled;

pub use journaled::{Journaled, RawBackend, SendError};

use indexmap::IndexMap;
use indexmap::map::Entry;
use portsyncd_core::backend::{Db, Field, Guard, Write};

/// Which kind of table a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// A plain table (HSET / DEL).
    Plain,
    /// A ProducerStateTable.
    Producer,
}

/// One key's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId {
    /// Database.
    pub db: Db,
    /// Plain or producer.
    pub kind: TableKind,
    /// Table name.
    pub table: String,
    /// Key within the table.
    pub key: String,
}

/// The net effect of the writes kept for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetWrite {
    /// Delete it.
    Delete,
    /// Merge these fields (in first-written order, latest value).
    Merge(IndexMap<Vec<u8>, Vec<u8>>),
    /// Delete it, then set these fields.
    Replace(IndexMap<Vec<u8>, Vec<u8>>),
}

/// The key a kept check-and-write depends on (an owned [`Guard`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GuardId {
    /// Database.
    pub db: Db,
    /// Table name.
    pub table: String,
    /// Key within the table.
    pub key: String,
}

impl GuardId {
    fn of(guard: Guard<'_>) -> Self {
        Self { db: guard.db, table: guard.table.to_owned(), key: guard.key.to_owned() }
    }

    /// Borrowed, for a [`Write::SetIfPresent`].
    pub fn guard(&self) -> Guard<'_> {
        Guard { db: self.db, table: &self.table, key: &self.key }
    }
}

/// One key's kept writes: its identity, their net effect, and the guard its
/// set is checked against (if its latest set was a check-and-write).
pub type Kept = (KeyId, NetWrite, Option<GuardId>);

/// The write buffer was full: this write was not kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{db} {table}: {capacity} keys already wait for the backend; write to {key} not kept")]
pub struct BufferFull {
    /// Database of the refused write.
    pub db: Db,
    /// Its table.
    pub table: String,
    /// Its key.
    pub key: String,
    /// The buffer's capacity in keys.
    pub capacity: usize,
}

/// Writes waiting for a backend.
#[derive(Clone, Debug)]
pub struct PendingWrites {
    keys: IndexMap<KeyId, (NetWrite, Option<GuardId>)>,
    capacity: usize,
}

impl PendingWrites {
    /// An empty buffer for at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self { keys: IndexMap::new(), capacity }
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Capacity in keys.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether all of `writes` would be kept (no new key beyond capacity).
    pub fn has_room_for(&self, writes: &[Write<'_>]) -> bool {
        let mut new = 0;
        for w in writes {
            if !self.keys.contains_key(&key_id(w)) {
                new += 1;
            }
        }
        self.keys.len() + new <= self.capacity
    }

    /// Keeps `writes`, all or nothing.
    pub fn push_all(&mut self, writes: &[Write<'_>]) -> Result<(), BufferFull> {
        if !self.has_room_for(writes) {
            let (table, key) = writes.first().map(Write::target).unwrap_or_default();
            return Err(BufferFull {
                db: writes.first().map_or(Db::State, Write::db),
                table: table.into(),
                key: key.into(),
                capacity: self.capacity,
            });
        }
        for w in writes {
            self.push(w);
        }
        Ok(())
    }

    fn push(&mut self, write: &Write<'_>) {
        let delete = matches!(write, Write::Del { .. } | Write::ProduceDel { .. });
        let fields = write.fields();
        let guard = write.guard().map(GuardId::of);
        // A plain set with no fields writes nothing; a producer set with no
        // fields is a real operation (the consumer sees a delete), kept as such.
        if !delete && fields.is_empty() && !write.is_produce() {
            return;
        }
        let merge = |map: &mut IndexMap<Vec<u8>, Vec<u8>>| {
            for (f, v) in fields {
                map.insert(f.to_vec(), v.to_vec());
            }
        };
        match self.keys.entry(key_id(write)) {
            Entry::Vacant(slot) => {
                let net = if delete {
                    NetWrite::Delete
                } else {
                    let mut map = IndexMap::new();
                    merge(&mut map);
                    if write.is_produce() && fields.is_empty() {
                        // An empty producer set pops as a delete.
                        NetWrite::Delete
                    } else {
                        NetWrite::Merge(map)
                    }
                };
                slot.insert((net, guard));
            }
            Entry::Occupied(mut slot) => {
                let (net, kept_guard) = slot.get_mut();
                if delete {
                    *net = NetWrite::Delete;
                    *kept_guard = None;
                    return;
                }
                *kept_guard = guard;
                match net {
                    NetWrite::Delete => {
                        let mut map = IndexMap::new();
                        merge(&mut map);
                        *net = NetWrite::Replace(map);
                    }
                    NetWrite::Merge(map) | NetWrite::Replace(map) => merge(map),
                }
            }
        }
    }

    /// Takes everything kept, keys in first-touched order.
    pub fn take(&mut self) -> Vec<Kept> {
        self.keys.drain(..).map(|(id, (net, guard))| (id, net, guard)).collect()
    }

    /// Puts back what a failed flush did not write, ahead of anything kept since.
    pub fn restore(&mut self, unflushed: Vec<Kept>) {
        let unflushed = unflushed.into_iter().map(|(id, net, guard)| (id, (net, guard))).collect();
        let newer = std::mem::replace(&mut self.keys, unflushed);
        overlay(&mut self.keys, newer);
    }
}

/// Applies `newer` net writes over `base`, key by key; new keys go last. A
/// newer set brings its guard; a newer delete needs none.
fn overlay(
    base: &mut IndexMap<KeyId, (NetWrite, Option<GuardId>)>,
    newer: impl IntoIterator<Item = (KeyId, (NetWrite, Option<GuardId>))>,
) {
    for (id, (net, guard)) in newer {
        let Some((old, old_guard)) = base.get_mut(&id) else {
            base.insert(id, (net, guard));
            continue;
        };
        *old_guard = guard;
        match (old, net) {
            (old, NetWrite::Delete) => *old = NetWrite::Delete,
            (old, NetWrite::Replace(map)) => *old = NetWrite::Replace(map),
            (old, NetWrite::Merge(map)) => match old {
                NetWrite::Delete => *old = NetWrite::Replace(map),
                NetWrite::Merge(m) | NetWrite::Replace(m) => m.extend(map),
            },
        }
    }
}

fn key_id(write: &Write<'_>) -> KeyId {
    let (table, key) = write.target();
    KeyId {
        db: write.db(),
        kind: if write.is_produce() { TableKind::Producer } else { TableKind::Plain },
        table: table.to_owned(),
        key: key.to_owned(),
    }
}

impl NetWrite {
    /// The fields to set, if any.
    pub fn fields(&self) -> Vec<Field<'_>> {
        match self {
            NetWrite::Delete => Vec::new(),
            NetWrite::Merge(map) | NetWrite::Replace(map) => {
                map.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect()
            }
        }
    }
}

/// The writes that replay `taken` (from [`PendingWrites::take`]) in order.
/// `fields` must be `taken`'s field lists, as [`field_lists`] builds them.
pub fn replay<'a>(taken: &'a [Kept], fields: &'a [Vec<Field<'a>>]) -> Vec<Write<'a>> {
    let mut writes = Vec::with_capacity(taken.len());
    for ((id, net, guard), fields) in taken.iter().zip(fields) {
        let (db, table, key) = (id.db, id.table.as_str(), id.key.as_str());
        let (del, set) = match (id.kind, guard) {
            (TableKind::Plain, None) => {
                (Write::Del { db, table, key }, Write::Set { db, table, key, fields })
            }
            (TableKind::Plain, Some(guard)) => (
                Write::Del { db, table, key },
                Write::SetIfPresent { db, table, key, fields, guard: guard.guard() },
            ),
            (TableKind::Producer, _) => {
                (Write::ProduceDel { db, table, key }, Write::Produce { db, table, key, fields })
            }
        };
        match net {
            NetWrite::Delete => writes.push(del),
            NetWrite::Merge(_) => writes.push(set),
            NetWrite::Replace(_) => writes.extend([del, set]),
        }
    }
    writes
}

/// The field lists of `taken`, for [`replay`].
pub fn field_lists(taken: &[Kept]) -> Vec<Vec<Field<'_>>> {
    taken.iter().map(|(_, net, _)| net.fields()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field pairs as the writes carry them (leaked: tests only).
    fn fields(pairs: &[(&'static str, &'static str)]) -> &'static [Field<'static>] {
        pairs.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())).collect::<Vec<_>>().leak()
    }

    fn set(key: &'static str, pairs: &[(&'static str, &'static str)]) -> Write<'static> {
        Write::Set { db: Db::State, table: "PORT_TABLE", key, fields: fields(pairs) }
    }

    fn del(key: &str) -> Write<'_> {
        Write::Del { db: Db::State, table: "PORT_TABLE", key }
    }

    fn map(pairs: &[(&str, &str)]) -> IndexMap<Vec<u8>, Vec<u8>> {
        pairs.iter().map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec())).collect()
    }

    #[test]
    fn coalesces_per_key_in_first_touched_order() {
        let mut p = PendingWrites::new(8);
        p.push_all(&[
            set("E0", &[("a", "1"), ("b", "1")]),
            set("E4", &[("a", "1")]),
            set("E0", &[("a", "2")]),
        ])
        .unwrap();
        p.push_all(&[del("E4"), set("E4", &[("c", "3")]), del("E8"), set("E8", &[])]).unwrap();
        let got = p.take();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, NetWrite::Merge(map(&[("a", "2"), ("b", "1")])));
        assert_eq!(got[1].1, NetWrite::Replace(map(&[("c", "3")])));
        assert_eq!(got[2].1, NetWrite::Delete, "an empty plain set writes nothing");
        assert!(p.is_empty());
    }

    #[test]
    fn empty_producer_set_is_kept_as_a_delete() {
        let mut p = PendingWrites::new(8);
        p.push_all(&[Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: "E0", fields: &[] }]).unwrap();
        assert_eq!(p.take()[0].1, NetWrite::Delete);
    }

    #[test]
    fn full_buffer_refuses_all_or_nothing() {
        let mut p = PendingWrites::new(2);
        p.push_all(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")])]).unwrap();
        p.push_all(&[set("E0", &[("a", "2")])]).unwrap();
        let err = p.push_all(&[set("E0", &[("a", "3")]), set("E8", &[("a", "1")])]).unwrap_err();
        assert_eq!(err.key, "E0");
        assert_eq!(p.len(), 2);
        assert_eq!(
            p.take()[0].1,
            NetWrite::Merge(map(&[("a", "2")])),
            "nothing of the refused batch applied"
        );
    }

    #[test]
    fn restore_puts_unflushed_first_and_merges_newer() {
        let mut p = PendingWrites::new(8);
        p.push_all(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")])]).unwrap();
        let taken = p.take();
        p.push_all(&[set("E8", &[("x", "1")]), set("E0", &[("b", "2")]), del("E4")]).unwrap();
        p.restore(taken);
        let got = p.take();
        let keys: Vec<_> = got.iter().map(|(id, _, _)| id.key.as_str()).collect();
        assert_eq!(keys, ["E0", "E4", "E8"]);
        assert_eq!(got[0].1, NetWrite::Merge(map(&[("a", "1"), ("b", "2")])));
        assert_eq!(got[1].1, NetWrite::Delete);
    }

    #[test]
    fn replay_gives_the_writes_in_order() {
        let mut p = PendingWrites::new(8);
        let produce = Write::Produce {
            db: Db::Appl,
            table: "PORT_TABLE",
            key: "E0",
            fields: fields(&[("mtu", "9100")]),
        };
        p.push_all(&[Write::ProduceDel { db: Db::Appl, table: "PORT_TABLE", key: "E0" }, produce, del("E4")])
            .unwrap();
        let taken = p.take();
        let fields = field_lists(&taken);
        assert_eq!(
            replay(&taken, &fields),
            [Write::ProduceDel { db: Db::Appl, table: "PORT_TABLE", key: "E0" }, produce, del("E4")]
        );
    }
}
