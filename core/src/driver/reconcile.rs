//! Periodic reconciliation: every `reconcile_interval` (and on demand) the
//! driver dumps the kernel's links again and reads STATE_DB `PORT_TABLE`
//! back, and repairs whatever drifted — a key someone deleted or changed,
//! a field gone, a key left for a port with no link, an event lost anywhere.
//!
//! The cost is bounded: one dump (whose replies the engine already turns
//! into writes where its own record differs from the kernel), one read
//! pipeline (the ports' hashes), one write pipeline (the repairs). After
//! the dump the engine's record is the kernel's state, so each hash is
//! compared with the record: a published port whose four fields differ is
//! written again (all four: a merge that leaves other daemons' fields
//! alone); a port with no published state whose hash still holds one of our
//! fields is deleted, as the C++ daemon deletes it on RTM_DELLINK.
//!
//! It decides nothing about the kernel: that is the dump's. What this module
//! does not do: read any table but `PORT_TABLE`, or touch a hash that holds
//! none of portsyncd's fields.

use super::Driver;
use super::state::{Ask, ReadFor, Redump, Step};
use crate::event::{Event, Repair};
use crate::name::PortName;
use crate::warm::StatePortReader;
use crate::writes::WriteOp;

/// Repaired ports named one line each per round; the rest are counted.
const REPAIR_LINES_PER_ROUND: usize = 16;

/// Where a reconciliation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Reconcile {
    /// None in progress.
    #[default]
    Idle,
    /// Due: the dump is asked for as soon as none is in flight.
    Due,
    /// Its dump is asked for or running (or failed and will be retried):
    /// the next complete dump is followed by the read.
    Dumping,
    /// STATE_DB is being read.
    Reading,
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// The dump of a due reconciliation, once none is in flight.
    pub(super) fn reconcile_dump(&mut self) -> Option<Step> {
        if self.reconcile != Reconcile::Due
            || self.dump_seq.is_some()
            || self.redump == Redump::Now
            || self.links_lost.is_some()
        {
            return None;
        }
        self.reconcile = Reconcile::Dumping;
        self.counters.reconciliations += 1;
        Some(Step::Ask(Ask::Dump))
    }

    /// A dump was checked: if it was complete and a reconciliation waits
    /// for it, STATE_DB is read next.
    pub(super) fn reconcile_after_dump(&mut self, complete: bool) -> Option<Step> {
        if !complete || self.reconcile != Reconcile::Dumping {
            return None;
        }
        self.keys.clear();
        // Configured ports, then published ones no longer configured; as many
        // as one write batch can repair (the rest wait for the next round).
        let limit = P.min(B);
        let engine = &self.engine;
        let unconfigured = engine.published().map(|(name, _)| name).filter(|n| !engine.is_configured(n));
        // Another instance's port is that instance's to reconcile.
        for name in engine.config_ports().chain(unconfigured).filter(|n| engine.takes(n)).take(limit) {
            let _ = self.keys.push(*name);
        }
        self.learnt.cursor = 0;
        self.learnt.reader = StatePortReader::default();
        self.repaired_in_round = 0;
        if self.keys.is_empty() {
            self.reconcile = Reconcile::Idle;
            return None;
        }
        self.reconcile = Reconcile::Reading;
        Some(Step::Ask(Ask::Read(ReadFor::Reconcile)))
    }

    /// The key at the cursor has been read: compared with the record.
    pub(super) fn finish_reconcile_key(&mut self) {
        let reader = core::mem::take(&mut self.learnt.reader);
        let Some(name) = self.keys.get(self.learnt.cursor).copied() else { return };
        self.learnt.cursor += 1;
        let repair = match self.engine.published_state(&name) {
            Some(state) => match reader.state(state.ifindex) {
                Some(held) if held.is_baseline_of(&state) => None,
                _ if !reader.any() => Some((Repair::Missing, WriteOp::SetStatePort { name, state })),
                _ => Some((Repair::Changed, WriteOp::SetStatePort { name, state })),
            },
            None if reader.any() => Some((Repair::Stale, WriteOp::DelStatePort { name })),
            None => None,
        };
        if let Some((repair, op)) = repair {
            self.repair(name, repair, op);
        }
    }

    fn repair(&mut self, name: PortName, repair: Repair, op: WriteOp) {
        self.counters.repaired += 1;
        self.repaired_in_round += 1;
        self.snapshot_changed();
        // A line per port, for the first of a round (a flushed STATE_DB
        // would be a thousand); the round's line counts them all.
        if self.repaired_in_round <= REPAIR_LINES_PER_ROUND {
            self.emit(Event::Repaired { name, repair });
        }
        self.collect(op);
    }

    /// The read is over: the repairs go out as one batch.
    pub(super) fn reconcile_read_ended(&mut self, failed: bool) {
        if failed {
            // Tried again at the next round (the timer, or a request).
            self.emit(Event::ReconcileFailed);
        } else {
            self.emit(Event::Reconciled { checked: self.keys.len(), repaired: self.repaired_in_round });
        }
        self.reconcile = Reconcile::Idle;
    }
}
