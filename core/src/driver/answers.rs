//! What each answer means (but a read's: [`super::replies`]), what a
//! signal or a failed link source means, and the stop sequence. The typed
//! requests ([`super::request`]) route each answer here; which request is
//! made when is `poll_io`'s.

use super::io::{Failure, Notify, Signal, SnapshotLoad, WriteResult};
use super::request::{
    AlarmWriting, Dumping, Io, LinkDenying, LinkDown, Maintaining, Reading, Reopening, Request,
    SnapshotLoading, SnapshotSaving, Writing,
};
use super::state::{Ask, Direct, Redump, Stage, StartStep, Step, StopStep, WriteFor};
use super::timers::Timer;
use super::{Driver, Repeat, io};
use crate::backend::BackendStatus;
use crate::event::Event;
use crate::name::LinkLabel;
use crate::time::Instant;
use crate::writes::WriteOp;

impl<const P: usize, const B: usize> Driver<P, B> {
    /// The view of a request whose answer is now awaited.
    pub(super) fn request(&mut self, ask: Ask) -> Io<'_, P, B> {
        self.asked_at = self.now;
        self.awaiting = Some(ask);
        match ask {
            Ask::Read(purpose) => Io::Read(Request::new(self, Reading(purpose))),
            Ask::Write(WriteFor::Alarm) => Io::WriteAlarm(Request::new(self, AlarmWriting)),
            Ask::Write(_) => Io::Write(Request::new(self, Writing)),
            Ask::Dump => Io::RequestDump(Request::new(self, Dumping)),
            Ask::LinkDown { ifindex, name } => {
                Io::BringLinkDown(Request::new(self, LinkDown { ifindex, name }))
            }
            Ask::LoadSnapshot => Io::LoadSnapshot(Request::new(self, SnapshotLoading)),
            Ask::SaveSnapshot => Io::SaveSnapshot(Request::new(self, SnapshotSaving)),
            Ask::Maintain(deadline) => Io::Maintain(Request::new(self, Maintaining(deadline))),
            Ask::ReopenLinks => Io::ReopenLinks(Request::new(self, Reopening)),
            Ask::LinkFilter => Io::DenyLinks(Request::new(self, LinkDenying)),
        }
    }

    /// The request awaited has been answered at `now`: which it was.
    pub(super) fn answered(&mut self, now: Instant) -> Option<Ask> {
        self.advance(now);
        let took = self.now.saturating_since(self.asked_at);
        self.health.request_took(self.now, took);
        self.awaiting.take()
    }

    /// How a write batch went.
    pub(super) fn on_write(&mut self, now: Instant, result: WriteResult, absent: &[bool]) {
        let Some(Ask::Write(purpose)) = self.answered(now) else { return };
        // A port's STATE_DB write that found APPL_DB without the port wrote
        // nothing (the C++ daemon asks APPL_DB before each write).
        for i in (0..self.ops.len().min(absent.len())).filter(|&i| absent[i]) {
            if let Some(&WriteOp::SetStatePort { name, .. }) = self.ops.get(i) {
                self.engine.found_absent(&name);
                self.emit(Event::PortNotInAppDb(name));
            }
        }
        if purpose == WriteFor::Coordination {
            self.ops.clear();
            self.coordination_written(now, result == WriteResult::Done);
            return;
        }
        if let WriteFor::Startup(what) = purpose {
            self.ops.clear();
            if result == WriteResult::Refused {
                self.exit(Err(Failure::StartupWrite { what }));
                return;
            }
            match self.stage {
                Stage::Start(StartStep::LoggerDefaults) => self.start_step(StartStep::WriteRestoreCount),
                Stage::Start(StartStep::WriteRestoreCount) => self.start_step(StartStep::ConfigFields),
                _ => {}
            }
            return;
        }
        if self.stage == Stage::Stop(StopStep::Retry) {
            self.set_stage(Stage::Stop(StopStep::Flush));
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
                        self.timers.fire(Timer::Retry);
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
                // Tried again when the timer armed fires (armed now if it
                // is not), not at once.
                let at = match self.timers.get(Timer::Retry) {
                    Some(at) => at,
                    None => now.saturating_add(self.retry.next_delay()),
                };
                self.timers.stop(Timer::Retry);
                self.timers.set(Timer::Retry, at);
            }
        }
        self.ops.clear();
        self.note_trouble_starts();
        self.assess_health();
    }

    /// The dump went out with sequence number `seq` (or could not be asked
    /// for: `None`).
    pub(super) fn on_dump_requested(&mut self, now: Instant, seq: Option<u32>) {
        self.answered(now);
        let Some(seq) = seq else {
            self.exit(Err(Failure::DumpRequest));
            return;
        };
        self.dump_seq = Some(seq);
        if self.reconcile == super::reconcile::Reconcile::Dumping {
            self.engine.check_dump_started(seq);
        } else {
            self.engine.dump_started(seq);
        }
        self.eoiu.start(now, seq, self.config.dump_timeout);
        if self.stage == Stage::Start(StartStep::Dump) {
            self.set_stage(Stage::Run);
        }
    }

    /// The link source failed (the caller logged why). During start-up the
    /// run ends ([`Failure::Links`]: without link notifications there is
    /// nothing to start on). Once running, the source is opened again
    /// ([`Io::ReopenLinks`]) with growing delays until it works, and not
    /// read meanwhile; once it is open again the driver reconciles STATE_DB
    /// with the kernel (what was lost meanwhile).
    pub(super) fn on_links_failed(&mut self, now: Instant) {
        match self.stage {
            Stage::Start(_) => self.exit(Err(Failure::Links)),
            Stage::Run => {
                self.counters.netlink_failures += 1;
                if self.links_lost.is_none() {
                    self.links_lost = Some(now);
                    self.emit(Event::LinksFailed);
                }
                if !self.timers.is_pending(Timer::Reopen) && self.awaiting != Some(Ask::ReopenLinks) {
                    self.timers.set(Timer::Reopen, now.saturating_add(self.reopen_backoff.next_delay()));
                }
                self.assess_health();
            }
            Stage::Stop(_) | Stage::Exit(_) | Stage::Done(_) => {}
        }
    }

    /// Open and subscribed again, or not (the caller logs why).
    pub(super) fn on_links_reopened(&mut self, now: Instant, open: bool) {
        self.answered(now);
        if !open {
            self.counters.netlink_failures += 1;
            self.emit(Event::LinksReopenFailed);
            self.timers.set(Timer::Reopen, now.saturating_add(self.reopen_backoff.next_delay()));
            return;
        }
        let lost = self.links_lost.take().unwrap_or(now);
        self.counters.netlink_reopens += 1;
        self.reopen_backoff.reset();
        self.repeats_ended(&[Repeat::LinksReopen]);
        let after_ms = now.saturating_since(lost).as_millis().try_into().unwrap_or(u64::MAX);
        self.emit(Event::LinksReopened { after_ms });
        // A new socket has no filter of ours yet (the adapter sets it again;
        // say it once more in case it could not).
        if !self.denied.is_empty() {
            self.link_filter_changed();
        }
        // The old socket's dump will never end: what it was for is done again.
        if self.dump_seq.take().is_some() {
            self.eoiu = crate::eoiu::EoiuDetector::new();
            self.redump = Redump::Now;
        }
        if self.reconcile == super::reconcile::Reconcile::Idle {
            self.reconcile = super::reconcile::Reconcile::Due;
        }
        self.assess_health();
    }

    /// The link is down (`true`) or could not be brought down.
    pub(super) fn on_link_down(&mut self, now: Instant, ifindex: u32, name: LinkLabel, done: bool) {
        self.answered(now);
        self.emit(if done {
            Event::BroughtDown { name, ifindex }
        } else {
            Event::BringDownFailed { name, ifindex }
        });
    }

    /// The backend's status after maintenance.
    pub(super) fn on_maintained(&mut self, now: Instant, status: BackendStatus) {
        self.answered(now);
        if self.stage == Stage::Stop(StopStep::Flush) {
            self.set_stage(Stage::Stop(StopStep::Save));
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
    }

    /// A signal arrived.
    pub(super) fn on_signal(&mut self, now: Instant, signal: Signal) {
        match signal {
            Signal::Terminate => {
                if matches!(self.stage, Stage::Stop(_) | Stage::Exit(_) | Stage::Done(_)) {
                    return;
                }
                self.emit(Event::Stopping);
                self.stop(now, Ok(()));
            }
            Signal::Reload => self.reload(now),
            Signal::Reconcile => {
                if self.reconcile == super::reconcile::Reconcile::Idle {
                    self.reconcile = super::reconcile::Reconcile::Due;
                }
            }
        }
    }

    /// Ends the run with `result`: at once during start-up (nothing of this
    /// run is worth saving yet: a snapshot of it would replace a good one
    /// with an empty one), else through the stop sequence (last retries,
    /// flush, snapshot).
    pub(super) fn stop(&mut self, now: Instant, result: Result<(), Failure>) {
        if matches!(self.stage, Stage::Start(_)) {
            self.exit(result);
            return;
        }
        self.stop_result = result;
        self.timers.set(Timer::StopFlush, now.saturating_add(self.config.shutdown_flush));
        self.set_stage(Stage::Stop(StopStep::Notify));
    }

    pub(super) fn next_stop(&mut self, step: StopStep) -> Step {
        match step {
            StopStep::Notify => {
                let _ = self.direct.push_back(Direct::Notify(Notify::Stopping));
                self.set_stage(Stage::Stop(StopStep::Retry));
                Step::Again
            }
            StopStep::Retry if self.refused.is_empty() => {
                self.set_stage(Stage::Stop(StopStep::Flush));
                Step::Again
            }
            StopStep::Retry => {
                // One last attempt at the writes kept after a refusal.
                let engine = &self.engine;
                self.refused.take_into(&mut self.ops, |name| engine.published_state(name));
                Step::Ask(Ask::Write(WriteFor::Retry))
            }
            StopStep::Flush => {
                Step::Ask(Ask::Maintain(Some(self.timers.get(Timer::StopFlush).unwrap_or(self.now))))
            }
            // An engine still in its initial dump knows less than the
            // snapshot there is: saving it would replace a good one.
            StopStep::Save if self.engine.phase() != crate::engine::Phase::Running => {
                self.set_stage(Stage::Stop(StopStep::Exit));
                Step::Again
            }
            StopStep::Save if self.save_under_way() => {
                self.timers.set(Timer::StopFlush, self.now.saturating_add(self.config.shutdown_flush));
                self.set_stage(Stage::Stop(StopStep::EarlierSaveUnderWay));
                Step::Again
            }
            StopStep::Save => Step::Ask(Ask::SaveSnapshot),
            StopStep::EarlierSaveUnderWay if !self.save_under_way() => {
                self.set_stage(Stage::Stop(StopStep::Save));
                Step::Again
            }
            StopStep::EarlierSaveUnderWay | StopStep::LastSaveUnderWay => {
                if self.timers.expired(Timer::StopFlush, self.now) {
                    self.save_unfinished();
                    return Step::Again;
                }
                Step::Idle
            }
            StopStep::Exit => {
                self.exit(self.stop_result);
                Step::Again
            }
        }
    }

    /// What a snapshot load found.
    pub(super) fn on_snapshot_loaded(&mut self, now: Instant, load: SnapshotLoad<'_>) {
        self.answered(now);
        self.snapshot_loaded(load);
    }
}

#[cfg(test)]
mod tests {
    use super::{Driver, Event};
    use crate::event::Text;

    /// One answer may bring more lines than the queue holds: those are
    /// counted and said as one line once there is room, none dropped
    /// without a word.
    #[test]
    fn lines_beyond_the_queue_are_counted_and_said_as_one() {
        let mut d = std::boxed::Box::new(Driver::<8, 8>::default());
        for _ in 0..100 {
            d.emit(Event::BadSwitchType { value: Text::new(b"\xff") });
        }
        let mut said = 0;
        let mut counted = 0;
        while let Some(event) = d.poll_event() {
            match event {
                Event::Unsaid { lines } => counted += lines,
                _ => said += 1,
            }
        }
        assert!(said < 100 && counted > 0);
        assert_eq!(said + counted, 100);
    }
}
