//! APPL_DB presence trust: which "this port is in APPL_DB `PORT_TABLE`"
//! answers are still good enough not to ask again.
//!
//! The C++ daemon asks APPL_DB on every link event. A port leaves APPL_DB only
//! when it is removed from the configuration, and then its host interface goes
//! too (a DELLINK, which forgets the answer at once). So a "yes" younger than
//! the trust period is taken as still true; a "no" is always asked again (the
//! port may have been produced since). When APPL_DB cannot be asked, the last
//! answer of any age stands in, and a port never answered counts as absent.
//!
//! It does not ask anything itself; the driver does.

use core::time::Duration;

use heapless::index_map::FnvIndexMap;

use crate::name::PortName;
use crate::time::Instant;

/// Last APPL_DB presence answers, for at most `P` ports.
#[derive(Clone, Debug)]
pub struct PresenceTrust<const P: usize> {
    answers: FnvIndexMap<PortName, (bool, Instant), P>,
    trust: Duration,
}

impl<const P: usize> PresenceTrust<P> {
    /// A table that trusts a "yes" for `trust`.
    pub const fn new(trust: Duration) -> Self {
        Self { answers: FnvIndexMap::new(), trust }
    }

    /// Trusts a "yes" for `trust` from now on; the answers are kept.
    pub fn set_trust(&mut self, trust: Duration) {
        self.trust = trust;
    }

    /// Whether APPL_DB must be asked about `name` at `now`.
    pub fn must_ask(&self, name: &PortName, now: Instant) -> bool {
        match self.answers.get(name) {
            Some(&(true, at)) => now.saturating_since(at) >= self.trust,
            _ => true,
        }
    }

    /// APPL_DB answered at `now`. A full table keeps no new port (it is asked
    /// again next time).
    pub fn answer(&mut self, name: PortName, present: bool, now: Instant) {
        let _ = self.answers.insert(name, (present, now));
    }

    /// The last answer about `name`; absent if never answered.
    pub fn last(&self, name: &PortName) -> bool {
        self.answers.get(name).is_some_and(|&(p, _)| p)
    }

    /// The port's host interface went away: ask again next time.
    pub fn forget(&mut self, name: &PortName) {
        self.answers.swap_remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Instant, PortName, PresenceTrust};

    #[test]
    fn a_yes_is_trusted_for_a_while_a_no_never() {
        let mut t = PresenceTrust::<4>::new(Duration::from_secs(5));
        let e0 = PortName::try_from("Ethernet0").unwrap();
        let e4 = PortName::try_from("Ethernet4").unwrap();
        let at = |ms| Instant::from_millis(ms);
        assert!(t.must_ask(&e0, at(0)));
        t.answer(e0, true, at(0));
        t.answer(e4, false, at(0));
        assert!(!t.must_ask(&e0, at(4_999)));
        assert!(t.must_ask(&e0, at(5_000)));
        assert!(t.must_ask(&e4, at(1)));
        assert!(t.last(&e0) && !t.last(&e4));
        t.forget(&e0);
        assert!(t.must_ask(&e0, at(1)) && !t.last(&e0));
    }
}
