//! Arbitrary interleavings of kernel events, database answers, failures and
//! time, driving the core's driver as the daemon does. Invariants: no panic;
//! every request answered in kind; memory bounded (the driver's tables never
//! exceed their capacities: nothing grows); PortInitDone produced at most
//! once and never before PortConfigDone; and once faults stop and time
//! passes, the modelled STATE_DB equals the modelled kernel.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portsyncd_core::PortName;
use portsyncd_core::backend::{BackendStatus, Db};
use portsyncd_core::alerts::AlertSettings;
use portsyncd_core::driver::{
    Driver, DriverConfig, Io, Read, Reply, Signal, SnapshotLoad, WriteResult, default_rules,
};
use portsyncd_core::engine::LinkState;
use portsyncd_core::netlink::{LinkOp, LinkRepr, Message, emit_done, iff, messages, msg_flags};
use portsyncd_core::time::Instant;
use portsyncd_core::warm::{Snapshot, SnapshotPort};
use portsyncd_core::writes::WriteOp;

/// Small capacities, so that full tables are reached.
type Small = Driver<8, 4>;

const PORTS: [&str; 6] = ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12", "Ethernet16", "Ethernet20"];

#[derive(Arbitrary, Debug)]
enum Op {
    /// The kernel changes a port and tells (or, with `lost`, loses the
    /// notification in an overrun).
    Link { port: u8, exists: bool, up: bool, running: bool, mtu: u8, lost: bool },
    /// A datagram of garbage.
    Garbage(Vec<u8>),
    /// A datagram with a message of another kind of link.
    Other { name_len: u8, index: u8 },
    /// The pending datagrams are read (one batch).
    Receive,
    /// Time passes.
    Advance(u16),
    /// The next n reads fail.
    FailReads(u8),
    /// The next n writes are refused.
    RefuseWrites(u8),
    /// The database becomes unreachable (writes kept, reads fail) or comes back.
    Reachable(bool),
    /// The next dump never ends.
    StallDump,
    /// The netlink socket fails (notifications lost until it is open
    /// again); opening it again fails this many times first.
    LinksFail { reopen_failures: u8 },
    /// SIGTERM: the run must end cleanly (and the rest of the input is moot).
    Terminate,
}

/// How the run starts: cold with an empty kernel, or warm over what an
/// earlier run left (APPL_DB has every port).
#[derive(Arbitrary, Debug)]
struct Start {
    warm: bool,
    /// Per port: in the kernel, its state, in STATE_DB (as the kernel, or
    /// stale), in the snapshot.
    ports: [(bool, bool, bool, u8, u8); 6],
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: Start,
    ops: Vec<Op>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kernel {
    index: u32,
    up: bool,
    running: bool,
    mtu: u32,
}

#[derive(Default)]
struct World {
    kernel: BTreeMap<&'static str, Kernel>,
    /// STATE_DB PORT_TABLE, as written.
    state: BTreeMap<String, (bool, bool, u32)>,
    /// APPL_DB PORT_TABLE keys produced.
    appl: BTreeMap<String, ()>,
    /// Writes kept while unreachable: applied in order on reconnect.
    kept: Vec<WriteOp>,
    reachable: bool,
    fail_reads: u8,
    refuse_writes: u8,
    stall_dump: bool,
    queue: Vec<Vec<u8>>,
    overrun: bool,
    next_seq: u32,
    config_done: bool,
    init_done: u32,
    now: u64,
    next_index: u32,
    warm: bool,
    snapshot: Option<Snapshot<8>>,
    exited: bool,
    /// The netlink socket failed: notifications are lost until it is open again.
    links_down: bool,
    reopen_failures: u8,
}

impl World {
    fn datagram(&mut self, repr: LinkRepr<'_>) {
        if self.links_down {
            return;
        }
        let mut buf = vec![0; repr.len()];
        repr.emit(&mut buf).unwrap();
        self.queue.push(buf);
    }

    fn notify(&mut self, name: &'static str, k: Option<Kernel>, index: u32) {
        let op = if k.is_some() { LinkOp::New } else { LinkOp::Del };
        let k = k.unwrap_or(Kernel { index, up: false, running: false, mtu: 1500 });
        self.datagram(LinkRepr {
            op,
            seq: 0,
            msg_flags: 0,
            index: k.index,
            flags: flags(&k),
            name: name.as_bytes(),
            mtu: Some(k.mtu),
            master: None,
            kind: Some(b"veth"),
        });
    }

    fn apply(&mut self, op: &WriteOp) {
        match op {
            WriteOp::SetStatePort { name, state } => {
                self.state.insert(name.to_string(), (state.admin_up, state.oper_up, state.mtu));
            }
            WriteOp::DelStatePort { name } => {
                self.state.remove(name.as_str());
            }
            WriteOp::ProduceConfigPort { name } => {
                self.appl.insert(name.to_string(), ());
            }
            WriteOp::PortConfigDone { .. } => self.config_done = true,
            WriteOp::PortInitDone => {
                assert!(self.config_done, "PortInitDone before PortConfigDone");
                self.init_done += 1;
                assert_eq!(self.init_done, 1, "PortInitDone twice");
            }
            WriteOp::LoggerDefaults { .. } | WriteOp::RestoreCount { .. } | WriteOp::InstanceState { .. } => {}
        }
    }

    /// Answers everything the driver asks, as the daemon's ferry would.
    fn serve(&mut self, d: &mut Small) {
        let now = Instant::from_millis(self.now);
        for _ in 0..100_000 {
            while d.poll_event().is_some() {}
            let Some(io) = d.poll_io() else {
                if d.poll_event().is_none() {
                    return;
                }
                continue;
            };
            match io {
                Io::Read(read) => {
                    let fail = !self.reachable || self.fail_reads > 0;
                    self.fail_reads = self.fail_reads.saturating_sub(1);
                    let replies = self.read(read);
                    if fail {
                        d.handle_reply(now, Reply::Failed).unwrap();
                        continue;
                    }
                    if let Some(v) = replies.value {
                        d.handle_reply(now, Reply::Value(v)).unwrap();
                    }
                    for (index, field, value) in &replies.fields {
                        d.handle_reply(
                            now,
                            Reply::Field { index: *index, field: field.as_bytes(), value: value.as_bytes() },
                        )
                        .unwrap();
                    }
                    for (index, present) in replies.flags {
                        d.handle_reply(now, Reply::Flag { index, present }).unwrap();
                    }
                    for key in &replies.keys {
                        d.handle_reply(now, Reply::Key(key.as_bytes())).unwrap();
                    }
                    d.handle_reply(now, Reply::Done).unwrap();
                }
                Io::Write(ops) => {
                    let ops = ops.to_vec();
                    if self.refuse_writes > 0 && self.reachable {
                        self.refuse_writes -= 1;
                        d.handle_write(now, WriteResult::Refused).unwrap();
                    } else if self.reachable {
                        // As every backend does: kept writes go out first.
                        for op in std::mem::take(&mut self.kept) {
                            self.apply(&op);
                        }
                        ops.iter().for_each(|op| self.apply(op));
                        d.handle_write(now, WriteResult::Done).unwrap();
                    } else {
                        self.kept.extend(ops);
                        d.handle_write(now, WriteResult::Done).unwrap();
                    }
                }
                Io::WriteAlarm(_) => {
                    let refused = self.refuse_writes > 0 || !self.reachable;
                    self.refuse_writes = self.refuse_writes.saturating_sub(1);
                    let result = if refused { WriteResult::Refused } else { WriteResult::Done };
                    d.handle_write(now, result).unwrap();
                }
                Io::DenyLinks(_) => d.handle_links_denied(now, true).unwrap(),
                Io::ReopenLinks => {
                    let open = self.reopen_failures == 0;
                    self.reopen_failures = self.reopen_failures.saturating_sub(1);
                    self.links_down = !open;
                    d.handle_links_reopened(now, open).unwrap();
                }
                Io::RequestDump => {
                    assert!(d.links_up(), "no dump is asked of a failed link source");
                    self.next_seq += 1;
                    let seq = self.next_seq;
                    let mut buf = Vec::new();
                    for (name, k) in self.kernel.clone() {
                        let repr = LinkRepr {
                            op: LinkOp::New,
                            seq,
                            msg_flags: msg_flags::MULTI,
                            index: k.index,
                            flags: flags(&k),
                            name: name.as_bytes(),
                            mtu: Some(k.mtu),
                            master: None,
                            kind: Some(b"veth"),
                        };
                        let at = buf.len();
                        buf.resize(at + repr.len(), 0);
                        repr.emit(&mut buf[at..]).unwrap();
                    }
                    if !std::mem::take(&mut self.stall_dump) {
                        let at = buf.len();
                        buf.resize(at + 20, 0);
                        emit_done(&mut buf[at..], seq).unwrap();
                    }
                    self.queue.push(buf);
                    d.handle_dump_requested(now, Some(seq)).unwrap();
                }
                Io::BringLinkDown { .. } => d.handle_link_down(now, true).unwrap(),
                Io::LoadSnapshot => {
                    let load = match &self.snapshot {
                        Some(s) => SnapshotLoad::Loaded(s),
                        None => SnapshotLoad::Missing,
                    };
                    d.handle_snapshot(now, load).unwrap();
                }
                Io::SaveSnapshot(engine) => {
                    let _ = engine.snapshot();
                    d.handle_snapshot_saved(now, Some(64)).unwrap();
                }
                Io::Maintain { .. } => {
                    let status = if self.reachable {
                        for op in std::mem::take(&mut self.kept) {
                            self.apply(&op);
                        }
                        BackendStatus::Connected
                    } else {
                        BackendStatus::Degraded { pending: self.kept.len() }
                    };
                    d.handle_backend_status(now, status).unwrap();
                }
                Io::SetLogLevel(_) | Io::SetLogOutput(_) | Io::Notify(_) => {}
                Io::Exit(r) => {
                    assert_eq!(r, Ok(()), "only a signal ends a run here");
                    assert!(self.exited, "exit without a signal");
                    return;
                }
            }
        }
        panic!("the driver never settles");
    }

    fn read(&self, read: Read<'_>) -> Replies {
        let mut r = Replies::default();
        match read {
            Read::Field { table: "WARM_RESTART_ENABLE_TABLE", .. } if self.warm => r.value = Some(b"true"),
            Read::Field { table: "WARM_RESTART_TABLE", .. } if self.warm => r.value = Some(b"0"),
            Read::Hashes { db: Db::State, keys, .. } => {
                for (i, k) in keys.iter().enumerate() {
                    if let Some(&(admin, oper, mtu)) = self.state.get(k.as_str()) {
                        let ud = |b: bool| if b { "up" } else { "down" }.to_string();
                        r.fields.push((i, "state".into(), "ok".into()));
                        r.fields.push((i, "netdev_oper_status".into(), ud(oper)));
                        r.fields.push((i, "admin_status".into(), ud(admin)));
                        r.fields.push((i, "mtu".into(), mtu.to_string()));
                    }
                }
            }
            Read::Keys { db: Db::Config, .. } => r.keys = PORTS.iter().map(|p| p.to_string()).collect(),
            Read::Exists { keys, .. } => {
                r.flags =
                    keys.iter().enumerate().map(|(i, k)| (i, self.appl.contains_key(k.as_str()))).collect()
            }
            Read::HasField { keys, .. } => {
                r.flags = keys.iter().enumerate().map(|(i, _)| (i, false)).collect()
            }
            _ => {}
        }
        r
    }

    /// Every queued datagram as one batch, as the ferry reads them.
    fn receive(&mut self, d: &mut Small) {
        let now = Instant::from_millis(self.now);
        if std::mem::take(&mut self.overrun) {
            d.handle_overrun(now);
        }
        for datagram in std::mem::take(&mut self.queue) {
            let mut offset = 0;
            while offset < datagram.len() {
                offset += d.handle_datagram(now, &datagram[offset..]);
                if offset < datagram.len() {
                    self.serve(d);
                    assert!(d.takes_input(), "the driver must take the rest after its I/O");
                }
            }
        }
        d.handle_batch_end(now);
        d.handle_timeout(now);
        self.serve(d);
    }

    fn advance(&mut self, d: &mut Small, ms: u64) {
        let end = self.now + ms;
        loop {
            let next = d.poll_timeout().map_or(end, |t| t.as_millis().clamp(self.now, end));
            self.now = next;
            d.handle_timeout(Instant::from_millis(self.now));
            self.serve(d);
            self.receive(d);
            // Every deadline is ahead once its time has been handled (what
            // the input just made due, the next wake-up handles: the daemon
            // wakes at once for a deadline already passed): one still in the
            // past after that would make the daemon's loop spin.
            d.handle_timeout(Instant::from_millis(self.now));
            self.serve(d);
            assert!(
                d.exited().is_some() || d.poll_timeout().is_none_or(|t| t.as_millis() > self.now),
                "deadline {:?} not ahead of {} ms",
                d.poll_timeout(),
                self.now
            );
            if next == end {
                return;
            }
        }
    }
}

#[derive(Default)]
struct Replies {
    flags: Vec<(usize, bool)>,
    keys: Vec<String>,
    value: Option<&'static [u8]>,
    fields: Vec<(usize, String, String)>,
}

fn flags(k: &Kernel) -> u32 {
    (if k.up { iff::UP } else { 0 }) | (if k.running { iff::RUNNING } else { 0 })
}

fuzz_target!(|input: Input| {
    let mut w = World { reachable: true, next_index: 100, warm: input.start.warm, ..World::default() };
    if w.warm {
        // What an earlier run left: links, STATE_DB (as the kernel, or stale,
        // or gone), APPL_DB with every port, maybe a snapshot.
        let mut snapshot = Snapshot { port_init_done: true, ports: heapless::Vec::new() };
        for (i, &(in_kernel, in_state, in_snapshot, bits, mtu)) in input.start.ports.iter().enumerate() {
            let name = PORTS[i];
            let k = Kernel {
                index: 10 + i as u32,
                up: bits & 1 != 0,
                running: bits & 2 != 0,
                mtu: 1500 + u32::from(mtu),
            };
            if in_kernel {
                w.kernel.insert(name, k);
            }
            w.appl.insert(name.to_string(), ());
            let stale = bits & 4 != 0;
            if in_state {
                let held = if stale { (!k.up, k.running, k.mtu) } else { (k.up, k.running, k.mtu) };
                w.state.insert(name.to_string(), held);
            }
            if in_snapshot {
                let state = LinkState { ifindex: k.index, admin_up: k.up, oper_up: k.running, mtu: k.mtu };
                let _ = snapshot.ports.push(SnapshotPort { name: PortName::try_from(name).unwrap(), state });
            }
        }
        w.snapshot = input.start.ports.iter().any(|p| p.2).then_some(snapshot);
        w.config_done = true;
    }
    // Liveness on, as under a systemd watchdog: its timer and its
    // notifications are part of every run.
    let settings = DriverConfig {
        liveness_interval: Some(core::time::Duration::from_millis(100)),
        alarm_table: true,
        ..DriverConfig::default()
    };
    let mut d = Box::new(Small::new(Instant::from_millis(0), settings));
    // The shipped alert rules, evaluated every second, with rows to write.
    d.set_alert_rules(Instant::from_millis(0), AlertSettings::default(), &default_rules()).unwrap();
    w.serve(&mut d);
    w.receive(&mut d);
    if !w.warm {
        assert!(w.config_done, "cold start with an empty kernel produces PortConfigDone");
    }
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Link { port, exists, up, running, mtu, lost } => {
                let name = PORTS[usize::from(port) % PORTS.len()];
                // orchagent creates host interfaces only for ports in APPL_DB.
                if !w.appl.contains_key(name) {
                    continue;
                }
                let old = w.kernel.get(name).copied();
                let new = exists.then(|| Kernel {
                    index: old.map_or_else(
                        || {
                            w.next_index += 1;
                            w.next_index
                        },
                        |k| k.index,
                    ),
                    up,
                    running,
                    mtu: 1500 + u32::from(mtu),
                });
                match new {
                    Some(k) => w.kernel.insert(name, k),
                    None => w.kernel.remove(name),
                };
                if old.is_none() && new.is_none() {
                    continue;
                }
                if lost {
                    w.overrun = true;
                } else {
                    w.notify(name, new, old.map_or(0, |k| k.index));
                }
            }
            Op::Garbage(bytes) => {
                // Garbage, not a forged kernel: nothing in it may parse as a
                // link, a dump's end or an error (that would be a kernel lying).
                let forged = messages(&bytes).any(|m| {
                    matches!(m, Ok(Message::Link(_) | Message::Done { .. } | Message::Error { .. }))
                });
                if !forged {
                    w.queue.push(bytes);
                }
            }
            Op::Other { name_len, index } => {
                let name = &b"vethXXXXXXXXXXXXXXXXXXXX"[..usize::from(name_len % 24)];
                w.datagram(LinkRepr {
                    op: LinkOp::New,
                    seq: 0,
                    msg_flags: 0,
                    index: u32::from(index),
                    flags: iff::UP,
                    name,
                    mtu: None,
                    master: Some(1),
                    kind: None,
                });
            }
            Op::Receive => w.receive(&mut d),
            Op::Advance(ms) => w.advance(&mut d, u64::from(ms)),
            Op::FailReads(n) => w.fail_reads = n % 4,
            Op::RefuseWrites(n) => w.refuse_writes = n % 4,
            Op::Reachable(r) => w.reachable = r,
            Op::StallDump => w.stall_dump = true,
            Op::LinksFail { reopen_failures } => {
                if d.links_up() {
                    // The socket's queue goes with it.
                    w.queue.clear();
                    w.overrun = false;
                    w.links_down = true;
                    w.reopen_failures = reopen_failures % 4;
                    d.handle_link_source_failed(Instant::from_millis(w.now));
                    d.handle_batch_end(Instant::from_millis(w.now));
                    w.serve(&mut d);
                }
            }
            Op::Terminate => {
                w.exited = true;
                d.handle_signal(Instant::from_millis(w.now), Signal::Terminate);
                w.serve(&mut d);
                assert!(d.is_done(), "a signal ends the run");
                return;
            }
        }
        assert!(d.refused_writes() <= 2 * 8 + 2, "refused writes beyond the table");
    }
    // Faults stop; time passes.
    w.reachable = true;
    w.fail_reads = 0;
    w.refuse_writes = 0;
    w.stall_dump = false;
    w.receive(&mut d);
    w.advance(&mut d, 60_000);
    let kernel: BTreeMap<String, (bool, bool, u32)> =
        w.kernel.iter().map(|(n, k)| (n.to_string(), (k.up, k.running, k.mtu))).collect();
    assert_eq!(w.state, kernel, "STATE_DB does not match the kernel");
});
