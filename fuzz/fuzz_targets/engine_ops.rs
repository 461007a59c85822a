//! Arbitrary sequences of engine calls, in and out of order, against a model
//! of APPL_DB: the engine must never panic, must refuse misuse with an error,
//! must produce PortInitDone at most once and only after PortConfigDone on a
//! cold start, and must write STATE_DB only for ports the model has in APPL_DB.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portsyncd_core::PortName;
use portsyncd_core::engine::{
    Action, LinkState, LinkSync, Snapshot, SnapshotPort, StartKind, SwitchType, SyncConfig,
};
use portsyncd_core::netlink::{Header, LinkMessage, LinkOp, iff};

const NAMES: [&[u8]; 8] = [
    b"Ethernet0",
    b"Ethernet4",
    b"Ethernet8",
    b"PortChannel1",
    b"Ethernet0.10",
    b"Ethernet|1",
    b"eth0",
    b"Ethernet123456789",
];

#[derive(Arbitrary, Debug)]
enum Op {
    Config(u8),
    BeginDump,
    Link {
        del: bool,
        name: u8,
        index: u8,
        up: bool,
        running: bool,
        mtu: u16,
        master: bool,
        team: bool,
        seq: u8,
    },
    Commit,
    EndDump,
    Prune {
        name: u8,
        admin: bool,
    },
    EndPrune,
    Poll,
    SetAppl {
        name: u8,
        present: bool,
    },
    DumpStarted(u8),
    DumpEnded(bool),
    EndDump2(bool),
    Restore(Vec<(u8, u8, bool, u16)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    warm: bool,
    dpu: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let config = SyncConfig {
        start: if input.warm { StartKind::Warm } else { StartKind::Cold },
        switch_type: if input.dpu { SwitchType::Dpu } else { SwitchType::Switch },
    };
    let mut engine: LinkSync<4, 2> = LinkSync::new(config);
    let mut appl = [false; NAMES.len()];
    // APPL_DB as the engine was told at the last commit.
    let mut answered = appl;
    let mut init_done = 0;
    let mut config_done = false;
    for op in input.ops.iter().take(256) {
        match *op {
            Op::Config(n) => {
                let _ = engine.add_config_port(NAMES[n as usize % NAMES.len()]);
            }
            Op::BeginDump => {
                let _ = engine.begin_initial_dump();
            }
            Op::Link { del, name, index, up, running, mtu, master, team, seq } => {
                let flags = if up { iff::UP } else { 0 } | if running { iff::RUNNING } else { 0 };
                let link = LinkMessage {
                    header: Header { seq: u32::from(seq % 4), ..Header::default() },
                    op: if del { LinkOp::Del } else { LinkOp::New },
                    family: 0,
                    link_type: 1,
                    index: u32::from(index % 8),
                    flags,
                    change: 0,
                    name: Some(NAMES[name as usize % NAMES.len()]),
                    mtu: Some(u32::from(mtu)),
                    master: master.then_some(3),
                    kind: team.then_some(&b"team"[..]),
                    operstate: None,
                    address: None,
                };
                let _ = engine.handle_link(&link);
            }
            Op::Commit => {
                let questions: Vec<PortName> = engine.pending_presence().copied().collect();
                for name in questions {
                    let i = NAMES.iter().position(|n| *n == name.as_bytes()).unwrap();
                    engine.set_presence(&name, appl[i]).unwrap();
                }
                if engine.commit_batch().is_ok() {
                    answered = appl;
                }
            }
            Op::EndDump => {
                let _ = engine.end_initial_dump(true);
            }
            Op::EndDump2(complete) => {
                let _ = engine.end_initial_dump(complete);
            }
            Op::DumpStarted(seq) => engine.dump_started(u32::from(seq % 4)),
            Op::DumpEnded(complete) => {
                let _ = engine.dump_ended(complete);
            }
            Op::Restore(ref ports) => {
                let mut snapshot: Snapshot<4> =
                    Snapshot { port_init_done: false, ports: heapless::Vec::new() };
                for &(name, ifindex, up, mtu) in ports.iter().take(6) {
                    let Ok(name) = PortName::new(NAMES[name as usize % NAMES.len()]) else { continue };
                    let state = LinkState {
                        ifindex: u32::from(ifindex % 8),
                        admin_up: up,
                        oper_up: up,
                        mtu: u32::from(mtu),
                    };
                    if snapshot.ports.iter().all(|p| p.name != name) {
                        let _ = snapshot.ports.push(SnapshotPort { name, state });
                    }
                }
                let _ = engine.restore(&snapshot);
            }
            Op::Prune { name, admin } => {
                if let Ok(name) = PortName::new(NAMES[name as usize % NAMES.len()]) {
                    let _ = engine.prune(&name, admin);
                }
            }
            Op::EndPrune => {
                let _ = engine.end_prune();
            }
            Op::Poll => {
                while let Some(action) = engine.poll_action() {
                    match action {
                        Action::PortInitDone => {
                            init_done += 1;
                            assert!(config_done || input.warm, "PortInitDone before PortConfigDone");
                        }
                        Action::PortConfigDone { .. } => {
                            assert!(!input.warm);
                            config_done = true;
                        }
                        Action::ProduceAppPort { .. } | Action::BringLinkDown { .. } => assert!(!input.warm),
                        Action::SetStatePort { name, .. } => {
                            let i = NAMES.iter().position(|n| *n == name.as_bytes()).unwrap();
                            assert!(answered[i], "wrote STATE_DB for {name} absent from APPL_DB");
                            assert!(
                                engine.published().any(|(n, _)| *n == name)
                                    || engine.counters().published_overflow > 0
                            );
                        }
                        Action::DelStatePort { name } => {
                            assert!(
                                !engine.published().any(|(n, _)| *n == name),
                                "{name} deleted but still recorded"
                            );
                        }
                        _ => {}
                    }
                }
            }
            Op::SetAppl { name, present } => {
                appl[name as usize % NAMES.len()] = present;
            }
        }
        assert!(init_done <= 1);
        assert!(engine.published().count() <= 4, "the record is bounded");
        for (name, _) in engine.published() {
            assert!(
                NAMES.iter().any(|n| *n == name.as_bytes()),
                "published a name that was never a port: {name}"
            );
        }
    }
});
