//! Differential decoding against `netlink-packet-route`, the reference
//! decoder. Shared by the fixture tests and the fuzz target
//! (`fuzz/fuzz_targets/parse_differential.rs` includes this file).
//!
//! For each message our parser frames, the same bytes are decoded by
//! `netlink-packet-route`, and the fields portsyncd uses are compared. Two
//! differences are deliberate and normalised here, because we follow libnl
//! (which the C++ daemon uses) rather than `netlink-packet-route`:
//! - strings (IFLA_IFNAME, IFLA_INFO_KIND) end at their first NUL byte;
//! - of duplicate attributes the last one wins.
//!
//! Accepting what the reference rejects is expected (we decode only the
//! attributes portsyncd needs, so a broken IFLA_STATS64 does not stop us);
//! rejecting what it accepts is a finding.

#![allow(dead_code)]

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkInfo};
use portsyncd_core::netlink::{LinkOp, Message, messages};

/// The fields of one message that portsyncd uses, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    Link {
        del: bool,
        family: u8,
        index: u32,
        flags: u32,
        change: u32,
        name: Option<Vec<u8>>,
        mtu: Option<u32>,
        master: Option<u32>,
        kind: Option<Vec<u8>>,
        operstate: Option<u8>,
        address: Option<Vec<u8>>,
    },
    Done {
        status: i32,
    },
    Error {
        errno: i32,
    },
    /// Any other message type: only the header matters.
    Other {
        kind: u16,
    },
}

fn cut_at_nul(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().take_while(|&&b| b != 0).copied().collect()
}

pub fn ours(message: &Message<'_>) -> Fields {
    match *message {
        Message::Link(l) => Fields::Link {
            del: l.op == LinkOp::Del,
            family: l.family,
            index: l.index,
            flags: l.flags,
            change: l.change,
            name: l.name.map(<[u8]>::to_vec),
            mtu: l.mtu,
            master: l.master,
            kind: l.kind.map(<[u8]>::to_vec),
            operstate: l.operstate,
            address: l.address.map(<[u8]>::to_vec),
        },
        Message::Done { status, .. } => Fields::Done { status },
        Message::Error { errno, .. } => Fields::Error { errno },
        Message::Overrun(h) | Message::Noop(h) | Message::Other(h) => Fields::Other { kind: h.kind },
    }
}

/// Decodes one message's bytes with netlink-packet-route. `None` when it rejects them.
pub fn reference(bytes: &[u8]) -> Option<Fields> {
    let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).ok()?;
    Some(match message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => link_fields(false, l),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => link_fields(true, l),
        NetlinkPayload::Done(done) => Fields::Done { status: done.code },
        NetlinkPayload::Error(error) => {
            Fields::Error { errno: error.code.map_or(0, |c| c.get().wrapping_neg()) }
        }
        _ => Fields::Other { kind: message.header.message_type },
    })
}

fn link_fields(del: bool, l: netlink_packet_route::link::LinkMessage) -> Fields {
    let (mut name, mut mtu, mut master, mut kind, mut operstate, mut address) =
        (None, None, None, None, None, None);
    for attr in l.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(cut_at_nul(n.as_bytes())),
            LinkAttribute::Mtu(m) => mtu = Some(m),
            LinkAttribute::Controller(m) => master = Some(m),
            LinkAttribute::OperState(s) => operstate = Some(u8::from(s)),
            LinkAttribute::Address(a) => address = Some(a),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        kind = Some(cut_at_nul(k.to_string().as_bytes()));
                    }
                }
            }
            _ => {}
        }
    }
    Fields::Link {
        del,
        family: u8::from(l.header.interface_family),
        index: l.header.index,
        flags: l.header.flags.bits(),
        change: l.header.change_mask.bits(),
        name,
        mtu,
        master,
        kind,
        operstate,
        address,
    }
}

/// What a differential run over one buffer found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Messages both decoders decoded, with equal fields.
    pub agreed: usize,
    /// Link messages among them.
    pub links: usize,
    /// Messages we decoded and the reference rejected.
    pub reference_rejected: usize,
    /// Messages both rejected.
    pub both_rejected: usize,
}

/// Compares every message of `buf`. `Err` describes the first disagreement
/// that is a finding.
pub fn compare(buf: &[u8]) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut iter = messages(buf);
    loop {
        let start = iter.position();
        let Some(result) = iter.next() else { return Ok(tally) };
        match result {
            Ok(message) => {
                let end = start + message.header().len as usize;
                let ours = ours(&message);
                match reference(&buf[start..end]) {
                    Some(theirs) if theirs == ours => {
                        tally.agreed += 1;
                        tally.links += usize::from(matches!(ours, Fields::Link { .. }));
                    }
                    Some(theirs) => {
                        return Err(format!("at {start}: ours {ours:?} but reference {theirs:?}"));
                    }
                    None => tally.reference_rejected += 1,
                }
            }
            Err(error) if error.ends_buffer() => {
                // Framing broken: the reference cannot frame it either (it
                // checks the same length field); nothing further to compare.
                tally.both_rejected += 1;
                return Ok(tally);
            }
            Err(error) => {
                let len = error.header.map_or(0, |h| h.len as usize);
                match reference(&buf[start..start + len]) {
                    None => tally.both_rejected += 1,
                    Some(theirs) => {
                        return Err(format!(
                            "at {start}: ours rejects ({error}) but reference has {theirs:?}"
                        ));
                    }
                }
            }
        }
    }
}
