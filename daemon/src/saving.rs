//! The warm-restart snapshot, written beside the loop.
//!
//! A save is encoded on the loop (from the engine's record, as the driver
//! asks) and then written by a thread of its own: the file, its fsync, the
//! rename and the directory's fsync. On this project's VM the two fsyncs
//! stalled the loop for a few milliseconds once a second while ports
//! changed (the isolated-event latency outliers of benches/README.md); on a
//! switch's eMMC an fsync can take tens. The thread lives for one save
//! (nothing is held between saves) and hands its outcome back through a
//! [`portsyncd_sync::Outcome`], which the loop waits for among its inputs
//! and hands to the driver as [`Input::SnapshotSaved`](portsyncd_core::driver::Input::SnapshotSaved).
//!
//! What it does not decide: when to save, what a failure means, or how long
//! the stop waits for a save under way (the driver's); a store that writes
//! in place (the in-memory one) is saved on the loop as before.

use std::io;

use portsyncd_core::backend::{SnapshotStore, StoreFault};
use portsyncd_core::warm::SnapshotView;
use portsyncd_state_file::{SaveError, StateFile};
use portsyncd_sync::{Arc, Outcome};

use crate::logging::{self, Trouble};

/// A snapshot store that can have its saves written beside the loop.
pub trait SaveBeside<const P: usize>: SnapshotStore<P> {
    /// The save of `snapshot`, encoded and ready to be written elsewhere
    /// (`Err`: the store cannot take it now); `None`: this store saves only
    /// in place ([`SnapshotStore::save`]).
    fn begin_beside(&mut self, snapshot: &SnapshotView<'_, P>) -> Option<Result<Writer, Self::Error>> {
        let _ = snapshot;
        None
    }

    /// A save begun with [`begin_beside`](Self::begin_beside) finished so.
    fn finished_beside(&mut self, saved: &Result<usize, SaveError>) {
        let _ = saved;
    }
}

impl<const P: usize> SaveBeside<P> for portsyncd_mock::snapshots::MemorySnapshots {}

/// A snapshot's file bytes and the file they go to.
#[derive(Debug)]
pub struct Writer {
    file: StateFile,
    bytes: Vec<u8>,
}

impl Writer {
    /// `bytes` (a snapshot file's, [`portsyncd_state_file::encode`]) for `file`.
    pub fn new(file: StateFile, bytes: Vec<u8>) -> Self {
        Self { file, bytes }
    }

    /// Writes them here and now.
    pub fn write(&self) -> Result<usize, SaveError> {
        self.file.write(&self.bytes)
    }
}

/// A save being written by its own thread.
#[derive(Debug)]
pub struct SaveUnderWay {
    outcome: Arc<Outcome<Result<usize, SaveError>>>,
}

impl SaveUnderWay {
    /// Starts `writer` on a thread of its own; the writer back if no thread
    /// can be started (the caller writes in place then).
    pub fn start(writer: Writer) -> Result<Self, (Writer, io::Error)> {
        let outcome = Arc::new(Outcome::new());
        let theirs = outcome.clone();
        // Shared, so that a thread that cannot start gives the writer back
        // (its closure, and the clone in it, are dropped by then).
        let writer = Arc::new(writer);
        let in_thread = writer.clone();
        let spawned = std::thread::Builder::new()
            .name("portsyncd-save".into())
            // Writing a file needs little stack; the default would reserve 2 MiB.
            .stack_size(64 << 10)
            .spawn(move || theirs.put(in_thread.write()));
        match spawned {
            Ok(_) => Ok(Self { outcome }),
            Err(e) => match Arc::try_unwrap(writer) {
                Ok(writer) => Err((writer, e)),
                Err(writer) => {
                    // Not reachable (the closure is gone): write in place.
                    let saved = writer.write();
                    outcome.put(saved);
                    Ok(Self { outcome })
                }
            },
        }
    }

    /// Completes when the thread has written the file (or failed to).
    pub async fn done(&self) -> Result<usize, SaveError> {
        std::future::poll_fn(|cx| self.outcome.poll_take(cx)).await
    }
}

/// A save begun with [`SaveBeside::begin_beside`] finished so: the store
/// hears of it, and the driver gets its [`outcome`].
pub fn finished<const P: usize, S: SaveBeside<P>>(
    store: &mut S,
    saved: Result<usize, SaveError>,
    now: portsyncd_core::Instant,
) -> Result<usize, StoreFault> {
    store.finished_beside(&saved);
    outcome(saved, SaveError::fault, now)
}

/// What any save's outcome is for the driver: bytes written, or the kind
/// of trouble (`fault`). The driver says what a failure costs (at WARN,
/// once); the why of each is logged here, rate-limited, at INFO.
pub fn outcome<E: std::fmt::Display>(
    saved: Result<usize, E>,
    fault: impl FnOnce(&E) -> StoreFault,
    now: portsyncd_core::Instant,
) -> Result<usize, StoreFault> {
    match saved {
        Ok(bytes) => {
            logging::trouble_over(Trouble::SnapshotSave);
            Ok(bytes)
        }
        Err(e) => {
            logging::trouble(Trouble::SnapshotSave, now, format_args!("{e}"));
            Err(fault(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_written_beside_lands_and_reports_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        let snapshot =
            portsyncd_core::warm::Snapshot::<4> { port_init_done: true, ports: heapless::Vec::new() };
        let bytes = portsyncd_state_file::encode(&snapshot).unwrap();
        let len = bytes.len();
        let under_way = SaveUnderWay::start(Writer::new(file.clone(), bytes)).unwrap();
        let saved = portsyncd_reactor_free_block_on(under_way.done());
        assert_eq!(saved.unwrap(), len);
        assert_eq!(file.load::<4>().unwrap(), Some(portsyncd_state_file::LoadedSnapshot::from(&snapshot)));
    }

    #[test]
    fn a_failed_write_beside_says_why() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be: creating the temp file fails.
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"x").unwrap();
        let under_way = SaveUnderWay::start(Writer::new(StateFile::new(&blocked), vec![1, 2, 3])).unwrap();
        let saved = portsyncd_reactor_free_block_on(under_way.done());
        assert!(saved.is_err());
    }

    /// Runs a future on this thread (the outcome's waker wakes it).
    fn portsyncd_reactor_free_block_on<F: std::future::Future>(f: F) -> F::Output {
        smol::future::block_on(f)
    }
}
