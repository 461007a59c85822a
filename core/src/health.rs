//! How well portsyncd is doing, as one of three states with a reason.
//!
//! [`Health`] decides, from facts the driver already has — whether the
//! databases are reachable or refusing writes and since when, writes kept
//! and refused, netlink overruns and re-dumps in the last minute, how long
//! the last database request took, whether the initial sync and
//! PortInitDone were reached, whether the warm-restart snapshot can be
//! saved — whether the daemon is
//! [`Healthy`](HealthState::Healthy), [`Degraded`](HealthState::Degraded)
//! or [`Unhealthy`](HealthState::Unhealthy), and why. The first rule that
//! holds, in the order of [`Reason`], gives the state; thresholds come from
//! [`HealthThresholds`]. A transition is reported once, for the caller to
//! log as `health: OLD => NEW (reason)`.
//!
//! It does not observe anything itself, read a clock, or decide what to do
//! about a state (liveness, alerts and metrics use it); a loop that does not
//! run cannot report its health at all — the supervisor's watchdog covers
//! that.

use core::fmt;
use core::time::Duration;

use heapless::Deque;

use crate::backend::StoreFault;
use crate::name::FewNames;
use crate::time::Instant;

/// The three states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthState {
    /// Everything as it should be.
    Healthy,
    /// Working, but something needs a look (writes kept, ports missing,
    /// no warm-restart snapshot saved).
    Degraded,
    /// Not doing its job (the databases gone for long, writes refused for
    /// long, a request stuck).
    Unhealthy,
}

impl HealthState {
    /// Its number as a gauge shows it: 0 healthy, 1 degraded, 2 unhealthy.
    pub const fn code(self) -> u8 {
        match self {
            HealthState::Healthy => 0,
            HealthState::Degraded => 1,
            HealthState::Unhealthy => 2,
        }
    }

    /// Lower-case name (`healthy`, `degraded`, `unhealthy`).
    pub const fn name(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the state is what it is; the rules in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A database server restarted: the run is ending (unhealthy).
    DatabaseRestarted,
    /// The databases have been unreachable (or refusing the kept writes)
    /// for at least `unhealthy_after` (unhealthy).
    DatabasesGoneLong {
        /// For how long, in seconds.
        secs: u64,
    },
    /// Writes refused by the databases for at least `unhealthy_after`
    /// (unhealthy).
    WritesRefusedLong {
        /// For how long, in seconds.
        secs: u64,
    },
    /// The kernel's link notifications have been lost (the netlink socket
    /// failed and could not be opened again) for at least `unhealthy_after`
    /// (unhealthy).
    LinksLostLong {
        /// For how long, in seconds.
        secs: u64,
    },
    /// Partitioned instances whose shares overlap or leave ports to none,
    /// or that disagree on their count: PortInitDone is withheld (unhealthy).
    PartitionMismatch,
    /// A database request took at least `stall_after` (unhealthy while it
    /// is recent).
    SlowRequest {
        /// How long it took, in ms.
        ms: u64,
    },
    /// The databases are unreachable; writes are kept (degraded).
    DatabasesUnreachable {
        /// Keys whose writes are kept.
        kept: usize,
    },
    /// Writes refused, kept to be written again (degraded).
    WritesRefused {
        /// How many are kept.
        kept: usize,
    },
    /// The netlink socket failed; it is being opened again (degraded).
    LinksLost,
    /// Netlink overruns in the last minute at or above the threshold
    /// (degraded).
    Overruns {
        /// How many.
        last_minute: usize,
    },
    /// PortInitDone not reached within `port_init_within` of the start
    /// (degraded).
    PortInitLate {
        /// Ports still awaiting their host interface (the first few named).
        awaiting: FewNames,
    },
    /// The warm-restart snapshot cannot be saved (degraded, never more: it
    /// is a cache, and the port tables are kept as usual; a warm restart
    /// meanwhile goes by STATE_DB alone).
    SnapshotNotSaved {
        /// Why.
        fault: StoreFault,
    },
    /// Nothing wrong.
    AllWell,
}

impl Reason {
    const fn state(self) -> HealthState {
        match self {
            Reason::DatabaseRestarted
            | Reason::DatabasesGoneLong { .. }
            | Reason::WritesRefusedLong { .. }
            | Reason::LinksLostLong { .. }
            | Reason::PartitionMismatch
            | Reason::SlowRequest { .. } => HealthState::Unhealthy,
            Reason::DatabasesUnreachable { .. }
            | Reason::WritesRefused { .. }
            | Reason::LinksLost
            | Reason::Overruns { .. }
            | Reason::PortInitLate { .. }
            | Reason::SnapshotNotSaved { .. } => HealthState::Degraded,
            Reason::AllWell => HealthState::Healthy,
        }
    }

    /// A short stable name (a metric label).
    pub const fn name(self) -> &'static str {
        match self {
            Reason::DatabaseRestarted => "database_restarted",
            Reason::DatabasesGoneLong { .. } => "databases_gone_long",
            Reason::WritesRefusedLong { .. } => "writes_refused_long",
            Reason::LinksLostLong { .. } => "links_lost_long",
            Reason::PartitionMismatch => "partition_mismatch",
            Reason::SlowRequest { .. } => "slow_request",
            Reason::DatabasesUnreachable { .. } => "databases_unreachable",
            Reason::WritesRefused { .. } => "writes_refused",
            Reason::LinksLost => "links_lost",
            Reason::Overruns { .. } => "overruns",
            Reason::PortInitLate { .. } => "port_init_late",
            Reason::SnapshotNotSaved { .. } => "snapshot_not_saved",
            Reason::AllWell => "all_well",
        }
    }

    /// Whether two reasons are the same rule (their numbers may differ).
    fn same_rule(self, other: Reason) -> bool {
        self.name() == other.name()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::DatabaseRestarted => f.write_str("a database server restarted"),
            Reason::DatabasesGoneLong { secs } => write!(f, "databases unreachable for {secs} s"),
            Reason::WritesRefusedLong { secs } => write!(f, "writes refused for {secs} s"),
            Reason::LinksLostLong { secs } => write!(f, "kernel link notifications lost for {secs} s"),
            Reason::PartitionMismatch => {
                f.write_str("partitioned instances do not add up; PortInitDone withheld")
            }
            Reason::SlowRequest { ms } => write!(f, "a database request took {ms} ms"),
            Reason::DatabasesUnreachable { kept } => {
                write!(f, "databases unreachable, {kept} keys' writes kept")
            }
            Reason::WritesRefused { kept } => write!(f, "{kept} refused writes kept"),
            Reason::LinksLost => f.write_str("the netlink socket failed; opening it again"),
            Reason::Overruns { last_minute } => {
                write!(f, "{last_minute} netlink overruns in the last minute")
            }
            Reason::PortInitLate { awaiting } => write!(
                f,
                "PortInitDone not reached: {} ports await their host interface: {awaiting}",
                awaiting.count()
            ),
            Reason::SnapshotNotSaved { fault } => write!(f, "warm-restart snapshot not saved: {fault}"),
            Reason::AllWell => f.write_str("all well"),
        }
    }
}

/// When each rule holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthThresholds {
    /// Databases unreachable, or writes refused, this long: unhealthy.
    pub unhealthy_after: Duration,
    /// A database request that took this long: unhealthy, for
    /// `slow_request_hold` after it ended.
    pub stall_after: Duration,
    /// How long a slow request keeps the state unhealthy.
    pub slow_request_hold: Duration,
    /// Overruns in the last minute that make it degraded (0: never).
    pub overruns_per_minute: usize,
    /// PortInitDone not reached this long after the start: degraded.
    pub port_init_within: Duration,
    /// PortInitDone not reached this long after the start: one line names
    /// the ports still awaiting their host interface (well before
    /// `port_init_within`; zero: never).
    pub port_init_report_after: Duration,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl HealthThresholds {
    /// The defaults, in a `const`.
    pub const DEFAULT: Self = Self {
        unhealthy_after: Duration::from_secs(30),
        stall_after: Duration::from_secs(10),
        slow_request_hold: Duration::from_secs(60),
        overruns_per_minute: 3,
        port_init_within: Duration::from_secs(300),
        port_init_report_after: Duration::from_secs(60),
    };
}

/// What the driver knows right now, for [`Health::assess`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthFacts {
    /// A database server restarted.
    pub database_restarted: bool,
    /// Since when the databases are unreachable (or refusing kept writes),
    /// with the keys kept; `None`: reachable.
    pub unreachable: Option<(Instant, usize)>,
    /// Since when writes are refused, with how many are kept; `None`: none.
    pub refused: Option<(Instant, usize)>,
    /// Since when the netlink socket is lost (failed, not yet open again).
    pub links_lost: Option<Instant>,
    /// Partitioned instances found not to add up.
    pub partition_mismatch: bool,
    /// PortInitDone reached.
    pub port_init_done: bool,
    /// Ports still awaiting their host interface (the first few named).
    pub awaiting: FewNames,
    /// Why the warm-restart snapshot cannot be saved (a save failed, or the
    /// store was found unusable at start); `None`: it can, or none was due.
    pub snapshot: Option<StoreFault>,
}

/// Overruns remembered for the last-minute count.
const OVERRUN_MEMORY: usize = 64;

/// The health state machine (see the module docs).
#[derive(Clone, Debug)]
pub struct Health {
    thresholds: HealthThresholds,
    started: Instant,
    state: HealthState,
    reason: Reason,
    since: Instant,
    overruns: Deque<Instant, OVERRUN_MEMORY>,
    /// The last slow request: when it ended and how long it took.
    slow: Option<(Instant, Duration)>,
}

/// A change of state, to be said once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthChange {
    /// Before.
    pub old: HealthState,
    /// After.
    pub new: HealthState,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for HealthChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "health: {} => {} ({})", self.old, self.new, self.reason)
    }
}

impl Health {
    /// Healthy as of `now` (the start).
    pub const fn new(now: Instant, thresholds: HealthThresholds) -> Self {
        Self {
            thresholds,
            started: now,
            state: HealthState::Healthy,
            reason: Reason::AllWell,
            since: now,
            overruns: Deque::new(),
            slow: None,
        }
    }

    /// New thresholds (the state is assessed again at the next
    /// [`assess`](Self::assess)).
    pub fn set_thresholds(&mut self, thresholds: HealthThresholds) {
        self.thresholds = thresholds;
    }

    /// The current state.
    pub const fn state(&self) -> HealthState {
        self.state
    }

    /// Why.
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// Since when the state is what it is.
    pub const fn since(&self) -> Instant {
        self.since
    }

    /// A netlink overrun at `now`.
    pub fn overrun(&mut self, now: Instant) {
        if self.overruns.is_full() {
            self.overruns.pop_front();
        }
        let _ = self.overruns.push_back(now);
    }

    /// A database request answered at `now` after `took`.
    pub fn request_took(&mut self, now: Instant, took: Duration) {
        if took >= self.thresholds.stall_after {
            self.slow = Some((now, took));
        }
    }

    /// Overruns within the minute before `now`.
    pub fn overruns_last_minute(&mut self, now: Instant) -> usize {
        let minute_ago = now.saturating_sub(Duration::from_secs(60));
        while self.overruns.front().is_some_and(|&t| t <= minute_ago) {
            self.overruns.pop_front();
        }
        self.overruns.len()
    }

    /// The state `facts` give at `now`: the change, if the state changed.
    /// A reason that changes within the same state (a count, say) changes
    /// the reason silently.
    pub fn assess(&mut self, now: Instant, facts: &HealthFacts) -> Option<HealthChange> {
        let reason = self.reason_at(now, facts);
        let new = reason.state();
        let old = self.state;
        if new == old {
            if !reason.same_rule(self.reason) {
                self.since = now;
            }
            self.reason = reason;
            return None;
        }
        self.state = new;
        self.reason = reason;
        self.since = now;
        Some(HealthChange { old, new, reason })
    }

    fn reason_at(&mut self, now: Instant, facts: &HealthFacts) -> Reason {
        let t = self.thresholds;
        let long = |since: Instant| {
            let d = now.saturating_since(since);
            (d >= t.unhealthy_after).then_some(d.as_secs())
        };
        if facts.database_restarted {
            return Reason::DatabaseRestarted;
        }
        if let Some(secs) = facts.unreachable.and_then(|(since, _)| long(since)) {
            return Reason::DatabasesGoneLong { secs };
        }
        if let Some(secs) = facts.refused.and_then(|(since, _)| long(since)) {
            return Reason::WritesRefusedLong { secs };
        }
        if let Some(secs) = facts.links_lost.and_then(long) {
            return Reason::LinksLostLong { secs };
        }
        if facts.partition_mismatch {
            return Reason::PartitionMismatch;
        }
        if let Some((ended, took)) = self.slow {
            if now.saturating_since(ended) < t.slow_request_hold {
                return Reason::SlowRequest { ms: took.as_millis().try_into().unwrap_or(u64::MAX) };
            }
            self.slow = None;
        }
        if let Some((_, kept)) = facts.unreachable {
            return Reason::DatabasesUnreachable { kept };
        }
        if let Some((_, kept)) = facts.refused {
            return Reason::WritesRefused { kept };
        }
        if facts.links_lost.is_some() {
            return Reason::LinksLost;
        }
        let last_minute = self.overruns_last_minute(now);
        if t.overruns_per_minute > 0 && last_minute >= t.overruns_per_minute {
            return Reason::Overruns { last_minute };
        }
        if !facts.port_init_done && now.saturating_since(self.started) >= t.port_init_within {
            return Reason::PortInitLate { awaiting: facts.awaiting };
        }
        if let Some(fault) = facts.snapshot {
            return Reason::SnapshotNotSaved { fault };
        }
        Reason::AllWell
    }

    /// When the state could next change with no new fact: the next
    /// threshold after `now` that time alone crosses (one already crossed is
    /// no deadline: a loop waiting for it would never sleep).
    pub fn poll_timeout(&self, now: Instant, facts: &HealthFacts) -> Option<Instant> {
        let t = self.thresholds;
        let mut at: Option<Instant> = None;
        let mut consider = |when: Instant| {
            if when > now {
                at = Some(at.map_or(when, |a| a.min(when)));
            }
        };
        if let Some((since, _)) = facts.unreachable {
            consider(since.saturating_add(t.unhealthy_after));
        }
        if let Some((since, _)) = facts.refused {
            consider(since.saturating_add(t.unhealthy_after));
        }
        if let Some(since) = facts.links_lost {
            consider(since.saturating_add(t.unhealthy_after));
        }
        if let Some((ended, _)) = self.slow {
            consider(ended.saturating_add(t.slow_request_hold));
        }
        if let Some(&oldest) = self.overruns.front() {
            consider(oldest.saturating_add(Duration::from_secs(60)));
        }
        if !facts.port_init_done {
            consider(self.started.saturating_add(t.port_init_within));
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::{
        Duration, FewNames, Health, HealthFacts, HealthState, HealthThresholds, Instant, Reason, StoreFault,
    };

    fn at(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    fn health() -> Health {
        Health::new(at(0), HealthThresholds::default())
    }

    const WELL: HealthFacts = HealthFacts {
        database_restarted: false,
        unreachable: None,
        refused: None,
        links_lost: None,
        partition_mismatch: false,
        port_init_done: true,
        awaiting: FewNames::NONE,
        snapshot: None,
    };

    #[test]
    fn an_outage_degrades_then_after_30_s_is_unhealthy_then_recovers() {
        let mut h = health();
        assert_eq!(h.assess(at(1), &WELL), None);
        let out = HealthFacts { unreachable: Some((at(10), 4)), ..WELL };
        let change = h.assess(at(10), &out).unwrap();
        assert_eq!(
            change.to_string(),
            "health: healthy => degraded (databases unreachable, 4 keys' writes kept)"
        );
        assert_eq!(h.poll_timeout(at(10), &out), Some(at(40)));
        assert_eq!(h.poll_timeout(at(40), &out), None, "crossed: no deadline in the past");
        assert_eq!(h.assess(at(39), &out), None);
        let change = h.assess(at(40), &out).unwrap();
        assert_eq!(change.to_string(), "health: degraded => unhealthy (databases unreachable for 30 s)");
        assert_eq!(h.assess(at(41), &out), None, "said once");
        let change = h.assess(at(42), &WELL).unwrap();
        assert_eq!(
            (change.old, change.new, change.reason),
            (HealthState::Unhealthy, HealthState::Healthy, Reason::AllWell)
        );
    }

    #[test]
    fn overruns_in_a_minute_degrade_and_age_out() {
        let mut h = health();
        for s in [1, 2] {
            h.overrun(at(s));
            assert_eq!(h.assess(at(s), &WELL), None);
        }
        h.overrun(at(3));
        assert_eq!(h.assess(at(3), &WELL).unwrap().new, HealthState::Degraded);
        assert_eq!(h.reason(), Reason::Overruns { last_minute: 3 });
        assert_eq!(h.poll_timeout(at(3), &WELL), Some(at(61)));
        assert_eq!(h.assess(at(61), &WELL).unwrap().new, HealthState::Healthy, "the first is a minute old");
    }

    #[test]
    fn a_slow_request_is_unhealthy_for_a_while() {
        let mut h = health();
        h.request_took(at(5), Duration::from_secs(2));
        assert_eq!(h.assess(at(5), &WELL), None, "below the threshold");
        h.request_took(at(6), Duration::from_secs(12));
        let change = h.assess(at(6), &WELL).unwrap();
        assert_eq!(change.to_string(), "health: healthy => unhealthy (a database request took 12000 ms)");
        assert_eq!(h.assess(at(65), &WELL), None);
        assert_eq!(h.assess(at(66), &WELL).unwrap().new, HealthState::Healthy);
    }

    #[test]
    fn port_init_done_late_and_restart() {
        let mut h = health();
        let names = ["Ethernet0", "Ethernet4"].map(|n| crate::name::PortName::try_from(n).unwrap());
        let waiting = HealthFacts { port_init_done: false, awaiting: FewNames::of(&names), ..WELL };
        assert_eq!(h.poll_timeout(at(0), &waiting), Some(at(300)));
        assert_eq!(h.poll_timeout(at(301), &waiting), None);
        assert_eq!(h.assess(at(299), &waiting), None);
        let change = h.assess(at(300), &waiting).unwrap();
        assert_eq!(
            change.to_string(),
            "health: healthy => degraded (PortInitDone not reached: 2 ports await their host interface: Ethernet0, Ethernet4)"
        );
        let gone = HealthFacts { database_restarted: true, ..waiting };
        assert_eq!(h.assess(at(301), &gone).unwrap().reason, Reason::DatabaseRestarted);
    }

    #[test]
    fn a_snapshot_that_cannot_be_saved_degrades_and_never_more() {
        let mut h = health();
        let full = HealthFacts { snapshot: Some(StoreFault::Full), ..WELL };
        let change = h.assess(at(1), &full).unwrap();
        assert_eq!(
            change.to_string(),
            "health: healthy => degraded (warm-restart snapshot not saved: the state dir is full)"
        );
        assert_eq!(change.reason.name(), "snapshot_not_saved");
        assert_eq!(h.poll_timeout(at(1), &full), None, "time alone changes nothing");
        assert_eq!(h.assess(at(3600), &full), None, "an hour on: still degraded, not unhealthy");
        // A worse rule wins; the snapshot's shows again once it is over.
        let out = HealthFacts { unreachable: Some((at(3600), 2)), ..full };
        assert_eq!(h.assess(at(3600), &out), None);
        assert_eq!(h.reason(), Reason::DatabasesUnreachable { kept: 2 });
        let read_only = HealthFacts { snapshot: Some(StoreFault::ReadOnly), ..WELL };
        assert_eq!(h.assess(at(3601), &read_only), None);
        assert_eq!(h.reason(), Reason::SnapshotNotSaved { fault: StoreFault::ReadOnly });
        assert_eq!(h.assess(at(3602), &WELL).unwrap().new, HealthState::Healthy);
    }

    #[test]
    fn a_changed_count_within_a_state_is_not_a_transition() {
        let mut h = health();
        assert!(h.assess(at(1), &HealthFacts { refused: Some((at(1), 3)), ..WELL }).is_some());
        assert_eq!(h.assess(at(2), &HealthFacts { refused: Some((at(1), 5)), ..WELL }), None);
        assert_eq!(h.reason(), Reason::WritesRefused { kept: 5 });
        assert_eq!(h.since(), at(1));
    }
}
