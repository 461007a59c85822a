//! A classic BPF program for the rtnetlink socket that drops, in the
//! kernel, the link notifications of links this instance does not take —
//! links that are no port at all (a veth peer, a bridge, `eth0`), and for
//! partitioned instances another instance's ports — so that they do not
//! wake the process at all.
//!
//! The kernel delivers every `RTM_NEWLINK`/`RTM_DELLINK` notification to
//! every subscribed socket; a socket filter runs on each one before it is
//! queued. Notifications (sequence number 0) of a denied ifindex are
//! dropped; everything else passes: dump replies and answers to our own
//! requests (a non-zero sequence number: a reconciliation still sees every
//! link), other message types, and every other ifindex (a link not seen yet
//! is never denied). A single instance also keeps every notification whose
//! name (the first attribute, as the kernel writes link messages) is a
//! port's (`Ethernet…`, `PortChannel…`), whatever its ifindex: a link renamed
//! into a port is seen at once.
//!
//! This module writes the program into a caller's buffer; it does not
//! attach it (the netlink adapter does, with `SO_ATTACH_FILTER`), or decide
//! which ifindexes to deny (the driver does, from the links the engine
//! ignored as another instance's).
//!
//! Byte order: a socket filter's `ld`/`ldh` read the packet big-endian,
//! while netlink messages are in host order, so every constant compared
//! with a loaded field is the field's host bytes read big-endian.

use crate::netlink::msg_type;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    /// Operation.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// `BPF_LD | BPF_W | BPF_ABS`: A = the 32-bit word at offset k.
pub const LD_W_ABS: u16 = 0x20;
/// `BPF_LD | BPF_H | BPF_ABS`: A = the 16-bit half-word at offset k.
pub const LD_H_ABS: u16 = 0x28;
/// `BPF_JMP | BPF_JEQ | BPF_K`: jump by jt if A == k, else by jf.
pub const JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K`: keep k bytes of the packet (0: drop it).
pub const RET_K: u16 = 0x06;

/// Keep the whole packet.
pub const ACCEPT: u32 = u32::MAX;
/// Drop it.
pub const DROP: u32 = 0;

/// The most instructions the kernel takes in one program (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Instructions before the denied ifindexes, and after them; the port-name
/// check adds [`NAME_CHECK`] to the head.
const HEAD: usize = 8;
const NAME_CHECK: usize = 11; // 10 and the ifindex loaded again
const TAIL: usize = 1;

/// The most ifindexes one program denies.
pub const MAX_DENIED: usize = (MAX_INSNS - HEAD - NAME_CHECK - TAIL) / 2;

/// Which link notifications a link source has the kernel drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkDenial<'a> {
    /// Notifications of these ifindexes are dropped...
    pub ifindexes: &'a [u32],
    /// ...unless they name a port (`Ethernet…`, `PortChannel…`). A single
    /// instance denies only links that are no port, so a link renamed into
    /// a port is seen at once; partitioned instances deny ports as well
    /// (other instances').
    pub keep_port_names: bool,
}

/// The buffer is too small, or there are too many ifindexes for one program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSmall {
    /// Instructions the program needs.
    pub needed: usize,
}

impl core::fmt::Display for TooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "a link filter needs {} instructions (at most {MAX_INSNS})", self.needed)
    }
}

impl core::error::Error for TooSmall {}

/// `value`'s host bytes read big-endian, as `ld` sees them.
const fn as_loaded32(value: u32) -> u32 {
    u32::from_be_bytes(value.to_ne_bytes())
}

const fn as_loaded16(value: u16) -> u32 {
    u16::from_be_bytes(value.to_ne_bytes()) as u32
}

/// Instructions a program denying `denied` ifindexes needs.
pub const fn program_len(denied: usize, keep_port_names: bool) -> usize {
    HEAD + if keep_port_names { NAME_CHECK } else { 0 } + 2 * denied + TAIL
}

/// The first four bytes of `name` as `ld` loads them.
const fn word(name: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([name[at], name[at + 1], name[at + 2], name[at + 3]])
}

/// Writes into `out` the program that drops the link notifications
/// `denial` names; returns its length.
pub fn deny_ifindexes(denial: LinkDenial<'_>, out: &mut [Insn]) -> Result<usize, TooSmall> {
    let LinkDenial { ifindexes: denied, keep_port_names } = denial;
    let needed = program_len(denied.len(), keep_port_names);
    if needed > MAX_INSNS || needed > out.len() {
        return Err(TooSmall { needed });
    }
    let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
    // nlmsghdr: len @0, type @4 (u16), flags @6, seq @8, pid @12;
    // ifinfomsg: family @16, type @18, index @20.
    let head = [
        insn(LD_W_ABS, 0, 0, 8),
        // A notification (seq 0) goes on; anything else is kept.
        insn(JEQ_K, 1, 0, 0),
        insn(RET_K, 0, 0, ACCEPT),
        insn(LD_H_ABS, 0, 0, 4),
        insn(JEQ_K, 2, 0, as_loaded16(msg_type::RTM_NEWLINK)),
        insn(JEQ_K, 1, 0, as_loaded16(msg_type::RTM_DELLINK)),
        insn(RET_K, 0, 0, ACCEPT),
        insn(LD_W_ABS, 0, 0, 20),
    ];
    out[..HEAD].copy_from_slice(&head);
    let mut at = HEAD;
    if keep_port_names {
        // The first attribute (rtattr: len @32, type @34, then the value
        // @36): IFLA_IFNAME, as the kernel writes link notifications. Both
        // prefixes are 8 bytes; a name that matches goes on (A is reloaded
        // with the ifindex for the list below otherwise).
        let (e, p) = (b"Ethernet", b"PortChannel");
        let check = [
            insn(LD_H_ABS, 0, 0, 34),
            insn(JEQ_K, 0, 8, as_loaded16(crate::netlink::ifla::IFNAME)),
            insn(LD_W_ABS, 0, 0, 36),
            insn(JEQ_K, 0, 2, word(e, 0)),
            insn(LD_W_ABS, 0, 0, 40),
            insn(JEQ_K, 3, 4, word(e, 4)),
            insn(JEQ_K, 0, 3, word(p, 0)),
            insn(LD_W_ABS, 0, 0, 40),
            insn(JEQ_K, 0, 1, word(p, 4)),
            insn(RET_K, 0, 0, ACCEPT),
        ];
        out[at..at + check.len()].copy_from_slice(&check);
        at += check.len();
        out[at] = insn(LD_W_ABS, 0, 0, 20);
        at += 1;
    }
    for &ifindex in denied {
        // Equal: fall through to the drop; else skip it.
        out[at] = insn(JEQ_K, 0, 1, as_loaded32(ifindex));
        out[at + 1] = insn(RET_K, 0, 0, DROP);
        at += 2;
    }
    out[at] = insn(RET_K, 0, 0, ACCEPT);
    Ok(at + 1)
}

/// Runs `program` on `packet` as the kernel would (the instructions this
/// module writes only; any other ends the run, as a drop): the bytes kept,
/// 0 for a drop. For test doubles of a link source, which filter what they
/// deliver with the very program a real socket gets.
pub fn kept(program: &[Insn], packet: &[u8]) -> u32 {
    let mut pc = 0usize;
    let mut a = 0u32;
    while let Some(i) = program.get(pc) {
        match i.code {
            LD_W_ABS | LD_H_ABS => {
                let k = i.k as usize;
                let n = if i.code == LD_W_ABS { 4 } else { 2 };
                // A load past the end ends the program with a drop (the kernel's rule).
                let Some(bytes) = packet.get(k..k + n) else { return DROP };
                a = bytes.iter().fold(0, |v, &b| (v << 8) | u32::from(b));
                pc += 1;
            }
            JEQ_K => pc += 1 + usize::from(if a == i.k { i.jt } else { i.jf }),
            RET_K => return i.k,
            _ => return DROP,
        }
    }
    DROP
}

#[cfg(test)]
mod tests {
    use super::{
        ACCEPT, DROP, HEAD, Insn, LinkDenial, MAX_DENIED, MAX_INSNS, TAIL, TooSmall, deny_ifindexes, kept,
        msg_type,
    };
    use crate::netlink::{LinkOp, LinkRepr, msg_flags};

    fn run(program: &[Insn], packet: &[u8]) -> u32 {
        kept(program, packet)
    }

    fn message(op: LinkOp, seq: u32, index: u32) -> [u8; 64] {
        named(op, seq, index, b"v0")
    }

    fn named(op: LinkOp, seq: u32, index: u32, name: &[u8]) -> [u8; 64] {
        let repr = LinkRepr {
            op,
            seq,
            msg_flags: if seq == 0 { 0 } else { msg_flags::MULTI },
            index,
            flags: 0x1043,
            name,
            mtu: Some(9100),
            master: None,
            kind: None,
        };
        let mut buf = [0u8; 64];
        assert!(repr.len() <= 64);
        repr.emit(&mut buf).unwrap();
        buf
    }

    #[test]
    fn denied_notifications_are_dropped_and_everything_else_kept() {
        let mut program = [Insn::default(); 64];
        let len =
            deny_ifindexes(LinkDenial { ifindexes: &[7, 300, 70_000], keep_port_names: false }, &mut program)
                .unwrap();
        let program = &program[..len];
        // Without the name check, a port's name does not save it.
        assert_eq!(run(program, &named(LinkOp::New, 0, 7, b"Ethernet4")), DROP);
        for denied in [7, 300, 70_000] {
            assert_eq!(run(program, &message(LinkOp::New, 0, denied)), DROP, "{denied}");
            assert_eq!(run(program, &message(LinkOp::Del, 0, denied)), DROP, "{denied}");
            // A dump reply of it is kept: a reconciliation sees every link.
            assert_eq!(run(program, &message(LinkOp::New, 9, denied)), ACCEPT);
        }
        for other in [0, 1, 6, 8, 299, 301, 1 << 24] {
            assert_eq!(run(program, &message(LinkOp::New, 0, other)), ACCEPT, "{other}");
        }
        // Another message type with a denied number where the ifindex would be.
        let mut done = message(LinkOp::New, 0, 7);
        done[4..6].copy_from_slice(&msg_type::DONE.to_ne_bytes());
        assert_eq!(run(program, &done), ACCEPT);
    }

    #[test]
    fn no_denied_ifindex_keeps_everything_and_the_size_is_bounded() {
        let deny = |ifindexes, keep_port_names| LinkDenial { ifindexes, keep_port_names };
        let mut program = [Insn::default(); HEAD + TAIL];
        let len = deny_ifindexes(deny(&[], false), &mut program).unwrap();
        assert_eq!(run(&program[..len], &message(LinkOp::New, 0, 7)), ACCEPT);
        let mut small = [Insn::default(); 10];
        assert_eq!(deny_ifindexes(deny(&[1, 2], false), &mut small), Err(TooSmall { needed: 13 }));
        assert_eq!(deny_ifindexes(deny(&[1, 2], true), &mut small), Err(TooSmall { needed: 24 }));
        let too_many = [1u32; MAX_INSNS / 2];
        let mut big = [Insn::default(); MAX_INSNS];
        assert!(deny_ifindexes(deny(&too_many[..MAX_DENIED + 1], true), &mut big).is_err());
        for keep in [false, true] {
            assert!(deny_ifindexes(deny(&too_many, keep), &mut big).is_err());
            assert_eq!(
                deny_ifindexes(deny(&too_many[..MAX_DENIED], keep), &mut big).map(|n| n <= MAX_INSNS),
                Ok(true)
            );
        }
    }

    #[test]
    fn a_port_name_is_kept_whatever_its_ifindex_when_asked() {
        let mut program = [Insn::default(); 64];
        let denial = LinkDenial { ifindexes: &[7, 8], keep_port_names: true };
        let len = deny_ifindexes(denial, &mut program).unwrap();
        let program = &program[..len];
        for name in [&b"Ethernet0"[..], b"Ethernet124", b"Ethernet0.10", b"PortChannel0001", b"Ethernet-BP0"]
        {
            for op in [LinkOp::New, LinkOp::Del] {
                assert_eq!(run(program, &named(op, 0, 7, name)), ACCEPT, "{}", name.escape_ascii());
            }
        }
        // Not a port's name (a prefix's first word alone is not enough): the
        // list decides.
        for name in [&b"v0"[..], b"eth0", b"Ethernex0", b"Ethe", b"PortChan", b"Port0", b"Bridge"] {
            let expected = if name.len() >= 8 && name.starts_with(b"PortChan") { ACCEPT } else { DROP };
            assert_eq!(run(program, &named(LinkOp::New, 0, 8, name)), expected, "{}", name.escape_ascii());
            assert_eq!(run(program, &named(LinkOp::New, 0, 9, name)), ACCEPT, "{}", name.escape_ascii());
        }
        // Dump replies and other messages pass as before.
        assert_eq!(run(program, &named(LinkOp::New, 5, 7, b"v0")), ACCEPT);
    }
}
