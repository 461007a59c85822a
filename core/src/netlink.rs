//! Zero-copy decoding of rtnetlink receive buffers.
//!
//! This module decides how the bytes of one `recv` become messages: where each
//! message starts and ends, which header fields and link attributes portsyncd
//! needs, and which messages are malformed. It copies nothing: names, kinds
//! and addresses borrow from the buffer. It does not decide what a message
//! means for a port (that is [`crate::filter`] and [`crate::engine`]) and it
//! never builds requests.
//!
//! Malformed input is answered per message. A header whose length cannot be
//! trusted ends the buffer (there is no safe place to resume); a message whose
//! payload or attributes are broken yields an error for that message and
//! decoding continues with the next one. Nothing here can panic, read out of
//! bounds or loop forever: every step advances by at least one header.
//!
//! Where the kernel's own decoders (libnl, which the C++ daemon uses) and
//! `netlink-packet-route` differ, we follow libnl: the last of duplicate
//! attributes wins, and strings end at their first NUL byte.

use core::fmt;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Length of `struct ifinfomsg`.
pub const IFINFOMSG_LEN: usize = 16;

/// Message types (`nlmsg_type`).
pub mod msg_type {
    /// Nothing; skip.
    pub const NOOP: u16 = 1;
    /// Error or acknowledgement; payload starts with a negative errno.
    pub const ERROR: u16 = 2;
    /// End of a multipart (dump) reply.
    pub const DONE: u16 = 3;
    /// Data lost.
    pub const OVERRUN: u16 = 4;
    /// A link was created or changed (also every dump reply).
    pub const RTM_NEWLINK: u16 = 16;
    /// A link was deleted (or left a bridge, for `AF_BRIDGE`).
    pub const RTM_DELLINK: u16 = 17;
    /// Request: dump or get links.
    pub const RTM_GETLINK: u16 = 18;
    /// Request: change a link.
    pub const RTM_SETLINK: u16 = 19;
}

/// Header flags (`nlmsg_flags`).
pub mod msg_flags {
    /// The message is a request.
    pub const REQUEST: u16 = 0x1;
    /// Part of a multipart reply, ended by `NLMSG_DONE`.
    pub const MULTI: u16 = 0x2;
    /// Ask for an acknowledgement.
    pub const ACK: u16 = 0x4;
    /// The dump was interrupted by a change: its contents are inconsistent.
    pub const DUMP_INTR: u16 = 0x10;
    /// Dump request (`NLM_F_ROOT | NLM_F_MATCH`).
    pub const DUMP: u16 = 0x300;
}

/// Interface flags (`ifi_flags`) that portsyncd reads.
pub mod iff {
    /// Administratively up.
    pub const UP: u32 = 0x1;
    /// Up and operationally up (or unknown): what SONiC calls oper status.
    pub const RUNNING: u32 = 0x40;
    /// Carrier present.
    pub const LOWER_UP: u32 = 0x1_0000;
}

/// Link attribute types (`IFLA_*`) this parser decodes.
pub mod ifla {
    /// Hardware address.
    pub const ADDRESS: u16 = 1;
    /// Interface name, NUL-terminated.
    pub const IFNAME: u16 = 3;
    /// MTU, u32.
    pub const MTU: u16 = 4;
    /// Master (bridge, bond, team, VRF) ifindex, u32.
    pub const MASTER: u16 = 10;
    /// RFC 2863 operational state, u8.
    pub const OPERSTATE: u16 = 16;
    /// Nested link information.
    pub const LINKINFO: u16 = 18;
    /// Inside `LINKINFO`: the kind string (`veth`, `bridge`, `team`, ...).
    pub const INFO_KIND: u16 = 1;
}

/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = 0x3FFF;

const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// The fixed netlink message header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Length of the message including this header, as the sender claims.
    pub len: u32,
    /// Message type ([`msg_type`]).
    pub kind: u16,
    /// Flags ([`msg_flags`]).
    pub flags: u16,
    /// Sequence number: a request's own, echoed in its replies; 0 in notifications.
    pub seq: u32,
    /// Port id of the sender (0 for the kernel) or, in replies, of the requester.
    pub pid: u32,
}

impl Header {
    /// Decodes the first 16 bytes of `bytes`, if there are that many.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            len: u32_at(bytes, 0)?,
            kind: u16_at(bytes, 4)?,
            flags: u16_at(bytes, 6)?,
            seq: u32_at(bytes, 8)?,
            pid: u32_at(bytes, 12)?,
        })
    }

    /// Part of a multipart (dump) reply.
    pub const fn is_multipart(&self) -> bool {
        self.flags & msg_flags::MULTI != 0
    }

    /// The dump this message belongs to was interrupted and is inconsistent.
    pub const fn is_dump_interrupted(&self) -> bool {
        self.flags & msg_flags::DUMP_INTR != 0
    }
}

/// Whether a link message announces a link (new or changed) or its removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkOp {
    /// `RTM_NEWLINK`: created, changed, or a dump reply.
    New,
    /// `RTM_DELLINK`: deleted (or, for `AF_BRIDGE`, no longer a bridge port).
    Del,
}

/// An `RTM_NEWLINK` / `RTM_DELLINK` message, borrowing from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkMessage<'a> {
    /// The netlink header.
    pub header: Header,
    /// New or deleted.
    pub op: LinkOp,
    /// `ifi_family`: 0 (`AF_UNSPEC`) normally, 7 (`AF_BRIDGE`) for bridge-port messages.
    pub family: u8,
    /// `ifi_type`: an `ARPHRD_*` value.
    pub link_type: u16,
    /// `ifi_index`.
    pub index: u32,
    /// `ifi_flags` ([`iff`]).
    pub flags: u32,
    /// `ifi_change`: which flags changed. Not a dump marker; portsyncd ignores it.
    pub change: u32,
    /// `IFLA_IFNAME`, up to its first NUL byte. Raw bytes: validation is the filter's job.
    pub name: Option<&'a [u8]>,
    /// `IFLA_MTU`.
    pub mtu: Option<u32>,
    /// `IFLA_MASTER`.
    pub master: Option<u32>,
    /// `IFLA_LINKINFO` / `IFLA_INFO_KIND`, up to its first NUL byte.
    pub kind: Option<&'a [u8]>,
    /// `IFLA_OPERSTATE`.
    pub operstate: Option<u8>,
    /// `IFLA_ADDRESS`.
    pub address: Option<&'a [u8]>,
}

impl LinkMessage<'_> {
    /// `IFF_UP`: the administrative state.
    pub const fn is_admin_up(&self) -> bool {
        self.flags & iff::UP != 0
    }

    /// `IFF_RUNNING`: SONiC's `netdev_oper_status`.
    pub const fn is_oper_up(&self) -> bool {
        self.flags & iff::RUNNING != 0
    }
}

/// One decoded netlink message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `RTM_NEWLINK` or `RTM_DELLINK`.
    Link(LinkMessage<'a>),
    /// `NLMSG_DONE`: the end of a multipart reply.
    Done {
        /// The header (its `seq` names the dump it ends).
        header: Header,
        /// 0, or a negative errno if the dump failed.
        status: i32,
    },
    /// `NLMSG_ERROR`: a request failed (or, with `errno == 0`, an acknowledgement).
    Error {
        /// The header (its `seq` names the request).
        header: Header,
        /// Positive errno; 0 for an acknowledgement.
        errno: i32,
    },
    /// `NLMSG_OVERRUN`.
    Overrun(Header),
    /// `NLMSG_NOOP`.
    Noop(Header),
    /// Any other type; portsyncd has no use for it.
    Other(Header),
}

impl Message<'_> {
    /// The message's header.
    pub const fn header(&self) -> &Header {
        match self {
            Message::Link(link) => &link.header,
            Message::Done { header, .. } | Message::Error { header, .. } => header,
            Message::Overrun(header) | Message::Noop(header) | Message::Other(header) => header,
        }
    }
}

/// What is wrong with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Fewer than 16 bytes are left: not even a header. Ends the buffer.
    TruncatedHeader {
        /// Bytes left.
        available: usize,
    },
    /// `nlmsg_len` is below 16 or beyond the buffer. Ends the buffer.
    BadLength {
        /// The claimed length.
        len: u32,
        /// Bytes left.
        available: usize,
    },
    /// The payload is shorter than its fixed part (`ifinfomsg`, errno).
    TruncatedPayload {
        /// Bytes the fixed part needs.
        needed: usize,
        /// Bytes the message has.
        available: usize,
    },
    /// An attribute's length is below 4 or beyond its message.
    BadAttributeLength {
        /// Attribute type (masked).
        attr: u16,
        /// The claimed length.
        len: u16,
    },
    /// An attribute we decode has the wrong size for its type.
    BadAttributeValue {
        /// Attribute type (masked).
        attr: u16,
        /// The payload length found.
        len: usize,
    },
}

/// A malformed message: where it is and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Offset of the message in the buffer.
    pub offset: usize,
    /// The header, when it could be read.
    pub header: Option<Header>,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// Whether decoding stopped at this error (the rest of the buffer is lost).
    pub const fn ends_buffer(&self) -> bool {
        matches!(self.kind, ParseErrorKind::TruncatedHeader { .. } | ParseErrorKind::BadLength { .. })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed netlink message at offset {}: ", self.offset)?;
        match self.kind {
            ParseErrorKind::TruncatedHeader { available } => {
                write!(f, "{available} bytes left, a header needs {NLMSG_HDRLEN}")
            }
            ParseErrorKind::BadLength { len, available } => {
                write!(f, "nlmsg_len {len} with {available} bytes left")
            }
            ParseErrorKind::TruncatedPayload { needed, available } => {
                write!(f, "payload of {available} bytes, needs {needed}")
            }
            ParseErrorKind::BadAttributeLength { attr, len } => {
                write!(f, "attribute {attr} claims length {len}")
            }
            ParseErrorKind::BadAttributeValue { attr, len } => {
                write!(f, "attribute {attr} has a {len}-byte value of the wrong size")
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// Iterates over the messages of one receive buffer.
///
/// Yields `Ok` for each well-formed message and `Err` for each malformed one;
/// after an error that [ends the buffer](ParseError::ends_buffer) it yields
/// nothing more.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Messages<'_> {
    /// Offset in the buffer of the next message to decode.
    pub const fn position(&self) -> usize {
        self.pos
    }
}

/// Decodes the messages of `buf`, one `recv`'s worth of bytes.
pub const fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, pos: 0 }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let offset = self.pos;
        let Some(header) = Header::decode(rest) else {
            self.pos = self.buf.len();
            return Some(Err(ParseError {
                offset,
                header: None,
                kind: ParseErrorKind::TruncatedHeader { available: rest.len() },
            }));
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            self.pos = self.buf.len();
            return Some(Err(ParseError {
                offset,
                header: Some(header),
                kind: ParseErrorKind::BadLength { len: header.len, available: rest.len() },
            }));
        }
        // The last message of a datagram may lack its padding.
        self.pos = offset.saturating_add(align4(len)).min(self.buf.len());
        let payload = rest.get(NLMSG_HDRLEN..len).unwrap_or_default();
        Some(decode_payload(header, payload).map_err(|kind| ParseError {
            offset,
            header: Some(header),
            kind,
        }))
    }
}

fn decode_payload(header: Header, payload: &[u8]) -> Result<Message<'_>, ParseErrorKind> {
    match header.kind {
        msg_type::RTM_NEWLINK => decode_link(header, LinkOp::New, payload).map(Message::Link),
        msg_type::RTM_DELLINK => decode_link(header, LinkOp::Del, payload).map(Message::Link),
        msg_type::DONE => {
            // Old kernels sent DONE without the status word; treat that as success.
            let status = i32_at(payload, 0).unwrap_or(0);
            Ok(Message::Done { header, status })
        }
        msg_type::ERROR => {
            let code = i32_at(payload, 0)
                .ok_or(ParseErrorKind::TruncatedPayload { needed: 4, available: payload.len() })?;
            Ok(Message::Error { header, errno: code.wrapping_neg() })
        }
        msg_type::OVERRUN => Ok(Message::Overrun(header)),
        msg_type::NOOP => Ok(Message::Noop(header)),
        _ => Ok(Message::Other(header)),
    }
}

fn decode_link(header: Header, op: LinkOp, payload: &[u8]) -> Result<LinkMessage<'_>, ParseErrorKind> {
    let truncated = ParseErrorKind::TruncatedPayload { needed: IFINFOMSG_LEN, available: payload.len() };
    if payload.len() < IFINFOMSG_LEN {
        return Err(truncated);
    }
    let mut link = LinkMessage {
        header,
        op,
        family: payload[0],
        link_type: u16_at(payload, 2).ok_or(truncated)?,
        index: u32_at(payload, 4).ok_or(truncated)?,
        flags: u32_at(payload, 8).ok_or(truncated)?,
        change: u32_at(payload, 12).ok_or(truncated)?,
        name: None,
        mtu: None,
        master: None,
        kind: None,
        operstate: None,
        address: None,
    };
    for attr in attributes(payload.get(IFINFOMSG_LEN..).unwrap_or_default()) {
        let (kind, value) = attr?;
        match kind {
            ifla::IFNAME => link.name = Some(c_string(value)),
            ifla::MTU => link.mtu = Some(exact_u32(kind, value)?),
            ifla::MASTER => link.master = Some(exact_u32(kind, value)?),
            ifla::ADDRESS => link.address = Some(value),
            ifla::OPERSTATE => match value {
                [state] => link.operstate = Some(*state),
                _ => return Err(ParseErrorKind::BadAttributeValue { attr: kind, len: value.len() }),
            },
            ifla::LINKINFO => {
                for info in attributes(value) {
                    let (info_kind, info_value) = info?;
                    if info_kind == ifla::INFO_KIND {
                        link.kind = Some(c_string(info_value));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(link)
}

/// Iterates over `(type, value)` of a run of attributes. Stops after the
/// first error. Fewer than 4 trailing bytes are padding and are ignored, as
/// the kernel and libnl do.
fn attributes(mut bytes: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), ParseErrorKind>> {
    core::iter::from_fn(move || {
        let (len, raw_kind) = (u16_at(bytes, 0)?, u16_at(bytes, 2)?);
        let kind = raw_kind & NLA_TYPE_MASK;
        let Some(value) = bytes.get(4..len as usize).filter(|_| len >= 4) else {
            bytes = &[];
            return Some(Err(ParseErrorKind::BadAttributeLength { attr: kind, len }));
        };
        bytes = bytes.get(align4(len as usize)..).unwrap_or_default();
        Some(Ok((kind, value)))
    })
}

fn c_string(value: &[u8]) -> &[u8] {
    match value.iter().position(|&b| b == 0) {
        Some(end) => &value[..end],
        None => value,
    }
}

fn exact_u32(attr: u16, value: &[u8]) -> Result<u32, ParseErrorKind> {
    match value {
        [a, b, c, d] => Ok(u32::from_ne_bytes([*a, *b, *c, *d])),
        _ => Err(ParseErrorKind::BadAttributeValue { attr, len: value.len() }),
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let raw = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([raw[0], raw[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    u32_at(bytes, at).map(|v| v as i32)
}

/// A buffer was too small for what was to be written into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSmall {
    /// Bytes needed.
    pub needed: usize,
}

/// An `RTM_NEWLINK` / `RTM_DELLINK` to write (the kernel's side: for
/// scripted link sources, tests and fuzzing), with the attributes portsyncd
/// reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRepr<'a> {
    /// New or del.
    pub op: LinkOp,
    /// Sequence number (0 for a notification, the request's for a dump reply).
    pub seq: u32,
    /// `nlmsg_flags` (`MULTI` for dump replies).
    pub msg_flags: u16,
    /// ifindex.
    pub index: u32,
    /// ifi_flags.
    pub flags: u32,
    /// IFLA_IFNAME (without its NUL).
    pub name: &'a [u8],
    /// IFLA_MTU.
    pub mtu: Option<u32>,
    /// IFLA_MASTER.
    pub master: Option<u32>,
    /// IFLA_LINKINFO / IFLA_INFO_KIND.
    pub kind: Option<&'a [u8]>,
}

fn put_attr(buf: &mut [u8], at: usize, kind: u16, value: &[&[u8]]) -> usize {
    let len = 4 + value.iter().map(|v| v.len()).sum::<usize>();
    buf[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    buf[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
    let mut p = at + 4;
    for v in value {
        buf[p..p + v.len()].copy_from_slice(v);
        p += v.len();
    }
    let end = at + align4(len);
    buf[p..end].fill(0);
    end
}

impl LinkRepr<'_> {
    /// Bytes [`emit`](Self::emit) writes.
    pub fn len(&self) -> usize {
        let attr = |value: usize| align4(4 + value);
        NLMSG_HDRLEN
            + IFINFOMSG_LEN
            + attr(self.name.len() + 1)
            + self.mtu.map_or(0, |_| attr(4))
            + self.master.map_or(0, |_| attr(4))
            + self.kind.map_or(0, |k| attr(attr(k.len())))
    }

    /// Never empty: a message has at least its headers.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the message at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, TooSmall> {
        let len = self.len();
        let Some(buf) = buf.get_mut(..len) else { return Err(TooSmall { needed: len }) };
        let kind = if self.op == LinkOp::New { msg_type::RTM_NEWLINK } else { msg_type::RTM_DELLINK };
        emit_header(buf, len, kind, self.msg_flags, self.seq);
        let info = &mut buf[NLMSG_HDRLEN..NLMSG_HDRLEN + IFINFOMSG_LEN];
        info.fill(0);
        info[4..8].copy_from_slice(&self.index.to_ne_bytes());
        info[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        let mut at = NLMSG_HDRLEN + IFINFOMSG_LEN;
        at = put_attr(buf, at, ifla::IFNAME, &[self.name, &[0]]);
        if let Some(mtu) = self.mtu {
            at = put_attr(buf, at, ifla::MTU, &[&mtu.to_ne_bytes()]);
        }
        if let Some(master) = self.master {
            at = put_attr(buf, at, ifla::MASTER, &[&master.to_ne_bytes()]);
        }
        if let Some(kind) = self.kind {
            let inner = align4(4 + kind.len());
            let outer = (4 + inner) as u16;
            buf[at..at + 2].copy_from_slice(&outer.to_ne_bytes());
            buf[at + 2..at + 4].copy_from_slice(&ifla::LINKINFO.to_ne_bytes());
            at = put_attr(buf, at + 4, ifla::INFO_KIND, &[kind]);
        }
        debug_assert_eq!(at, len);
        Ok(len)
    }
}

fn emit_header(buf: &mut [u8], len: usize, kind: u16, flags: u16, seq: u32) {
    buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf[12..16].fill(0);
}

/// Writes the `NLMSG_DONE` that ends dump `seq`; returns its length (20).
pub fn emit_done(buf: &mut [u8], seq: u32) -> Result<usize, TooSmall> {
    let len = NLMSG_HDRLEN + 4;
    let Some(buf) = buf.get_mut(..len) else { return Err(TooSmall { needed: len }) };
    emit_header(buf, len, msg_type::DONE, msg_flags::MULTI, seq);
    buf[NLMSG_HDRLEN..].fill(0);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::{
        Header, LinkOp, LinkRepr, Message, NLMSG_HDRLEN, ParseError, ParseErrorKind, TooSmall, emit_done,
        iff, messages, msg_flags, msg_type,
    };

    /// Builds one message into `out`; returns its length.
    fn put(out: &mut [u8], kind: u16, flags: u16, seq: u32, payload: &[u8]) -> usize {
        let len = NLMSG_HDRLEN + payload.len();
        out[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        out[4..6].copy_from_slice(&kind.to_ne_bytes());
        out[6..8].copy_from_slice(&flags.to_ne_bytes());
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
        out[12..16].copy_from_slice(&0u32.to_ne_bytes());
        out[16..len].copy_from_slice(payload);
        len
    }

    fn ifinfo(index: u32, flags: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b
    }

    #[test]
    fn decodes_link_attributes_last_wins_and_strings_stop_at_nul() {
        let mut p = [0u8; 64];
        p[..16].copy_from_slice(&ifinfo(7, iff::UP | iff::RUNNING));
        // IFNAME "Eth\0x" (len 9, padded to 12), then MTU twice.
        p[16..25].copy_from_slice(&[9, 0, 3, 0, b'E', b't', b'h', 0, b'x']);
        p[28..36].copy_from_slice(&[8, 0, 4, 0, 0xdc, 0x05, 0, 0]);
        p[36..44].copy_from_slice(&[8, 0, 4, 0x40, 0x8c, 0x23, 0, 0]);
        let mut buf = [0u8; 128];
        let n = put(&mut buf, msg_type::RTM_NEWLINK, 0, 0, &p[..44]);
        let mut it = messages(&buf[..n]);
        let Some(Ok(Message::Link(link))) = it.next() else { panic!("not a link") };
        assert_eq!(link.index, 7);
        assert_eq!(link.name, Some(&b"Eth"[..]));
        assert_eq!(link.mtu, Some(9100));
        assert!(link.is_admin_up() && link.is_oper_up());
        assert!(it.next().is_none());
    }

    #[test]
    fn bad_length_ends_the_buffer() {
        let mut buf = [0u8; 64];
        put(&mut buf, msg_type::NOOP, 0, 0, &[]);
        buf[0..4].copy_from_slice(&200u32.to_ne_bytes());
        let mut it = messages(&buf);
        let err = it.next().unwrap().unwrap_err();
        assert!(err.ends_buffer());
        assert!(it.next().is_none());
        // Too short a length also ends it (no progress could be made).
        buf[0..4].copy_from_slice(&3u32.to_ne_bytes());
        let mut it = messages(&buf);
        assert!(matches!(
            it.next(),
            Some(Err(ParseError { kind: ParseErrorKind::BadLength { len: 3, .. }, .. }))
        ));
        assert!(it.next().is_none());
    }

    #[test]
    fn broken_message_is_skipped_and_decoding_goes_on() {
        let mut buf = [0u8; 128];
        // A NEWLINK with a truncated ifinfomsg, then a DONE.
        let a = put(&mut buf, msg_type::RTM_NEWLINK, 0, 0, &[0; 8]);
        let b = put(&mut buf[a..], msg_type::DONE, msg_flags::MULTI, 5, &0i32.to_ne_bytes());
        let mut it = messages(&buf[..a + b]);
        assert!(matches!(
            it.next(),
            Some(Err(ParseError { offset: 0, kind: ParseErrorKind::TruncatedPayload { .. }, .. }))
        ));
        assert!(matches!(it.next(), Some(Ok(Message::Done { status: 0, .. }))));
        assert!(it.next().is_none());
    }

    #[test]
    fn attribute_lying_about_its_length_is_an_error() {
        let mut p = [0u8; 24];
        p[..16].copy_from_slice(&ifinfo(1, 0));
        p[16..20].copy_from_slice(&[200, 0, 3, 0]);
        let mut buf = [0u8; 64];
        let n = put(&mut buf, msg_type::RTM_DELLINK, 0, 0, &p);
        assert!(matches!(
            messages(&buf[..n]).next(),
            Some(Err(ParseError { kind: ParseErrorKind::BadAttributeLength { attr: 3, len: 200 }, .. }))
        ));
        // Wrong-size MTU.
        p[16..24].copy_from_slice(&[6, 0, 4, 0, 1, 2, 0, 0]);
        let n = put(&mut buf, msg_type::RTM_NEWLINK, 0, 0, &p);
        assert!(matches!(
            messages(&buf[..n]).next(),
            Some(Err(ParseError { kind: ParseErrorKind::BadAttributeValue { attr: 4, len: 2 }, .. }))
        ));
    }

    #[test]
    fn error_message_reports_positive_errno() {
        let mut buf = [0u8; 64];
        let mut payload = [0u8; 20];
        payload[..4].copy_from_slice(&(-19i32).to_ne_bytes());
        let n = put(&mut buf, msg_type::ERROR, 0, 9, &payload);
        assert!(matches!(
            messages(&buf[..n]).next(),
            Some(Ok(Message::Error { errno: 19, header: Header { seq: 9, .. } }))
        ));
    }

    #[test]
    fn unpadded_last_message_and_short_tail() {
        let mut buf = [0u8; 64];
        let n = put(&mut buf, 0x99, 0, 0, &[1, 2, 3]); // 19 bytes, unpadded
        let mut it = messages(&buf[..n]);
        assert!(matches!(it.next(), Some(Ok(Message::Other(_)))));
        assert!(it.next().is_none());
        let mut it = messages(&buf[..n + 6]);
        it.next();
        assert!(matches!(
            it.next(),
            Some(Err(ParseError { kind: ParseErrorKind::TruncatedHeader { available: 5 }, .. }))
        ));
    }

    #[test]
    fn emitted_links_parse_back() {
        let repr = LinkRepr {
            op: LinkOp::New,
            seq: 9,
            msg_flags: msg_flags::MULTI,
            index: 7,
            flags: iff::UP | iff::RUNNING,
            name: b"Ethernet4",
            mtu: Some(9100),
            master: Some(3),
            kind: Some(b"team"),
        };
        let mut buf = [0u8; 256];
        assert_eq!(repr.emit(&mut buf[..10]), Err(TooSmall { needed: repr.len() }));
        let n = repr.emit(&mut buf).unwrap();
        let m = emit_done(&mut buf[n..], 9).unwrap();
        let mut parsed = messages(&buf[..n + m]);
        let Some(Ok(Message::Link(link))) = parsed.next() else { panic!("not a link") };
        assert_eq!((link.header.seq, link.index, link.flags), (9, 7, iff::UP | iff::RUNNING));
        assert_eq!(
            (link.name, link.mtu, link.master, link.kind),
            (Some(&b"Ethernet4"[..]), Some(9100), Some(3), Some(&b"team"[..]))
        );
        assert!(matches!(parsed.next(), Some(Ok(Message::Done { .. }))));
        assert!(parsed.next().is_none());
    }
}
