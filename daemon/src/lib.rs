//! `portsyncd` as a library: the command line, the settings, logging and the
//! daemon's loop, so that the loop can also be driven in-process (tests run it
//! over the mock databases and a scripted link source). The binary is
//! `src/main.rs`.

#![forbid(unsafe_code)]

pub mod alerting;
pub mod cli;
pub mod config;
pub mod ferry;
#[cfg(target_os = "linux")]
pub mod instance;
pub mod logging;
pub mod metrics;
pub mod replies;
pub mod requests;
pub mod saving;
pub mod signals;
#[cfg(target_os = "linux")]
pub mod state_dir;
pub mod supervisor;
/// Everything shared between threads (std, or loom under `--cfg loom`).
pub use portsyncd_sync as sync;
