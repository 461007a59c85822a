//! Answers a driver's requests from facts in memory, at once and without
//! allocating: for replays of captured datagrams, benchmarks, the
//! no-allocation check and tests of the core on its own.
//!
//! It decides nothing the daemon would: it is the simplest world a driver
//! can run in (databases that always answer, a kernel that replays what it
//! is given). The daemon carries requests out against real ports instead.

use super::*;
use crate::warm::{Snapshot, SnapshotPort};

/// What the canned world knows; every method has a plain default.
pub trait Facts {
    /// CONFIG_DB `PORT` keys, each handed to `key`.
    fn config_ports(&self, _key: &mut dyn FnMut(&[u8])) {}
    /// CONFIG_DB `LOGGER|portsyncd` `LOGLEVEL` (`None`: absent).
    fn log_level(&self) -> Option<&[u8]> {
        None
    }
    /// Whether SONiC's WarmStart keys say warm (enabled, `restore_count` 0).
    fn warm(&self) -> bool {
        false
    }
    /// CONFIG_DB `DEVICE_METADATA|localhost` `switch_type` (`None`: absent).
    fn switch_type(&self) -> Option<&[u8]> {
        None
    }
    /// The warm-restart snapshot: its ports handed to `port`; `false` when
    /// there is none.
    fn snapshot(&self, _port: &mut dyn FnMut(SnapshotPort)) -> bool {
        false
    }
    /// What STATE_DB `PORT_TABLE|<name>` holds, if anything: admin, oper, MTU.
    fn state_db(&self, _name: &PortName) -> Option<(bool, bool, u32)> {
        None
    }
    /// Whether APPL_DB `PORT_TABLE:<name>` exists.
    fn in_appl(&self, _name: &PortName) -> bool {
        true
    }
    /// Whether APPL_DB `PORT_TABLE:<name>` has `admin_status` (the prune).
    fn has_admin_status(&self, _name: &PortName) -> bool {
        false
    }
    /// A dump was asked for: its sequence number.
    fn dump(&mut self) -> u32 {
        1
    }
    /// A decided write, in order.
    fn written(&mut self, _op: &WriteOp) {}
    /// An alarm row written (raised) or deleted (cleared).
    fn alarm(&mut self, _row: &super::AlarmRow) {}
    /// The link source is opened again: whether that works.
    fn reopen(&mut self) -> bool {
        true
    }
    /// A link to bring down.
    fn bring_down(&mut self, _ifindex: u32, _name: &LinkLabel) {}
    /// A line to log.
    fn event(&mut self, _event: &Event) {}
}

/// Carries out every request the driver has at `now`; `Some` once it exits.
pub fn answer_all<const P: usize, const B: usize>(
    driver: &mut Driver<P, B>,
    now: Instant,
    facts: &mut impl Facts,
) -> Option<Result<(), Failure>> {
    loop {
        while let Some(event) = driver.poll_event() {
            facts.event(&event);
        }
        let Some(io) = driver.poll_io() else {
            match driver.poll_event() {
                Some(event) => {
                    facts.event(&event);
                    continue;
                }
                None => return None,
            }
        };
        match io {
            Io::Read(read) => {
                // Answers go to the driver after the request: collect none,
                // answer from the facts again.
                let read = Canned::of(read);
                read.answer(driver, now, facts);
            }
            Io::Write(ops) => {
                for op in ops {
                    facts.written(op);
                }
                asked(driver.handle_write(now, WriteResult::Done));
            }
            Io::RequestDump => {
                let seq = facts.dump();
                asked(driver.handle_dump_requested(now, Some(seq)));
            }
            Io::BringLinkDown { ifindex, name } => {
                facts.bring_down(ifindex, &name);
                asked(driver.handle_link_down(now, true));
            }
            Io::LoadSnapshot => {
                let mut snapshot = Snapshot::<P> { port_init_done: true, ports: heapless::Vec::new() };
                let found = facts.snapshot(&mut |port| {
                    let _ = snapshot.ports.push(port);
                });
                let load = if found { SnapshotLoad::Loaded(&snapshot) } else { SnapshotLoad::Missing };
                asked(driver.handle_snapshot(now, load));
            }
            Io::WriteAlarm(row) => {
                facts.alarm(row);
                asked(driver.handle_write(now, WriteResult::Done));
            }
            Io::SaveSnapshot(_) => asked(driver.handle_snapshot_saved(now, Some(0))),
            Io::ReopenLinks => asked(driver.handle_links_reopened(now, facts.reopen())),
            Io::DenyLinks(_) => asked(driver.handle_links_denied(now, true)),
            Io::Maintain { .. } => asked(driver.handle_backend_status(now, BackendStatus::Connected)),
            Io::SetLogLevel(_) | Io::SetLogOutput(_) | Io::Notify(_) => {}
            Io::Exit(result) => return Some(result),
        }
    }
}

/// Feeds one datagram, answering whatever the driver asks in between.
pub fn feed<const P: usize, const B: usize>(
    driver: &mut Driver<P, B>,
    now: Instant,
    datagram: &[u8],
    facts: &mut impl Facts,
) {
    let mut offset = 0;
    while offset < datagram.len() {
        offset += driver.handle_datagram(now, &datagram[offset..]);
        if answer_all(driver, now, facts).is_some() || !driver.takes_input() {
            return;
        }
    }
}

/// Every answer here is to the request just handed out; an unasked one is a
/// bug of this module, flagged in debug builds.
fn asked(result: Result<(), Unasked>) {
    debug_assert!(result.is_ok(), "{result:?}");
}

/// A read, copied out of the request so that the driver can be answered.
#[derive(Clone, Copy)]
enum Canned {
    Empty,
    WarmEnable,
    RestoreCount,
    SwitchType,
    StateHashes { len: usize },
    LoggerHash,
    Keys,
    Flags { appl: bool, len: usize },
}

impl Canned {
    fn of(read: Read<'_>) -> Self {
        match read {
            Read::Hash { table: logger::LOGGER_TABLE, .. } => Canned::LoggerHash,
            Read::Keys { .. } => Canned::Keys,
            Read::Exists { keys, .. } => Canned::Flags { appl: true, len: keys.len() },
            Read::HasField { keys, .. } => Canned::Flags { appl: false, len: keys.len() },
            Read::Field { table: warm::WARM_RESTART_ENABLE_TABLE, .. } => Canned::WarmEnable,
            Read::Field { table: warm::WARM_RESTART_TABLE, .. } => Canned::RestoreCount,
            Read::Field { table: schema::CONFIG_DEVICE_METADATA_TABLE, .. } => Canned::SwitchType,
            Read::Hashes { db: Db::State, keys, .. } => Canned::StateHashes { len: keys.len() },
            _ => Canned::Empty,
        }
    }

    fn answer<const P: usize, const B: usize>(
        self,
        driver: &mut Driver<P, B>,
        now: Instant,
        facts: &mut impl Facts,
    ) {
        match self {
            Canned::Empty => {}
            Canned::WarmEnable if facts.warm() => asked(driver.handle_reply(now, Reply::Value(b"true"))),
            Canned::RestoreCount if facts.warm() => asked(driver.handle_reply(now, Reply::Value(b"0"))),
            Canned::WarmEnable | Canned::RestoreCount => {}
            Canned::SwitchType => {
                if let Some(value) = facts.switch_type() {
                    asked(driver.handle_reply(now, Reply::Value(value)));
                }
            }
            Canned::StateHashes { len } => {
                for index in 0..len {
                    let Some(name) = driver.keys.get(index).copied() else { break };
                    let Some((admin, oper, mtu)) = facts.state_db(&name) else { continue };
                    let mtu = schema::Decimal::new(mtu);
                    let fields = schema::StatePortFields::new(admin, oper, 0);
                    for (field, value) in fields.pairs() {
                        let value = if field == schema::STATE_FIELD_MTU { mtu.as_str() } else { value };
                        let reply = Reply::Field { index, field: field.as_bytes(), value: value.as_bytes() };
                        asked(driver.handle_reply(now, reply));
                    }
                }
            }
            Canned::LoggerHash => {
                if let Some(level) = facts.log_level() {
                    let field = logger::LOGLEVEL_FIELD.as_bytes();
                    asked(driver.handle_reply(now, Reply::Field { index: 0, field, value: level }));
                    let output = logger::LOGOUTPUT_FIELD.as_bytes();
                    asked(
                        driver.handle_reply(now, Reply::Field { index: 0, field: output, value: b"STDERR" }),
                    );
                }
            }
            Canned::Keys => facts.config_ports(&mut |key| asked(driver.handle_reply(now, Reply::Key(key)))),
            Canned::Flags { appl, len } => {
                for index in 0..len {
                    let Some(name) = driver.keys.get(index).copied() else { break };
                    let present = if appl { facts.in_appl(&name) } else { facts.has_admin_status(&name) };
                    asked(driver.handle_reply(now, Reply::Flag { index, present }));
                }
            }
        }
        asked(driver.handle_reply(now, Reply::Done));
    }
}
