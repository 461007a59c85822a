//! What a run leaves for the next (warm) start: the ports it published and
//! whether PortInitDone was produced. Only the shape: when a start is warm,
//! and what the baseline of one is, are [`crate::warm`]'s; the file is an
//! adapter's.

use serde::{Deserialize, Serialize};

use super::LinkState;
use crate::name::PortName;

/// Version of the [`Snapshot`] layout; a file of a newer version is not read.
pub const SNAPSHOT_VERSION: u16 = 1;

/// One port of a [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPort {
    /// The port.
    pub name: PortName,
    /// What STATE_DB holds for it.
    pub state: LinkState,
}

/// What a run left in STATE_DB, for the next (warm) start: at most `P` ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot<const P: usize> {
    /// Whether PortInitDone had been produced.
    pub port_init_done: bool,
    /// The published ports.
    pub ports: heapless::Vec<SnapshotPort, P>,
}
