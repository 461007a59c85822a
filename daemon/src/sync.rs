//! The one door for types shared between threads: std's, or loom's when
//! built with `--cfg loom`, so that a loom test explores every interleaving
//! of exactly the handoffs the daemon has.
//!
//! Clippy's `disallowed-types` (daemon/clippy.toml) keeps every other path
//! to `std::sync` out of the daemon. Today the only shared state is the
//! logging sink and level; the operability work (health, metrics snapshot,
//! shutdown) adds its handoffs here, each with a loom test.

#![allow(clippy::disallowed_types)]

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
