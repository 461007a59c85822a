//! The write-journal policy, once, as a decorator over any backend.
//!
//! [`Journaled`] turns a [`RawBackend`] — a backend's connections, which can
//! read, send writes and reconnect, and nothing more — into the core's
//! [`Databases`] port. It decides what happens to writes around outages:
//!
//! - while any connection is down, writes are kept in [`PendingWrites`]
//!   (latest per key, bounded: a full buffer is an error, never a silent
//!   drop) and the backend reports [`BackendStatus::Degraded`];
//! - once every connection is up, the kept writes are flushed, in order,
//!   before any new write (so that per key the order holds);
//! - a server that came back restarted (a new run id: SONiC's Redis keeps
//!   nothing across a restart) is written nothing more — neither the kept
//!   writes nor new ones, which stay kept — and the status says
//!   [`BackendStatus::Restarted`]: what this process produced came from a
//!   CONFIG_DB that may be gone, and the driver decides what follows;
//! - a connection lost in the middle of a send keeps every write not known
//!   to have landed; a command the server refuses during a flush stays kept
//!   (and is tried again at the next [`Databases::maintain`] or write), while
//!   a refused new write is returned to the caller, who decides.
//!
//! It does not decide when to reconnect (the backend's schedule does, asked
//! through [`RawBackend::reconnect_due`]) nor how a write is carried out
//! (the backend's encoding); reads pass straight through.

use portsyncd_core::backend::{
    BackendStatus, DatabaseReads, DatabaseStats, Databases, Db, FieldVisitor, KeyFieldVisitor, ValueVisitor,
    Write,
};

use crate::{BufferFull, PendingWrites, field_lists, replay};

/// Why a [`RawBackend::send`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<E> {
    /// A connection dropped: the writes from the reported index on may or
    /// may not have landed. They are kept and written again (writing a key
    /// twice is harmless; losing one is not).
    Down,
    /// The server refused a command (out of memory, say); the connection is
    /// fine. The writes from the reported index on are not known to have landed.
    Refused(E),
}

/// A backend's connections, without any policy for outages: what a backend
/// implements so that [`Journaled`] makes it a [`Databases`]. Its reads are
/// the core's [`DatabaseReads`] (a read on a connection that is down fails;
/// a backend may try to reconnect first).
#[allow(async_fn_in_trait)] // Used with concrete types on smol's local executor, like Databases.
pub trait RawBackend: DatabaseReads<Error: From<BufferFull>> {
    /// Carries out `writes` in order, now, on the connections as they are
    /// (no reconnect), and sets `absent[i]` for each
    /// [`Write::SetIfPresent`] that found its guard missing (`absent` may be
    /// shorter than `writes`). On failure, returns the index of the first
    /// write not known to have landed (everything before it did) and why.
    async fn send(
        &mut self,
        writes: &[Write<'_>],
        absent: &mut [bool],
    ) -> Result<(), (usize, SendError<Self::Error>)>;

    /// Tries to reconnect every connection that is down and whose retry time
    /// has come; does nothing otherwise.
    async fn reconnect_due(&mut self);

    /// Whether every connection is up.
    fn all_up(&self) -> bool;

    /// Whether a server came back restarted (a new run id: it lost its
    /// data) since this backend first reached it. It stays so.
    fn restarted(&self) -> bool;

    /// What it has done so far (what the journal keeps is in its status).
    fn stats(&self) -> DatabaseStats {
        DatabaseStats::default()
    }
}

/// A [`RawBackend`] with the write-journal policy of this module: the
/// [`Databases`] that the daemon uses.
#[derive(Clone, Debug)]
pub struct Journaled<B> {
    backend: B,
    kept: PendingWrites,
}

/// Read access to the backend underneath (its counters, addresses, raw
/// views), so that a backend's own methods are called on the journaled one.
/// Only `&`: a write sent around the journal would not be recorded.
impl<B> core::ops::Deref for Journaled<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.backend
    }
}

impl<B: RawBackend> Journaled<B> {
    /// `backend`, keeping at most `capacity` keys while it is away.
    pub fn new(backend: B, capacity: usize) -> Self {
        Self { backend, kept: PendingWrites::new(capacity) }
    }

    /// The backend underneath (for its counters, addresses, raw views).
    /// There is no `&mut` access: a write sent around the journal could
    /// overtake kept writes to the same key.
    pub fn inner(&self) -> &B {
        &self.backend
    }

    /// The backend underneath, dropping the journal (and any kept writes).
    pub fn into_inner(self) -> B {
        self.backend
    }

    /// Keys with writes waiting for the backend.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// Once every connection is up (and no server restarted): the kept
    /// writes. `Ok(false)` if they cannot be written now (or a connection
    /// dropped meanwhile); the writes not flushed stay kept.
    async fn flush(&mut self) -> Result<bool, B::Error> {
        if !self.backend.all_up() || self.backend.restarted() {
            return Ok(false);
        }
        if self.kept.is_empty() {
            return Ok(true);
        }
        let taken = self.kept.take();
        let fields = field_lists(&taken);
        // Kept check-and-writes are checked now; none is reported.
        let result = self.backend.send(&replay(&taken, &fields), &mut []).await;
        drop(fields);
        match result {
            Ok(()) => Ok(true),
            Err((_, SendError::Down)) => {
                // Writing a key twice is harmless; losing one is not: keep it all.
                self.kept.restore(taken);
                Ok(false)
            }
            Err((_, SendError::Refused(e))) => {
                self.kept.restore(taken);
                Err(e)
            }
        }
    }
}

/// Reads pass straight through.
impl<B: RawBackend> DatabaseReads for Journaled<B> {
    type Error = B::Error;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut FieldVisitor<'_>,
    ) -> Result<bool, B::Error> {
        self.backend.get(db, table, key, visit).await
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut KeyFieldVisitor<'_>,
    ) -> Result<(), B::Error> {
        self.backend.get_many(db, table, keys, visit).await
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut ValueVisitor<'_>,
    ) -> Result<bool, B::Error> {
        self.backend.hget(db, table, key, field, visit).await
    }

    async fn keys(&mut self, db: Db, table: &str, visit: &mut ValueVisitor<'_>) -> Result<(), B::Error> {
        self.backend.keys(db, table, visit).await
    }

    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), B::Error> {
        self.backend.exists(db, table, keys, present).await
    }

    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), B::Error> {
        self.backend.has_field(db, table, keys, field, present).await
    }
}

impl<B: RawBackend> Databases for Journaled<B> {
    async fn write_checked(&mut self, writes: &[Write<'_>], absent: &mut [bool]) -> Result<(), B::Error> {
        if writes.is_empty() {
            return Ok(());
        }
        if !self.backend.all_up() {
            self.backend.reconnect_due().await;
        }
        // Older kept writes go first, so that per key the order holds. If the
        // server refuses them, this batch is neither sent nor kept: the caller
        // hears of the refusal and decides.
        if !self.flush().await? {
            self.kept.push_all(writes)?;
            return Ok(());
        }
        match self.backend.send(writes, absent).await {
            Ok(()) => Ok(()),
            Err((first_unsent, SendError::Down)) => {
                self.kept.push_all(writes.get(first_unsent..).unwrap_or_default())?;
                Ok(())
            }
            Err((_, SendError::Refused(e))) => Err(e),
        }
    }

    async fn maintain(&mut self) -> BackendStatus {
        if !self.backend.all_up() {
            self.backend.reconnect_due().await;
        }
        // A refused command during the flush stays kept; it is retried on the
        // next call, and the status says Degraded meanwhile.
        let _ = self.flush().await;
        self.status()
    }

    fn status(&self) -> BackendStatus {
        if self.backend.restarted() {
            BackendStatus::Restarted
        } else if self.backend.all_up() && self.kept.is_empty() {
            BackendStatus::Connected
        } else {
            BackendStatus::Degraded { pending: self.kept.len() }
        }
    }

    fn stats(&self) -> DatabaseStats {
        self.backend.stats()
    }
}

#[cfg(test)]
mod tests {
    //! The policy, tested once, over a fake backend that logs what it is sent.

    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum FakeError {
        #[error("{db} {key}: {op} failed: down")]
        Down { db: Db, key: String, op: &'static str },
        #[error("{db} {key}: {op} refused")]
        Refused { db: Db, key: String, op: &'static str },
        #[error(transparent)]
        Full(#[from] BufferFull),
    }

    /// A plain key-value store (plain tables only; producer writes are
    /// logged like the rest) with switches for the faults the policy handles.
    #[derive(Default)]
    struct Fake {
        data: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
        /// Every write that landed, as `SET key f=v,...` or `DEL key`.
        log: Vec<String>,
        up: bool,
        /// Connection comes back when `reconnect_due` is called.
        comes_back: bool,
        restarted: bool,
        reconnect_calls: usize,
        /// Refuse any write to this key.
        refuse_key: Option<String>,
        /// Drop the connection after this many more writes land.
        drop_after: Option<usize>,
    }

    fn describe(w: &Write<'_>) -> String {
        let (table, key) = w.target();
        match w {
            Write::Set { fields, .. }
            | Write::SetIfPresent { fields, .. }
            | Write::Produce { fields, .. } => {
                let f: Vec<String> = fields
                    .iter()
                    .map(|(f, v)| format!("{}={}", f.escape_ascii(), v.escape_ascii()))
                    .collect();
                let verb = if w.is_produce() { "PRODUCE" } else { "SET" };
                format!("{verb} {table}|{key} {}", f.join(","))
            }
            Write::Del { .. } => format!("DEL {table}|{key}"),
            Write::ProduceDel { .. } => format!("PRODUCEDEL {table}|{key}"),
        }
    }

    impl Fake {
        fn up() -> Self {
            Self { up: true, ..Self::default() }
        }

        fn read(&self, db: Db, key: &str, op: &'static str) -> Result<(), FakeError> {
            if self.up { Ok(()) } else { Err(FakeError::Down { db, key: key.into(), op }) }
        }

        /// The server restarts empty; the connection is down until the test
        /// brings it up.
        fn crash(&mut self) {
            self.data.clear();
            self.up = false;
            self.restarted = true;
        }
    }

    impl DatabaseReads for Fake {
        type Error = FakeError;

        async fn get(
            &mut self,
            db: Db,
            table: &str,
            key: &str,
            visit: &mut FieldVisitor<'_>,
        ) -> Result<bool, FakeError> {
            self.read(db, key, "HGETALL")?;
            let Some(hash) = self.data.get(&format!("{table}|{key}")) else { return Ok(false) };
            for (f, v) in hash {
                visit(Ok((f, v)));
            }
            Ok(true)
        }

        async fn get_many(
            &mut self,
            db: Db,
            _table: &str,
            _keys: &[&str],
            _visit: &mut KeyFieldVisitor<'_>,
        ) -> Result<(), FakeError> {
            self.read(db, "*", "HGETALL")
        }

        async fn hget(
            &mut self,
            db: Db,
            _table: &str,
            key: &str,
            _field: &str,
            _visit: &mut ValueVisitor<'_>,
        ) -> Result<bool, FakeError> {
            self.read(db, key, "HGET").map(|()| false)
        }

        async fn keys(
            &mut self,
            db: Db,
            _table: &str,
            _visit: &mut ValueVisitor<'_>,
        ) -> Result<(), FakeError> {
            self.read(db, "*", "KEYS")
        }

        async fn exists(
            &mut self,
            db: Db,
            _table: &str,
            _keys: &[&str],
            _present: &mut [bool],
        ) -> Result<(), FakeError> {
            self.read(db, "*", "EXISTS")
        }

        async fn has_field(
            &mut self,
            db: Db,
            _table: &str,
            _keys: &[&str],
            _field: &str,
            _present: &mut [bool],
        ) -> Result<(), FakeError> {
            self.read(db, "*", "HEXISTS")
        }
    }

    impl RawBackend for Fake {
        async fn send(
            &mut self,
            writes: &[Write<'_>],
            absent: &mut [bool],
        ) -> Result<(), (usize, SendError<FakeError>)> {
            for (i, w) in writes.iter().enumerate() {
                if !self.up {
                    return Err((i, SendError::Down));
                }
                if let Some(n) = self.drop_after.as_mut() {
                    if *n == 0 {
                        self.up = false;
                        self.drop_after = None;
                        return Err((i, SendError::Down));
                    }
                    *n -= 1;
                }
                let (table, key) = w.target();
                if self.refuse_key.as_deref() == Some(key) {
                    let (db, key) = (w.db(), key.to_owned());
                    return Err((i, SendError::Refused(FakeError::Refused { db, key, op: "write" })));
                }
                let full = format!("{table}|{key}");
                match *w {
                    Write::SetIfPresent { guard, .. }
                        if !self.data.contains_key(&format!("{}|{}", guard.table, guard.key)) =>
                    {
                        if let Some(slot) = absent.get_mut(i) {
                            *slot = true;
                        }
                        continue;
                    }
                    Write::Set { fields, .. }
                    | Write::SetIfPresent { fields, .. }
                    | Write::Produce { fields, .. } => {
                        let hash = self.data.entry(full).or_default();
                        hash.extend(fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec())));
                    }
                    Write::Del { .. } | Write::ProduceDel { .. } => {
                        self.data.remove(&full);
                    }
                }
                self.log.push(describe(w));
            }
            Ok(())
        }

        async fn reconnect_due(&mut self) {
            self.reconnect_calls += 1;
            if self.comes_back {
                self.up = true;
            }
        }

        fn all_up(&self) -> bool {
            self.up
        }

        fn restarted(&self) -> bool {
            self.restarted
        }
    }

    fn set(key: &'static str, pairs: &[(&'static str, &'static str)]) -> Write<'static> {
        let fields = pairs.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())).collect::<Vec<_>>().leak();
        Write::Set { db: Db::State, table: "PORT_TABLE", key, fields }
    }

    fn del(key: &str) -> Write<'_> {
        Write::Del { db: Db::State, table: "PORT_TABLE", key }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        smol::block_on(f)
    }

    /// Takes the log the fake kept so far.
    fn sent(db: &mut Journaled<Fake>) -> Vec<String> {
        std::mem::take(&mut db.backend.log)
    }

    #[test]
    fn connected_writes_go_straight_through_and_reads_pass_through() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.write(&[set("E0", &[("mtu", "9100")]), del("E4")]).await.unwrap();
            db.write(&[]).await.unwrap();
            assert_eq!(sent(&mut db), ["SET PORT_TABLE|E0 mtu=9100", "DEL PORT_TABLE|E4"]);
            assert_eq!(db.status(), BackendStatus::Connected);
            let mut got = Vec::new();
            assert!(
                db.get(Db::State, "PORT_TABLE", "E0", &mut |field| {
                    let (f, v) = field.unwrap();
                    got.push(format!("{}={}", f.escape_ascii(), v.escape_ascii()))
                })
                .await
                .unwrap()
            );
            assert_eq!(got, ["mtu=9100"]);
            assert_eq!(db.backend.reconnect_calls, 0, "no reconnect while everything is up");
        });
    }

    #[test]
    fn outage_keeps_the_latest_per_key_and_flushes_them_before_any_new_write() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.up = false;
            db.write(&[set("E0", &[("mtu", "1500")]), set("E4", &[("mtu", "1500")])]).await.unwrap();
            db.write(&[set("E0", &[("mtu", "9100")]), del("E4")]).await.unwrap();
            assert_eq!(db.status(), BackendStatus::Degraded { pending: 2 });
            assert!(db.exists(Db::State, "PORT_TABLE", &["E0"], &mut [false]).await.is_err(), "reads fail");
            assert!(sent(&mut db).is_empty());
            assert_eq!(db.backend.reconnect_calls, 2, "each write asks for a due reconnect");

            // Back: the next write goes after the kept ones.
            db.backend.comes_back = true;
            db.write(&[set("E8", &[("mtu", "9100")])]).await.unwrap();
            assert_eq!(
                sent(&mut db),
                ["SET PORT_TABLE|E0 mtu=9100", "DEL PORT_TABLE|E4", "SET PORT_TABLE|E8 mtu=9100"]
            );
            assert_eq!(db.status(), BackendStatus::Connected);
        });
    }

    #[test]
    fn maintain_reconnects_and_flushes() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.up = false;
            db.write(&[set("E0", &[("mtu", "9100")])]).await.unwrap();
            assert_eq!(db.maintain().await, BackendStatus::Degraded { pending: 1 }, "not back yet");
            db.backend.comes_back = true;
            assert_eq!(db.maintain().await, BackendStatus::Connected);
            assert_eq!(sent(&mut db), ["SET PORT_TABLE|E0 mtu=9100"]);
            assert_eq!(db.maintain().await, BackendStatus::Connected);
            assert!(sent(&mut db).is_empty(), "nothing sent twice");
        });
    }

    #[test]
    fn a_full_journal_is_an_error_and_keeps_nothing_of_the_batch() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 1);
            db.backend.up = false;
            db.write(&[set("E0", &[("mtu", "1")])]).await.unwrap();
            let err = db.write(&[set("E0", &[("mtu", "2")]), set("E4", &[("mtu", "1")])]).await.unwrap_err();
            assert!(matches!(err, FakeError::Full(BufferFull { capacity: 1, .. })), "{err}");
            db.backend.comes_back = true;
            db.maintain().await;
            assert_eq!(sent(&mut db), ["SET PORT_TABLE|E0 mtu=1"]);
        });
    }

    #[test]
    fn a_restarted_server_is_written_nothing_more() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.write(&[set("E0", &[("mtu", "1500")])]).await.unwrap();
            sent(&mut db);
            db.backend.crash();
            db.write(&[set("E4", &[("mtu", "9100")])]).await.unwrap();
            assert_eq!(db.status(), BackendStatus::Restarted);
            // Reconnected to the new server: neither the kept write nor a new
            // one is sent (they came from a CONFIG_DB that may be gone).
            db.backend.up = true;
            assert_eq!(db.maintain().await, BackendStatus::Restarted);
            db.write(&[set("E8", &[("mtu", "9100")])]).await.unwrap();
            assert!(sent(&mut db).is_empty());
            assert_eq!(db.kept(), 2, "kept, not lost: nothing is dropped silently");
            assert_eq!(db.status(), BackendStatus::Restarted);
        });
    }

    #[test]
    fn a_refused_command_during_a_flush_stays_kept() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.up = false;
            db.write(&[set("E0", &[("mtu", "9100")]), set("E4", &[("mtu", "9100")])]).await.unwrap();
            db.backend.up = true;
            db.backend.refuse_key = Some("E4".into());
            assert_eq!(db.maintain().await, BackendStatus::Degraded { pending: 2 }, "all kept");
            // A new write while the flush is refused: the caller hears of it;
            // the new batch is neither sent nor kept.
            let err = db.write(&[set("E8", &[("mtu", "1")])]).await.unwrap_err();
            assert!(matches!(err, FakeError::Refused { .. }), "{err}");
            assert_eq!(db.status(), BackendStatus::Degraded { pending: 2 });
            db.backend.refuse_key = None;
            assert_eq!(db.maintain().await, BackendStatus::Connected);
            assert_eq!(
                sent(&mut db),
                [
                    "SET PORT_TABLE|E0 mtu=9100",
                    "SET PORT_TABLE|E0 mtu=9100",
                    "SET PORT_TABLE|E0 mtu=9100",
                    "SET PORT_TABLE|E4 mtu=9100"
                ],
                "E0 landed before each refusal and again in each retry; E8 was never kept"
            );
        });
    }

    #[test]
    fn a_refused_new_write_is_returned_and_not_kept() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.refuse_key = Some("E4".into());
            let err = db.write(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")])]).await.unwrap_err();
            assert_eq!(err.to_string(), "STATE_DB E4: write refused");
            assert_eq!(db.status(), BackendStatus::Connected, "nothing kept: the caller decides");
        });
    }

    #[test]
    fn a_connection_lost_mid_send_keeps_the_rest() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.drop_after = Some(1);
            db.write(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")]), del("E8")]).await.unwrap();
            assert_eq!(sent(&mut db), ["SET PORT_TABLE|E0 a=1"]);
            assert_eq!(db.status(), BackendStatus::Degraded { pending: 2 });
            db.backend.comes_back = true;
            assert_eq!(db.maintain().await, BackendStatus::Connected);
            assert_eq!(sent(&mut db), ["SET PORT_TABLE|E4 a=1", "DEL PORT_TABLE|E8"]);
        });
    }

    #[test]
    fn a_connection_lost_mid_flush_keeps_the_whole_flush() {
        run(async {
            let mut db = Journaled::new(Fake::up(), 8);
            db.backend.up = false;
            db.write(&[set("E0", &[("a", "1")]), set("E4", &[("a", "1")])]).await.unwrap();
            db.backend.up = true;
            db.backend.drop_after = Some(1);
            assert_eq!(db.maintain().await, BackendStatus::Degraded { pending: 2 });
            db.write(&[set("E4", &[("b", "2")])]).await.unwrap();
            assert_eq!(db.status(), BackendStatus::Degraded { pending: 2 }, "merged into the kept E4");
            db.backend.comes_back = true;
            assert_eq!(db.maintain().await, BackendStatus::Connected);
            assert_eq!(
                sent(&mut db),
                ["SET PORT_TABLE|E0 a=1", "SET PORT_TABLE|E0 a=1", "SET PORT_TABLE|E4 a=1,b=2"]
            );
        });
    }
}
