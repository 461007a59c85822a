//! End Of Initial Update: when the kernel has told us every link it has.
//!
//! This module decides when our own `RTM_GETLINK` dump is over. The dump ends
//! at the `NLMSG_DONE` carrying the dump request's sequence number; an
//! `NLMSG_ERROR` with that number means the dump failed, and `NLM_F_DUMP_INTR`
//! on any of its replies means its contents are inconsistent and it must be
//! repeated. If none of these arrives within the configured time, the dump is
//! declared over anyway so that start-up cannot hang.
//!
//! It does not decide what to do with the dump's contents, and it does not
//! send the request: the caller does, and then calls [`EoiuDetector::start`].
//! `ifi_change == 0` is never treated as a marker (every dump reply has it,
//! and so do many notifications).

use core::time::Duration;

use crate::netlink::Message;
use crate::time::Instant;

/// How an initial update ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eoiu {
    /// Our dump's `NLMSG_DONE` arrived: every link has been reported.
    Complete,
    /// The dump finished but was interrupted by changes (`NLM_F_DUMP_INTR`):
    /// its replies are inconsistent; dump again.
    Interrupted,
    /// The kernel refused or aborted the dump.
    Failed {
        /// Positive errno.
        errno: i32,
    },
    /// Neither end nor error arrived in time.
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Waiting { seq: u32, deadline: Instant, interrupted: bool },
    Ended(Eoiu),
}

/// Watches the message stream for the end of our own dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EoiuDetector {
    state: State,
}

impl Default for EoiuDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl EoiuDetector {
    /// A detector with no dump in flight.
    pub const fn new() -> Self {
        Self { state: State::Idle }
    }

    /// A dump with sequence number `seq` was just requested at `now`; give up
    /// waiting for its end after `timeout`. Use a non-zero `seq`: notifications
    /// carry 0. Starting again forgets any earlier dump.
    pub fn start(&mut self, now: Instant, seq: u32, timeout: Duration) {
        self.state = State::Waiting { seq, deadline: now.saturating_add(timeout), interrupted: false };
    }

    /// Feeds one message, dump reply or notification. Returns the outcome when
    /// this message ends the dump.
    #[must_use]
    pub fn observe(&mut self, message: &Message<'_>) -> Option<Eoiu> {
        let State::Waiting { seq, deadline, interrupted } = self.state else {
            return None;
        };
        let header = message.header();
        if header.seq != seq {
            return None;
        }
        let interrupted = interrupted || header.is_dump_interrupted();
        let outcome = match *message {
            Message::Done { status, .. } if status < 0 => Eoiu::Failed { errno: status.wrapping_neg() },
            Message::Done { .. } if interrupted => Eoiu::Interrupted,
            Message::Done { .. } => Eoiu::Complete,
            Message::Error { errno, .. } if errno != 0 => Eoiu::Failed { errno },
            _ => {
                self.state = State::Waiting { seq, deadline, interrupted };
                return None;
            }
        };
        self.state = State::Ended(outcome);
        Some(outcome)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if a
    /// dump is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// Ends the wait with [`Eoiu::TimedOut`] if `now` is past the deadline.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Eoiu> {
        match self.state {
            State::Waiting { deadline, .. } if now >= deadline => {
                self.state = State::Ended(Eoiu::TimedOut);
                Some(Eoiu::TimedOut)
            }
            _ => None,
        }
    }

    /// Whether a dump is in flight.
    pub const fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting { .. })
    }

    /// How the last dump ended, once it has.
    pub const fn outcome(&self) -> Option<Eoiu> {
        match self.state {
            State::Ended(outcome) => Some(outcome),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Eoiu, EoiuDetector, Instant, Message};
    use crate::netlink::{Header, LinkMessage, LinkOp, msg_flags, msg_type};

    const SEQ: u32 = 0x5eed_0001;

    fn header(kind: u16, flags: u16, seq: u32) -> Header {
        Header { len: 20, kind, flags, seq, pid: 4242 }
    }

    fn reply(flags: u16, seq: u32) -> Message<'static> {
        Message::Link(LinkMessage {
            header: header(msg_type::RTM_NEWLINK, flags, seq),
            op: LinkOp::New,
            family: 0,
            link_type: 1,
            index: 2,
            flags: 0,
            change: 0,
            name: Some(b"Ethernet0"),
            mtu: Some(1500),
            master: None,
            kind: None,
            operstate: None,
            address: None,
        })
    }

    fn done(seq: u32, flags: u16, status: i32) -> Message<'static> {
        Message::Done { header: header(msg_type::DONE, msg_flags::MULTI | flags, seq), status }
    }

    fn started() -> EoiuDetector {
        let mut d = EoiuDetector::new();
        d.start(Instant::from_millis(1000), SEQ, Duration::from_secs(5));
        d
    }

    #[test]
    fn our_done_ends_the_dump_and_change_zero_does_not() {
        let mut d = started();
        assert_eq!(d.observe(&reply(msg_flags::MULTI, SEQ)), None);
        assert_eq!(d.observe(&reply(0, 0)), None, "a notification with ifi_change 0");
        assert_eq!(d.observe(&done(0, 0, 0)), None, "someone else's DONE");
        assert_eq!(d.observe(&done(SEQ + 1, 0, 0)), None, "another dump's DONE");
        assert!(d.is_waiting());
        assert_eq!(d.observe(&done(SEQ, 0, 0)), Some(Eoiu::Complete));
        assert_eq!(d.outcome(), Some(Eoiu::Complete));
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.observe(&done(SEQ, 0, 0)), None, "reported once");
    }

    #[test]
    fn interrupted_dump_is_reported_as_such() {
        let mut d = started();
        assert_eq!(d.observe(&reply(msg_flags::MULTI | msg_flags::DUMP_INTR, SEQ)), None);
        assert_eq!(d.observe(&done(SEQ, 0, 0)), Some(Eoiu::Interrupted));
        let mut d = started();
        assert_eq!(d.observe(&done(SEQ, msg_flags::DUMP_INTR, 0)), Some(Eoiu::Interrupted));
    }

    #[test]
    fn failures_end_the_dump() {
        let mut d = started();
        assert_eq!(d.observe(&done(SEQ, 0, -16)), Some(Eoiu::Failed { errno: 16 }));
        let mut d = started();
        let ack = Message::Error { header: header(msg_type::ERROR, 0, SEQ), errno: 0 };
        assert_eq!(d.observe(&ack), None, "an ACK is not the end of a dump");
        let err = Message::Error { header: header(msg_type::ERROR, 0, SEQ), errno: 22 };
        assert_eq!(d.observe(&err), Some(Eoiu::Failed { errno: 22 }));
    }

    #[test]
    fn timeout_is_the_fallback() {
        let mut d = started();
        assert_eq!(d.poll_timeout(), Some(Instant::from_millis(6000)));
        assert_eq!(d.handle_timeout(Instant::from_millis(5999)), None);
        assert_eq!(d.handle_timeout(Instant::from_millis(6000)), Some(Eoiu::TimedOut));
        assert_eq!(d.observe(&done(SEQ, 0, 0)), None, "too late");
        assert_eq!(EoiuDetector::new().handle_timeout(Instant::from_millis(u64::MAX)), None);
    }
}
