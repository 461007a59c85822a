//! A deterministic harness for the core: its driver in a world of in-memory
//! maps (CONFIG_DB, APPL_DB, STATE_DB, a snapshot), answered at once by the
//! canned world, on a virtual clock; link messages built field by field
//! (written as bytes, as the kernel would) or decoded from captured kernel bytes.
//!
//! What the engine produces to APPL_DB is staged, as with a real
//! ProducerStateTable, and reaches the final `PORT_TABLE:<key>` hashes that
//! LinkSync reads only when the test lets orchagent [`pop`](World::pop).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Input};
use portsyncd_core::engine::{Action, DefaultLinkSync, Disposition, StartKind, SwitchType};
use portsyncd_core::event::Event;
use portsyncd_core::name::LinkLabel;
use portsyncd_core::netlink::{
    Header, LinkMessage, LinkOp, LinkRepr, Message, emit_done, iff, messages, msg_type,
};
use portsyncd_core::warm::SnapshotPort;
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName, schema};

pub type Hash = BTreeMap<String, String>;

/// Sequence number of the dump in the kernel capture (capture.py asked with it).
pub const DUMP_SEQ: u32 = 0x5eed_0001;

pub fn hash(pairs: &[(&str, &str)]) -> Hash {
    pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect()
}

/// The CONFIG_DB port of the C++ unit tests' fixture.
pub fn cpp_port_fields() -> Hash {
    hash(&[
        ("admin_status", "down"),
        ("index", "2"),
        ("lanes", "4,5,6,7"),
        ("mtu", "9100"),
        ("speed", "10000"),
        ("alias", "etp1"),
    ])
}

/// The world the tests' driver lives in: CONFIG_DB, APPL_DB (staged until
/// orchagent pops), STATE_DB, a snapshot, and what the driver did.
#[derive(Default)]
pub struct Net {
    pub config: Vec<(String, Hash)>,
    /// Produced but not yet popped by orchagent.
    pub staged: BTreeMap<String, Hash>,
    /// The final APPL_DB `PORT_TABLE` hashes.
    pub appl: BTreeMap<String, Hash>,
    pub state: BTreeMap<String, Hash>,
    pub actions: Vec<Action>,
    pub dispositions: Vec<Disposition>,
    pub brought_down: Vec<u32>,
    pub warm: bool,
    pub dpu: bool,
    pub snapshot: Option<Vec<SnapshotPort>>,
    /// Dumps asked for so far (the first carries [`DUMP_SEQ`], the next +1...).
    pub dumps: u32,
    /// orchagent pops whatever is produced at once (the C++ unit tests' mock).
    pub pop_at_once: bool,
}

impl Net {
    /// A decided write lands; the action it is.
    fn apply(&mut self, op: &WriteOp) -> Option<Action> {
        Some(match *op {
            WriteOp::ProduceConfigPort { name } => {
                let fields = self.config.iter().find(|(n, _)| n == name.as_str()).unwrap().1.clone();
                self.staged.entry(name.to_string()).or_default().extend(fields);
                Action::ProduceAppPort { name }
            }
            WriteOp::PortConfigDone { count } => {
                let text = schema::Decimal::new(count);
                self.staged.insert("PortConfigDone".into(), hash(&[("count", text.as_str())]));
                Action::PortConfigDone { count }
            }
            WriteOp::SetStatePort { name, state } => {
                let entry = self.state.entry(name.to_string()).or_default();
                for (field, value) in state.fields().pairs() {
                    entry.insert(field.into(), value.into());
                }
                Action::SetStatePort { name, state }
            }
            WriteOp::DelStatePort { name } => {
                self.state.remove(name.as_str());
                Action::DelStatePort { name }
            }
            WriteOp::PortInitDone => {
                self.staged.insert("PortInitDone".into(), hash(&[("lanes", "0")]));
                Action::PortInitDone
            }
            WriteOp::LoggerDefaults { .. } | WriteOp::RestoreCount { .. } | WriteOp::InstanceState { .. } => {
                return None;
            }
        })
    }
}

impl Facts for Net {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        self.config.iter().for_each(|(name, _)| key(name.as_bytes()));
    }
    fn log_level(&self) -> Option<&[u8]> {
        // Every event is made: the dispositions come from them.
        Some(b"DEBUG")
    }
    fn warm(&self) -> bool {
        self.warm
    }
    fn switch_type(&self) -> Option<&[u8]> {
        self.dpu.then_some(b"dpu".as_slice())
    }
    fn snapshot(&self, port: &mut dyn FnMut(SnapshotPort)) -> bool {
        self.snapshot.iter().flatten().for_each(|p| port(*p));
        self.snapshot.is_some()
    }
    fn state_db(&self, name: &PortName) -> Option<(bool, bool, u32)> {
        let h = self.state.get(name.as_str())?;
        let up = |f: &str| h.get(f).map(|v| v == "up");
        Some((up("admin_status")?, up("netdev_oper_status")?, h.get("mtu")?.parse().ok()?))
    }
    fn in_appl(&self, name: &PortName) -> bool {
        self.appl.get(name.as_str()).is_some_and(|h| !h.is_empty())
    }
    fn has_admin_status(&self, name: &PortName) -> bool {
        self.appl.get(name.as_str()).is_some_and(|h| h.contains_key("admin_status"))
    }
    fn dump(&mut self) -> Option<u32> {
        self.dumps += 1;
        Some(DUMP_SEQ + self.dumps - 1)
    }
    fn written(&mut self, op: &WriteOp) {
        if let Some(action) = self.apply(op) {
            self.actions.push(action);
        }
        if self.pop_at_once {
            for (key, fields) in std::mem::take(&mut self.staged) {
                self.appl.entry(key).or_default().extend(fields);
            }
        }
    }
    fn bring_down(&mut self, ifindex: u32, name: &LinkLabel) {
        self.brought_down.push(ifindex);
        self.actions.push(Action::BringLinkDown { ifindex, name: *name });
    }
    fn event(&mut self, event: &Event) {
        let d = match *event {
            Event::Link { name, .. } => Disposition::Queued(name),
            Event::StaleLink { ifindex, .. } => Disposition::MarkedStale { ifindex },
            Event::Rejected { error, .. } => Disposition::Rejected(error),
            Event::Ignored { reason, .. } => Disposition::Ignored(reason),
            Event::PortNotInAppDb(name) => return self.actions.push(Action::PortNotInAppDb { name }),
            _ => return,
        };
        self.dispositions.push(d);
    }
}

/// The core's driver in a [`Net`], on a virtual clock.
pub struct World {
    pub driver: Box<DefaultDriver>,
    pub net: Net,
    pub now: Instant,
}

impl std::ops::Deref for World {
    type Target = Net;
    fn deref(&self) -> &Net {
        &self.net
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Net {
        &mut self.net
    }
}

impl World {
    /// A driver started over `net` (CONFIG_DB ports and all), waiting in its initial dump.
    pub fn start(net: Net) -> Self {
        let mut w = World {
            // Every event is made (the dispositions come from them): no
            // line is held back as a repeat.
            driver: Box::new(DefaultDriver::new(
                Instant::from_millis(0),
                DriverConfig { repeat_window: core::time::Duration::ZERO, ..DriverConfig::default() },
            )),
            net,
            now: Instant::from_millis(0),
        };
        assert!(canned::answer_all(&mut w.driver, w.now, &mut w.net).is_none());
        w
    }

    pub fn new(start: StartKind, switch_type: SwitchType, ports: &[&str]) -> Self {
        let net = Net {
            config: ports.iter().map(|p| (p.to_string(), cpp_port_fields())).collect(),
            warm: start == StartKind::Warm,
            dpu: switch_type == SwitchType::Dpu,
            ..Net::default()
        };
        Self::start(net)
    }

    pub fn cold(ports: &[&str]) -> Self {
        Self::new(StartKind::Cold, SwitchType::Switch, ports)
    }

    /// The engine inside the driver.
    pub fn engine(&self) -> &DefaultLinkSync {
        self.driver.engine()
    }

    /// Feeds `bytes` as one datagram and ends the batch; the actions it caused.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let before = self.net.actions.len();
        self.now = self.now.saturating_add(core::time::Duration::from_millis(1));
        canned::feed(&mut self.driver, self.now, bytes, &mut self.net);
        canned::end_batch(&mut self.driver, self.now);
        assert!(canned::answer_all(&mut self.driver, self.now, &mut self.net).is_none());
        self.net.actions[before..].to_vec()
    }

    /// One batch: every message in one datagram. Returns the actions of this batch.
    pub fn batch(&mut self, links: &[LinkMessage<'_>]) -> Vec<Action> {
        let mut bytes = Vec::new();
        for link in links {
            let repr = LinkRepr {
                op: link.op,
                seq: link.header.seq,
                msg_flags: link.header.flags,
                index: link.index,
                flags: link.flags,
                name: link.name.unwrap_or_default(),
                mtu: link.mtu,
                master: link.master,
                kind: link.kind,
            };
            let at = bytes.len();
            bytes.resize(at + repr.len(), 0);
            repr.emit(&mut bytes[at..]).unwrap();
        }
        self.feed(&bytes)
    }

    /// Ends the initial dump (its NLMSG_DONE): stale links down, the
    /// configuration produced, the prune from APPL_DB. Its actions.
    pub fn finish_startup(&mut self) -> Vec<Action> {
        self.done(DUMP_SEQ)
    }

    /// Time passes (timers fire).
    pub fn advance(&mut self, ms: u64) -> Vec<Action> {
        let before = self.net.actions.len();
        self.now = self.now.saturating_add(core::time::Duration::from_millis(ms));
        self.driver.handle_timeout(self.now);
        assert!(canned::answer_all(&mut self.driver, self.now, &mut self.net).is_none());
        self.net.actions[before..].to_vec()
    }

    /// The kernel lost notifications: the driver dumps again.
    pub fn overrun(&mut self) {
        let _ = self.driver.handle(self.now, Input::Overrun);
        let _ = self.driver.handle(self.now, Input::QueueEmpty);
        assert!(canned::answer_all(&mut self.driver, self.now, &mut self.net).is_none());
    }

    /// The NLMSG_DONE that ends dump `seq`; the actions it caused.
    pub fn done(&mut self, seq: u32) -> Vec<Action> {
        let mut done = [0u8; 20];
        emit_done(&mut done, seq).unwrap();
        self.feed(&done)
    }

    /// orchagent pops everything produced so far into the final hashes.
    pub fn pop(&mut self) {
        for (key, fields) in std::mem::take(&mut self.net.staged) {
            self.net.appl.entry(key).or_default().extend(fields);
        }
    }
}

/// A link message as the kernel would send it, without the bytes.
pub fn link(op: LinkOp, name: &'static str, index: u32, flags: u32, mtu: u32) -> LinkMessage<'static> {
    let kind = if op == LinkOp::New { msg_type::RTM_NEWLINK } else { msg_type::RTM_DELLINK };
    LinkMessage {
        header: Header { len: 0, kind, flags: 0, seq: 0, pid: 0 },
        op,
        family: 0,
        link_type: 1,
        index,
        flags,
        change: 0,
        name: Some(name.as_bytes()),
        mtu: Some(mtu),
        master: None,
        kind: Some(b"sx_netdev"),
        operstate: None,
        address: Some(&[0x1c, 0x34, 0xda, 0x1c, 0x9f, 0x00]),
    }
}

/// `msg` as a reply of the initial dump.
pub fn dump_reply(mut msg: LinkMessage<'static>) -> LinkMessage<'static> {
    msg.header.seq = DUMP_SEQ;
    msg.header.flags = portsyncd_core::netlink::msg_flags::MULTI;
    msg
}

pub fn newlink(name: &'static str, index: u32, flags: u32) -> LinkMessage<'static> {
    link(LinkOp::New, name, index, flags, 9100)
}

pub fn dellink(name: &'static str, index: u32) -> LinkMessage<'static> {
    link(LinkOp::Del, name, index, 0, 9100)
}

pub const UP_RUNNING: u32 = iff::UP | iff::RUNNING;

/// The captured kernel datagrams, in capture order: (file name, bytes).
pub fn kernel_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}

/// The link messages of one datagram (panics on a malformed one: fixtures are real).
pub fn links_of(datagram: &[u8]) -> Vec<LinkMessage<'_>> {
    messages(datagram)
        .filter_map(|m| match m.expect("fixture decodes") {
            Message::Link(link) => Some(link),
            _ => None,
        })
        .collect()
}
