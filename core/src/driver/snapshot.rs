//! The warm-restart snapshot: when it is saved, and what a failed save
//! means. The snapshot is a cache: a store that cannot take it (read-only,
//! full, missing) degrades warm restart — health says so, one line says what
//! is lost — and never the port tables; a save is tried again on the save
//! cadence until one succeeds. A failed save on the way out is said, and
//! leaves the exit status as it was: the port tables are fine, and only the
//! next start goes without the snapshot (cold, or warm from STATE_DB alone).

use core::time::Duration;

use super::state::{SaveFlight, Saved, Stage, StopStep};
use super::timers::Timer;
use super::{Driver, Event};
use crate::backend::StoreFault;
use crate::time::Instant;

/// A failed save is tried again after the save interval, or after this if
/// the interval is shorter (an interval of 0 would try again at once, for
/// ever, while the store stays unusable).
pub const SAVE_RETRY_FLOOR: Duration = Duration::from_secs(1);

/// A save handed off and not finished after this counts as failing (health
/// says so): the disk under the state dir is stuck, and no other save is
/// asked for meanwhile.
pub const SAVE_STUCK_AFTER: Duration = Duration::from_secs(60);

impl<const P: usize, const B: usize> Driver<P, B> {
    /// The one place the snapshot's standing changes.
    fn set_saved(&mut self, saved: Saved) {
        self.saved = saved;
    }

    /// What STATE_DB holds changed: the snapshot is saved within its interval.
    pub(super) fn snapshot_changed(&mut self) {
        if self.saved == Saved::Current {
            self.set_saved(Saved::Behind);
        }
        if let SaveFlight::Under { overtaken, .. } = &mut self.save_flight {
            *overtaken = true;
        }
        if !self.timers.is_pending(Timer::Snapshot) {
            self.timers.set(Timer::Snapshot, self.last_save.saturating_add(self.config.snapshot_interval));
        }
    }

    /// Whether a save is owed (STATE_DB changed since the last, or saves fail).
    pub(super) fn snapshot_owed(&self) -> bool {
        self.saved != Saved::Current
    }

    /// Why the snapshot cannot be saved, if it cannot (a health fact): saves
    /// fail, or one has been under way for [`SAVE_STUCK_AFTER`].
    pub(super) fn snapshot_fault(&self) -> Option<StoreFault> {
        match (self.saved, self.save_flight) {
            (Saved::Failing(fault), _) => Some(fault),
            (_, SaveFlight::Under { since, .. }) if self.now.saturating_since(since) >= SAVE_STUCK_AFTER => {
                Some(StoreFault::Unfinished)
            }
            _ => None,
        }
    }

    /// How long after a failed save the next is tried.
    fn save_retry(&self) -> Duration {
        self.config.snapshot_interval.max(SAVE_RETRY_FLOOR)
    }

    /// Saves fail for `fault`: said once, until one succeeds.
    fn snapshots_failing(&mut self, fault: StoreFault) {
        if self.snapshot_fault().is_none() {
            let every_ms = self.save_retry().as_millis().try_into().unwrap_or(u64::MAX);
            self.emit(Event::SnapshotsNotSaved { fault, every_ms });
        }
        self.set_saved(Saved::Failing(fault));
    }

    /// The store cannot take a save (found so before any was asked for): a
    /// save is owed, tried once the initial sync is over and then on the
    /// cadence.
    pub(super) fn on_snapshot_store_failed(&mut self, now: Instant, fault: StoreFault) {
        self.snapshots_failing(fault);
        if !self.timers.is_pending(Timer::Snapshot) {
            self.timers.set(Timer::Snapshot, now.saturating_add(self.save_retry()));
        }
        self.assess_health();
    }

    /// Whether a save handed off is still under way.
    pub(super) fn save_under_way(&self) -> bool {
        self.save_flight != SaveFlight::Idle
    }

    /// Bytes written, or why not.
    pub(super) fn on_snapshot_saved(&mut self, now: Instant, saved: Result<usize, StoreFault>) {
        self.answered(now);
        self.last_save = now;
        let last = self.stage == Stage::Stop(StopStep::Save);
        self.snapshot_outcome(now, saved, false, last);
    }

    /// The save was handed off: the snapshot is as of `now`, and its outcome
    /// comes later ([`on_snapshot_written`](Self::on_snapshot_written)).
    pub(super) fn on_snapshot_handed_off(&mut self, now: Instant) {
        self.answered(now);
        self.last_save = now;
        self.save_flight = SaveFlight::Under { since: now, overtaken: false };
        if self.stage == Stage::Stop(StopStep::Save) {
            self.timers.set(Timer::StopFlush, now.saturating_add(self.config.shutdown_flush));
            self.set_stage(Stage::Stop(StopStep::LastSaveUnderWay));
        }
    }

    /// The outcome of the save handed off (none under way: nothing to do).
    pub(super) fn on_snapshot_written(&mut self, now: Instant, saved: Result<usize, StoreFault>) {
        let SaveFlight::Under { overtaken, .. } = self.save_flight else { return };
        // One that was taken for stuck and lands after all: said, as saves
        // that failed and work again are.
        let stuck = self.snapshot_fault() == Some(StoreFault::Unfinished);
        self.save_flight = SaveFlight::Idle;
        if stuck && saved.is_ok() {
            self.emit(Event::SnapshotsSavedAgain);
        }
        let last = self.stage == Stage::Stop(StopStep::LastSaveUnderWay);
        self.snapshot_outcome(now, saved, overtaken, last);
    }

    /// A save handed off did not finish before the stop's deadline: the
    /// daemon goes without waiting longer (the file is the previous
    /// snapshot, or this one once the rename lands).
    pub(super) fn save_unfinished(&mut self) {
        self.save_flight = SaveFlight::Idle;
        self.counters.snapshot_failures += 1;
        self.set_saved(Saved::Failing(StoreFault::Unfinished));
        self.emit(Event::StoppedWithoutSnapshot { fault: StoreFault::Unfinished });
        self.set_stage(Stage::Stop(StopStep::Exit));
    }

    /// What a save's outcome means. `overtaken`: STATE_DB changed after the
    /// snapshot was taken, so a success leaves it behind (the next save is
    /// due an interval after this one began). `last`: the stop's own save,
    /// after which the daemon exits.
    fn snapshot_outcome(
        &mut self,
        now: Instant,
        saved: Result<usize, StoreFault>,
        overtaken: bool,
        last: bool,
    ) {
        match saved {
            Ok(bytes) => {
                self.counters.snapshots += 1;
                if self.snapshot_fault().is_some() {
                    self.emit(Event::SnapshotsSavedAgain);
                }
                if overtaken {
                    self.set_saved(Saved::Behind);
                    if !self.timers.is_pending(Timer::Snapshot) {
                        self.timers.set(
                            Timer::Snapshot,
                            self.last_save.saturating_add(self.config.snapshot_interval),
                        );
                    }
                } else {
                    self.set_saved(Saved::Current);
                    self.timers.stop(Timer::Snapshot);
                }
                self.emit(Event::SnapshotSaved { ports: self.engine.published().count(), bytes });
            }
            Err(fault) if last => {
                // Said whatever was said before: this is what the next start
                // goes without. The run's result (the exit status) stays, 0
                // after a SIGTERM, on purpose: what systemd or supervisord
                // sees in the status is whether the service failed, and it
                // did not — the port tables are as they should be. A non-zero
                // status would mark the unit failed (run OnFailure=, count
                // against the start limit) for a cache miss that costs only
                // the next start's snapshot; the line above and
                // portsyncd_snapshot_failures_total are what says it.
                self.counters.snapshot_failures += 1;
                self.set_saved(Saved::Failing(fault));
                self.emit(Event::StoppedWithoutSnapshot { fault });
            }
            Err(fault) => {
                self.counters.snapshot_failures += 1;
                self.snapshots_failing(fault);
                // Fired during a save under way, its work is this retry's.
                self.timers.stop(Timer::Snapshot);
                self.timers.set(Timer::Snapshot, now.saturating_add(self.save_retry()));
            }
        }
        if last {
            self.set_stage(Stage::Stop(StopStep::Exit));
        }
        self.assess_health();
    }
}
