//! Which link messages concern a SONiC port, in the C++ LinkSync's order.
//!
//! This module decides, for one parsed link message, whether portsyncd acts
//! on it and under which name. It does not look anything up in a database and
//! does not remember anything: whether an ifindex is a stale pre-existing link
//! is asked of the caller (the engine owns that table).
//!
//! The checks, in order (the order matters, as in the C++ `LinkSync::onMsg`):
//! 1. the name must start with `Ethernet` or `PortChannel` (plain, case-sensitive
//!    prefix test: `Ethernet0.10` and `Ethernet-BP0` pass);
//! 2. team devices are teamsyncd's, not ours;
//! 3. a DELLINK that still names a master means "left a bridge/LAG", not "gone";
//! 4. links that existed before a cold start stay ignored for the process's life;
//! 5. the name must be usable in a Redis key ([`PortName`]); this check is ours,
//!    and a failure is a rejection to count and log, not a silent ignore.

use core::fmt;

use crate::name::{NameError, PortName};
use crate::netlink::{LinkMessage, LinkOp};

/// Prefix of front-panel port netdevs.
pub const ETHERNET_PREFIX: &[u8] = b"Ethernet";
/// Prefix of LAG netdevs.
pub const PORT_CHANNEL_PREFIX: &[u8] = b"PortChannel";
/// Link kind of team devices (LAGs managed by teamd).
pub const TEAM_KIND: &[u8] = b"team";

/// Why a link message is none of portsyncd's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// No `IFLA_IFNAME`.
    NoName,
    /// The name has neither port prefix (`lo`, `eth0`, `Bridge`, `Vlan1000`, ...).
    NotAPort,
    /// A team device: teamsyncd owns LAGs.
    TeamDevice,
    /// A DELLINK of a link that still has a master: it left a bridge or LAG.
    EnslavedDelete,
    /// An ifindex that existed before this cold start.
    StaleLink,
    /// A port another instance owns (partitioned instances).
    OtherInstance,
}

impl IgnoreReason {
    /// Every reason, for counters indexed by reason.
    pub const ALL: [IgnoreReason; 6] = [
        IgnoreReason::NoName,
        IgnoreReason::NotAPort,
        IgnoreReason::TeamDevice,
        IgnoreReason::EnslavedDelete,
        IgnoreReason::StaleLink,
        IgnoreReason::OtherInstance,
    ];

    /// A short stable label (metrics, logs).
    pub const fn label(self) -> &'static str {
        match self {
            IgnoreReason::NoName => "no_name",
            IgnoreReason::NotAPort => "not_a_port",
            IgnoreReason::TeamDevice => "team_device",
            IgnoreReason::EnslavedDelete => "enslaved_delete",
            IgnoreReason::StaleLink => "stale_link",
            IgnoreReason::OtherInstance => "other_instance",
        }
    }

    /// Position in [`IgnoreReason::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The filter's answer for one link message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A port message to act on.
    Accept(PortName),
    /// Not ours.
    Ignore(IgnoreReason),
    /// Would be ours, but its name cannot become a key.
    Reject(NameError),
}

/// Whether `name` passes the port prefix test.
pub fn has_port_prefix(name: &[u8]) -> bool {
    name.starts_with(ETHERNET_PREFIX) || name.starts_with(PORT_CHANNEL_PREFIX)
}

/// Applies the checks of this module's documentation to `link`.
///
/// `is_stale` is asked only for messages that pass checks 1–3.
pub fn classify(link: &LinkMessage<'_>, is_stale: impl FnOnce(u32) -> bool) -> Verdict {
    let Some(name) = link.name else {
        return Verdict::Ignore(IgnoreReason::NoName);
    };
    if !has_port_prefix(name) {
        return Verdict::Ignore(IgnoreReason::NotAPort);
    }
    if link.kind == Some(TEAM_KIND) {
        return Verdict::Ignore(IgnoreReason::TeamDevice);
    }
    if link.op == LinkOp::Del && link.master.unwrap_or(0) != 0 {
        return Verdict::Ignore(IgnoreReason::EnslavedDelete);
    }
    if is_stale(link.index) {
        return Verdict::Ignore(IgnoreReason::StaleLink);
    }
    match PortName::new(name) {
        Ok(port) => Verdict::Accept(port),
        Err(error) => Verdict::Reject(error),
    }
}

#[cfg(test)]
mod tests {
    use super::{IgnoreReason, LinkMessage, LinkOp, NameError, PortName, Verdict, classify};
    use crate::netlink::Header;

    fn link<'a>(op: LinkOp, name: &'a [u8]) -> LinkMessage<'a> {
        LinkMessage {
            header: Header::default(),
            op,
            family: 0,
            link_type: 1,
            index: 142,
            flags: 0,
            change: 0,
            name: Some(name),
            mtu: Some(9100),
            master: None,
            kind: None,
            operstate: None,
            address: None,
        }
    }

    fn port(name: &str) -> Verdict {
        Verdict::Accept(PortName::try_from(name).unwrap())
    }

    #[test]
    fn prefix_test_is_raw_and_case_sensitive() {
        for name in ["Ethernet0", "PortChannel01", "Ethernet0.10", "Ethernet-BP0", "Ethernet-IB0"] {
            assert_eq!(classify(&link(LinkOp::New, name.as_bytes()), |_| false), port(name));
        }
        for name in ["eth0", "lo", "Bridge", "Vlan1000", "ethernet0", "Etherne"] {
            assert_eq!(
                classify(&link(LinkOp::New, name.as_bytes()), |_| false),
                Verdict::Ignore(IgnoreReason::NotAPort),
                "{name}"
            );
        }
        let mut nameless = link(LinkOp::New, b"");
        nameless.name = None;
        assert_eq!(classify(&nameless, |_| false), Verdict::Ignore(IgnoreReason::NoName));
    }

    #[test]
    fn team_devices_are_ignored_for_both_ops() {
        for op in [LinkOp::New, LinkOp::Del] {
            let mut msg = link(op, b"PortChannel1");
            msg.kind = Some(b"team");
            assert_eq!(classify(&msg, |_| false), Verdict::Ignore(IgnoreReason::TeamDevice));
        }
        let mut veth = link(LinkOp::New, b"PortChannel1");
        veth.kind = Some(b"veth");
        assert_eq!(classify(&veth, |_| false), port("PortChannel1"));
    }

    #[test]
    fn dellink_with_master_is_ignored_newlink_with_master_is_not() {
        let mut del = link(LinkOp::Del, b"Ethernet0");
        del.master = Some(7);
        assert_eq!(classify(&del, |_| false), Verdict::Ignore(IgnoreReason::EnslavedDelete));
        del.master = Some(0);
        assert_eq!(classify(&del, |_| false), port("Ethernet0"));
        let mut new = link(LinkOp::New, b"Ethernet0");
        new.master = Some(7);
        assert_eq!(classify(&new, |_| false), port("Ethernet0"));
    }

    #[test]
    fn stale_check_comes_after_team_and_master_and_before_validation() {
        let msg = link(LinkOp::New, b"Ethernet|0");
        assert_eq!(classify(&msg, |i| i == 142), Verdict::Ignore(IgnoreReason::StaleLink));
        assert_eq!(classify(&msg, |_| false), Verdict::Reject(NameError::Separator { byte: b'|' }));
        let mut team = link(LinkOp::New, b"Ethernet0");
        team.kind = Some(b"team");
        assert_eq!(
            classify(&team, |_| panic!("asked about a team device")),
            Verdict::Ignore(IgnoreReason::TeamDevice)
        );
    }
}
