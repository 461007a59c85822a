//! # portsyncd-core
//!
//! Every decision of portsyncd, as plain state machines that do no I/O. To
//! find where something is decided:
//!
//! - [`driver`]: **the top, and the only thing the daemon talks to**: the
//!   start-up sequence, dumps and re-dumps, batches, refused writes and their
//!   retries, the snapshot cadence, the LOGGER poll, shutdown, every timer
//!   (`handle(now, input)` and `handle_timeout(now)` in; `poll_io` — typed
//!   requests answered through themselves —, `poll_event`, `poll_timeout` out);
//! - [`engine`]: the C++ `LinkSync` — what each link message does to
//!   STATE_DB, what to produce to APPL_DB, when `PortConfigDone` and
//!   `PortInitDone` are due, which links are stale;
//! - [`warm`]: SONiC's WarmStart decision, the snapshot, and the baseline a
//!   warm start compares against (what STATE_DB holds);
//! - [`presence`]: how long APPL_DB's "this port exists" is trusted;
//! - [`writes`]: the one mapping from decided writes to SONiC tables, keys
//!   and fields, and the writes kept after a refusal;
//! - [`event`]: what is worth a log line, how severe, and how it reads;
//! - [`alerts`]: alert rules on metrics, evaluated as Prometheus does
//!   (pending, firing, resolved), and what to log about them;
//! - [`logger`]: SONiC's LOGGER table values;
//! - [`eoiu`]: when our own kernel dump is over;
//! - [`netlink`]: zero-copy decoding of rtnetlink receive buffers (and
//!   writing link messages into caller buffers, for tests and fuzzing);
//! - [`filter`] and [`name`]: which link messages concern a SONiC port, and
//!   which names may become part of a Redis key;
//! - [`schema`]: the SONiC table, key and field strings, byte for byte;
//! - [`backend`]: the ports (traits) adapters implement: databases, link
//!   source, link controller, snapshot store;
//! - [`backoff`]: delays with seeded jitter;
//! - [`partition`]: which of several instances owns a port;
//! - [`link_filter`]: the socket filter that keeps other instances' link
//!   notifications from waking this one.
//!
//! What this crate does not do: open sockets, talk to Redis, read clocks or
//! files, allocate, or log. Adapters do the I/O; the daemon ferries requests
//! between them and the driver.
//!
//! `#![no_std]`, no `alloc`, no `unsafe`. Every table is a `heapless`
//! collection whose capacity is a const generic; a full table is an error
//! value ([`engine::SyncError`]) or a counted event, never a panic or a
//! silent drop.
//!
//! # Memory bound
//!
//! With the default capacities ([`engine::DEFAULT_PORT_CAPACITY`] = 1024
//! configured ports, stale links and published ports,
//! [`engine::DEFAULT_BATCH_CAPACITY`] = 1024 ports per batch), the whole
//! core state, [`driver::DefaultDriver`], is **329,672 bytes** on 64-bit
//! targets (`core::mem::size_of`, checked by a test). Builds for more ports
//! (cargo features `max-ports-2048`, `max-ports-4096`) cost 536,520 and
//! 950,216 bytes. Of the default's, the engine
//! ([`engine::DefaultLinkSync`]) is 159,968 bytes (20 per configured port
//! of it follow each port's oper state, flaps, index and owner), the alert rules 30,032
//! ([`alerts`]) and 4 KiB of alarm rows waiting for STATE_DB, the settings
//! 1 KiB (a [`partition::Partition`] holds a key bitmap), other instances'
//! ifindexes for the link filter 4 KiB, the last APPL_DB presence
//! answers 24,584, the refused-write table 47,136, the write batch in flight
//! 32 KiB (1024 × 32-byte [`writes::WriteOp`]), the keys of a read in flight
//! 17 KiB, and 64 queued log events 5 KiB. The parser keeps no state beyond a
//! slice and an offset ([`netlink::Messages`], 24 bytes) and borrows
//! everything else from the caller's receive buffer. Nothing else is held.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alerts;
pub mod backend;
pub mod backoff;
pub mod driver;
pub mod engine;
pub mod eoiu;
pub mod event;
pub mod filter;
pub mod health;
pub mod link_filter;
pub mod logger;
pub mod metrics;
pub mod name;
pub mod netlink;
pub mod partition;
pub mod presence;
pub mod repeats;
pub mod schema;
pub mod time;
pub mod warm;
pub mod writes;

pub use engine::{Action, DefaultLinkSync, Disposition, LinkState, LinkSync, SyncConfig, SyncError};
pub use eoiu::{Eoiu, EoiuDetector};
pub use name::{NameError, PortName};
pub use netlink::{LinkMessage, LinkOp, Message, ParseError, messages};
pub use time::Instant;

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod size_tests {
    /// The bound stated in the crate documentation.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn documented_memory_bound_holds() {
        use core::mem::size_of;

        use crate::driver::Driver;
        use crate::engine::{DEFAULT_BATCH_CAPACITY as B, LinkSync};
        assert_eq!(size_of::<Driver<1024, B>>(), 329_672, "update the crate docs");
        assert_eq!(size_of::<Driver<2048, B>>(), 536_520, "update the crate docs");
        assert_eq!(size_of::<Driver<4096, B>>(), 950_216, "update the crate docs");
        assert_eq!(size_of::<LinkSync<1024, B>>(), 159_968, "update the crate docs");
        assert_eq!(size_of::<crate::presence::PresenceAnswers<1024>>(), 24_584, "update the crate docs");
        assert_eq!(size_of::<crate::writes::Refused<1024>>(), 47_136, "update the crate docs");
        assert_eq!(size_of::<crate::writes::WriteOp>(), 32, "update the crate docs");
        assert_eq!(size_of::<crate::eoiu::EoiuDetector>(), 16, "update the crate docs");
        assert_eq!(size_of::<crate::netlink::Messages<'_>>(), 24, "update the crate docs");
    }
}
