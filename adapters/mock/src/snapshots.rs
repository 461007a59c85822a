//! The warm-restart snapshot kept in memory, as postcard bytes (so that a
//! test sees exactly what a file would round-trip), shared between clones so
//! that a test can look at what the code under test saved, or plant a bad one.

use std::cell::RefCell;
use std::rc::Rc;

use portsyncd_core::backend::{SnapshotStore, StoreFault};
use portsyncd_core::warm::{Snapshot, SnapshotPort, SnapshotView};

/// Why the in-memory snapshot could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemorySnapshotError {
    /// The bytes do not decode.
    #[error("in-memory snapshot is corrupt: {0}")]
    Corrupt(String),
    /// Saving failed (encoding).
    #[error("in-memory snapshot not saved: {0}")]
    Save(String),
    /// Saving failed as injected with [`MemorySnapshots::fail_saves`].
    #[error("in-memory snapshot not saved: injected ({0})")]
    Injected(StoreFault),
}

#[derive(Debug, Default)]
struct Kept {
    bytes: Option<Vec<u8>>,
    saves: u64,
    fail_saves: Option<StoreFault>,
}

/// A [`SnapshotStore`] in memory; clones share it.
#[derive(Clone, Debug, Default)]
pub struct MemorySnapshots {
    kept: Rc<RefCell<Kept>>,
}

impl MemorySnapshots {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plants raw bytes (a corrupt snapshot, say).
    pub fn set_bytes(&self, bytes: Vec<u8>) {
        self.kept.borrow_mut().bytes = Some(bytes);
    }

    /// The snapshot saved last, decoded.
    pub fn get<const P: usize>(&self) -> Option<Snapshot<P>> {
        self.kept.borrow().bytes.as_deref().and_then(|b| postcard::from_bytes(b).ok())
    }

    /// Saves so far.
    pub fn saves(&self) -> u64 {
        self.kept.borrow().saves
    }

    /// From now on saves fail for `fault` (`None`: they succeed again).
    pub fn fail_saves(&self, fault: Option<StoreFault>) {
        self.kept.borrow_mut().fail_saves = fault;
    }
}

impl<const P: usize> SnapshotStore<P> for MemorySnapshots {
    type Error = MemorySnapshotError;

    fn load(&mut self, ports: &mut dyn FnMut(&[SnapshotPort])) -> Result<bool, MemorySnapshotError> {
        let Some(bytes) = self.kept.borrow().bytes.clone() else { return Ok(false) };
        // A whole Snapshot on the stack: this store serves tests, not a switch.
        let decoded: Snapshot<P> =
            postcard::from_bytes(&bytes).map_err(|e| MemorySnapshotError::Corrupt(e.to_string()))?;
        ports(&decoded.ports);
        Ok(true)
    }

    fn save(&mut self, snapshot: &SnapshotView<'_, P>) -> Result<usize, MemorySnapshotError> {
        let mut kept = self.kept.borrow_mut();
        if let Some(fault) = kept.fail_saves {
            return Err(MemorySnapshotError::Injected(fault));
        }
        let bytes = postcard::to_allocvec(snapshot).map_err(|e| MemorySnapshotError::Save(e.to_string()))?;
        let len = bytes.len();
        kept.bytes = Some(bytes);
        kept.saves += 1;
        Ok(len)
    }

    fn fault(error: &MemorySnapshotError) -> StoreFault {
        match error {
            MemorySnapshotError::Injected(fault) => *fault,
            MemorySnapshotError::Corrupt(_) | MemorySnapshotError::Save(_) => StoreFault::Other,
        }
    }
}
