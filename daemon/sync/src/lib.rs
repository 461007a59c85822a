//! The one door for types shared between threads: std's, or loom's when
//! built with `--cfg loom`, so that a loom test explores every interleaving
//! of exactly the handoffs the daemon has.
//!
//! Clippy's `disallowed-types` (daemon/clippy.toml) keeps every other path
//! to `std::sync` out of the daemon. What crosses threads:
//!
//! - the logging level and sink (the daemon's `logging` module);
//! - the metrics snapshot, health included, that the loop publishes and the
//!   metrics endpoint reads: a [`Board`], whose handoff the loom tests in
//!   `tests/loom.rs` check (`RUSTFLAGS="--cfg loom" cargo test -p
//!   portsyncd-sync --release --test loom`);
//! - the outcome of a warm-restart snapshot written beside the loop: an
//!   [`Outcome`], checked by the same loom tests.
//!
//! The daemon's driver is a `static` too ([`TakeOnce`]), taken once by the
//! thread that runs it: no handoff, so no loom test.
//!
//! Shutdown crosses no state of ours: the endpoint's task is cancelled by
//! dropping it when the run ends.
//!
//! This crate depends on nothing but loom (under `cfg(loom)`): the loom
//! build sets `--cfg loom` for every crate it compiles, and some of the
//! daemon's dependencies (smol's queues) do not build that way.

#![allow(clippy::disallowed_types)]
#![forbid(unsafe_code)]

// Aliases, not re-exports: clippy resolves a re-export to the std type and
// would flag every use; an alias is this module's own path.
/// std's types.
#[cfg(not(loom))]
mod imp {
    pub use std::sync::atomic::Ordering;
    /// `AtomicBool`, std's or loom's.
    pub type AtomicBool = std::sync::atomic::AtomicBool;
    /// `AtomicU8`, std's or loom's.
    pub type AtomicU8 = std::sync::atomic::AtomicU8;
    /// `AtomicU64`, std's or loom's.
    pub type AtomicU64 = std::sync::atomic::AtomicU64;
    /// `Arc`, std's or loom's.
    pub type Arc<T> = std::sync::Arc<T>;
    /// `Mutex`, std's or loom's.
    pub type Mutex<T> = std::sync::Mutex<T>;
}

/// loom's types.
#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::Ordering;
    /// `AtomicBool`, std's or loom's.
    pub type AtomicBool = loom::sync::atomic::AtomicBool;
    /// `AtomicU8`, std's or loom's.
    pub type AtomicU8 = loom::sync::atomic::AtomicU8;
    /// `AtomicU64`, std's or loom's.
    pub type AtomicU64 = loom::sync::atomic::AtomicU64;
    /// `Arc`, std's or loom's.
    pub type Arc<T> = loom::sync::Arc<T>;
    /// `Mutex`, std's or loom's.
    pub type Mutex<T> = loom::sync::Mutex<T>;
}

pub use imp::*;

mod board;
mod once;
mod outcome;

pub use board::Board;
pub use once::TakeOnce;
pub use outcome::Outcome;
