//! What is worth a log line, and how many: the queue of lines the driver
//! hands out ([`poll_event`](super::Driver::poll_event)), the level filter,
//! the rate limit of repeated trouble ([`crate::repeats`]), and the count of
//! lines that found the queue full. What each line says is
//! [`crate::event`]'s.

use super::{Driver, EVENT_CAPACITY};
use crate::event::{Event, Repeat};
use crate::logger::Level;
use crate::repeats::Say;

impl<const P: usize, const B: usize> Driver<P, B> {
    pub(super) fn emit(&mut self, event: Event) {
        if event.level() > self.level {
            return;
        }
        if event.level() <= Level::Notice {
            self.last_event = Some(event);
        }
        if let Some(kind) = event.repeat() {
            if self.repeats.happened(self.now, kind as usize) == Say::Quiet {
                return;
            }
        }
        // Input stops while the queue is nearly full, but one answer may
        // bring more lines than it holds: those are counted, and the count
        // said once there is room (the last place is kept for it).
        if self.events.len() + 1 >= EVENT_CAPACITY {
            self.unsaid = self.unsaid.saturating_add(1);
            return;
        }
        let _ = self.events.push_back(event);
    }

    /// The trouble of `kinds` is over: what was held back is said.
    pub(super) fn repeats_ended(&mut self, kinds: &[Repeat]) {
        for &kind in kinds {
            if let Some(held) = self.repeats.ended(kind as usize) {
                // Held back until now, not over a whole window.
                self.emit(Event::Repeated { kind, held, window_s: 0 });
            }
        }
    }

    pub(super) fn emit_repeated(&mut self, kind: Repeat, held: u32) {
        let window_s = self.repeats.window().as_secs().try_into().unwrap_or(u32::MAX);
        self.emit(Event::Repeated { kind, held, window_s });
    }
}
