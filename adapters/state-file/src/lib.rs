//! The warm-restart snapshot on disk.
//!
//! This crate decides how a [`Snapshot`] is laid out in a file and how it gets
//! there without ever leaving a half-written one: the bytes go to a temporary
//! file in the same directory, which is fsynced, renamed over the snapshot,
//! and then the directory is fsynced, so that after a crash at any instant the
//! file is either the previous snapshot or the new one. Loading checks
//! everything (magic, version, length, checksum, then the postcard payload
//! with its port names) and answers with a typed reason when anything is off;
//! it never returns part of a file. It does not decide when to save or what a
//! missing or bad snapshot means for the daemon.
//!
//! Layout (little endian):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `PSYNCSNP` |
//! | 8 | 2 | format version ([`SNAPSHOT_VERSION`]) |
//! | 10 | 2 | reserved, 0 |
//! | 12 | 4 | payload length |
//! | 16 | 4 | CRC-32 (IEEE) of bytes 8..16 followed by the payload |
//! | 20 | … | payload: the snapshot, postcard-encoded |

#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use portsyncd_core::backend::{SnapshotStore, StoreFault};
pub use portsyncd_core::warm::{SNAPSHOT_VERSION, Snapshot, SnapshotPort, SnapshotView};
use serde::Serialize;

/// File name of the snapshot in its directory.
pub const FILE_NAME: &str = "portsyncd.snapshot";
const TEMP_NAME: &str = "portsyncd.snapshot.tmp";
const MAGIC: &[u8; 8] = b"PSYNCSNP";
const HEADER: usize = 20;

/// Why a snapshot file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Shorter than its header or than the length the header states.
    #[error("{path} is truncated: {len} bytes, {needed} expected")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The length it should have.
        needed: usize,
    },
    /// Not a portsyncd snapshot.
    #[error("{path} is not a portsyncd snapshot")]
    NotASnapshot {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer portsyncd.
    #[error("{path} has snapshot format {found}; this portsyncd reads up to {SNAPSHOT_VERSION}")]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u16,
    },
    /// The payload does not match its checksum.
    #[error("{path} is corrupt: checksum {found:08x}, expected {expected:08x}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// In the header.
        expected: u32,
        /// Computed.
        found: u32,
    },
    /// The payload does not decode (or holds an invalid port name, or more ports than fit).
    #[error("{path} is corrupt: {problem}")]
    Undecodable {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        problem: String,
    },
}

/// Why a snapshot could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Encoding failed.
    #[error("cannot encode the snapshot: {0}")]
    Encode(String),
    /// A file system step failed.
    #[error("cannot save {path}: {step}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Which step.
        step: &'static str,
        /// Why.
        source: io::Error,
    },
}

impl SaveError {
    /// What kind of trouble it is, for the driver.
    pub fn fault(&self) -> StoreFault {
        match self {
            SaveError::Encode(_) => StoreFault::Other,
            SaveError::Io { source, .. } => io_fault(source),
        }
    }
}

/// What kind of trouble a file system error is, for the driver.
pub fn io_fault(error: &io::Error) -> StoreFault {
    match error.kind() {
        io::ErrorKind::ReadOnlyFilesystem => StoreFault::ReadOnly,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StoreFault::Full,
        io::ErrorKind::PermissionDenied => StoreFault::Denied,
        io::ErrorKind::NotADirectory => StoreFault::NotADirectory,
        io::ErrorKind::NotFound => StoreFault::Missing,
        _ => StoreFault::Other,
    }
}

/// A [`StateFile`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Loading.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Saving.
    #[error(transparent)]
    Save(#[from] SaveError),
}

impl<const P: usize> SnapshotStore<P> for StateFile {
    type Error = StateFileError;

    fn load(&mut self, ports: &mut dyn FnMut(&[SnapshotPort])) -> Result<bool, StateFileError> {
        let Some(loaded) = StateFile::load::<P>(self)? else { return Ok(false) };
        ports(&loaded.ports);
        Ok(true)
    }

    fn save(&mut self, snapshot: &SnapshotView<'_, P>) -> Result<usize, StateFileError> {
        Ok(StateFile::save(self, snapshot)?)
    }

    fn fault(error: &StateFileError) -> StoreFault {
        match error {
            StateFileError::Save(e) => e.fault(),
            StateFileError::Load(_) => StoreFault::Other,
        }
    }
}

/// The snapshot file in one directory.
#[derive(Clone, Debug)]
pub struct StateFile {
    dir: PathBuf,
}

impl StateFile {
    /// The snapshot kept in `dir` (created when first saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The snapshot's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Writes `snapshot` (a [`Snapshot`], or an engine's [`SnapshotView`]:
    /// the same bytes) atomically; returns the file's size.
    pub fn save(&self, snapshot: &(impl Serialize + ?Sized)) -> Result<usize, SaveError> {
        self.write(&encode(snapshot)?)
    }

    /// Writes a snapshot's file bytes ([`encode`]) atomically; returns their
    /// length. The slow part of a save (two fsyncs), apart from the
    /// encoding, so that it can run beside the caller's loop.
    pub fn write(&self, bytes: &[u8]) -> Result<usize, SaveError> {
        let path = self.path();
        let io = |step, source| SaveError::Io { path: path.clone(), step, source };
        fs::create_dir_all(&self.dir).map_err(|e| io("create directory", e))?;
        let temp = self.dir.join(TEMP_NAME);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| io("create", e))?;
        file.write_all(bytes).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        drop(file);
        fs::rename(&temp, &path).map_err(|e| io("rename", e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io("fsync directory", e))?;
        Ok(bytes.len())
    }

    /// Reads the snapshot (at most `P` ports): `Ok(None)` if there is none.
    pub fn load<const P: usize>(&self) -> Result<Option<LoadedSnapshot>, LoadError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => decode::<P>(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LoadError::Unreadable { path, source }),
        }
    }
}

/// The file's bytes for `snapshot` (a [`Snapshot`] or a [`SnapshotView`]).
pub fn encode(snapshot: &(impl Serialize + ?Sized)) -> Result<Vec<u8>, SaveError> {
    let payload = postcard::to_allocvec(snapshot).map_err(|e| SaveError::Encode(e.to_string()))?;
    let len = u32::try_from(payload.len()).map_err(|_| SaveError::Encode("snapshot over 4 GiB".into()))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    let crc = checksum(&out[8..16], &payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// A snapshot as read back: a [`Snapshot`]'s postcard form, its ports on
/// the heap (a `Snapshot` is 28 KiB at 1024 ports, and returned by value it
/// was a frame of that size on each reader's stack).
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
pub struct LoadedSnapshot {
    /// Whether PortInitDone had been produced.
    pub port_init_done: bool,
    /// The ports STATE_DB held.
    pub ports: Vec<SnapshotPort>,
}

impl<const P: usize> From<&Snapshot<P>> for LoadedSnapshot {
    fn from(snapshot: &Snapshot<P>) -> Self {
        Self { port_init_done: snapshot.port_init_done, ports: snapshot.ports.to_vec() }
    }
}

/// Checks and decodes a file's bytes, at most `P` ports (`path` is for the
/// error messages).
pub fn decode<const P: usize>(path: &Path, bytes: &[u8]) -> Result<LoadedSnapshot, LoadError> {
    let path = || path.to_path_buf();
    if bytes.len() < HEADER {
        if !bytes.is_empty() && !MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            return Err(LoadError::NotASnapshot { path: path() });
        }
        return Err(LoadError::Truncated { path: path(), len: bytes.len(), needed: HEADER });
    }
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if &bytes[..8] != MAGIC {
        return Err(LoadError::NotASnapshot { path: path() });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > SNAPSHOT_VERSION {
        return Err(LoadError::NewerVersion { path: path(), found: version });
    }
    let needed = HEADER + word(12) as usize;
    if bytes.len() < needed {
        return Err(LoadError::Truncated { path: path(), len: bytes.len(), needed });
    }
    let payload = &bytes[HEADER..needed];
    let (expected, found) = (word(16), checksum(&bytes[8..16], payload));
    if expected != found || bytes.len() != needed {
        return Err(LoadError::Checksum { path: path(), expected, found });
    }
    let undecodable = |problem| LoadError::Undecodable { path: path(), problem };
    let loaded: LoadedSnapshot = postcard::from_bytes(payload).map_err(|e| undecodable(e.to_string()))?;
    if loaded.ports.len() > P {
        return Err(undecodable(format!("{} ports, more than the {P} this build holds", loaded.ports.len())));
    }
    Ok(loaded)
}

/// The file's checksum: CRC-32 over the version, reserved and length fields,
/// then the payload.
pub fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    !crc32_update(crc32_update(!0, header), payload)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    !crc32_update(!0, bytes)
}

fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
