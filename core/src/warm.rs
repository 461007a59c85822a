//! Warm restart: SONiC's WarmStart decision, the snapshot a run leaves for the
//! next one, and the baseline a warm start compares the kernel against.
//!
//! This module decides three things. Whether a start is warm, from the values
//! SONiC's `WarmStart::checkWarmStart` reads (SONIC.md §4), and what
//! `restore_count` becomes. What a [`Snapshot`] holds: the ports this run
//! published and whether PortInitDone was produced. And what the *baseline*
//! of a warm start is: what STATE_DB `PORT_TABLE|<port>` actually holds
//! ([`StatePortReader`]) for the snapshot's ports and for configured ports
//! the snapshot may have missed, with the snapshot only for what STATE_DB
//! cannot tell (which ports this daemon published, their ifindex) — so that
//! a snapshot older than STATE_DB never suppresses a write that STATE_DB
//! needs, nor keeps a port alive that vanished while the daemon was down.
//!
//! It does not read Redis or files (the driver asks for them) and does not
//! decide what to write during the initial dump (the engine does, against the
//! baseline given to it).

use crate::engine::{LinkState, StartKind};
use crate::schema;

pub use crate::engine::{SNAPSHOT_VERSION, Snapshot, SnapshotPort, SnapshotView};

/// STATE_DB table of enable flags (`<name>` → `enable`).
pub const WARM_RESTART_ENABLE_TABLE: &str = "WARM_RESTART_ENABLE_TABLE";
/// STATE_DB table of per-application warm-restart state.
pub const WARM_RESTART_TABLE: &str = "WARM_RESTART_TABLE";
/// Field counting warm restarts.
pub const RESTORE_COUNT_FIELD: &str = "restore_count";
/// Field of [`WARM_RESTART_ENABLE_TABLE`] entries.
pub const ENABLE_FIELD: &str = "enable";
/// The enable keys read, in SONiC's order: the whole system, then the container.
pub const ENABLE_KEYS: [&str; 2] = ["system", crate::schema::DOCKER];

/// What the WarmStart check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmStartCheck {
    /// Cold or warm.
    pub start: StartKind,
    /// `restore_count` as written by the check.
    pub restore_count: u64,
    /// Warm was enabled but `restore_count` was missing (the database was
    /// flushed), so the start falls back to cold.
    pub fell_back_to_cold: bool,
}

/// `restore_count` is not a decimal number (the C++ helper throws).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRestoreCount;

impl core::fmt::Display for BadRestoreCount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "warm-start check: STATE_DB {WARM_RESTART_TABLE}|{} {RESTORE_COUNT_FIELD} is not a number",
            schema::APP
        )
    }
}

impl core::error::Error for BadRestoreCount {}

/// Only the exact string `true` enables (SONIC.md §4).
pub fn enables(value: Option<&[u8]>) -> bool {
    value == Some(b"true")
}

/// `checkWarmStart`'s decision: `enabled` from the enable flags,
/// `restore_count` as read (`None` when absent; not read when not enabled).
pub fn check(enabled: bool, restore_count: Option<&[u8]>) -> Result<WarmStartCheck, BadRestoreCount> {
    let cold =
        |fell_back_to_cold| WarmStartCheck { start: StartKind::Cold, restore_count: 0, fell_back_to_cold };
    if !enabled {
        return Ok(cold(false));
    }
    let Some(text) = restore_count else { return Ok(cold(true)) };
    let count = schema::parse_decimal::<u64>(text).ok_or(BadRestoreCount)?;
    Ok(WarmStartCheck {
        start: StartKind::Warm,
        restore_count: count.saturating_add(1),
        fell_back_to_cold: false,
    })
}

/// Reads one STATE_DB `PORT_TABLE|<port>` hash, field by field, into the
/// state it publishes. A hash missing a field, or with a value portsyncd
/// would never write, publishes nothing usable: the port is written again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatePortReader {
    /// A field of ours was seen.
    seen: bool,
    ok: bool,
    admin: Option<bool>,
    oper: Option<bool>,
    mtu: Option<u32>,
}

impl StatePortReader {
    /// Nothing read (what `Default` gives), in a `const`.
    pub const NONE: Self = Self { seen: false, ok: false, admin: None, oper: None, mtu: None };
}

fn up_down(value: &[u8]) -> Option<bool> {
    match value {
        b"up" => Some(true),
        b"down" => Some(false),
        _ => None,
    }
}

impl StatePortReader {
    /// Takes one field of the hash.
    pub fn field(&mut self, field: &[u8], value: &[u8]) {
        let field = core::str::from_utf8(field).unwrap_or("");
        self.seen |= matches!(
            field,
            schema::STATE_FIELD_STATE
                | schema::STATE_FIELD_ADMIN
                | schema::STATE_FIELD_OPER
                | schema::STATE_FIELD_MTU
        );
        match field {
            schema::STATE_FIELD_STATE => self.ok = value == schema::STATE_OK.as_bytes(),
            schema::STATE_FIELD_ADMIN => self.admin = up_down(value),
            schema::STATE_FIELD_OPER => self.oper = up_down(value),
            schema::STATE_FIELD_MTU => {
                self.mtu = schema::parse_decimal(value);
            }
            _ => {}
        }
    }

    /// Whether the hash holds any field portsyncd writes.
    pub fn any(&self) -> bool {
        self.seen
    }

    /// What STATE_DB publishes for the link `ifindex`, if all of it is there.
    pub fn state(&self, ifindex: u32) -> Option<LinkState> {
        match (self.ok, self.admin, self.oper, self.mtu) {
            (true, Some(admin_up), Some(oper_up), Some(mtu)) => {
                Some(LinkState { ifindex, admin_up, oper_up, mtu })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BadRestoreCount, LinkState, StartKind, StatePortReader, check, enables};

    #[test]
    fn the_check_is_sonics() {
        let c = check(false, None).unwrap();
        assert_eq!((c.start, c.restore_count, c.fell_back_to_cold), (StartKind::Cold, 0, false));
        let c = check(true, None).unwrap();
        assert_eq!((c.start, c.fell_back_to_cold), (StartKind::Cold, true));
        let c = check(true, Some(b"3")).unwrap();
        assert_eq!((c.start, c.restore_count), (StartKind::Warm, 4));
        assert_eq!(check(true, Some(b"x3")), Err(BadRestoreCount));
        assert_eq!(check(true, Some(&[0xff])), Err(BadRestoreCount));
        assert!(enables(Some(b"true")) && !enables(Some(b"True")) && !enables(None));
    }

    #[test]
    fn state_db_hashes_read_back() {
        let mut r = StatePortReader::default();
        for (f, v) in
            [("state", "ok"), ("netdev_oper_status", "down"), ("admin_status", "up"), ("mtu", "9100")]
        {
            r.field(f.as_bytes(), v.as_bytes());
        }
        assert_eq!(r.state(7), Some(LinkState { ifindex: 7, admin_up: true, oper_up: false, mtu: 9100 }));
        let mut partial = StatePortReader::default();
        partial.field(b"admin_status", b"up");
        assert_eq!(partial.state(7), None);
        let mut odd = r;
        odd.field(b"mtu", b"big");
        assert_eq!(odd.state(7), None);
    }
}
