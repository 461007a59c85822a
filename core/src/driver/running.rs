//! Normal operation: batches of link messages and their call protocol
//! (presence, commit, actions, one write), dumps and what their end means,
//! when to read the link source next, and the periodic work the timers
//! make due — in priority order in `next_run`.

use super::state::{AfterDrain, Ask, Batch, Flow, ReadFor, Redump, Stage, Step, WriteFor};
use super::timers::Timer;
use super::{Driver, EVENT_CAPACITY, Receive, Taken};
use crate::engine::{Action, Disposition, Phase, SyncError};
use crate::eoiu::Eoiu;
use crate::event::Event;
use crate::filter::has_port_prefix;
use crate::logger::Level;
use crate::name::{FewNames, LinkLabel};
use crate::netlink::{LinkMessage, Message, messages};
use crate::time::Instant;
use crate::writes::WriteOp;

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Whether it takes datagrams now: running, nothing awaited, no line
    /// queue nearly full, the engine's batch not under way.
    fn takes_input(&self) -> bool {
        self.stage == Stage::Run
            && self.awaiting.is_none()
            && self.events.len() + 2 <= EVENT_CAPACITY
            && self.flow == Flow::Idle
            && self.ops.is_empty()
    }

    /// One datagram of rtnetlink messages (or the rest of one).
    pub(super) fn take_datagram(&mut self, now: Instant, bytes: &[u8]) -> Taken {
        if !self.takes_input() {
            return Taken::Part(0);
        }
        // The rest of a datagram taken in part is not a datagram of its own.
        if !core::mem::take(&mut self.partial) {
            self.counters.datagrams += 1;
            match &mut self.batch {
                Some(batch) => batch.datagrams = batch.datagrams.saturating_add(1),
                None => {
                    self.batch = Some(Batch { datagrams: 1, overrun: false });
                    self.batch_received = now;
                }
            }
        } else if self.batch.is_none() {
            self.batch = Some(Batch { datagrams: 1, overrun: false });
            self.batch_received = now;
        }
        let mut parsed = messages(bytes);
        loop {
            let at = parsed.position();
            if at >= bytes.len() {
                return Taken::All;
            }
            if self.events.len() + 2 > EVENT_CAPACITY {
                self.partial = true;
                return Taken::Part(at);
            }
            let Some(message) = parsed.next() else { return Taken::All };
            match message {
                Ok(message) => {
                    if !self.handle_message(&message) {
                        self.partial = true;
                        return Taken::Part(at);
                    }
                }
                Err(e) => {
                    self.counters.malformed += 1;
                    self.emit(Event::Malformed(e));
                }
            }
        }
    }

    /// One parsed message; `false` when the batch is full and it was not taken.
    fn handle_message(&mut self, message: &Message<'_>) -> bool {
        if let Message::Link(link) = message {
            match self.engine.handle_link(link) {
                Ok(d) => {
                    self.filter_link(link, d);
                    self.note(link, d);
                }
                Err(SyncError::BatchFull) => {
                    self.set_flow(Flow::Closing);
                    return false;
                }
                Err(SyncError::StaleTableFull) => self.emit(Event::StaleTableFull { ifindex: link.index }),
                Err(e) => self.emit(Event::Engine(e)),
            }
        }
        if !matches!(message, Message::Link(_)) {
            self.engine.dump_message(message.header().seq);
        }
        // An error for our dump is the dump's end (DumpFailed), not a line of its own.
        if let Message::Error { header, errno } = message {
            if *errno != 0 && Some(header.seq) != self.dump_seq {
                self.emit(Event::NetlinkError { errno: *errno, seq: header.seq });
            }
        }
        if let Some(end) = self.eoiu.observe(message) {
            self.dump_end = Some(end);
            self.dump_seq = None;
        }
        true
    }

    fn note(&mut self, link: &LinkMessage<'_>, disposition: Disposition) {
        // The per-message lines are INFO and DEBUG: at the usual NOTICE they
        // are not even made (this runs for every link message).
        let quiet = match disposition {
            Disposition::Queued(_) => Level::Info,
            Disposition::Ignored(_) => Level::Debug,
            Disposition::MarkedStale { .. } | Disposition::Rejected(_) => Level::Emerg,
        };
        if quiet > self.level {
            return;
        }
        let label = || LinkLabel::new(link.name.unwrap_or_default());
        let event = match disposition {
            Disposition::Queued(name) => Event::Link {
                op: link.op,
                name,
                ifindex: link.index,
                flags: link.flags,
                mtu: link.mtu.unwrap_or(0),
                master: link.master.unwrap_or(0),
            },
            Disposition::MarkedStale { ifindex } => Event::StaleLink { name: label(), ifindex },
            Disposition::Rejected(error) => Event::Rejected { name: label(), ifindex: link.index, error },
            Disposition::Ignored(reason) => Event::Ignored { name: label(), ifindex: link.index, reason },
        };
        self.emit(event);
    }

    /// The kernel dropped notifications: everything is dumped again once
    /// the batch ends.
    pub(super) fn on_overrun(&mut self, now: Instant) {
        self.counters.overruns += 1;
        self.health.overrun(now);
        self.emit(Event::Overrun);
        self.assess_health();
        match &mut self.batch {
            Some(batch) => batch.overrun = true,
            None => self.batch = Some(Batch { datagrams: 0, overrun: true }),
        }
    }

    /// No more datagrams are queued (or the batch is full): it is committed.
    /// `full`: it ended at `datagrams_per_batch`, with more queued (and
    /// perhaps the rest of a datagram owed: read again at once then).
    pub(super) fn end_batch(&mut self, now: Instant, full: bool) {
        // Said out of turn, while the last part is still under way: the batch
        // stays open, and the next Receive::Queued finds the queue empty again.
        if self.flow != Flow::Idle {
            return;
        }
        let Some(batch) = self.batch.take() else { return };
        self.set_flow(Flow::Closing);
        // After an overrun everything is dumped again (after the dump in
        // flight, if any: its replies may predate the loss).
        if batch.overrun {
            self.redump = Redump::Now;
        }
        // A busy wake-up: the next read waits for the coalescing window.
        let window = self.coalesce_window();
        if !full && batch.datagrams > 1 && !window.is_zero() {
            self.timers.set(Timer::NextRead, now.saturating_add(window));
        }
    }

    /// The coalescing window now: the start-up one until PortInitDone (when
    /// it is the longer), then the running one.
    fn coalesce_window(&self) -> core::time::Duration {
        let window = self.config.coalesce_window;
        if self.engine.is_init_done() { window } else { window.max(self.config.startup_coalesce_window) }
    }

    // --------------------------------------------------------------- output

    /// One decision of normal operation, in priority order.
    pub(super) fn next_run(&mut self) -> Step {
        let draining = matches!(self.flow, Flow::Draining(_));
        // Collected writes go out when full, or when nothing more joins them.
        if self.ops.is_full() || (!draining && !self.ops.is_empty()) {
            return Step::Ask(Ask::Write(WriteFor::Decided));
        }
        match self.flow {
            Flow::Draining(_) => return self.drain_one(),
            Flow::Drained(then) => {
                self.set_flow(Flow::Idle);
                return self.after_drained(then);
            }
            Flow::Closing => return self.close_batch(),
            Flow::Idle => {}
        }
        if let Some(batch) = self.batch {
            if batch.datagrams >= self.config.datagrams_per_batch || self.links_lost.is_some() {
                self.end_batch(self.now, batch.datagrams >= self.config.datagrams_per_batch);
                return Step::Again;
            }
            return Step::Receive(Receive::Queued);
        }
        if let Some(end) = self.dump_end {
            if !self.engine_batch_empty() {
                self.set_flow(Flow::Closing);
                return Step::Again;
            }
            self.dump_end = None;
            return self.act_on_dump_end(end);
        }
        if self.timers.take(Timer::Reopen) {
            return Step::Ask(Ask::ReopenLinks);
        }
        // No dump of a link source that is down: it waits for the reopen.
        if self.redump == Redump::Now && self.dump_seq.is_none() && self.links_lost.is_none() {
            self.redump = Redump::No;
            self.counters.redumps += 1;
            return Step::Ask(Ask::Dump);
        }
        if let Some(step) = self.reconcile_dump() {
            return step;
        }
        // The retry timer: refused writes, and a dump when something could
        // not be asked or dumped. Either way the timer is spent.
        if self.timers.take(Timer::Retry) {
            if self.redump == Redump::AtRetry {
                self.redump = Redump::Now;
            }
            if self.refused.is_empty() {
                return Step::Again;
            }
            let engine = &self.engine;
            self.refused.take_into(&mut self.ops, |name| engine.published_state(name));
            return Step::Ask(Ask::Write(WriteFor::Retry));
        }
        if self.timers.take(Timer::Maintain) {
            return Step::Ask(Ask::Maintain(None));
        }
        if self.timers.take(Timer::LoggerPoll) {
            return Step::Ask(Ask::Read(ReadFor::LoggerPoll));
        }
        if let Some(step) = self.coordination_step() {
            return step;
        }
        if let Some(step) = self.link_filter_step() {
            return step;
        }
        if self.alarm_due() {
            return Step::Ask(Ask::Write(WriteFor::Alarm));
        }
        // A save under way keeps the timer's work for its outcome.
        if self.timers.has_fired(Timer::Snapshot)
            && self.engine.phase() == Phase::Running
            && !self.save_under_way()
        {
            self.timers.take(Timer::Snapshot);
            if self.snapshot_owed() {
                return Step::Ask(Ask::SaveSnapshot);
            }
        }
        // Nothing else to do: the link source, unless it is down or the
        // coalescing window is open.
        if self.links_lost.is_none() && !self.timers.is_pending(Timer::NextRead) {
            return Step::Receive(Receive::Wait);
        }
        Step::Idle
    }

    fn engine_batch_empty(&self) -> bool {
        self.engine.batch_len() == 0
    }

    /// Hands the APPL_DB check of the batch's writes to the writes (each
    /// `SetStatePort` is carried out only if APPL_DB holds the port then:
    /// no round trip of its own, and no answer taken as still true later);
    /// asks APPL_DB about the awaited ports whose wait a NEWLINK may end
    /// (one pipelined read), or commits the batch at once when none is.
    fn close_batch(&mut self) -> Step {
        if let Err(e) = self.engine.guard_writes() {
            self.emit(Event::Engine(e));
        }
        self.keys.clear();
        for name in self.engine.pending_presence() {
            if self.keys.push(*name).is_err() {
                break;
            }
        }
        if !self.keys.is_empty() {
            self.counters.presence_reads += 1;
            return Step::Ask(Ask::Read(ReadFor::Presence));
        }
        self.commit();
        Step::Again
    }

    pub(super) fn commit(&mut self) {
        self.set_flow(Flow::Idle);
        match self.engine.commit_batch() {
            Ok(()) => self.set_flow(Flow::Draining(AfterDrain::Nothing)),
            Err(e) => self.emit(Event::Engine(e)),
        }
    }

    /// One action of the engine's outbox.
    fn drain_one(&mut self) -> Step {
        let Flow::Draining(then) = self.flow else { return Step::Again };
        let Some(action) = self.engine.poll_action() else {
            self.set_flow(match then {
                AfterDrain::Nothing => Flow::Idle,
                then => Flow::Drained(then),
            });
            return Step::Again;
        };
        let now = self.now;
        match action {
            Action::BringLinkDown { ifindex, name } => return Step::Ask(Ask::LinkDown { ifindex, name }),
            Action::ProduceAppPort { name } => {
                self.counters.appl_produces += 1;
                self.collect(WriteOp::ProduceConfigPort { name });
            }
            Action::PortConfigDone { count } => {
                self.counters.appl_produces += 1;
                self.milestones.port_config_done = Some(self.since_start(now));
                self.emit(Event::PortConfigDone { count });
                let engine = &self.engine;
                let never =
                    FewNames::of(engine.config_ports().filter(|n| !has_port_prefix(n.as_str().as_bytes())));
                if never.count() > 0 {
                    self.emit(Event::UnmatchablePorts(never));
                }
                self.collect(WriteOp::PortConfigDone { count });
            }
            Action::SetStatePort { name, state } => {
                self.snapshot_changed();
                self.collect(WriteOp::SetStatePort { name, state });
            }
            Action::DelStatePort { name } => {
                self.snapshot_changed();
                self.presence.forget(&name);
                if then != AfterDrain::Nothing {
                    self.vanished_in_drain += 1;
                    self.counters.vanished += 1;
                    self.emit(Event::Vanished(name));
                }
                self.collect(WriteOp::DelStatePort { name });
            }
            Action::PortNotInAppDb { name } => self.emit(Event::PortNotInAppDb(name)),
            Action::OwnPortsReady => self.own_ports_ready(now),
            Action::PortInitDone => {
                self.snapshot_changed();
                let after = self.since_start(now);
                self.milestones.port_init_done = Some(after);
                self.emit(Event::PortInitDone { after });
                self.counters.appl_produces += 1;
                self.collect(WriteOp::PortInitDone);
            }
        }
        Step::Again
    }

    /// A decided write joins the batch, or queues behind an earlier refused
    /// one of the producer table (orchagent relies on their order).
    pub(super) fn collect(&mut self, op: WriteOp) {
        // Producer-table writes keep their order; PortInitDone also waits for
        // every kept STATE_DB write (the C++ daemon writes STATE_DB first).
        let queued_behind = (op.is_produce() && self.refused.has_produce())
            || (op == WriteOp::PortInitDone && !self.refused.is_empty());
        if queued_behind {
            if self.refused.keep(&op).is_err() {
                self.counters.refused_lost += 1;
            }
            return;
        }
        // next_run writes the batch out before it is full.
        if self.ops.is_empty() {
            self.ops_received = self.batch_received;
        }
        let _ = self.ops.push(op);
    }

    fn after_drained(&mut self, then: AfterDrain) -> Step {
        let now = self.now;
        match then {
            AfterDrain::Nothing => {}
            AfterDrain::Prune => {
                self.keys.clear();
                for name in self.engine.prune_candidates() {
                    let _ = self.keys.push(*name);
                }
                if !self.keys.is_empty() {
                    return Step::Ask(Ask::Read(ReadFor::Prune));
                }
                self.end_prune();
            }
            AfterDrain::InitialSyncDone => {
                let awaiting = self.engine.awaiting_ports().count();
                self.emit(Event::InitialSyncDone { after: self.since_start(now), awaiting });
                self.ready = true;
                let status = self.status();
                let _ = self.direct.push_back(super::Direct::Notify(super::Notify::Ready(status)));
            }
            AfterDrain::DumpChecked { complete } => {
                if complete {
                    self.emit(Event::DumpComplete { vanished: self.vanished_in_drain });
                    if let Some(step) = self.reconcile_after_dump(true) {
                        return step;
                    }
                } else {
                    // Failed or timed out: dump again, after a delay that grows
                    // while dumps keep failing (a dump still draining refuses
                    // the next one).
                    self.resync_later(now);
                }
            }
        }
        Step::Again
    }

    pub(super) fn end_prune(&mut self) {
        match self.engine.end_prune() {
            Ok(()) => self.set_flow(Flow::Draining(AfterDrain::InitialSyncDone)),
            Err(e) => self.emit(Event::Engine(e)),
        }
    }

    pub(super) fn dump_ended(&mut self, end: Eoiu) {
        self.dump_end = Some(end);
        self.dump_seq = None;
    }

    fn act_on_dump_end(&mut self, end: Eoiu) -> Step {
        match end {
            Eoiu::Interrupted => {
                self.emit(Event::DumpInterrupted);
                self.redump = Redump::Now;
                return Step::Again;
            }
            Eoiu::Complete => {}
            Eoiu::Failed { errno } => self.emit(Event::DumpFailed { errno }),
            Eoiu::TimedOut => self.emit(Event::DumpTimedOut { after: self.config.dump_timeout }),
        }
        let complete = end == Eoiu::Complete;
        self.vanished_in_drain = 0;
        if self.engine.phase() == Phase::InitialDump {
            self.milestones.eoiu = Some(self.since_start(self.now));
            match self.engine.end_initial_dump(complete) {
                Ok(()) => self.set_flow(Flow::Draining(if self.engine.phase() == Phase::Pruning {
                    AfterDrain::Prune
                } else {
                    AfterDrain::InitialSyncDone
                })),
                Err(e) => self.emit(Event::Engine(e)),
            }
        } else {
            match self.engine.dump_ended(complete) {
                Ok(()) => self.set_flow(Flow::Draining(AfterDrain::DumpChecked { complete })),
                Err(e) => self.emit(Event::Engine(e)),
            }
        }
        Step::Again
    }
}
