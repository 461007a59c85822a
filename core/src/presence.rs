//! APPL_DB presence: the last answer to "is this port in APPL_DB
//! `PORT_TABLE`?", kept only for when APPL_DB cannot be asked.
//!
//! The C++ daemon asks APPL_DB on every link event, and SONiC's consumers
//! assume STATE_DB is written only for ports APPL_DB holds at that moment:
//! in a dynamic port breakout the APPL_DB entry is deleted first, and only
//! later the host interface. A port's STATE_DB write checks that itself,
//! as it is carried out (`Write::SetIfPresent`): no answer is ever taken as
//! still true later. What is asked ahead, in one pipelined read, is only
//! what decides something before any write: whether an awaited port's
//! NEWLINK ends its wait (and so PortInitDone). When that read fails, the
//! last answer of any age stands in, and a port never answered counts as
//! absent.
//!
//! It does not ask anything itself; the driver does.

use heapless::index_map::FnvIndexMap;

use crate::name::PortName;

/// Last APPL_DB presence answers, for at most `P` ports.
#[derive(Clone, Debug, Default)]
pub struct PresenceAnswers<const P: usize> {
    answers: FnvIndexMap<PortName, bool, P>,
}

impl<const P: usize> PresenceAnswers<P> {
    /// No answers yet.
    pub const fn new() -> Self {
        Self { answers: FnvIndexMap::new() }
    }

    /// APPL_DB answered. A full table keeps no new port (it counts as
    /// absent if APPL_DB cannot be asked about it later).
    pub fn answer(&mut self, name: PortName, present: bool) {
        let _ = self.answers.insert(name, present);
    }

    /// The last answer about `name`; absent if never answered.
    pub fn last(&self, name: &PortName) -> bool {
        self.answers.get(name).copied().unwrap_or(false)
    }

    /// The port's host interface went away: its answer with it.
    pub fn forget(&mut self, name: &PortName) {
        self.answers.swap_remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::{PortName, PresenceAnswers};

    #[test]
    fn the_last_answer_stands_until_forgotten() {
        let mut t = PresenceAnswers::<4>::new();
        let e0 = PortName::try_from("Ethernet0").unwrap();
        let e4 = PortName::try_from("Ethernet4").unwrap();
        assert!(!t.last(&e0), "never answered: absent");
        t.answer(e0, true);
        t.answer(e4, false);
        assert!(t.last(&e0) && !t.last(&e4));
        t.answer(e0, false);
        assert!(!t.last(&e0), "a later answer replaces it");
        t.answer(e0, true);
        t.forget(&e0);
        assert!(!t.last(&e0));
    }
}
