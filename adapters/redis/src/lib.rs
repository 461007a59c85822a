//! SONiC's databases over Redis, for portsyncd.
//!
//! This crate carries out the [`Databases`](portsyncd_core::backend::Databases) port against real Redis servers,
//! exactly as swss-common would leave them: keys are `<TABLE><sep><key>`
//! with each database's separator from `database_config.json`; plain table
//! writes are multi-field `HSET` and `DEL`; ProducerStateTable writes are Lua
//! scripts, loaded once per server and called by SHA (reloaded on `NOSCRIPT`),
//! that queue the key in `<TABLE>_KEY_SET`, stage fields in `_<TABLE><sep><key>`,
//! mark deletes in `<TABLE>_DEL_SET` and publish `G` on
//! `<TABLE>_CHANNEL@<db id>` only when the key was not queued yet.
//!
//! A slice of writes goes out as one pipeline per run of the same database:
//! one round trip however many ports a batch touches.
//!
//! The crate is in two layers. [`RedisConnections`] is the connections
//! alone (a `portsyncd_pending::RawBackend`): reads, pipelines of writes,
//! reconnects on a bounded exponential backoff with jitter, and noticing a
//! server that came back with a new run id (it may have lost its data).
//! [`RedisDatabases`] is those connections under the shared write journal
//! (`portsyncd_pending::Journaled`): when a server goes away, reads fail with
//! [`RedisError::Unavailable`] while writes are kept (latest per key, bounded)
//! and the backend reports [`BackendStatus::Degraded`](portsyncd_core::backend::BackendStatus::Degraded); once every connection
//! is back the kept writes are flushed, in order per key; a server that came
//! back restarted is written nothing more and reported as
//! [`BackendStatus::Restarted`](portsyncd_core::backend::BackendStatus::Restarted).
//! That policy is not written here: the in-memory backend shares it.
//!
//! Reads take values of any size the server holds: each reply of a read
//! pipeline is handed on as it comes, in place, and dropped, so that while
//! reading a connection holds at most one hash, value or key, up to
//! [`RedisOptions::read_limit`] (64 MiB by default), plus 64 KiB — not the
//! whole pipeline's replies. One larger than that is read past, not held,
//! and handed on as [`TooLarge`](portsyncd_core::backend::TooLarge), never
//! as a failed read. Writes and presence reads (the hot path) wait for
//! their small replies as before, in one kept buffer.
//!
//! It does not decide what to write (the core does) nor when to call
//! `Databases::maintain` (the core's driver does).

#![forbid(unsafe_code)]

pub mod config;
#[cfg(target_os = "linux")]
mod connections;
#[cfg(target_os = "linux")]
mod framing;
#[cfg(target_os = "linux")]
mod named;
#[cfg(target_os = "linux")]
mod resp;

use std::time::Duration;

use portsyncd_core::backend::Db;
use portsyncd_pending::BufferFull;

pub use config::{DbConfig, DbConfigError, DbEndpoint, GlobalDbConfig, RedisAddr};
#[cfg(target_os = "linux")]
pub use connections::{RedisConnections, RedisDatabases};

/// The default [`RedisOptions::read_limit`]: far above any value SONiC
/// keeps (a port's CONFIG_DB hash is a few hundred bytes), an eighth of
/// Redis's own largest value (`proto-max-bulk-len`, 512 MB).
pub const DEFAULT_READ_LIMIT: usize = 64 << 20;

/// Tunables of the adapter.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Give up waiting for a reply after this long (the server is then
    /// taken as gone). A read's replies are waited for this long at most
    /// between any two reads of the socket: a large answer that keeps
    /// coming is not cut.
    pub response_timeout: Duration,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Jitter seed (use something per process, e.g. the pid).
    pub seed: u64,
    /// Keys whose writes are kept while a server is away.
    pub journal_capacity: usize,
    /// The most a read takes at once, in bytes as Redis sends them (a
    /// hash's fields and values, a value or a key, with a few bytes of
    /// framing each): also what a connection holds at most while reading.
    /// Larger is handed over as
    /// [`TooLarge`](portsyncd_core::backend::TooLarge), having been read
    /// past, not held.
    pub read_limit: usize,
    /// The name each connection gives itself (`CLIENT SETNAME`), which
    /// `CLIENT LIST` and `MONITOR`'s client ids then show; `None`: no name.
    /// Redis refuses a name with a space or a character outside `!`–`~`.
    pub client_name: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            seed: u64::from(std::process::id()),
            journal_capacity: 8192,
            read_limit: DEFAULT_READ_LIMIT,
            client_name: None,
        }
    }
}

/// What went wrong, naming the database, key and operation.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The server answered with an error.
    #[error("{db} {key}: {op} failed: {source}")]
    Command {
        /// Database.
        db: Db,
        /// Full key (or pattern).
        key: String,
        /// Command.
        op: &'static str,
        /// The server's or client's error.
        source: redis::RedisError,
    },
    /// The server is not reachable now; the read was not done.
    #[error("{db} ({addr}) is unreachable: {op} {key} not done")]
    Unavailable {
        /// Database.
        db: Db,
        /// Where it should be.
        addr: String,
        /// Command.
        op: &'static str,
        /// Full key (or pattern).
        key: String,
    },
    /// Connecting failed.
    #[error("cannot connect to {db} at {addr}: {source}")]
    Connect {
        /// Database.
        db: Db,
        /// Where.
        addr: String,
        /// Why.
        source: redis::RedisError,
    },
    /// Too many writes waiting for an unreachable server.
    #[error(transparent)]
    BufferFull(#[from] BufferFull),
    /// The database configuration is wrong.
    #[error(transparent)]
    Config(#[from] DbConfigError),
}

/// Counts for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisCounters {
    /// Pipelines and single commands sent (round trips).
    pub round_trips: u64,
    /// Commands sent.
    pub commands: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Reconnects that found a server with a new run id.
    pub server_restarts: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Commands or pipelines answered with an error, or lost with their
    /// connection.
    pub errors: u64,
    /// Script reloads after `NOSCRIPT`.
    pub script_reloads: u64,
}

impl std::fmt::Display for RedisCounters {
    /// `round trips 30, commands 45, reconnects 0, …` (benches/e2e.sh greps
    /// `round trips [0-9]*`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let RedisCounters {
            round_trips,
            commands,
            reconnects,
            server_restarts,
            connect_failures,
            errors,
            script_reloads,
        } = *self;
        write!(
            f,
            "round trips {round_trips}, commands {commands}, reconnects {reconnects}, \
             server restarts {server_restarts}, failed connects {connect_failures}, errors {errors}, \
             script reloads {script_reloads}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_as_names_and_numbers() {
        let c = RedisCounters { round_trips: 30, commands: 45, ..RedisCounters::default() };
        assert_eq!(
            c.to_string(),
            "round trips 30, commands 45, reconnects 0, server restarts 0, failed connects 0, errors 0, script reloads 0"
        );
    }
}
