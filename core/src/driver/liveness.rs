//! Health and liveness: what the driver tells about itself. It assesses
//! [`Health`] from what it knows (the backend's status and since when,
//! refused writes, overruns, how long each request took, the milestones),
//! says each change once, and hands out [`Notify::Alive`] (and, until ready,
//! [`Notify::ExtendTimeout`]) every `liveness_interval` — only from inputs
//! and answers it is given, so a loop that stops giving them stops being
//! called alive.
//!
//! It decides nothing about ports or writes.

use core::time::Duration;

use super::state::{Direct, Stage};
use super::timers::Timer;
use super::{Driver, Event, Notify};
use crate::backend::BackendStatus;
use crate::event::Status;
use crate::health::{HealthFacts, HealthState};
use crate::time::Instant;

/// How often to say [`Notify::Alive`] for the supervisors there are: half
/// of systemd's watchdog timeout (`WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises), or supervisord's heartbeat interval, whichever is shorter;
/// `None` without either.
pub fn liveness_interval(watchdog: Option<Duration>, heartbeat: Option<Duration>) -> Option<Duration> {
    match (watchdog.map(|w| w / 2), heartbeat) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Time has come to at least `now` (every input and answer says so).
    pub(super) fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let (Some(at), Some(interval)) = (self.timers.get(Timer::Liveness), self.config.liveness_interval)
        else {
            return;
        };
        if now < at || matches!(self.stage, Stage::Exit(_) | Stage::Done(_)) {
            return;
        }
        self.timers.set(Timer::Liveness, now.saturating_add(interval));
        let _ = self.direct.push_back(Direct::Notify(Notify::Alive));
        if !self.ready {
            // Room for three more intervals; said again at each while start-up goes on.
            let more = interval.saturating_mul(3);
            let _ = self.direct.push_back(Direct::Notify(Notify::ExtendTimeout(more)));
        }
    }

    /// What health is assessed from.
    pub(super) fn health_facts(&self) -> HealthFacts {
        let kept = |since: Option<Instant>, n: usize| since.map(|s| (s, n));
        HealthFacts {
            database_restarted: self.backend == BackendStatus::Restarted,
            unreachable: match self.backend {
                BackendStatus::Degraded { pending } => kept(self.degraded_since, pending),
                _ => None,
            },
            refused: if self.refused.is_empty() {
                None
            } else {
                kept(self.refused_since, self.refused.len())
            },
            links_lost: self.links_lost,
            partition_mismatch: self.partition_mismatch().is_some(),
            port_init_done: self.milestones.port_init_done.is_some(),
            awaiting: self.awaiting_named(),
            snapshot: self.snapshot_fault(),
        }
    }

    /// The ports still awaiting their host interface, the first few named
    /// (nothing is walked when none awaits).
    pub(super) fn awaiting_named(&self) -> crate::name::FewNames {
        match self.engine.awaiting_count() {
            0 => crate::name::FewNames::default(),
            count => crate::name::FewNames::first_of(count, self.engine.awaiting_ports()),
        }
    }

    /// Assesses health; a change is said (a line, and the status line).
    pub(super) fn assess_health(&mut self) {
        let facts = self.health_facts();
        if let Some(change) = self.health.assess(self.now, &facts) {
            self.emit(Event::Health(change));
            if self.ready {
                let _ = self.direct.push_back(Direct::Notify(Notify::Status(self.status())));
            }
        }
    }

    /// The status line now.
    pub(super) fn status(&self) -> Status {
        Status {
            synced: self.milestones.eoiu.is_some(),
            published: self.engine.published().count(),
            awaiting: self.engine.awaiting_count(),
            health: self.health.state(),
            reason: self.health.reason(),
            last: self.last_event,
        }
    }

    /// Health as last assessed.
    pub fn health(&self) -> (HealthState, crate::health::Reason) {
        (self.health.state(), self.health.reason())
    }

    /// Notes when the backend's degradation and the refused writes began.
    pub(super) fn note_trouble_starts(&mut self) {
        let degraded = matches!(self.backend, BackendStatus::Degraded { .. });
        match (degraded, self.degraded_since) {
            (true, None) => self.degraded_since = Some(self.now),
            (false, Some(_)) => self.degraded_since = None,
            _ => {}
        }
        match (self.refused.is_empty(), self.refused_since) {
            (false, None) => self.refused_since = Some(self.now),
            (true, Some(_)) => self.refused_since = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, liveness_interval};

    #[test]
    fn alive_at_half_the_watchdog_or_the_heartbeat_whichever_is_sooner() {
        let s = Duration::from_secs;
        assert_eq!(liveness_interval(None, None), None);
        assert_eq!(liveness_interval(Some(s(20)), None), Some(s(10)));
        assert_eq!(liveness_interval(None, Some(s(3))), Some(s(3)));
        assert_eq!(liveness_interval(Some(s(20)), Some(s(15))), Some(s(10)));
        assert_eq!(liveness_interval(Some(s(4)), Some(s(1))), Some(s(1)));
    }
}
