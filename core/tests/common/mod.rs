//! A deterministic harness for the engine: databases as in-memory maps, and
//! link messages built field by field or decoded from captured kernel bytes.
//!
//! What the engine produces to APPL_DB is staged, as with a real
//! ProducerStateTable, and reaches the final `PORT_TABLE:<key>` hashes that
//! LinkSync reads only when the test lets orchagent [`pop`](World::pop).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use portsyncd_core::engine::{Action, DefaultLinkSync, Disposition, StartKind, SwitchType, SyncConfig};
use portsyncd_core::netlink::{Header, LinkMessage, LinkOp, Message, iff, messages, msg_type};
use portsyncd_core::schema;

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

pub struct World {
    pub engine: Box<DefaultLinkSync>,
    pub config: Vec<(String, Hash)>,
    /// Produced but not yet popped by orchagent.
    pub staged: BTreeMap<String, Hash>,
    /// The final APPL_DB `PORT_TABLE` hashes.
    pub appl: BTreeMap<String, Hash>,
    pub state: BTreeMap<String, Hash>,
    pub actions: Vec<Action>,
    pub dispositions: Vec<Disposition>,
    pub brought_down: Vec<u32>,
}

impl World {
    pub fn new(start: StartKind, switch_type: SwitchType, ports: &[&str]) -> Self {
        let mut engine = Box::new(DefaultLinkSync::new(SyncConfig { start, switch_type }));
        let mut config = Vec::new();
        for port in ports {
            engine.add_config_port(port.as_bytes()).unwrap();
            config.push((port.to_string(), cpp_port_fields()));
        }
        engine.begin_initial_dump().unwrap();
        World {
            engine,
            config,
            staged: BTreeMap::new(),
            appl: BTreeMap::new(),
            state: BTreeMap::new(),
            actions: Vec::new(),
            dispositions: Vec::new(),
            brought_down: Vec::new(),
        }
    }

    pub fn cold(ports: &[&str]) -> Self {
        Self::new(StartKind::Cold, SwitchType::Switch, ports)
    }

    /// One batch: every message, presence answered from `appl`, commit, drain.
    /// Returns the actions of this batch.
    pub fn batch(&mut self, links: &[LinkMessage<'_>]) -> Vec<Action> {
        for link in links {
            let d = self.engine.handle_link(link).expect("handle_link");
            self.dispositions.push(d);
        }
        let questions: Vec<_> = self.engine.pending_presence().copied().collect();
        for name in questions {
            let present = self.appl.get(name.as_str()).is_some_and(|h| !h.is_empty());
            self.engine.set_presence(&name, present).unwrap();
        }
        self.engine.commit_batch().unwrap();
        self.drain()
    }

    /// Ends the initial dump and, on a cold start, runs the prune from `appl`.
    pub fn finish_startup(&mut self) -> Vec<Action> {
        let cold = self.engine.config().start == StartKind::Cold;
        self.engine.end_initial_dump(true).unwrap();
        let mut out = self.drain();
        if cold {
            let candidates: Vec<_> = self.engine.prune_candidates().copied().collect();
            for name in candidates {
                let has = self.appl.get(name.as_str()).is_some_and(|h| h.contains_key("admin_status"));
                self.engine.prune(&name, has).unwrap();
            }
            self.engine.end_prune().unwrap();
            out.extend(self.drain());
        }
        out
    }

    /// orchagent pops everything produced so far into the final hashes.
    pub fn pop(&mut self) {
        for (key, fields) in std::mem::take(&mut self.staged) {
            self.appl.entry(key).or_default().extend(fields);
        }
    }

    pub fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(action) = self.engine.poll_action() {
            self.apply(action);
            out.push(action);
        }
        self.actions.extend(out.iter().copied());
        out
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::BringLinkDown { ifindex, .. } => self.brought_down.push(ifindex),
            Action::ProduceAppPort { name } => {
                let fields = self.config.iter().find(|(n, _)| n == name.as_str()).unwrap().1.clone();
                self.staged.entry(name.to_string()).or_default().extend(fields);
            }
            Action::PortConfigDone { count } => {
                let count = schema::Decimal::new(count);
                self.staged.insert("PortConfigDone".into(), hash(&[("count", count.as_str())]));
            }
            Action::SetStatePort { name, state } => {
                let entry = self.state.entry(name.to_string()).or_default();
                for (field, value) in state.fields().pairs() {
                    entry.insert(field.into(), value.into());
                }
            }
            Action::DelStatePort { name } => {
                self.state.remove(name.as_str());
            }
            Action::PortNotInAppDb { .. } => {}
            Action::PortInitDone => {
                self.staged.insert("PortInitDone".into(), hash(&[("lanes", "0")]));
            }
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
