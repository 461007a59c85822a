//! The SONiC names and values portsyncd writes: tables, keys, fields.
//!
//! These strings are the contract with orchagent, portmgrd and the CLI; they
//! must match the C++ portsyncd byte for byte. This module does not know
//! separators or database ids (those come from `database_config.json`).

/// The application name SONiC knows portsyncd by (LOGGER key, WarmStart app).
pub const APP: &str = "portsyncd";
/// The container portsyncd runs in (WarmStart docker name).
pub const DOCKER: &str = "swss";

/// CONFIG_DB table holding the configured ports.
pub const CONFIG_PORT_TABLE: &str = "PORT";
/// CONFIG_DB table holding device metadata.
pub const CONFIG_DEVICE_METADATA_TABLE: &str = "DEVICE_METADATA";
/// CONFIG_DB key of this device's metadata.
pub const CONFIG_DEVICE_METADATA_KEY: &str = "localhost";
/// Field of `DEVICE_METADATA|localhost` naming the switch type.
pub const SWITCH_TYPE_FIELD: &str = "switch_type";
/// The switch type that skips stale-link handling.
pub const SWITCH_TYPE_DPU: &str = "dpu";

/// APPL_DB producer table of ports.
pub const APP_PORT_TABLE: &str = "PORT_TABLE";
/// STATE_DB table of ports' kernel state.
pub const STATE_PORT_TABLE: &str = "PORT_TABLE";

/// APPL_DB key: every CONFIG_DB port has been produced.
pub const PORT_CONFIG_DONE: &str = "PortConfigDone";
/// Field of [`PORT_CONFIG_DONE`]: the number of ports, in decimal.
pub const PORT_CONFIG_DONE_COUNT_FIELD: &str = "count";
/// APPL_DB key: every configured port has its host interface.
pub const PORT_INIT_DONE: &str = "PortInitDone";
/// Field of [`PORT_INIT_DONE`].
pub const PORT_INIT_DONE_LANES_FIELD: &str = "lanes";
/// Value of [`PORT_INIT_DONE_LANES_FIELD`].
pub const PORT_INIT_DONE_LANES_VALUE: &str = "0";

/// APPL_DB port field whose presence means the port is already set up.
pub const ADMIN_STATUS_FIELD: &str = "admin_status";

/// STATE_DB port fields, in the order the C++ daemon writes them.
pub const STATE_FIELD_STATE: &str = "state";
/// See [`STATE_FIELD_STATE`].
pub const STATE_FIELD_OPER: &str = "netdev_oper_status";
/// See [`STATE_FIELD_STATE`].
pub const STATE_FIELD_ADMIN: &str = "admin_status";
/// See [`STATE_FIELD_STATE`].
pub const STATE_FIELD_MTU: &str = "mtu";
/// Value of [`STATE_FIELD_STATE`].
pub const STATE_OK: &str = "ok";

/// `"up"` or `"down"`.
pub const fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

/// The four STATE_DB `PORT_TABLE|<port>` fields of one link state, formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatePortFields {
    oper: &'static str,
    admin: &'static str,
    mtu: Decimal,
}

impl StatePortFields {
    /// Formats a link's admin state (`IFF_UP`), oper state (`IFF_RUNNING`) and MTU.
    pub fn new(admin_up: bool, oper_up: bool, mtu: u32) -> Self {
        Self { oper: up_down(oper_up), admin: up_down(admin_up), mtu: Decimal::new(mtu) }
    }

    /// `(field, value)` pairs in the order the C++ daemon writes them.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (STATE_FIELD_STATE, STATE_OK),
            (STATE_FIELD_OPER, self.oper),
            (STATE_FIELD_ADMIN, self.admin),
            (STATE_FIELD_MTU, self.mtu.as_str()),
        ]
    }
}

/// An unsigned number in decimal, without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    len: u8,
    digits: [u8; 20],
}

impl Decimal {
    /// Formats `value`.
    pub fn new(value: impl Into<u64>) -> Self {
        let mut value: u64 = value.into();
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        digits.copy_within(start.., 0);
        Self { len: (20 - start) as u8, digits }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored; the fallback cannot be taken.
        core::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("0")
    }
}

impl core::fmt::Debug for Decimal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number a database holds as decimal text (`None`: not one, or too
/// large for `T`).
pub fn parse_decimal<T: core::str::FromStr>(value: &[u8]) -> Option<T> {
    core::str::from_utf8(value).ok()?.parse().ok()
}

/// Partitioned instances coordinate through this STATE_DB table of
/// portsyncd's own (no SONiC consumer reads it): `PORTSYNCD_INSTANCE|<id>`.
pub const INSTANCE_TABLE: &str = "PORTSYNCD_INSTANCE";
/// Its keys: the instance ids.
pub const INSTANCE_KEYS: [&str; 64] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18",
    "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35",
    "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52",
    "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
];
/// Instances in all, as the writer was configured.
pub const INSTANCE_COUNT_FIELD: &str = "count";
/// Ports the writer owns.
pub const INSTANCE_PORTS_FIELD: &str = "ports";
/// Their set digest.
pub const INSTANCE_DIGEST_FIELD: &str = "digest";
/// The leader's run token.
pub const INSTANCE_TOKEN_FIELD: &str = "token";
/// A follower: the leader's token it has every port for (0: not yet).
pub const INSTANCE_READY_FIELD: &str = "ready";

/// CONFIG_DB `PORT|<port>` `index`: SONiC's front-panel port number
/// (partitioned instances share ports out by it).
pub const CONFIG_INDEX_FIELD: &str = "index";

#[cfg(test)]
mod tests {
    use super::{Decimal, StatePortFields};

    #[test]
    fn state_fields_are_the_cpp_daemons() {
        let f = StatePortFields::new(true, false, 9100);
        assert_eq!(
            f.pairs(),
            [("state", "ok"), ("netdev_oper_status", "down"), ("admin_status", "up"), ("mtu", "9100")]
        );
    }

    #[test]
    fn decimal_matches_core_formatting() {
        for v in [0, 7, 10, 9100, 65535, 1_000_000, u64::from(u32::MAX), u64::MAX] {
            let mut expect = heapless::String::<20>::new();
            core::fmt::write(&mut expect, format_args!("{v}")).unwrap();
            assert_eq!(Decimal::new(v).as_str(), expect.as_str());
        }
    }
}
