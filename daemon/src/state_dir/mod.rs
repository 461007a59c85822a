//! The state directory: where the warm-restart snapshot is kept, and the
//! lock that keeps one daemon per directory.
//!
//! The snapshot is a cache, so the directory stops the start only when
//! another daemon holds it. One that is read-only, full, missing and
//! uncreatable, or not a directory is a [`Problem`]: the daemon tells the
//! driver (health degraded, one line of what is lost), runs on, and each
//! save tries the directory again ([`StateDir`] as the [`SnapshotStore`]),
//! so that saves resume by themselves once it takes them. `--check-config`
//! reports the same problems ([`check`]) and exits 1.
//!
//! The lock is `flock`, released by the kernel however the process ends:
//!
//! - on the directory itself, opened read-only: that works whether or not
//!   it can be written, so every daemon takes it, and two daemons on one
//!   directory refuse each other however each found it;
//! - on [`LOCK_FILE`] in it, which holds the holder's pid so that a second
//!   daemon can name it: opened read-write, or read-only in a read-only
//!   directory where it already is (daemons before this one locked only the
//!   file, and still see this one);
//! - none while the directory is missing and cannot be created: there is
//!   nothing on disk to lock. An ancestor is shared (it would refuse
//!   partitioned siblings and other namespaces' daemons whose directories
//!   sit under it), and a lock file elsewhere (`/run`) may be as unwritable
//!   and is one more place every daemon must agree on. Meanwhile the network
//!   namespace's lock ([`crate::instance`]) still refuses a second daemon
//!   over the same links, and every save first creates the directory and
//!   takes its lock: a save that finds another daemon holding it fails
//!   ([`StoreFault::InUse`]) and writes nothing over that daemon's snapshot.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use portsyncd_core::backend::{SnapshotStore, StoreFault};
use portsyncd_core::warm::{SnapshotPort, SnapshotView};
use portsyncd_state_file::{StateFile, StateFileError, io_fault};

/// The lock file in the state directory (it holds the holder's pid).
pub const LOCK_FILE: &str = "portsyncd.lock";

/// Created and removed again to prove the state directory takes new files
/// (the snapshot is saved through a new file renamed over the old one).
const PROBE_FILE: &str = "portsyncd.lock.probe";

/// Why the state directory cannot be used now: the kind, for the driver,
/// and the whole story (path and system error), for the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct Problem {
    /// The kind.
    pub fault: StoreFault,
    /// One line naming the directory and what is wrong.
    pub text: String,
}

/// What kept a step of taking the directory from working.
enum Trouble {
    /// Another daemon holds it: the line to refuse the start with.
    Held(String),
    /// It cannot be used (yet).
    Unusable(Problem),
}

impl From<Trouble> for Problem {
    fn from(trouble: Trouble) -> Self {
        match trouble {
            Trouble::Held(text) => Problem { fault: StoreFault::InUse, text },
            Trouble::Unusable(problem) => problem,
        }
    }
}

/// A failed snapshot save or load.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// The directory could not be taken.
    #[error(transparent)]
    Dir(#[from] Problem),
    /// The snapshot file.
    #[error(transparent)]
    File(#[from] StateFileError),
}

/// The state directory and the locks this daemon holds on it.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    file: StateFile,
    /// The lock on the directory itself.
    dir_lock: Option<File>,
    /// The lock on [`LOCK_FILE`].
    file_lock: Option<File>,
    /// Our pid is in [`LOCK_FILE`] and the directory took a new file.
    claimed: bool,
    /// Why it could not be used at start, until a save succeeds.
    problem: Option<Problem>,
}

impl StateDir {
    /// Creates `path` if missing and locks it, as far as it can be:
    /// refused (the line to stop with) only when another daemon holds it.
    pub fn lock(path: &Path) -> Result<Self, String> {
        let mut dir = Self {
            path: path.to_owned(),
            file: StateFile::new(path),
            dir_lock: None,
            file_lock: None,
            claimed: false,
            problem: None,
        };
        match dir.take_locks() {
            Ok(()) => {}
            Err(Trouble::Held(line)) => return Err(line),
            Err(Trouble::Unusable(problem)) => dir.problem = Some(problem),
        }
        Ok(dir)
    }

    /// Writes our pid into [`LOCK_FILE`] and proves that the directory
    /// takes new files; call it once every lock of the start is held, so
    /// that a refused daemon leaves no pid behind. A failure is kept
    /// ([`problem`](Self::problem)), not returned: the run goes on.
    pub fn claim(&mut self) {
        if self.problem.is_none() {
            self.problem = self.write_pid().err().map(Problem::from);
        }
    }

    /// Why it cannot be used, as found at start (`None`: it can).
    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }

    /// Every step of taking the directory that is not done yet (each save
    /// does them first).
    fn take(&mut self) -> Result<(), Trouble> {
        self.take_locks()?;
        self.write_pid()
    }

    fn take_locks(&mut self) -> Result<(), Trouble> {
        if self.dir_lock.is_none() {
            create(&self.path)?;
            let dir = File::open(&self.path).map_err(|e| self.unusable(e))?;
            self.dir_lock = Some(self.locked(dir)?);
        }
        if self.file_lock.is_none() {
            let path = self.path.join(LOCK_FILE);
            let opened = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
            // A read-only directory: the file as it is, if it is there.
            let opened = opened.or_else(|_| File::open(&path)).ok();
            if let Some(file) = opened {
                self.file_lock = Some(self.locked(file)?);
            }
        }
        Ok(())
    }

    fn write_pid(&mut self) -> Result<(), Trouble> {
        if self.claimed {
            return Ok(());
        }
        let path = self.path.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.unusable(e))?;
        // The lock is taken through the first descriptor that could be
        // opened: another on the same file would refuse this very daemon.
        if self.file_lock.is_none() {
            file = self.locked(file)?;
        }
        file.set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(|e| self.unusable(e))?;
        self.file_lock.get_or_insert(file);
        let probe = self.path.join(PROBE_FILE);
        File::create(&probe).and_then(|_| fs::remove_file(&probe)).map_err(|e| self.unusable(e))?;
        self.claimed = true;
        Ok(())
    }

    /// `file`, locked, or who holds it.
    fn locked(&self, file: File) -> Result<File, Trouble> {
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(Trouble::Held(held_by(&self.path))),
            Err(fs::TryLockError::Error(e)) => Err(self.unusable(e)),
        }
    }

    fn unusable(&self, e: io::Error) -> Trouble {
        let text = format!("state dir {}: not writable ({e})", self.path.display());
        Trouble::Unusable(Problem { fault: io_fault(&e), text })
    }
}

impl<const P: usize> SnapshotStore<P> for StateDir {
    type Error = StateDirError;

    fn load(&mut self, ports: &mut dyn FnMut(&[SnapshotPort])) -> Result<bool, StateDirError> {
        // No directory, no snapshot: that is not a second problem to report.
        if self.problem.as_ref().is_some_and(|p| p.fault == StoreFault::NotADirectory) {
            return Ok(false);
        }
        Ok(SnapshotStore::<P>::load(&mut self.file, ports)?)
    }

    /// Takes the directory first if it is not taken yet: this is how saves
    /// resume once it can be written again.
    fn save(&mut self, snapshot: &SnapshotView<'_, P>) -> Result<usize, StateDirError> {
        self.take().map_err(Problem::from)?;
        let bytes = self.file.save(snapshot).map_err(StateFileError::from)?;
        self.problem = None;
        Ok(bytes)
    }

    fn fault(error: &StateDirError) -> StoreFault {
        match error {
            StateDirError::Dir(problem) => problem.fault,
            StateDirError::File(e) => <StateFile as SnapshotStore<P>>::fault(e),
        }
    }
}

impl<const P: usize> crate::saving::SaveBeside<P> for StateDir {
    /// Takes the directory first, as [`save`](SnapshotStore::save) does,
    /// and encodes the snapshot here; the file is written beside the loop.
    fn begin_beside(
        &mut self,
        snapshot: &SnapshotView<'_, P>,
    ) -> Option<Result<crate::saving::Writer, StateDirError>> {
        let begun = self.take().map_err(Problem::from).map_err(StateDirError::from).and_then(|()| {
            let bytes = portsyncd_state_file::encode(snapshot).map_err(StateFileError::from)?;
            Ok(crate::saving::Writer::new(self.file.clone(), bytes))
        });
        Some(begun)
    }

    fn finished_beside(&mut self, saved: &Result<usize, portsyncd_state_file::SaveError>) {
        if saved.is_ok() {
            self.problem = None;
        }
    }
}

/// Who holds the state dir `dir`, in the line that refuses a second daemon.
fn held_by(dir: &Path) -> String {
    let shown = dir.display();
    let path = dir.join(LOCK_FILE);
    let mut holder = String::new();
    let _ = File::open(&path).and_then(|mut f| f.read_to_string(&mut holder));
    match holder.trim().parse::<u32>() {
        Ok(pid) => format!(
            "state dir {shown} is in use by portsyncd pid {pid} (it holds {}); one daemon per state dir",
            path.display()
        ),
        Err(_) => format!(
            "state dir {shown} is in use by another portsyncd (it holds a lock on it); one daemon per state dir"
        ),
    }
}

/// Creates `dir` with its parents if it is missing; checks that it is a directory.
fn create(dir: &Path) -> Result<(), Trouble> {
    let shown = dir.display();
    let problem = |fault, text| Trouble::Unusable(Problem { fault, text });
    let not_a_dir = |file: &Path| {
        problem(
            StoreFault::NotADirectory,
            format!("state dir {shown}: {} is not a directory", file.display()),
        )
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(problem(
            StoreFault::NotADirectory,
            format!("state dir {shown}: not a directory ({})", kind(&meta)),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| match file_above(dir) {
                Some(file) => not_a_dir(file),
                None => problem(StoreFault::Missing, format!("state dir {shown}: cannot be created: {e}")),
            })
        }
        Err(e) => Err(match file_above(dir) {
            Some(file) => not_a_dir(file),
            None => problem(io_fault(&e), format!("state dir {shown}: {e}")),
        }),
    }
}

/// `--check-config`: whether a run could keep its snapshot in `dir`, found
/// without creating, locking or writing anything (a daemon may be running
/// meanwhile). `Err`: the one line saying why not.
pub fn check(dir: &Path) -> Result<(), String> {
    let unusable = |what: String| {
        format!("{what}; a run would start, but save no warm-restart snapshot until that changes")
    };
    let shown = dir.display();
    let target = match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => dir,
        Ok(meta) => return Err(unusable(format!("state dir {shown}: not a directory ({})", kind(&meta)))),
        Err(e) => match file_above(dir) {
            Some(file) => {
                return Err(unusable(format!("state dir {shown}: {} is not a directory", file.display())));
            }
            // Created when the run starts: its nearest existing ancestor must take it.
            None if e.kind() == io::ErrorKind::NotFound => {
                let mut above = dir.ancestors().skip(1).filter(|a| fs::metadata(a).is_ok());
                above
                    .next()
                    .map_or(Path::new("."), |a| if a.as_os_str().is_empty() { Path::new(".") } else { a })
            }
            None => return Err(unusable(format!("state dir {shown}: {e}"))),
        },
    };
    let what = if target == dir { "not writable" } else { "cannot be created" };
    use rustix::fs::Access;
    rustix::fs::access(target, Access::WRITE_OK | Access::EXEC_OK)
        .map_err(|e| unusable(format!("state dir {shown}: {what} ({})", io::Error::from(e))))?;
    let vfs = rustix::fs::statvfs(target)
        .map_err(|e| unusable(format!("state dir {shown}: {}", io::Error::from(e))))?;
    // Root may use the blocks kept for it; others only what is available.
    let blocks = if rustix::process::geteuid().is_root() { vfs.f_bfree } else { vfs.f_bavail };
    if blocks == 0 || (vfs.f_files > 0 && vfs.f_ffree == 0) {
        return Err(unusable(format!("state dir {shown}: {what} (its file system is full)")));
    }
    Ok(())
}

/// The nearest existing ancestor of `dir`, if it is not a directory (what
/// stops `dir` from being created).
fn file_above(dir: &Path) -> Option<&Path> {
    dir.ancestors().skip(1).find_map(|a| match fs::metadata(a) {
        Ok(meta) => Some((!meta.is_dir()).then_some(a)),
        Err(_) => None,
    })?
}

fn kind(meta: &fs::Metadata) -> &'static str {
    portsyncd_redis::config::file_kind(meta.file_type())
}

#[cfg(test)]
mod tests;
