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
//! tables: the consumer sees the same final hash and the same deletes).
//!
//! The buffer is bounded by a number of keys (the ports a daemon can have,
//! times a small factor); a write to a new key when it is full is refused with
//! [`BufferFull`], never dropped silently.
//!
//! [`WriteJournal`] adds what a server restart needs: the latest value of
//! every key this process wrote and did not delete, so that a server that
//! came back empty can be given back everything (see its docs).
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
use portsyncd_core::backend::{Db, Write};

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
    Merge(IndexMap<String, String>),
    /// Delete it, then set these fields.
    Replace(IndexMap<String, String>),
}

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
    keys: IndexMap<KeyId, NetWrite>,
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
        let (delete, fields) = match *write {
            Write::Set { fields, .. } | Write::Produce { fields, .. } => (false, fields),
            Write::Del { .. } | Write::ProduceDel { .. } => (true, &[][..]),
        };
        // A plain set with no fields writes nothing; a producer set with no
        // fields is a real operation (the consumer sees a delete), kept as such.
        if !delete && fields.is_empty() && !write.is_produce() {
            return;
        }
        let merge = |map: &mut IndexMap<String, String>| {
            for (f, v) in fields {
                map.insert((*f).to_owned(), (*v).to_owned());
            }
        };
        match self.keys.entry(key_id(write)) {
            Entry::Vacant(slot) => {
                slot.insert(if delete {
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
                });
            }
            Entry::Occupied(mut slot) => {
                let net = slot.get_mut();
                if delete {
                    *net = NetWrite::Delete;
                    return;
                }
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
    pub fn take(&mut self) -> Vec<(KeyId, NetWrite)> {
        self.keys.drain(..).collect()
    }

    /// Puts back what a failed flush did not write, ahead of anything kept since.
    pub fn restore(&mut self, unflushed: Vec<(KeyId, NetWrite)>) {
        let newer = std::mem::replace(&mut self.keys, unflushed.into_iter().collect());
        overlay(&mut self.keys, newer);
    }
}

/// Applies `newer` net writes over `base`, key by key; new keys go last.
fn overlay(base: &mut IndexMap<KeyId, NetWrite>, newer: impl IntoIterator<Item = (KeyId, NetWrite)>) {
    for (id, net) in newer {
        match (base.get_mut(&id), net) {
            (None, net) => {
                base.insert(id, net);
            }
            (Some(old), NetWrite::Delete) => *old = NetWrite::Delete,
            (Some(old), NetWrite::Replace(map)) => *old = NetWrite::Replace(map),
            (Some(old), NetWrite::Merge(map)) => match old {
                NetWrite::Delete => *old = NetWrite::Replace(map),
                NetWrite::Merge(m) | NetWrite::Replace(m) => m.extend(map),
            },
        }
    }
}

/// The writes of one process, kept for outages and server restarts.
///
/// - While the backend is away, [`keep`](Self::keep) buffers writes (the
///   latest per key); [`to_flush`](Self::to_flush) hands them back.
/// - Every write that reached the backend is recorded with
///   [`written`](Self::written): for each key, the fields this process has set
///   and not deleted since (other writers' fields are not ours to restore).
/// - When the backend comes back *empty* (its run id changed),
///   [`to_flush`](Self::to_flush)`(true)` hands back that record too, so that
///   every key holds its latest value again; keys come before the writes kept
///   during the outage, which are newer.
///
/// The record is bounded like the buffer; a key beyond it is counted in
/// [`untracked`](Self::untracked) and could not be restored after a restart.
#[derive(Clone, Debug)]
pub struct WriteJournal {
    latest: IndexMap<KeyId, PackedFields>,
    /// Where [`PackedFields::merge`] builds.
    scratch: String,
    pending: PendingWrites,
    capacity: usize,
    untracked: u64,
}

impl WriteJournal {
    /// A journal for at most `capacity` keys (record and buffer each).
    pub fn new(capacity: usize) -> Self {
        Self {
            latest: IndexMap::new(),
            scratch: String::new(),
            pending: PendingWrites::new(capacity),
            capacity,
            untracked: 0,
        }
    }

    /// Keys with writes waiting for the backend.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Keys whose latest value is recorded.
    pub fn recorded(&self) -> usize {
        self.latest.len()
    }

    /// Written keys that did not fit in the record.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Buffers `writes` for later, all or nothing.
    pub fn keep(&mut self, writes: &[Write<'_>]) -> Result<(), BufferFull> {
        self.pending.push_all(writes)
    }

    /// Records that `writes` reached the backend.
    pub fn written(&mut self, writes: &[Write<'_>]) {
        // Called for every write that reaches Redis: look keys up by borrow and
        // update values in place, so that a steady stream allocates nothing.
        for w in writes {
            let id = key_ref(w);
            match *w {
                Write::Del { .. } | Write::ProduceDel { .. } | Write::Produce { fields: [], .. } => {
                    // (A producer set with no fields pops as a delete.)
                    self.latest.swap_remove(&id);
                }
                Write::Set { fields: [], .. } => {}
                Write::Set { fields, .. } | Write::Produce { fields, .. } => {
                    if let Some(entry) = self.latest.get_mut(&id) {
                        entry.merge(fields, &mut self.scratch);
                    } else if self.latest.len() >= self.capacity {
                        self.untracked += 1;
                    } else {
                        let mut packed = PackedFields::default();
                        packed.merge(fields, &mut self.scratch);
                        packed.0.shrink_to_fit();
                        self.latest.insert(key_id(w), packed);
                    }
                }
            }
        }
    }

    /// What must be written now that the backend is back: the buffered writes
    /// and, if it came back empty, the record of every key first.
    pub fn to_flush(&mut self, backend_was_emptied: bool) -> Vec<(KeyId, NetWrite)> {
        let kept = self.pending.take();
        if !backend_was_emptied {
            return kept;
        }
        let mut all: IndexMap<KeyId, NetWrite> =
            self.latest.iter().map(|(id, fields)| (id.clone(), NetWrite::Merge(fields.to_map()))).collect();
        overlay(&mut all, kept);
        all.into_iter().collect()
    }

    /// Puts back what a failed flush did not write.
    pub fn unflushed(&mut self, writes: Vec<(KeyId, NetWrite)>) {
        self.pending.restore(writes);
    }
}

/// One key's recorded fields, packed into one string: `field \0 value \0 …`.
/// A record holds every key a daemon wrote; a map with two strings per field
/// cost about ten times as much memory. Redis field names and values from
/// SONiC never contain NUL.
#[derive(Clone, Debug, Default)]
struct PackedFields(String);

impl PackedFields {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut parts = self.0.split('\0');
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }

    /// Merges `fields` in, building the result in `scratch` (kept by the
    /// caller, so that a steady stream of writes allocates nothing).
    fn merge(&mut self, fields: &[(&str, &str)], scratch: &mut String) {
        scratch.clear();
        let push = |scratch: &mut String, f: &str, v: &str| {
            if !scratch.is_empty() {
                scratch.push('\0');
            }
            scratch.push_str(f);
            scratch.push('\0');
            scratch.push_str(v);
        };
        for (f, v) in self.pairs() {
            let v = fields.iter().rev().find(|(nf, _)| *nf == f).map_or(v, |(_, nv)| nv);
            push(scratch, f, v);
        }
        for (i, (f, v)) in fields.iter().enumerate() {
            let earlier = fields[..i].iter().any(|(e, _)| e == f);
            if !earlier && !self.pairs().any(|(pf, _)| pf == *f) {
                let v = fields.iter().rev().find(|(nf, _)| nf == f).map_or(*v, |(_, nv)| nv);
                push(scratch, f, v);
            }
        }
        if *scratch != self.0 {
            self.0.clear();
            self.0.push_str(scratch);
        }
    }

    fn to_map(&self) -> IndexMap<String, String> {
        self.pairs().map(|(f, v)| (f.to_owned(), v.to_owned())).collect()
    }
}

/// A [`KeyId`] by borrow: hashes and compares as the owned one does.
#[derive(Hash)]
struct KeyRef<'a> {
    db: Db,
    kind: TableKind,
    table: &'a str,
    key: &'a str,
}

impl indexmap::Equivalent<KeyId> for KeyRef<'_> {
    fn equivalent(&self, id: &KeyId) -> bool {
        self.db == id.db && self.kind == id.kind && self.table == id.table && self.key == id.key
    }
}

fn key_ref<'a>(write: &Write<'a>) -> KeyRef<'a> {
    let (table, key) = write.target();
    let kind = if write.is_produce() { TableKind::Producer } else { TableKind::Plain };
    KeyRef { db: write.db(), kind, table, key }
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
    pub fn fields(&self) -> Vec<(&str, &str)> {
        match self {
            NetWrite::Delete => Vec::new(),
            NetWrite::Merge(map) | NetWrite::Replace(map) => {
                map.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect()
            }
        }
    }
}

/// The writes that replay `taken` (from [`PendingWrites::take`]) in order.
/// `fields` must be `taken`'s field lists, as [`field_lists`] builds them.
pub fn replay<'a>(taken: &'a [(KeyId, NetWrite)], fields: &'a [Vec<(&'a str, &'a str)>]) -> Vec<Write<'a>> {
    let mut writes = Vec::with_capacity(taken.len());
    for ((id, net), fields) in taken.iter().zip(fields) {
        let (db, table, key) = (id.db, id.table.as_str(), id.key.as_str());
        let (del, set) = match id.kind {
            TableKind::Plain => (Write::Del { db, table, key }, Write::Set { db, table, key, fields }),
            TableKind::Producer => {
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
pub fn field_lists(taken: &[(KeyId, NetWrite)]) -> Vec<Vec<(&str, &str)>> {
    taken.iter().map(|(_, net)| net.fields()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<'a>(key: &'a str, fields: &'a [(&'a str, &'a str)]) -> Write<'a> {
        Write::Set { db: Db::State, table: "PORT_TABLE", key, fields }
    }

    fn del(key: &str) -> Write<'_> {
        Write::Del { db: Db::State, table: "PORT_TABLE", key }
    }

    fn map(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
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
        let keys: Vec<_> = got.iter().map(|(id, _)| id.key.as_str()).collect();
        assert_eq!(keys, ["E0", "E4", "E8"]);
        assert_eq!(got[0].1, NetWrite::Merge(map(&[("a", "1"), ("b", "2")])));
        assert_eq!(got[1].1, NetWrite::Delete);
    }

    #[test]
    fn journal_restores_every_key_after_the_backend_was_emptied() {
        let mut j = WriteJournal::new(8);
        j.written(&[
            set("E0", &[("a", "1"), ("b", "1")]),
            set("E4", &[("a", "1")]),
            set("E0", &[("a", "2")]),
        ]);
        j.written(&[del("E4"), set("E8", &[("x", "1")])]);
        assert_eq!(j.recorded(), 2);
        // An outage: newer writes are kept.
        j.keep(&[set("E8", &[("x", "2")]), del("E0"), set("E12", &[("y", "1")])]).unwrap();
        assert_eq!(j.pending(), 3);
        // Same server back: only the kept writes.
        let mut same = j.clone();
        assert_eq!(same.to_flush(false).len(), 3);
        // Server back empty: the record first, the newer writes over it.
        let got = j.to_flush(true);
        let keys: Vec<_> = got.iter().map(|(id, net)| (id.key.as_str(), net.clone())).collect();
        assert_eq!(
            keys,
            [
                ("E0", NetWrite::Delete),
                ("E8", NetWrite::Merge(map(&[("x", "2")]))),
                ("E12", NetWrite::Merge(map(&[("y", "1")]))),
            ]
        );
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn journal_lookups_match_owned_keys() {
        let mut j = WriteJournal::new(8);
        j.written(&[set("E0", &[("a", "1")])]);
        j.written(&[set("E0", &[("a", "2"), ("b", "1")])]);
        assert_eq!(j.recorded(), 1, "the same key, found by borrow");
        j.written(&[del("E0")]);
        assert_eq!(j.recorded(), 0);
        let produce = Write::Produce { db: Db::State, table: "PORT_TABLE", key: "E0", fields: &[("a", "1")] };
        j.written(&[set("E0", &[("a", "1")]), produce]);
        assert_eq!(j.recorded(), 2, "plain and producer keys are distinct");
    }

    #[test]
    fn packed_fields_merge_in_first_written_order() {
        let (mut p, mut scratch) = (PackedFields::default(), String::new());
        p.merge(&[("state", "ok"), ("mtu", "1500")], &mut scratch);
        p.merge(&[("mtu", "9100"), ("admin_status", "up"), ("mtu", "9000")], &mut scratch);
        assert_eq!(p.pairs().collect::<Vec<_>>(), [("state", "ok"), ("mtu", "9000"), ("admin_status", "up")]);
        let before = p.0.as_ptr();
        p.merge(&[("mtu", "9100")], &mut scratch);
        assert_eq!(p.0.as_ptr(), before, "a changed value of the same length is rewritten in place");
        p.merge(&[("empty", "")], &mut scratch);
        assert_eq!(p.to_map()["empty"], "");
        assert_eq!(p.to_map().len(), 4);
    }

    #[test]
    fn journal_record_is_bounded() {
        let mut j = WriteJournal::new(1);
        j.written(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")]), set("E0", &[("a", "2")])]);
        assert_eq!((j.recorded(), j.untracked()), (1, 1));
    }

    #[test]
    fn replay_gives_the_writes_in_order() {
        let mut p = PendingWrites::new(8);
        let produce =
            Write::Produce { db: Db::Appl, table: "PORT_TABLE", key: "E0", fields: &[("mtu", "9100")] };
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
