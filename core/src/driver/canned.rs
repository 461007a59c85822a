//! Answers a driver's requests from a world in memory ([`Facts`]), at once
//! and without allocating: for replays of captured datagrams, benchmarks,
//! the no-allocation check, tests of the core on its own and the driver's
//! fuzz target (whose world injects failures through the same trait).
//!
//! It decides nothing the daemon would: it is the simplest interpreter of
//! the driver's requests (databases that answer from the facts, a kernel
//! that replays what it is given). The daemon carries requests out against
//! real ports instead.

use super::io::{Failure, Input, Read, Receive, Replies, Reply, SnapshotLoad, Taken, WriteResult};
use super::request::{Io, ReadRequest};
use super::{AlarmRow, Driver};
use crate::backend::{BackendStatus, Db, Received, StoreFault};
use crate::engine::LinkSync;
use crate::event::Event;
use crate::name::{LinkLabel, PortName};
use crate::time::Instant;
use crate::warm::{self, Snapshot, SnapshotPort};
use crate::writes::WriteOp;
use crate::{logger, schema};

/// What the canned world knows and does; every method has a plain default
/// (databases that always answer, a kernel with nothing to say).
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
    /// Whether the read about to be answered fails instead.
    fn read_fails(&mut self) -> bool {
        false
    }
    /// A dump was asked for: its sequence number (`None`: it cannot be).
    fn dump(&mut self) -> Option<u32> {
        Some(1)
    }
    /// A decided write that lands, in order (from the default [`write`](Self::write)).
    fn written(&mut self, _op: &WriteOp) {}
    /// A batch of writes: how it went, and (`absent[i]`) which port writes
    /// found APPL_DB without their port and wrote nothing, as a
    /// check-and-write does. Default: a `SetStatePort` of a port not
    /// [`in_appl`](Self::in_appl) is absent, every other write goes to
    /// [`written`](Self::written); done.
    fn write(&mut self, ops: &[WriteOp], absent: &mut [bool]) -> WriteResult {
        for (op, absent) in ops.iter().zip(absent.iter_mut()) {
            *absent = guard_missing(self, op);
            if !*absent {
                self.written(op);
            }
        }
        WriteResult::Done
    }
    /// An alarm row written (raised) or deleted (cleared): how it went.
    fn alarm(&mut self, _row: &AlarmRow) -> WriteResult {
        WriteResult::Done
    }
    /// Backend maintenance: the status afterwards.
    fn maintain(&mut self) -> BackendStatus {
        BackendStatus::Connected
    }
    /// A snapshot of `ports` published ports to save: bytes written, or why not.
    fn save(&mut self, _ports: usize) -> Result<usize, StoreFault> {
        Ok(0)
    }
    /// Whether a save of `ports` published ports goes on beside the loop
    /// instead ([`SaveRequest::hand_off`](super::SaveRequest::hand_off)):
    /// the caller hands its outcome in later as [`Input::SnapshotSaved`].
    /// Default: no, saves are answered at once by [`save`](Self::save).
    fn save_beside(&mut self, _ports: usize) -> bool {
        false
    }
    /// The link source is opened again: whether that works.
    fn reopen(&mut self) -> bool {
        true
    }
    /// A link to bring down.
    fn bring_down(&mut self, _ifindex: u32, _name: &LinkLabel) {}
    /// The link source: what is queued next ([`Received::Empty`]: nothing).
    fn receive(&mut self) -> Received<'_> {
        Received::Empty
    }
    /// The datagram [`receive`](Self::receive) handed out last (the driver
    /// may take it in parts).
    fn received(&self) -> &[u8] {
        &[]
    }
    /// A line to log.
    fn event(&mut self, _event: &Event) {}
}

/// Whether `op` is a port's STATE_DB write that the facts' APPL_DB, as it
/// is now, leaves unwritten (its check-and-write finds no port).
pub fn guard_missing(facts: &(impl Facts + ?Sized), op: &WriteOp) -> bool {
    matches!(op, WriteOp::SetStatePort { name, .. } if !facts.in_appl(name))
}

/// How [`serve`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The driver asks for the link source to be read.
    Receive(Receive),
    /// Nothing to do until a signal or the driver's deadline.
    Idle,
    /// The run ended.
    Exit(Result<(), Failure>),
}

/// Carries out every request the driver has at `now` but reading the link
/// source, and says what stopped it.
pub fn serve<const P: usize, const B: usize>(
    driver: &mut Driver<P, B>,
    now: Instant,
    facts: &mut impl Facts,
) -> Served {
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
                None => return Served::Idle,
            }
        };
        let stop = match io {
            Io::Receive(receive) => Served::Receive(receive),
            Io::Exit(result) => Served::Exit(result),
            io => {
                carry_out(io, now, facts);
                continue;
            }
        };
        // Lines said while the driver came to this are logged before it
        // waits (they would otherwise wait for the next input).
        while let Some(event) = driver.poll_event() {
            facts.event(&event);
        }
        return stop;
    }
}

/// Carries out one request (not [`Io::Receive`] nor [`Io::Exit`]) from the facts.
fn carry_out<const P: usize, const B: usize>(io: Io<'_, P, B>, now: Instant, facts: &mut impl Facts) {
    match io {
        Io::Read(read) => answer_read(read, now, facts),
        Io::Write(write) => {
            let mut absent = [false; B];
            let result = facts.write(write.ops(), &mut absent);
            write.answer(now, result, &absent);
        }
        Io::WriteAlarm(alarm) => {
            let result = facts.alarm(alarm.row());
            alarm.answer(now, result);
        }
        Io::RequestDump(dump) => dump.answer(now, facts.dump()),
        Io::BringLinkDown(down) => {
            facts.bring_down(down.ifindex(), down.name());
            down.answer(now, true);
        }
        Io::LoadSnapshot(load) => {
            let mut snapshot = Snapshot::<P> { port_init_done: true, ports: heapless::Vec::new() };
            let found = facts.snapshot(&mut |port| {
                let _ = snapshot.ports.push(port);
            });
            load.answer(
                now,
                if found { SnapshotLoad::Loaded(&snapshot.ports) } else { SnapshotLoad::Missing },
            );
        }
        Io::SaveSnapshot(save) => {
            let ports = published(save.engine());
            if facts.save_beside(ports) {
                save.hand_off(now);
            } else {
                save.answer(now, facts.save(ports));
            }
        }
        Io::Maintain(maintain) => maintain.answer(now, facts.maintain()),
        Io::ReopenLinks(reopen) => reopen.answer(now, facts.reopen()),
        Io::DenyLinks(deny) => deny.answer(now, true),
        Io::SetLogLevel(_) | Io::SetLogOutput(_) | Io::Notify(_) | Io::Receive(_) | Io::Exit(_) => {}
    }
}

fn published<const P: usize, const B: usize>(engine: &LinkSync<P, B>) -> usize {
    engine.published().count()
}

/// Carries out every request the driver has at `now`, reading what the
/// link source has queued as it asks; `Some` once it exits.
pub fn answer_all<const P: usize, const B: usize>(
    driver: &mut Driver<P, B>,
    now: Instant,
    facts: &mut impl Facts,
) -> Option<Result<(), Failure>> {
    // Where the rest of a datagram taken in part starts.
    let mut rest: Option<usize> = None;
    loop {
        let receive = match serve(driver, now, facts) {
            Served::Exit(result) => return Some(result),
            Served::Idle => return None,
            Served::Receive(receive) => receive,
        };
        if let Some(from) = rest.take() {
            let bytes = facts.received();
            let bytes = bytes.get(from..).unwrap_or_default();
            if let Taken::Part(n) = driver.handle(now, Input::Datagram(bytes)) {
                rest = Some(from + n);
            }
            continue;
        }
        match facts.receive() {
            Received::Datagram(bytes) => {
                if let Taken::Part(n) = driver.handle(now, Input::Datagram(bytes)) {
                    rest = Some(n);
                }
            }
            Received::Overrun => {
                let _ = driver.handle(now, Input::Overrun);
            }
            Received::Empty if receive == Receive::Queued => {
                let _ = driver.handle(now, Input::QueueEmpty);
            }
            Received::Empty => return None,
        }
    }
}

/// Feeds one datagram the caller holds, carrying out what the driver asks
/// whenever it takes only part of it (the batch stays open: end it with
/// [`Input::QueueEmpty`]).
pub fn feed<const P: usize, const B: usize>(
    driver: &mut Driver<P, B>,
    now: Instant,
    datagram: &[u8],
    facts: &mut impl Facts,
) {
    let mut offset = 0;
    while let Taken::Part(n) = driver.handle(now, Input::Datagram(&datagram[offset..])) {
        offset += n;
        // Until the driver reads again (the rest comes first then); a run
        // that ends or idles takes no more.
        if !matches!(serve(driver, now, facts), Served::Receive(_)) {
            return;
        }
    }
}

/// Ends the batch being fed (nothing more is queued) and lets due timers fire.
pub fn end_batch<const P: usize, const B: usize>(driver: &mut Driver<P, B>, now: Instant) {
    let _ = driver.handle(now, Input::QueueEmpty);
    driver.handle_timeout(now);
}

/// Answers a read from the facts. What depends on the read's keys (which
/// the request borrows from the driver) is looked up first, into tables on
/// the stack; the rest comes straight from the facts as the driver walks it.
fn answer_read<const P: usize, const B: usize>(
    request: ReadRequest<'_, P, B>,
    now: Instant,
    facts: &mut impl Facts,
) {
    if facts.read_fails() {
        request.failed(now);
        return;
    }
    let answer: Canned<P> = match request.read() {
        Read::Exists { keys, .. } => Canned::Flags(keys.iter().map(|n| facts.in_appl(n)).collect()),
        Read::HasField { keys, .. } => {
            Canned::Flags(keys.iter().map(|n| facts.has_admin_status(n)).collect())
        }
        Read::Hashes { db: Db::State, table: schema::STATE_PORT_TABLE, keys, .. } => {
            Canned::StatePorts(keys.iter().map(|n| facts.state_db(n)).collect())
        }
        // Every configured port has fields.
        Read::Hashes { keys, keep: super::Keep::ConfigPortFields, .. } => {
            Canned::Flags(keys.iter().map(|_| true).collect())
        }
        Read::Hashes { .. } => Canned::Nothing,
        read => Canned::Direct(Direct::of(read)),
    };
    request.answer(now, &CannedReplies { answer, facts: &*facts });
}

/// A read's answer, as far as it depends on the read's keys.
enum Canned<const P: usize> {
    Nothing,
    /// A flag per key.
    Flags(heapless::Vec<bool, P>),
    /// What STATE_DB holds per key.
    StatePorts(heapless::Vec<Option<(bool, bool, u32)>, P>),
    /// Straight from the facts.
    Direct(Direct),
}

/// Reads answered straight from the facts.
#[derive(Clone, Copy)]
enum Direct {
    Logger,
    ConfigKeys,
    WarmEnable,
    RestoreCount,
    SwitchType,
    Nothing,
}

impl Direct {
    fn of(read: Read<'_>) -> Self {
        match read {
            Read::Hash { table: logger::LOGGER_TABLE, .. } => Direct::Logger,
            Read::Keys { .. } => Direct::ConfigKeys,
            Read::Field { table: warm::WARM_RESTART_ENABLE_TABLE, .. } => Direct::WarmEnable,
            Read::Field { table: warm::WARM_RESTART_TABLE, .. } => Direct::RestoreCount,
            Read::Field { table: schema::CONFIG_DEVICE_METADATA_TABLE, .. } => Direct::SwitchType,
            _ => Direct::Nothing,
        }
    }
}

struct CannedReplies<'a, F, const P: usize> {
    answer: Canned<P>,
    facts: &'a F,
}

impl<F: Facts, const P: usize> Replies for CannedReplies<'_, F, P> {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        let facts = self.facts;
        match &self.answer {
            Canned::Nothing => {}
            Canned::Flags(flags) => {
                for (index, present) in flags.iter().enumerate() {
                    part(Reply::Flag { index, present: *present });
                }
            }
            Canned::StatePorts(held) => {
                for (index, held) in held.iter().enumerate() {
                    let Some((admin, oper, mtu)) = *held else { continue };
                    let mtu = schema::Decimal::new(mtu);
                    let fields = schema::StatePortFields::new(admin, oper, 0);
                    for (field, value) in fields.pairs() {
                        let value = if field == schema::STATE_FIELD_MTU { mtu.as_str() } else { value };
                        part(Reply::Field { index, field: field.as_bytes(), value: value.as_bytes() });
                    }
                }
            }
            Canned::Direct(Direct::Logger) => {
                if let Some(level) = facts.log_level() {
                    part(Reply::Field { index: 0, field: logger::LOGLEVEL_FIELD.as_bytes(), value: level });
                    part(Reply::Field {
                        index: 0,
                        field: logger::LOGOUTPUT_FIELD.as_bytes(),
                        value: b"STDERR",
                    });
                }
            }
            Canned::Direct(Direct::ConfigKeys) => facts.config_ports(&mut |key| part(Reply::Key(key))),
            Canned::Direct(Direct::WarmEnable) if facts.warm() => part(Reply::Value(b"true")),
            Canned::Direct(Direct::RestoreCount) if facts.warm() => part(Reply::Value(b"0")),
            Canned::Direct(Direct::SwitchType) => {
                if let Some(value) = facts.switch_type() {
                    part(Reply::Value(value));
                }
            }
            Canned::Direct(_) => {}
        }
    }
}
