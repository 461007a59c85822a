//! What the driver lets its host observe, for metrics and alert rules:
//! facts it already keeps, gathered in one place. It decides nothing.

use core::time::Duration;

use super::Driver;
use crate::backend::BackendStatus;
use crate::time::Instant;
use crate::warm::WarmStartCheck;

/// Facts of the moment that counters do not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The backend as last heard of.
    pub backend: BackendStatus,
    /// Since when writes are kept (by the backend while it is away, or by
    /// the driver after a refusal), if any are.
    pub kept_since: Option<Instant>,
    /// Writes a database refused, kept for a later attempt.
    pub refused_kept: usize,
    /// How this run started, once start-up has read it.
    pub warm: Option<WarmStartCheck>,
    /// Configured ports.
    pub configured_ports: usize,
    /// Configured ports still awaiting their host interface.
    pub awaiting_ports: usize,
    /// Ports whose STATE_DB entry this run holds.
    pub published_ports: usize,
    /// PortInitDone decided.
    pub init_done: bool,
    /// The most flaps any one configured port had in a minute (see
    /// [`PortFlaps::per_window`](crate::engine::PortFlaps::per_window)).
    pub max_port_flaps_per_minute: u16,
}

impl Observed {
    /// Keys whose writes wait: kept by the backend while it is away, or
    /// refused and kept to be written again.
    pub fn kept_writes(&self) -> usize {
        self.refused_kept + self.backend.pending()
    }

    /// How long writes have waited at `now` (zero when none do).
    pub fn kept_for(&self, now: Instant) -> Duration {
        match (self.kept_writes(), self.kept_since) {
            (1.., Some(since)) => now.saturating_since(since),
            _ => Duration::ZERO,
        }
    }
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// The facts of the moment (see [`Observed`]); O(ports).
    pub fn observed(&self) -> Observed {
        let kept_since = match (self.degraded_since, self.refused_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Observed {
            backend: self.backend,
            kept_since,
            refused_kept: self.refused.len(),
            warm: self.learnt.warm.and_then(Result::ok),
            configured_ports: self.engine.configured_ports(),
            awaiting_ports: self.engine.awaiting_count(),
            published_ports: self.engine.published().count(),
            init_done: self.engine.is_init_done(),
            max_port_flaps_per_minute: self
                .engine
                .port_flaps()
                .map(|(_, f)| f.per_window())
                .max()
                .unwrap_or(0),
        }
    }
}
