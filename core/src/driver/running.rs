//! Normal operation: batches of link messages and their call protocol
//! (presence, commit, actions, one write), dumps and what their end means,
//! refused writes and their retries, and the periodic work the timers make
//! due — in priority order in `next_run`.

use super::*;

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Feeds one datagram of rtnetlink messages (or the rest of one).
    /// Returns how many bytes it took: less than all when the batch or the
    /// event queue filled up; carry out [`poll_io`](Self::poll_io), drain
    /// [`poll_event`](Self::poll_event), and feed the rest.
    #[must_use]
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.advance(now);
        if !self.takes_input() {
            return 0;
        }
        // The rest of a datagram fed in parts counts again: rare, and harmless.
        self.counters.datagrams += 1;
        self.batch_datagrams = self.batch_datagrams.saturating_add(1);
        if !self.in_batch {
            self.batch_received = now;
        }
        self.in_batch = true;
        let mut parsed = messages(bytes);
        loop {
            let at = parsed.position();
            if self.events.len() + 2 > EVENT_CAPACITY {
                return at;
            }
            let Some(message) = parsed.next() else { return bytes.len() };
            match message {
                Ok(message) => {
                    if !self.handle_message(now, &message) {
                        return at;
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
    pub(super) fn handle_message(&mut self, _now: Instant, message: &Message<'_>) -> bool {
        if let Message::Link(link) = message {
            match self.engine.handle_link(link) {
                Ok(d) => {
                    self.filter_link(link, d);
                    self.note(link, d);
                }
                Err(SyncError::BatchFull) => {
                    self.closing = true;
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

    pub(super) fn note(&mut self, link: &LinkMessage<'_>, disposition: Disposition) {
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

    /// The kernel dropped notifications: everything is dumped again.
    pub fn handle_overrun(&mut self, now: Instant) {
        self.advance(now);
        self.counters.overruns += 1;
        self.health.overrun(now);
        self.emit(Event::Overrun);
        self.assess_health();
        self.overrun = true;
        self.in_batch = true;
    }

    /// No more datagrams are queued: the batch is committed.
    pub fn handle_batch_end(&mut self, now: Instant) {
        self.advance(now);
        if !self.in_batch {
            return;
        }
        self.in_batch = false;
        self.batch_datagrams = 0;
        self.closing = true;
        // After an overrun everything is dumped again (after the dump in
        // flight, if any: its replies may predate the loss).
        if core::mem::take(&mut self.overrun) {
            self.redump_wanted = true;
        }
    }

    /// How the [`Io::Write`] handed out went.
    pub fn handle_write(&mut self, now: Instant, result: WriteResult) -> Result<(), Unasked> {
        self.advance(now);
        let Awaiting::Write(purpose) = self.awaiting else {
            return Err(Unasked { answer: "a write result" });
        };
        self.answered();
        if purpose == WriteFor::Alarm {
            self.alarm_written(result == WriteResult::Done);
            return Ok(());
        }
        if purpose == WriteFor::Coordination {
            self.ops.clear();
            self.coordination_written(now, result == WriteResult::Done);
            return Ok(());
        }
        if let WriteFor::Startup(what) = purpose {
            self.ops.clear();
            if result == WriteResult::Refused {
                self.exit(Err(Failure::StartupWrite { what }));
                return Ok(());
            }
            match self.stage {
                Stage::Start(StartStep::LoggerDefaults) => self.start_step(StartStep::WriteRestoreCount),
                Stage::Start(StartStep::WriteRestoreCount) => self.start_step(StartStep::ConfigFields),
                _ => {}
            }
            return Ok(());
        }
        if self.stage == Stage::Stop(StopStep::Retry) {
            self.stage = Stage::Stop(StopStep::Flush);
        }
        match result {
            WriteResult::Done => {
                self.counters.writes_sent += 1;
                if purpose == WriteFor::Decided {
                    self.metrics.write_batch_ops.observe(self.ops.len() as u64);
                    let took = now.saturating_since(self.ops_received);
                    self.metrics.event_to_write_ms.observe(took.as_millis().try_into().unwrap_or(u64::MAX));
                }
                if purpose == WriteFor::Retry {
                    self.retry.reset();
                    if self.refused.is_empty() {
                        self.repeats_ended(&[Repeat::WritesRefused]);
                        self.emit(Event::RefusedWritesDone);
                    } else {
                        self.retry_due = true;
                    }
                }
            }
            WriteResult::Refused => {
                self.counters.writes_refused += 1;
                let mut dropped = 0;
                for op in self.ops.iter() {
                    if self.refused.keep(op).is_err() {
                        dropped += 1;
                    }
                }
                self.counters.refused_lost += dropped as u64;
                self.emit(Event::WritesRefused { kept: self.refused.len(), dropped });
                if self.retry_at.is_none() {
                    self.retry_at = Some(now.saturating_add(self.retry.next_delay()));
                }
                self.retry_due = false;
            }
        }
        self.ops.clear();
        self.note_trouble_starts();
        self.assess_health();
        Ok(())
    }

    /// The dump asked for with [`Io::RequestDump`] went out with sequence
    /// number `seq` (or could not be asked for: `None`).
    pub fn handle_dump_requested(&mut self, now: Instant, seq: Option<u32>) -> Result<(), Unasked> {
        self.advance(now);
        if self.awaiting != Awaiting::Dump {
            return Err(Unasked { answer: "a dump request outcome" });
        }
        self.answered();
        let Some(seq) = seq else {
            self.exit(Err(Failure::DumpRequest));
            return Ok(());
        };
        self.dump_seq = Some(seq);
        if self.reconcile == super::reconcile::Reconcile::Dumping {
            self.engine.check_dump_started(seq);
        } else {
            self.engine.dump_started(seq);
        }
        self.eoiu.start(now, seq, self.config.dump_timeout);
        if self.stage == Stage::Start(StartStep::Dump) {
            self.stage = Stage::Run;
        }
        Ok(())
    }

    /// The link source failed (the caller logged why): nothing more can be
    /// learnt from the kernel, so the daemon exits for its supervisor to
    /// restart it.
    /// During start-up the run ends ([`Failure::Links`]: without link
    /// notifications there is nothing to start on). Once running, the
    /// source is opened again ([`Io::ReopenLinks`]) with growing delays
    /// until it works; meanwhile take no datagrams from it
    /// ([`links_up`](Self::links_up)). Once it is open again the driver
    /// reconciles STATE_DB with the kernel (what was lost meanwhile).
    pub fn handle_link_source_failed(&mut self, now: Instant) {
        self.advance(now);
        match self.stage {
            Stage::Start(_) => self.exit(Err(Failure::Links)),
            Stage::Run => {
                self.counters.netlink_failures += 1;
                if self.links_lost.is_none() {
                    self.links_lost = Some(now);
                    self.emit(Event::LinksFailed);
                }
                if self.reopen_at.is_none() && !self.reopen_due && self.awaiting != Awaiting::Reopen {
                    self.reopen_at = Some(now.saturating_add(self.reopen_backoff.next_delay()));
                }
                self.assess_health();
            }
            Stage::Stop(_) | Stage::Exit(_) | Stage::Done(_) => {}
        }
    }

    /// Whether the link source is up: when it is not, the caller does not
    /// receive from it (the driver asks for it to be opened again).
    pub fn links_up(&self) -> bool {
        self.links_lost.is_none()
    }

    /// The answer to [`Io::ReopenLinks`]: open and subscribed again, or not
    /// (the caller logs why).
    pub fn handle_links_reopened(&mut self, now: Instant, open: bool) -> Result<(), Unasked> {
        self.advance(now);
        if self.awaiting != Awaiting::Reopen {
            return Err(Unasked { answer: "a link source reopen outcome" });
        }
        self.answered();
        if !open {
            self.counters.netlink_failures += 1;
            self.emit(Event::LinksReopenFailed);
            self.reopen_at = Some(now.saturating_add(self.reopen_backoff.next_delay()));
            return Ok(());
        }
        let lost = self.links_lost.take().unwrap_or(now);
        self.counters.netlink_reopens += 1;
        self.reopen_backoff.reset();
        self.repeats_ended(&[Repeat::LinksReopen]);
        let after_ms = now.saturating_since(lost).as_millis().try_into().unwrap_or(u64::MAX);
        self.emit(Event::LinksReopened { after_ms });
        // A new socket has no filter of ours yet (the adapter sets it again;
        // say it once more in case it could not).
        self.denied_dirty |= !self.denied.is_empty();
        // The old socket's dump will never end: what it was for is done again.
        if self.dump_seq.take().is_some() {
            self.eoiu = crate::eoiu::EoiuDetector::new();
            self.redump_wanted = true;
        }
        self.request_reconcile(now);
        self.assess_health();
        Ok(())
    }

    /// The link of [`Io::BringLinkDown`] is down (`true`) or could not be
    /// brought down (`false`; the caller logs why).
    pub fn handle_link_down(&mut self, now: Instant, done: bool) -> Result<(), Unasked> {
        self.advance(now);
        let Awaiting::LinkDown { ifindex, name } = self.awaiting else {
            return Err(Unasked { answer: "a link-down outcome" });
        };
        self.answered();
        self.emit(if done {
            Event::BroughtDown { name, ifindex }
        } else {
            Event::BringDownFailed { name, ifindex }
        });
        Ok(())
    }

    /// The answer to [`Io::SaveSnapshot`]: bytes written, or `None` if it
    /// failed (the caller logs why).
    pub fn handle_snapshot_saved(&mut self, now: Instant, bytes: Option<usize>) -> Result<(), Unasked> {
        self.advance(now);
        if self.awaiting != Awaiting::SnapshotSave {
            return Err(Unasked { answer: "a snapshot save outcome" });
        }
        self.answered();
        self.last_save = now;
        if let Some(bytes) = bytes {
            self.counters.snapshots += 1;
            self.snapshot_dirty = false;
            self.emit(Event::SnapshotSaved { ports: self.engine.published().count(), bytes });
        } else {
            self.counters.snapshot_failures += 1;
        }
        if self.stage == Stage::Stop(StopStep::Save) {
            self.stage = Stage::Stop(StopStep::Exit);
        }
        Ok(())
    }

    /// The answer to [`Io::Maintain`].
    pub fn handle_backend_status(&mut self, now: Instant, status: BackendStatus) -> Result<(), Unasked> {
        self.advance(now);
        if self.awaiting != Awaiting::Maintain {
            return Err(Unasked { answer: "a backend status" });
        }
        self.answered();
        if self.stage == Stage::Stop(StopStep::Flush) {
            self.stage = Stage::Stop(StopStep::Save);
        }
        if status == BackendStatus::Restarted {
            // SONiC's Redis keeps nothing across a restart, and SONiC restarts
            // swss with it: what was produced from the old CONFIG_DB must not
            // be written into the new one, and the C++ daemon would exit on
            // the first Redis error. Exit (non-zero) so that the supervisor
            // starts a run against the CONFIG_DB there is now.
            if self.backend != BackendStatus::Restarted
                && !matches!(self.stage, Stage::Exit(_) | Stage::Done(_))
            {
                self.emit(Event::BackendRestarted);
                if !matches!(self.stage, Stage::Stop(_)) {
                    self.stop(now, Err(Failure::DatabaseRestarted));
                } else {
                    self.stop_result = Err(Failure::DatabaseRestarted);
                }
            }
        } else if io::degraded(status).is_some() != io::degraded(self.backend).is_some() {
            match status {
                BackendStatus::Degraded { pending } => self.emit(Event::BackendDegraded { pending }),
                _ => {
                    self.repeats_ended(&[Repeat::PresenceUnknown]);
                    self.emit(Event::BackendConnected);
                }
            }
        }
        self.backend = status;
        self.note_trouble_starts();
        self.assess_health();
        Ok(())
    }

    // --------------------------------------------------------------- output

    /// One decision of normal operation, in priority order.
    pub(super) fn next_run(&mut self) -> Step {
        // Collected writes go out when full, or when nothing more joins them.
        if self.ops.is_full() || (!self.draining && !self.ops.is_empty()) {
            return Step::Ask(Request::Write(WriteFor::Decided));
        }
        if self.draining {
            return self.drain_one();
        }
        if self.after_drain != AfterDrain::Nothing {
            return self.after_drained();
        }
        if self.closing {
            return self.close_batch();
        }
        if self.in_batch {
            return Step::Idle;
        }
        if let Some(end) = self.dump_end {
            if !self.engine_batch_empty() {
                self.closing = true;
                return Step::Again;
            }
            self.dump_end = None;
            return self.act_on_dump_end(end);
        }
        if core::mem::take(&mut self.reopen_due) {
            return Step::Ask(Request::ReopenLinks);
        }
        // No dump of a link source that is down: it waits for the reopen.
        if self.redump_wanted && self.dump_seq.is_none() && self.links_lost.is_none() {
            self.redump_wanted = false;
            self.counters.redumps += 1;
            return Step::Ask(Request::Dump);
        }
        if let Some(step) = self.reconcile_dump() {
            return step;
        }
        // The retry timer: refused writes, and a dump when something could
        // not be asked or dumped. Either way the timer is spent.
        if core::mem::take(&mut self.retry_due) {
            if core::mem::take(&mut self.resync_wanted) {
                self.redump_wanted = true;
            }
            if self.refused.is_empty() {
                return Step::Again;
            }
            let engine = &self.engine;
            self.refused.take_into(&mut self.ops, |name| engine.published_state(name));
            return Step::Ask(Request::Write(WriteFor::Retry));
        }
        if core::mem::take(&mut self.maintain_due) {
            return Step::Ask(Request::Maintain(None));
        }
        if core::mem::take(&mut self.logger_due) {
            return Step::Ask(Request::Read(ReadFor::LoggerPoll));
        }
        if let Some(step) = self.coordination_step() {
            return step;
        }
        if let Some(step) = self.link_filter_step() {
            return step;
        }
        if self.alarm_due() {
            return Step::Ask(Request::Write(WriteFor::Alarm));
        }
        if core::mem::take(&mut self.snapshot_due) && self.snapshot_at().is_some() {
            return Step::Ask(Request::SaveSnapshot);
        }
        Step::Idle
    }

    pub(super) fn engine_batch_empty(&self) -> bool {
        self.engine.batch_len() == 0
    }

    /// Asks APPL_DB about the batch's ports whose presence is not trusted,
    /// or commits the batch at once when every answer is known.
    pub(super) fn close_batch(&mut self) -> Step {
        self.keys.clear();
        let now = self.now;
        for name in self.engine.pending_presence() {
            if self.presence.must_ask(name, now) && self.keys.push(*name).is_err() {
                break;
            }
        }
        if !self.keys.is_empty() {
            self.counters.presence_reads += 1;
            return Step::Ask(Request::Read(ReadFor::Presence));
        }
        let presence = &self.presence;
        if let Err(e) = self.engine.resolve_presence(|n| presence.last(n)) {
            self.emit(Event::Engine(e));
        }
        self.commit(now);
        Step::Again
    }

    pub(super) fn commit(&mut self, _now: Instant) {
        self.closing = false;
        match self.engine.commit_batch() {
            Ok(()) => self.draining = true,
            Err(e) => self.emit(Event::Engine(e)),
        }
    }

    /// One action of the engine's outbox.
    pub(super) fn drain_one(&mut self) -> Step {
        let Some(action) = self.engine.poll_action() else {
            self.draining = false;
            return Step::Again;
        };
        let now = self.now;
        match action {
            Action::BringLinkDown { ifindex, name } => return Step::Ask(Request::LinkDown { ifindex, name }),
            Action::ProduceAppPort { name } => {
                self.counters.appl_produces += 1;
                self.collect(WriteOp::ProduceConfigPort { name });
            }
            Action::PortConfigDone { count } => {
                self.counters.appl_produces += 1;
                self.milestones.port_config_done = Some(self.since_start(now));
                self.emit(Event::PortConfigDone { count });
                self.collect(WriteOp::PortConfigDone { count });
            }
            Action::SetStatePort { name, state } => {
                self.snapshot_dirty = true;
                self.collect(WriteOp::SetStatePort { name, state });
            }
            Action::DelStatePort { name } => {
                self.snapshot_dirty = true;
                self.presence.forget(&name);
                if self.after_drain != AfterDrain::Nothing {
                    self.vanished_in_drain += 1;
                    self.counters.vanished += 1;
                    self.emit(Event::Vanished(name));
                }
                self.collect(WriteOp::DelStatePort { name });
            }
            Action::PortNotInAppDb { name } => self.emit(Event::PortNotInAppDb(name)),
            Action::OwnPortsReady => self.own_ports_ready(now),
            Action::PortInitDone => {
                self.snapshot_dirty = true;
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

    pub(super) fn after_drained(&mut self) -> Step {
        let now = self.now;
        match core::mem::replace(&mut self.after_drain, AfterDrain::Nothing) {
            AfterDrain::Nothing => {}
            AfterDrain::Prune => {
                self.keys.clear();
                for name in self.engine.prune_candidates() {
                    let _ = self.keys.push(*name);
                }
                if !self.keys.is_empty() {
                    return Step::Ask(Request::Read(ReadFor::Prune));
                }
                self.end_prune();
            }
            AfterDrain::InitialSyncDone => {
                let awaiting = self.engine.awaiting_ports().count();
                self.emit(Event::InitialSyncDone { after: self.since_start(now), awaiting });
                self.ready = true;
                let status = self.status();
                let _ = self.direct.push_back(Direct::Notify(Notify::Ready(status)));
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
            Ok(()) => {
                self.draining = true;
                self.after_drain = AfterDrain::InitialSyncDone;
            }
            Err(e) => self.emit(Event::Engine(e)),
        }
    }

    pub(super) fn dump_ended(&mut self, end: Eoiu) {
        self.dump_end = Some(end);
        self.dump_seq = None;
    }

    pub(super) fn act_on_dump_end(&mut self, end: Eoiu) -> Step {
        match end {
            Eoiu::Interrupted => {
                self.emit(Event::DumpInterrupted);
                self.redump_wanted = true;
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
                Ok(()) => {
                    self.draining = true;
                    self.after_drain = if self.engine.phase() == Phase::Pruning {
                        AfterDrain::Prune
                    } else {
                        AfterDrain::InitialSyncDone
                    };
                }
                Err(e) => self.emit(Event::Engine(e)),
            }
        } else {
            match self.engine.dump_ended(complete) {
                Ok(()) => {
                    self.draining = true;
                    self.after_drain = AfterDrain::DumpChecked { complete };
                }
                Err(e) => self.emit(Event::Engine(e)),
            }
        }
        Step::Again
    }
}
