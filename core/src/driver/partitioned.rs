//! Partitioned instances, as the driver coordinates them: several
//! portsyncd instances share one namespace and its databases, each owning
//! the ports its [`Partition`] gives it (see [`crate::partition`] for how).
//!
//! Each instance writes only its own ports' STATE_DB entries and brings
//! down only its own stale links; the leader (instance 0) produces the
//! configuration to APPL_DB once, with PortConfigDone counting every port.
//! PortInitDone means what SONiC expects — every port has its host
//! interface — so the leader decides it only once every instance says it
//! has its own. They say so through STATE_DB `PORTSYNCD_INSTANCE|<id>`
//! (`count`, `ports`, `digest`, and the leader's run `token` or a
//! follower's `ready` = the token it is ready for), never through timing:
//!
//! - at start each instance writes its key, not ready (a follower that
//!   restarts takes its readiness back);
//! - a follower whose ports are all there reads the leader's token (every
//!   [`LEADER_POLL`] until there is one), and writes `ready` = that token;
//!   it keeps reading it (every [`FOLLOWER_POLL`]), and says ready again to
//!   a leader that restarted (a new token);
//! - the leader, once its own ports are there, reads the followers' keys
//!   every [`LEADER_POLL`]: when every one is ready for its token, and the
//!   counts and digests add up to the configured ports (no port owned
//!   twice or by none, every instance configured with the same count),
//!   PortInitDone is decided. A misconfiguration is one ERROR line, and
//!   PortInitDone is withheld.

use core::time::Duration;

use super::Driver;
use super::state::{AfterDrain, Ask, Flow, ReadFor, Step, WriteFor};
use super::timers::Timer;
use crate::engine::Ownership;
use crate::event::Event;
use crate::partition::{Mismatch, Partition};
use crate::schema;
use crate::time::Instant;
use crate::writes::WriteOp;

/// How often the leader reads the followers' keys until PortInitDone.
pub const LEADER_POLL: Duration = Duration::from_millis(250);
/// How often a follower reads the leader's token once its ports are there.
pub const FOLLOWER_POLL: Duration = Duration::from_secs(5);
/// Least time between two changes of the link filter. Short enough that the
/// peers and bridges made while host interfaces are created stop waking the
/// daemon before PortInitDone; a change is one `setsockopt` of at most a few
/// thousand instructions (microseconds), made only when links appear.
pub const FILTER_EVERY: Duration = Duration::from_millis(100);

/// What the coordination knows.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Coordination {
    /// The start's decision.
    pub(super) ownership: Option<Ownership>,
    /// This instance's own ports are all there.
    ready: bool,
    /// Its key is to be written.
    announce_due: bool,
    /// Leader: this run's token. Follower: the token it said ready for.
    token: u64,
    /// Leader: PortInitDone released.
    released: bool,
    /// Leader: the last problem said (said once).
    said: Option<Mismatch>,
    /// Leader: what the followers' keys add up to, as read.
    tally: Tally,
}

impl Coordination {
    /// Nothing decided (what `Default` gives), in a `const`.
    pub(super) const NONE: Self = Self {
        ownership: None,
        ready: false,
        announce_due: false,
        token: 0,
        released: false,
        said: None,
        tally: Tally::NONE,
    };
}

/// The followers' keys, added up as they are read.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    seen: usize,
    ready: usize,
    ports: usize,
    digest: u64,
    bad_count: bool,
    field: [Option<u64>; 4],
    index: usize,
}

impl Tally {
    const NONE: Self =
        Self { seen: 0, ready: 0, ports: 0, digest: 0, bad_count: false, field: [None; 4], index: 0 };
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// What the leader last found wrong with the instances' keys (a
    /// mismatch withholds PortInitDone, and makes the leader unhealthy).
    pub fn partition_mismatch(&self) -> Option<Mismatch> {
        self.coordination.said.filter(|_| !self.coordination.released)
    }

    /// What a link message's disposition means for the link filter: a link
    /// that is no port at all (a peer, a bridge, `lo`), or one another
    /// instance takes, is denied; a denied link that a dump shows to be this
    /// instance's now (renamed) is let through again. (A single instance's
    /// filter also keeps every notification that names a port, so a rename
    /// into a port is seen at once: see [`crate::link_filter`].)
    pub(super) fn filter_link(
        &mut self,
        link: &crate::netlink::LinkMessage<'_>,
        d: crate::engine::Disposition,
    ) {
        use crate::engine::Disposition;
        use crate::filter::IgnoreReason;
        match d {
            Disposition::Ignored(IgnoreReason::OtherInstance | IgnoreReason::NotAPort) => {
                self.deny_link(link.index)
            }
            // Only a dump reply can bring a denied link (its notifications
            // are dropped in the kernel): no search for every notification.
            Disposition::Queued(_) if link.header.seq != 0 => {
                if let Some(at) = self.denied.iter().position(|&i| i == link.index) {
                    self.denied.swap_remove(at);
                    self.link_filter_changed();
                }
            }
            _ => {}
        }
    }

    /// A link whose notifications this instance does not need: once the
    /// link source is told (at most every [`FILTER_EVERY`]), they no longer
    /// wake it.
    pub(super) fn deny_link(&mut self, ifindex: u32) {
        if ifindex == 0 || self.denied.contains(&ifindex) {
            return;
        }
        if self.denied.push(ifindex).is_ok() {
            self.link_filter_changed();
        }
    }

    /// The link filter changed: it is set as soon as changes may be made
    /// (at most every [`FILTER_EVERY`]).
    pub(super) fn link_filter_changed(&mut self) {
        if self.timers.is_pending(Timer::LinkFilter) {
            return;
        }
        match self.filter_not_before {
            Some(at) if self.now < at => self.timers.set(Timer::LinkFilter, at),
            _ => self.timers.fire(Timer::LinkFilter),
        }
    }

    /// The link filter to set, if one is due (not while the source is down).
    pub(super) fn link_filter_step(&mut self) -> Option<Step> {
        if !self.timers.has_fired(Timer::LinkFilter) || self.links_lost.is_some() {
            return None;
        }
        self.timers.take(Timer::LinkFilter);
        self.filter_not_before = Some(self.now.saturating_add(FILTER_EVERY));
        Some(Step::Ask(Ask::LinkFilter))
    }

    /// Which notifications the link source is to drop.
    pub(super) fn link_denial(&self) -> crate::link_filter::LinkDenial<'_> {
        crate::link_filter::LinkDenial {
            ifindexes: &self.denied,
            keep_port_names: self.config.partition.is_single(),
        }
    }

    /// Whether the link filter was set.
    pub(super) fn on_links_denied(&mut self, now: Instant, done: bool) {
        self.answered(now);
        if done {
            self.counters.links_denied = self.denied.len() as u64;
        } else {
            // Tried again later; meanwhile those notifications still come
            // (and are ignored).
            self.link_filter_changed();
        }
    }

    /// The partition decided at start (after CONFIG_DB's ports are read).
    pub(super) fn assign_partition(&mut self) {
        let partition: Partition = self.config.partition;
        match self.engine.assign(&partition) {
            Ok(ownership) => {
                if !partition.is_single() {
                    self.emit(Event::Partitioned {
                        id: partition.id(),
                        count: partition.count(),
                        owned: ownership.owned,
                        total: ownership.total,
                        by_index: ownership.by_index,
                    });
                    self.coordination.ownership = Some(ownership);
                    self.coordination.announce_due = true;
                    self.coordination.token =
                        if partition.is_leader() { self.config.run_token.max(1) } else { 0 };
                }
            }
            Err(e) => self.emit(Event::Engine(e)),
        }
    }

    /// The engine says this instance's ports are all there.
    pub(super) fn own_ports_ready(&mut self, now: Instant) {
        self.coordination.ready = true;
        let owned = self.coordination.ownership.map_or(0, |o| o.owned);
        if !self.config.partition.is_leader() {
            // A follower's part of PortInitDone.
            self.milestones.port_init_done = Some(self.since_start(now));
        }
        self.emit(Event::OwnPortsReady { owned });
        self.timers.fire(Timer::Coordination);
    }

    /// The coordination's next request, if one is due.
    pub(super) fn coordination_step(&mut self) -> Option<Step> {
        let c = self.coordination.ownership?;
        if core::mem::take(&mut self.coordination.announce_due) {
            let partition = self.config.partition;
            let token =
                if partition.is_leader() || self.coordination.ready { self.coordination.token } else { 0 };
            self.ops.clear();
            let _ = self.ops.push(WriteOp::InstanceState {
                id: partition.id(),
                count: partition.count(),
                ports: u16::try_from(c.owned).unwrap_or(u16::MAX),
                digest: c.owned_digest,
                token,
            });
            return Some(Step::Ask(Ask::Write(WriteFor::Coordination)));
        }
        if !self.timers.take(Timer::Coordination) || !self.coordination.ready {
            return None;
        }
        let partition = self.config.partition;
        if partition.is_leader() {
            if self.coordination.released {
                return None;
            }
            self.keys.clear();
            for id in 1..partition.count() {
                if let Some(key) = schema::INSTANCE_KEYS.get(usize::from(id)) {
                    if let Ok(name) = crate::name::PortName::try_from(*key) {
                        let _ = self.keys.push(name);
                    }
                }
            }
            self.coordination.tally = Tally::default();
            Some(Step::Ask(Ask::Read(ReadFor::Instances)))
        } else {
            Some(Step::Ask(Ask::Read(ReadFor::LeaderToken)))
        }
    }

    /// The coordination's write was carried out (or refused: then it is
    /// written again at the next poll).
    pub(super) fn coordination_written(&mut self, now: Instant, done: bool) {
        if !done {
            self.coordination.announce_due = true;
        }
        if self.timers.get(Timer::Coordination).is_none() {
            self.schedule_poll(now);
        }
    }

    fn schedule_poll(&mut self, now: Instant) {
        let partition = self.config.partition;
        // A follower that has not yet said it is ready to a leader (none has
        // written its token yet) asks as often as the leader does.
        let every =
            if partition.is_leader() || self.coordination.token == 0 { LEADER_POLL } else { FOLLOWER_POLL };
        if !(partition.is_leader() && self.coordination.released) {
            self.timers.set(Timer::Coordination, now.saturating_add(every));
        }
    }

    /// A field of the leader's key (a follower's read).
    pub(super) fn leader_token_reply(&mut self, field: &[u8], value: &[u8]) {
        if field == schema::INSTANCE_TOKEN_FIELD.as_bytes() {
            let token = schema::parse_decimal(value).unwrap_or(0);
            if token != 0 && token != self.coordination.token {
                self.coordination.token = token;
                self.coordination.announce_due = true;
            }
        }
    }

    /// A field of a follower's key (the leader's read).
    pub(super) fn instance_reply(&mut self, index: usize, field: &[u8], value: &[u8]) {
        if index != self.coordination.tally.index {
            self.finish_instance();
            self.coordination.tally.index = index;
        }
        let slot = match field {
            f if f == schema::INSTANCE_COUNT_FIELD.as_bytes() => 0,
            f if f == schema::INSTANCE_PORTS_FIELD.as_bytes() => 1,
            f if f == schema::INSTANCE_DIGEST_FIELD.as_bytes() => 2,
            f if f == schema::INSTANCE_READY_FIELD.as_bytes() => 3,
            _ => return,
        };
        self.coordination.tally.field[slot] = schema::parse_decimal(value);
    }

    fn finish_instance(&mut self) {
        let t = &mut self.coordination.tally;
        let [count, ports, digest, ready] = core::mem::take(&mut t.field);
        if count.is_none() {
            return;
        }
        t.seen += 1;
        t.bad_count |= count != Some(u64::from(self.config.partition.count()));
        t.ports += ports.unwrap_or(0) as usize;
        t.digest = t.digest.wrapping_add(digest.unwrap_or(0));
        t.ready += usize::from(ready.is_some_and(|r| r == self.coordination.token));
    }

    /// The leader's read of the followers' keys is over: release
    /// PortInitDone, or say what is wrong, or wait.
    pub(super) fn instances_read(&mut self, now: Instant, failed: bool) {
        self.finish_instance();
        let followers = usize::from(self.config.partition.count()) - 1;
        let t = self.coordination.tally;
        let Some(own) = self.coordination.ownership else { return };
        if !failed && t.seen == followers {
            let owned = own.owned + t.ports;
            let mismatch = if t.bad_count {
                Some(Mismatch::Count)
            } else if owned != own.total || own.owned_digest.wrapping_add(t.digest) != own.total_digest {
                Some(Mismatch::Ports { owned, configured: own.total })
            } else {
                None
            };
            match mismatch {
                Some(m) if self.coordination.said != Some(m) => {
                    self.coordination.said = Some(m);
                    self.emit(Event::PartitionMismatch(m));
                    self.assess_health();
                }
                Some(_) => {}
                None if t.ready == followers => {
                    self.coordination.said = None;
                    self.coordination.released = true;
                    self.timers.stop(Timer::Coordination);
                    self.engine.release_init_done();
                    // PortInitDone is now among the engine's actions.
                    self.set_flow(Flow::Draining(AfterDrain::Nothing));
                    self.emit(Event::InstancesReady { count: self.config.partition.count() });
                    return;
                }
                None => {}
            }
        }
        self.schedule_poll(now);
    }

    /// A follower's read of the leader's key is over.
    pub(super) fn leader_token_read(&mut self, now: Instant) {
        self.schedule_poll(now);
    }
}
