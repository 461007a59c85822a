//! # portsyncd-core
//!
//! Every decision of portsyncd, as plain state machines that do no I/O:
//!
//! - [`netlink`]: zero-copy decoding of rtnetlink receive buffers;
//! - [`filter`] and [`name`]: which link messages concern a SONiC port, and
//!   which names may become part of a Redis key;
//! - [`engine`]: the C++ `LinkSync` and portsyncd main loop — what to produce
//!   to APPL_DB, what to write to or delete from STATE_DB, when
//!   `PortConfigDone` and `PortInitDone` are due, which links to bring down;
//! - [`eoiu`]: when our own kernel dump is over;
//! - [`schema`]: the SONiC table, key and field strings, byte for byte;
//! - [`backend`]: what portsyncd asks of SONiC's databases (a trait adapters
//!   implement), and SONiC's WarmStart check written once over it;
//! - [`backoff`]: reconnect delays with seeded jitter.
//!
//! What this crate does not do: open sockets, talk to Redis, read clocks or
//! files, allocate, or log. Adapters do the I/O; the daemon wires them.
//!
//! `#![no_std]`, no `alloc`, no `unsafe`. Every table is a `heapless`
//! collection whose capacity is a const generic; a full table is an error
//! value ([`engine::SyncError`]), never a panic or a silent drop.
//!
//! # Memory bound
//!
//! With the default capacities ([`engine::DEFAULT_PORT_CAPACITY`] = 1024
//! configured ports and stale links, [`engine::DEFAULT_BATCH_CAPACITY`] = 1024
//! ports per batch; the record of published ports holds 1024 too), the whole
//! engine state, [`engine::DefaultLinkSync`], is
//! **139,480 bytes** on 64-bit targets (`core::mem::size_of`, checked by a
//! test), and [`eoiu::EoiuDetector`] is 16 bytes. The parser keeps no state
//! beyond a slice and an offset ([`netlink::Messages`], 24 bytes) and borrows
//! everything else from the caller's receive buffer. Nothing else is held.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod backoff;
pub mod driver;
pub mod engine;
pub mod eoiu;
pub mod event;
pub mod filter;
pub mod logger;
pub mod name;
pub mod netlink;
pub mod presence;
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
        assert_eq!(size_of::<crate::engine::DefaultLinkSync>(), 139_480, "update the crate docs");
        assert_eq!(size_of::<crate::eoiu::EoiuDetector>(), 16, "update the crate docs");
        assert_eq!(size_of::<crate::netlink::Messages<'_>>(), 24, "update the crate docs");
    }
}
