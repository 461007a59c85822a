//! Faults injected into any [`Databases`], as a decorator.
//!
//! [`FaultInjector`] wraps a backend — the in-memory one or Redis — and
//! decides, per operation, whether to let it through or fail it: the next N
//! operations; every write, refused as Redis refuses writes when it is out of
//! memory (`CONFIG SET maxmemory 1`: an OOM error, reads still served,
//! nothing of the batch written); every write left unanswered, as by a
//! server that stopped answering (a stuck loop, for liveness tests); every
//! read; or each operation with a
//! probability, drawn from a seed (no global RNG, so a failing run repeats).
//! The test drives it through a [`FaultHandle`], a cloneable handle it keeps
//! while the code under test owns the decorated backend.
//!
//! It does not change what a backend does with what it lets through, and it
//! sees only the operations of the [`Databases`] port: writes a backend keeps
//! and flushes on its own during [`Databases::maintain`] are not refused
//! here (the journal's tests cover a refused flush). `maintain` and `status`
//! pass through, never failed and not counted.

use std::cell::RefCell;
use std::rc::Rc;

use portsyncd_core::backend::{
    BackendStatus, DatabaseReads, Databases, Db, FieldVisitor, KeyFieldVisitor, ValueVisitor, Write,
};

/// What the injector failed, or the backend's own error.
#[derive(Debug, thiserror::Error)]
pub enum FaultError<E> {
    /// An operation failed on purpose ([`FaultHandle::fail_next`],
    /// [`FaultHandle::fail_reads`], [`FaultHandle::fail_randomly`]).
    #[error("{db} {table} {key}: {op} failed (injected)")]
    Injected {
        /// Database.
        db: Db,
        /// Table.
        table: String,
        /// Key within the table (`*` for an operation on several keys).
        key: String,
        /// Operation.
        op: &'static str,
    },
    /// A write refused as by a Redis out of memory ([`FaultHandle::refuse_writes`]);
    /// nothing of the batch was written.
    #[error(
        "{db} {table} {key}: write refused (injected): OOM command not allowed when used memory > 'maxmemory'"
    )]
    Refused {
        /// Database of the batch's first write.
        db: Db,
        /// Its table.
        table: String,
        /// Its key.
        key: String,
    },
    /// The backend's own failure.
    #[error(transparent)]
    Backend(E),
}

/// The faults planned, and what happened, shared by the handle's clones.
#[derive(Debug)]
struct Plan {
    fail_next: usize,
    refuse_writes: bool,
    /// Writes wait (unanswered) until this is cleared; the wakers of those
    /// waiting.
    hang_writes: bool,
    hung: Vec<std::task::Waker>,
    fail_reads: bool,
    /// Chance that any operation fails, in `[0, 1]`.
    probability: f64,
    /// splitmix64 state: cheap, and any seed (0 too) gives a good stream.
    rng: u64,
    operations: u64,
    injected: u64,
}

impl Plan {
    fn draw(&mut self) -> bool {
        if self.probability <= 0.0 {
            // No draw: switching random failures on later gives the same
            // stream whatever ran before.
            return false;
        }
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 53 random bits make a uniform float in [0, 1).
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit < self.probability
    }
}

/// The test's handle on a [`FaultInjector`]; clones control the same one.
#[derive(Clone, Debug)]
pub struct FaultHandle {
    plan: Rc<RefCell<Plan>>,
}

impl FaultHandle {
    /// The next `n` operations (reads or writes) fail, whatever else is
    /// planned; `0` cancels.
    pub fn fail_next(&self, n: usize) {
        self.plan.borrow_mut().fail_next = n;
    }

    /// From now on every write is refused (reads are served) until
    /// [`accept_writes`](Self::accept_writes) or [`stop`](Self::stop).
    pub fn refuse_writes(&self) {
        self.plan.borrow_mut().refuse_writes = true;
    }

    /// Writes go through again.
    pub fn accept_writes(&self) {
        self.plan.borrow_mut().refuse_writes = false;
    }

    /// From now on every write waits, unanswered, until
    /// [`answer_writes`](Self::answer_writes) or [`stop`](Self::stop).
    pub fn hang_writes(&self) {
        self.plan.borrow_mut().hang_writes = true;
    }

    /// Waiting writes go on (and later ones are not held).
    pub fn answer_writes(&self) {
        let mut plan = self.plan.borrow_mut();
        plan.hang_writes = false;
        for waker in plan.hung.drain(..) {
            waker.wake();
        }
    }

    /// From now on every read fails (writes go through) until
    /// [`serve_reads`](Self::serve_reads) or [`stop`](Self::stop).
    pub fn fail_reads(&self) {
        self.plan.borrow_mut().fail_reads = true;
    }

    /// Reads go through again.
    pub fn serve_reads(&self) {
        self.plan.borrow_mut().fail_reads = false;
    }

    /// From now on each operation fails with probability `p`, drawn from the
    /// injector's seed. `p` is clamped to `[0, 1]`; NaN counts as 0 (off).
    pub fn fail_randomly(&self, p: f64) {
        self.plan.borrow_mut().probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    }

    /// No more faults of any kind; the counts are kept.
    pub fn stop(&self) {
        {
            let mut plan = self.plan.borrow_mut();
            plan.fail_next = 0;
            plan.refuse_writes = false;
            plan.fail_reads = false;
            plan.probability = 0.0;
        }
        self.answer_writes();
    }

    /// Operations seen so far (reads, and writes of at least one write),
    /// failed or not.
    pub fn operations(&self) -> u64 {
        self.plan.borrow().operations
    }

    /// Operations failed on purpose so far.
    pub fn injected(&self) -> u64 {
        self.plan.borrow().injected
    }
}

/// A read or a write, for the plan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// Any [`Databases`], with the faults its [`FaultHandle`] plans.
#[derive(Clone, Debug)]
pub struct FaultInjector<D> {
    inner: D,
    handle: FaultHandle,
}

impl<D: Databases> FaultInjector<D> {
    /// `inner`, with no fault planned; random failures are drawn from `seed`.
    pub fn new(inner: D, seed: u64) -> Self {
        let plan = Plan {
            fail_next: 0,
            refuse_writes: false,
            hang_writes: false,
            hung: Vec::new(),
            fail_reads: false,
            probability: 0.0,
            rng: seed,
            operations: 0,
            injected: 0,
        };
        Self { inner, handle: FaultHandle { plan: Rc::new(RefCell::new(plan)) } }
    }

    /// The handle to keep: it controls this injector (and its clones).
    pub fn handle(&self) -> FaultHandle {
        self.handle.clone()
    }

    /// The backend underneath.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The backend underneath, to use without faults.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// The backend underneath, without the injector.
    pub fn into_inner(self) -> D {
        self.inner
    }

    /// Counts one operation and decides whether it fails.
    fn check(
        &self,
        kind: Kind,
        db: Db,
        table: &str,
        key: &str,
        op: &'static str,
    ) -> Result<(), FaultError<D::Error>> {
        let mut plan = self.handle.plan.borrow_mut();
        plan.operations += 1;
        let refused = kind == Kind::Write && plan.refuse_writes;
        let failed = if plan.fail_next > 0 {
            plan.fail_next -= 1;
            true
        } else {
            !refused && ((kind == Kind::Read && plan.fail_reads) || plan.draw())
        };
        if !failed && !refused {
            return Ok(());
        }
        plan.injected += 1;
        let (table, key) = (table.to_owned(), key.to_owned());
        Err(if failed {
            FaultError::Injected { db, table, key, op }
        } else {
            FaultError::Refused { db, table, key }
        })
    }
}

impl<D: Databases> DatabaseReads for FaultInjector<D> {
    type Error = FaultError<D::Error>;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut FieldVisitor<'_>,
    ) -> Result<bool, Self::Error> {
        self.check(Kind::Read, db, table, key, "HGETALL")?;
        self.inner.get(db, table, key, visit).await.map_err(FaultError::Backend)
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut KeyFieldVisitor<'_>,
    ) -> Result<(), Self::Error> {
        self.check(Kind::Read, db, table, "*", "HGETALL")?;
        self.inner.get_many(db, table, keys, visit).await.map_err(FaultError::Backend)
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut ValueVisitor<'_>,
    ) -> Result<bool, Self::Error> {
        self.check(Kind::Read, db, table, key, "HGET")?;
        self.inner.hget(db, table, key, field, visit).await.map_err(FaultError::Backend)
    }

    async fn keys(&mut self, db: Db, table: &str, visit: &mut ValueVisitor<'_>) -> Result<(), Self::Error> {
        self.check(Kind::Read, db, table, "*", "KEYS")?;
        self.inner.keys(db, table, visit).await.map_err(FaultError::Backend)
    }

    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), Self::Error> {
        self.check(Kind::Read, db, table, "*", "EXISTS")?;
        self.inner.exists(db, table, keys, present).await.map_err(FaultError::Backend)
    }

    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), Self::Error> {
        self.check(Kind::Read, db, table, "*", "HEXISTS")?;
        self.inner.has_field(db, table, keys, field, present).await.map_err(FaultError::Backend)
    }
}

impl<D: Databases> Databases for FaultInjector<D> {
    /// A batch is failed or refused whole, before any of it reaches the
    /// backend. An empty batch writes nothing and is not an operation.
    async fn write_checked(&mut self, writes: &[Write<'_>], absent: &mut [bool]) -> Result<(), Self::Error> {
        let Some(first) = writes.first() else {
            return self.inner.write_checked(writes, absent).await.map_err(FaultError::Backend);
        };
        let (table, key) = first.target();
        self.check(Kind::Write, first.db(), table, key, "write")?;
        let plan = &self.handle.plan;
        std::future::poll_fn(|cx| {
            let mut plan = plan.borrow_mut();
            if plan.hang_writes {
                plan.hung.push(cx.waker().clone());
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        self.inner.write_checked(writes, absent).await.map_err(FaultError::Backend)
    }

    async fn maintain(&mut self) -> BackendStatus {
        self.inner.maintain().await
    }

    fn status(&self) -> BackendStatus {
        self.inner.status()
    }

    fn stats(&self) -> portsyncd_core::backend::DatabaseStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryDatabases, MockDatabases};

    const MTU: &[portsyncd_core::backend::Field<'static>] = &[(b"mtu", b"9100")];

    fn set(key: &str) -> [Write<'_>; 1] {
        [Write::Set { db: Db::State, table: "PORT_TABLE", key, fields: MTU }]
    }

    async fn read(
        db: &mut FaultInjector<MockDatabases>,
        key: &str,
    ) -> Result<bool, FaultError<crate::MockError>> {
        db.get(Db::State, "PORT_TABLE", key, &mut |_| {}).await
    }

    #[test]
    fn fail_next_fails_that_many_operations_of_any_kind() {
        smol::block_on(async {
            let mut db = FaultInjector::new(MemoryDatabases::journaled(), 1);
            let faults = db.handle();
            faults.fail_next(2);
            let err = db.write(&set("E0")).await.unwrap_err();
            assert_eq!(err.to_string(), "STATE_DB PORT_TABLE E0: write failed (injected)");
            assert!(read(&mut db, "E0").await.is_err());
            db.write(&[]).await.unwrap();
            assert_eq!(faults.operations(), 2, "an empty batch is not an operation");
            db.write(&set("E0")).await.unwrap();
            assert!(read(&mut db, "E0").await.unwrap());
            assert_eq!((faults.operations(), faults.injected()), (4, 2));
        });
    }

    #[test]
    fn refused_writes_write_nothing_and_reads_go_on() {
        smol::block_on(async {
            let store = MemoryDatabases::journaled();
            let mut db = FaultInjector::new(store.clone(), 1);
            let faults = db.handle();
            faults.refuse_writes();
            let err = db.write(&set("E0")).await.unwrap_err();
            assert!(matches!(err, FaultError::Refused { db: Db::State, .. }), "{err}");
            assert!(err.to_string().contains("OOM"), "{err}");
            assert!(!read(&mut db, "E0").await.unwrap(), "reads served, nothing written");
            assert_eq!(db.status(), BackendStatus::Connected, "nothing kept either");
            faults.accept_writes();
            db.write(&set("E0")).await.unwrap();
            assert!(store.hash(Db::State, "PORT_TABLE|E0").is_some());
        });
    }

    #[test]
    fn failed_reads_leave_writes_alone() {
        smol::block_on(async {
            let mut db = FaultInjector::new(MemoryDatabases::journaled(), 1);
            let faults = db.handle();
            faults.fail_reads();
            db.write(&set("E0")).await.unwrap();
            let err = read(&mut db, "E0").await.unwrap_err();
            assert_eq!(err.to_string(), "STATE_DB PORT_TABLE E0: HGETALL failed (injected)");
            let mut present = [false];
            assert!(db.exists(Db::State, "PORT_TABLE", &["E0"], &mut present).await.is_err());
            faults.serve_reads();
            assert!(read(&mut db, "E0").await.unwrap());
        });
    }

    #[test]
    fn random_failures_repeat_with_the_seed_and_follow_the_probability() {
        fn run(seed: u64, p: f64) -> Vec<bool> {
            smol::block_on(async {
                let mut db = FaultInjector::new(MemoryDatabases::journaled(), seed);
                db.handle().fail_randomly(p);
                let mut outcomes = Vec::new();
                for _ in 0..1000 {
                    outcomes.push(read(&mut db, "E0").await.is_err());
                }
                outcomes
            })
        }
        let a = run(7, 0.25);
        assert_eq!(a, run(7, 0.25), "same seed, same failures");
        assert_ne!(a, run(8, 0.25), "another seed, other failures");
        let failed = a.iter().filter(|f| **f).count();
        assert!((180..320).contains(&failed), "{failed} of 1000 at p = 0.25");
        assert!(run(1, 1.0).iter().all(|f| *f));
        assert!(run(1, 0.0).iter().all(|f| !*f));
        assert!(run(1, f64::NAN).iter().all(|f| !*f), "NaN is off");
        assert!(run(1, 7.0).iter().all(|f| *f), "clamped to 1");
    }

    #[test]
    fn stop_ends_every_fault_and_keeps_the_counts() {
        smol::block_on(async {
            let mut db = FaultInjector::new(MemoryDatabases::journaled(), 3);
            let faults = db.handle();
            let other = faults.clone();
            other.fail_next(5);
            other.refuse_writes();
            other.fail_reads();
            other.fail_randomly(1.0);
            assert!(read(&mut db, "E0").await.is_err());
            faults.stop();
            db.write(&set("E0")).await.unwrap();
            assert!(read(&mut db, "E0").await.unwrap());
            assert_eq!((faults.operations(), faults.injected()), (3, 1));
        });
    }
}
