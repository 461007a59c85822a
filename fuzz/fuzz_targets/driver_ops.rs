//! Arbitrary interleavings of kernel events, database answers, failures and
//! time, driving the core's driver as the daemon does: the world below is a
//! [`Facts`] (databases, a kernel, a link source, each failing as the input
//! says) and [`canned::answer_all`] carries out what the driver asks.
//! Invariants: no panic; every request answered in kind (an answer of
//! another kind does not compile); memory bounded (the driver's tables
//! never exceed their capacities: nothing grows); PortInitDone produced at
//! most once and never before PortConfigDone; every deadline ahead once its
//! time is handled; refused writes bounded by their table; and once faults
//! stop and time passes, the modelled STATE_DB equals the modelled kernel.

#![no_main]

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portsyncd_core::PortName;
use portsyncd_core::alerts::AlertSettings;
use portsyncd_core::backend::{BackendStatus, Received, StoreFault};
use portsyncd_core::driver::canned::{self, Facts, guard_missing};
use portsyncd_core::driver::{
    AlarmRow, Driver, DriverConfig, Failure, Input, Signal, WriteResult, default_rules,
};
use portsyncd_core::engine::LinkState;
use portsyncd_core::netlink::{LinkOp, LinkRepr, Message, emit_done, iff, messages, msg_flags};
use portsyncd_core::time::Instant;
use portsyncd_core::warm::SnapshotPort;
use portsyncd_core::writes::WriteOp;

/// Small capacities, so that full tables are reached.
type Small = Driver<8, 4>;

const PORTS: [&str; 6] = ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12", "Ethernet16", "Ethernet20"];

/// Requests one `answer_all` may carry out before the driver is taken to
/// never settle.
const SETTLES_WITHIN: u32 = 100_000;

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
    /// The save written beside the loop, if one is under way, finishes.
    SaveFinishes { ok: bool },
    /// SIGTERM: the run must end cleanly (and the rest of the input is moot).
    Terminate,
}

/// How the run starts: cold with an empty kernel, or warm over what an
/// earlier run left (APPL_DB has every port).
#[derive(Arbitrary, Debug)]
struct Start {
    warm: bool,
    /// Saves are written beside the loop (their outcome an op of its own).
    beside: bool,
    /// Per port: in the kernel, its state, in STATE_DB (as the kernel, or
    /// stale), in the snapshot.
    ports: [(bool, bool, bool, u8, u8); 6],
}

#[derive(Arbitrary, Debug)]
struct FuzzInput {
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
    /// The link source's queue.
    queue: VecDeque<Vec<u8>>,
    /// The datagram read last (the driver may take it in parts).
    current: Vec<u8>,
    /// Times the driver was handed the rest of `current`.
    rests: Cell<usize>,
    /// Notifications were lost: the next read says so.
    overrun: bool,
    /// The link source is read only while this is set (a receive step);
    /// otherwise it has nothing queued, as far as the driver can tell.
    reading: bool,
    next_seq: u32,
    config_done: bool,
    init_done: u32,
    now: u64,
    next_index: u32,
    warm: bool,
    snapshot: Option<Vec<SnapshotPort>>,
    /// SIGTERM was sent.
    terminated: bool,
    /// The driver handed out Io::Exit.
    exited: bool,
    /// Snapshots saved since the driver was last served.
    saves: u32,
    /// Saves are handed off; one is under way.
    beside: bool,
    under_way: bool,
    /// Requests carried out by the current `answer_all`.
    calls: u32,
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
        self.queue.push_back(buf);
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
            WriteOp::LoggerDefaults { .. } | WriteOp::RestoreCount { .. } | WriteOp::InstanceState { .. } => {
            }
        }
    }

    /// One more request carried out.
    fn call(&mut self) {
        self.calls += 1;
        assert!(self.calls < SETTLES_WITHIN, "the driver never settles");
    }

    /// Answers everything the driver asks, as the daemon's ferry would (the
    /// link source is read only in a receive step).
    fn serve(&mut self, d: &mut Small) {
        let now = Instant::from_millis(self.now);
        self.calls = 0;
        if let Some(result) = canned::answer_all(d, now, self) {
            assert_eq!(result, Ok::<(), Failure>(()), "only a signal ends a run here");
            assert!(self.terminated, "exit without a signal");
            self.exited = true;
        }
        // What the driver handed over to be saved can be.
        if std::mem::take(&mut self.saves) > 0 {
            let _ = d.engine().snapshot();
        }
    }

    /// Every queued datagram as one batch, as the ferry reads them.
    fn receive(&mut self, d: &mut Small) {
        self.reading = true;
        self.serve(d);
        self.reading = false;
        d.handle_timeout(Instant::from_millis(self.now));
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
                self.exited || d.poll_timeout().is_none_or(|t| t.as_millis() > self.now),
                "deadline {:?} not ahead of {} ms",
                d.poll_timeout(),
                self.now
            );
            if next == end {
                return;
            }
        }
    }

    /// The kernel's links, as a dump of sequence `seq` reports them.
    fn dump_datagram(&mut self, seq: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        for (name, k) in &self.kernel {
            let repr = LinkRepr {
                op: LinkOp::New,
                seq,
                msg_flags: msg_flags::MULTI,
                index: k.index,
                flags: flags(k),
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
        buf
    }
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        PORTS.iter().for_each(|p| key(p.as_bytes()));
    }
    fn warm(&self) -> bool {
        self.warm
    }
    fn snapshot(&self, port: &mut dyn FnMut(SnapshotPort)) -> bool {
        self.snapshot.iter().flatten().for_each(|p| port(*p));
        self.snapshot.is_some()
    }
    fn state_db(&self, name: &PortName) -> Option<(bool, bool, u32)> {
        self.state.get(name.as_str()).copied()
    }
    fn in_appl(&self, name: &PortName) -> bool {
        self.appl.contains_key(name.as_str())
    }
    fn read_fails(&mut self) -> bool {
        self.call();
        let fail = !self.reachable || self.fail_reads > 0;
        self.fail_reads = self.fail_reads.saturating_sub(1);
        fail
    }
    fn dump(&mut self) -> Option<u32> {
        self.call();
        assert!(!self.links_down, "no dump is asked of a failed link source");
        self.next_seq += 1;
        let seq = self.next_seq;
        let replies = self.dump_datagram(seq);
        self.queue.push_back(replies);
        Some(seq)
    }
    fn write(&mut self, ops: &[WriteOp], absent: &mut [bool]) -> WriteResult {
        self.call();
        if self.refuse_writes > 0 && self.reachable {
            self.refuse_writes -= 1;
            WriteResult::Refused
        } else if self.reachable {
            // As every backend does: kept writes go out first (their
            // APPL_DB checks made now, nothing reported).
            for op in std::mem::take(&mut self.kept) {
                if !guard_missing(self, &op) {
                    self.apply(&op);
                }
            }
            for (op, absent) in ops.iter().zip(absent.iter_mut()) {
                *absent = guard_missing(self, op);
                if !*absent {
                    self.apply(op);
                }
            }
            WriteResult::Done
        } else {
            self.kept.extend_from_slice(ops);
            WriteResult::Done
        }
    }
    fn alarm(&mut self, _row: &AlarmRow) -> WriteResult {
        self.call();
        let refused = self.refuse_writes > 0 || !self.reachable;
        self.refuse_writes = self.refuse_writes.saturating_sub(1);
        if refused { WriteResult::Refused } else { WriteResult::Done }
    }
    fn maintain(&mut self) -> BackendStatus {
        self.call();
        if self.reachable {
            for op in std::mem::take(&mut self.kept) {
                self.apply(&op);
            }
            BackendStatus::Connected
        } else {
            BackendStatus::Degraded { pending: self.kept.len() }
        }
    }
    fn save(&mut self, _ports: usize) -> Result<usize, StoreFault> {
        self.call();
        self.saves += 1;
        Ok(64)
    }
    fn save_beside(&mut self, _ports: usize) -> bool {
        if self.beside {
            assert!(!self.under_way, "a save asked while one is under way");
            self.under_way = true;
            self.saves += 1;
        }
        self.beside
    }
    fn reopen(&mut self) -> bool {
        self.call();
        let open = self.reopen_failures == 0;
        self.reopen_failures = self.reopen_failures.saturating_sub(1);
        self.links_down = !open;
        open
    }
    fn receive(&mut self) -> Received<'_> {
        self.call();
        if !self.reading {
            return Received::Empty;
        }
        if std::mem::take(&mut self.overrun) {
            return Received::Overrun;
        }
        let Some(next) = self.queue.pop_front() else { return Received::Empty };
        self.current = next;
        self.rests.set(0);
        Received::Datagram(&self.current)
    }
    fn received(&self) -> &[u8] {
        // The rest of a datagram taken in part, after the driver's I/O: each
        // time it takes at least a message, or stops once (for its batch or
        // its lines) and takes one the next time.
        self.rests.set(self.rests.get() + 1);
        assert!(
            self.rests.get() <= 2 * (self.current.len() / 16) + 2,
            "the driver must take the rest after its I/O"
        );
        &self.current
    }
}

fn flags(k: &Kernel) -> u32 {
    (if k.up { iff::UP } else { 0 }) | (if k.running { iff::RUNNING } else { 0 })
}

fuzz_target!(|input: FuzzInput| {
    let mut w = World { reachable: true, next_index: 100, warm: input.start.warm, beside: input.start.beside, ..World::default() };
    if w.warm {
        // What an earlier run left: links, STATE_DB (as the kernel, or stale,
        // or gone), APPL_DB with every port, maybe a snapshot.
        let mut snapshot = Vec::new();
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
                snapshot.push(SnapshotPort { name: PortName::try_from(name).unwrap(), state });
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
                    w.queue.push_back(bytes);
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
                if !w.links_down {
                    // The socket's queue goes with it.
                    w.queue.clear();
                    w.overrun = false;
                    w.links_down = true;
                    w.reopen_failures = reopen_failures % 4;
                    let now = Instant::from_millis(w.now);
                    let _ = d.handle(now, Input::LinksFailed);
                    let _ = d.handle(now, Input::QueueEmpty);
                    w.serve(&mut d);
                }
            }
            Op::SaveFinishes { ok } => {
                if std::mem::take(&mut w.under_way) {
                    let saved = if ok { Ok(64) } else { Err(StoreFault::Other) };
                    let _ = d.handle(Instant::from_millis(w.now), Input::SnapshotSaved(saved));
                    w.serve(&mut d);
                }
            }
            Op::Terminate => {
                w.terminated = true;
                let _ = d.handle(Instant::from_millis(w.now), Input::Signal(Signal::Terminate));
                w.serve(&mut d);
                // A save under way holds the stop (an earlier one, then the
                // last): each finishes in turn.
                for _ in 0..2 {
                    if !w.exited && std::mem::take(&mut w.under_way) {
                        let _ = d.handle(Instant::from_millis(w.now), Input::SnapshotSaved(Ok(64)));
                        w.serve(&mut d);
                    }
                }
                assert!(w.exited, "a signal ends the run");
                assert!(d.poll_io().is_none(), "nothing after the exit");
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
