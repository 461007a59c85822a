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
//! It does not decide what to write (the core does) nor when to call
//! `Databases::maintain` (the core's driver does).

#![forbid(unsafe_code)]

pub mod config;

use std::time::{Duration, Instant};

use portsyncd_core::backend::{
    DatabaseReads, DatabaseStats, Db, FieldVisitor, KeyFieldVisitor, Write, swss_cut,
};
use portsyncd_core::backoff::Backoff;
use portsyncd_pending::{BufferFull, Journaled, RawBackend, SendError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, Value};

pub use config::{DbConfig, DbConfigError, DbEndpoint, GlobalDbConfig, RedisAddr};

/// ProducerStateTable `set`. KEYS: channel, key set, staging hash.
/// ARGV: payload, key, field, value, ...
const PRODUCE_SET_SCRIPT: &str = r"
local queued = redis.call('SADD', KEYS[2], ARGV[2])
if #ARGV >= 4 then
    redis.call('HSET', KEYS[3], unpack(ARGV, 3))
end
if queued == 1 then
    redis.call('PUBLISH', KEYS[1], ARGV[1])
end
return queued
";

/// ProducerStateTable `del`. KEYS: channel, key set, staging hash, delete set.
/// ARGV: payload, key.
const PRODUCE_DEL_SCRIPT: &str = r"
local queued = redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[3])
if queued == 1 then
    redis.call('PUBLISH', KEYS[1], ARGV[1])
end
return queued
";

/// The payload every producer notification carries.
const NOTIFY_PAYLOAD: &str = "G";

/// Tunables of the adapter.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Give up waiting for a reply after this long (the server is then taken as gone).
    pub response_timeout: Duration,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Jitter seed (use something per process, e.g. the pid).
    pub seed: u64,
    /// Keys whose writes are kept while a server is away.
    pub journal_capacity: usize,
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

/// One database's connection and its reconnect schedule.
struct Link {
    endpoint: DbEndpoint,
    conn: Option<MultiplexedConnection>,
    backoff: Backoff,
    retry_at: Instant,
    run_id: Option<String>,
}

/// The connections to CONFIG_DB, APPL_DB and STATE_DB, without the write
/// journal: what [`RedisDatabases`] keeps its journal over.
pub struct RedisConnections {
    links: [Link; 3],
    /// A server came back with a new run id (SONiC's Redis keeps no data
    /// across a restart).
    restarted: bool,
    options: RedisOptions,
    set_sha: String,
    del_sha: String,
    counters: RedisCounters,
}

/// One HGETALL's reply: field names and values, as bytes.
type HashReply = Vec<(Vec<u8>, Vec<u8>)>;

fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// SONiC's CONFIG_DB, APPL_DB and STATE_DB over Redis, with writes kept
/// through outages and server restarts: the
/// [`Databases`](portsyncd_core::backend::Databases) the daemon uses.
/// The connections' own methods ([`RedisConnections::counters`], …) are
/// reached through `Deref`.
pub type RedisDatabases = Journaled<RedisConnections>;

impl RedisConnections {
    /// Connects as [`connect`](Self::connect) does, under the write journal
    /// (`options.journal_capacity` keys). A daemon that cannot reach Redis at
    /// start exits with this error and writes nothing.
    pub async fn journaled(config: &DbConfig, options: RedisOptions) -> Result<RedisDatabases, RedisError> {
        let capacity = options.journal_capacity;
        Ok(Journaled::new(Self::connect(config, options).await?, capacity))
    }

    /// Loads `database_config.json` from `path` and connects, journaled.
    pub async fn journaled_from_file(
        path: &std::path::Path,
        options: RedisOptions,
    ) -> Result<RedisDatabases, RedisError> {
        let config = DbConfig::load(path)?;
        Self::journaled(&config, options).await
    }

    /// Connects to CONFIG_DB, APPL_DB and STATE_DB as `config` places them;
    /// every one must be reachable now.
    pub async fn connect(config: &DbConfig, options: RedisOptions) -> Result<Self, RedisError> {
        let now = Instant::now();
        let link = |db: Db, salt: u64| -> Result<Link, RedisError> {
            Ok(Link {
                endpoint: config.resolve(db.name())?.clone(),
                conn: None,
                backoff: Backoff::new(options.backoff_base, options.backoff_max, options.seed ^ salt),
                retry_at: now,
                run_id: None,
            })
        };
        let links = [link(Db::Config, 1)?, link(Db::Appl, 2)?, link(Db::State, 3)?];
        let mut this = Self {
            links,
            restarted: false,
            set_sha: redis::Script::new(PRODUCE_SET_SCRIPT).get_hash().to_owned(),
            del_sha: redis::Script::new(PRODUCE_DEL_SCRIPT).get_hash().to_owned(),
            options,
            counters: RedisCounters::default(),
        };
        for db in Db::ALL {
            this.open(db).await?;
        }
        Ok(this)
    }

    /// What the adapter has done so far.
    pub fn counters(&self) -> RedisCounters {
        self.counters
    }

    /// Where `db` lives.
    pub fn endpoint(&self, db: Db) -> &DbEndpoint {
        &self.links[db.index()].endpoint
    }

    /// `<table><sep><key>` in `db`.
    pub fn full_key(&self, db: Db, table: &str, key: &str) -> String {
        format!("{table}{}{key}", self.links[db.index()].endpoint.separator)
    }

    /// Opens `db`'s connection now: selects the database, notes the server's
    /// run id, and loads the producer scripts.
    async fn open(&mut self, db: Db) -> Result<(), RedisError> {
        let endpoint = self.links[db.index()].endpoint.clone();
        let addr = endpoint.addr.to_string();
        let fail = |source| RedisError::Connect { db, addr: addr.clone(), source };
        let connection_addr = match &endpoint.addr {
            RedisAddr::Unix(path) => ConnectionAddr::Unix(path.clone()),
            RedisAddr::Tcp(host, port) => ConnectionAddr::Tcp(host.clone(), *port),
        };
        let info = connection_addr.into_connection_info().map_err(fail)?.set_redis_settings(
            RedisConnectionInfo::default().set_db(i64::from(endpoint.id)).set_skip_set_lib_name(),
        );
        let client = redis::Client::open(info).map_err(fail)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout))
            .set_response_timeout(Some(self.options.response_timeout))
            // One request in flight per connection at a time: the default 50
            // slots only cost memory.
            .set_pipeline_buffer_size(4);
        let mut conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(fail)?;
        let server: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await.map_err(fail)?;
        let run_id = server.lines().find_map(|l| l.strip_prefix("run_id:")).map(|s| s.trim().to_owned());
        let mut load = redis::pipe();
        load.cmd("SCRIPT").arg("LOAD").arg(PRODUCE_SET_SCRIPT);
        load.cmd("SCRIPT").arg("LOAD").arg(PRODUCE_DEL_SCRIPT);
        let _: Vec<String> = load.query_async(&mut conn).await.map_err(fail)?;
        self.counters.round_trips += 2;
        self.counters.commands += 3;
        let link = &mut self.links[db.index()];
        if link.run_id.is_some() && link.run_id != run_id {
            self.restarted = true;
            self.counters.server_restarts += 1;
        }
        link.run_id = run_id;
        link.conn = Some(conn);
        link.backoff.reset();
        Ok(())
    }

    fn mark_down(&mut self, db: Db) {
        let link = &mut self.links[db.index()];
        if link.conn.take().is_some() {
            link.retry_at = Instant::now() + link.backoff.next_delay();
        }
    }

    /// A connection for a read, reconnecting first if that is due.
    async fn read_conn(
        &mut self,
        db: Db,
        op: &'static str,
        key: &str,
    ) -> Result<MultiplexedConnection, RedisError> {
        if self.links[db.index()].conn.is_none() {
            self.reconnect_due().await;
        }
        let link = &self.links[db.index()];
        link.conn.clone().ok_or_else(|| RedisError::Unavailable {
            db,
            addr: link.endpoint.addr.to_string(),
            op,
            key: key.to_owned(),
        })
    }

    /// Runs one read command, taking the connection down on a transport error.
    async fn read<T: redis::FromRedisValue>(
        &mut self,
        db: Db,
        op: &'static str,
        key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut conn = self.read_conn(db, op, key).await?;
        self.counters.round_trips += 1;
        self.counters.commands += 1;
        cmd.query_async(&mut conn).await.map_err(|source| {
            self.counters.errors += 1;
            if is_connection_error(&source) {
                self.mark_down(db);
            }
            RedisError::Command { db, key: key.to_owned(), op, source }
        })
    }

    /// One pipeline of `EXISTS <key>` (or `HEXISTS <key> <field>`) for each key.
    async fn ask_each(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: Option<&str>,
        present: &mut [bool],
    ) -> Result<(), RedisError> {
        if keys.is_empty() {
            return Ok(());
        }
        let op = if field.is_some() { "HEXISTS" } else { "EXISTS" };
        let pattern = self.full_key(db, table, "*");
        let mut conn = self.read_conn(db, op, &pattern).await?;
        let mut pipe = redis::pipe();
        for key in keys {
            let cmd = pipe.cmd(op).arg(self.full_key(db, table, key));
            if let Some(field) = field {
                cmd.arg(field);
            }
        }
        self.counters.round_trips += 1;
        self.counters.commands += keys.len() as u64;
        let answers: Vec<bool> = pipe.query_async(&mut conn).await.map_err(|source| {
            self.counters.errors += 1;
            if is_connection_error(&source) {
                self.mark_down(db);
            }
            RedisError::Command { db, key: pattern.clone(), op, source }
        })?;
        for (slot, answer) in present.iter_mut().zip(answers) {
            *slot = answer;
        }
        Ok(())
    }

    /// Sends `writes` (all of one database) as one pipeline.
    async fn send_run(&mut self, writes: &[Write<'_>]) -> Result<(), SendError<RedisError>> {
        let Some(db) = writes.first().map(Write::db) else { return Ok(()) };
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut sent = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            if self.push_write(&mut pipe, w) {
                sent.push(i);
            }
        }
        if sent.is_empty() {
            return Ok(());
        }
        let replies = self.query_pipe(db, &pipe, sent.len()).await?;
        let mut missing_script = Vec::new();
        for (&i, reply) in sent.iter().zip(&replies) {
            if let Value::ServerError(e) = reply {
                if e.code() == "NOSCRIPT" {
                    missing_script.push(i);
                } else {
                    return Err(SendError::Refused(
                        self.command_error(&writes[i], redis::RedisError::from(e.clone())),
                    ));
                }
            }
        }
        if missing_script.is_empty() {
            return Ok(());
        }
        // The server lost our scripts (SCRIPT FLUSH, or a restart we have not
        // noticed): load them and send the calls that failed again, in order.
        self.counters.script_reloads += 1;
        let mut retry = redis::pipe();
        retry.cmd("SCRIPT").arg("LOAD").arg(PRODUCE_SET_SCRIPT).ignore();
        retry.cmd("SCRIPT").arg("LOAD").arg(PRODUCE_DEL_SCRIPT).ignore();
        for &i in &missing_script {
            self.push_write(&mut retry, &writes[i]);
        }
        let replies = self.query_pipe(db, &retry, missing_script.len()).await?;
        for (&i, reply) in missing_script.iter().zip(&replies) {
            if let Value::ServerError(e) = reply {
                return Err(SendError::Refused(
                    self.command_error(&writes[i], redis::RedisError::from(e.clone())),
                ));
            }
        }
        Ok(())
    }

    async fn query_pipe(
        &mut self,
        db: Db,
        pipe: &redis::Pipeline,
        commands: usize,
    ) -> Result<Vec<Value>, SendError<RedisError>> {
        let Some(mut conn) = self.links[db.index()].conn.clone() else { return Err(SendError::Down) };
        self.counters.round_trips += 1;
        self.counters.commands += commands as u64;
        match pipe.query_async::<Vec<Value>>(&mut conn).await {
            Ok(replies) => Ok(replies),
            Err(e) if is_connection_error(&e) => {
                self.counters.errors += 1;
                self.mark_down(db);
                Err(SendError::Down)
            }
            Err(e) => {
                self.counters.errors += 1;
                Err(SendError::Refused(RedisError::Command {
                    db,
                    key: "(pipeline)".into(),
                    op: "pipeline",
                    source: e,
                }))
            }
        }
    }

    /// A write the server answered with an error (counted).
    fn command_error(&mut self, w: &Write<'_>, source: redis::RedisError) -> RedisError {
        self.counters.errors += 1;
        let (table, key) = w.target();
        let op = match w {
            Write::Set { .. } => "HSET",
            Write::Del { .. } => "DEL",
            Write::Produce { .. } => "producer set",
            Write::ProduceDel { .. } => "producer del",
        };
        RedisError::Command { db: w.db(), key: self.full_key(w.db(), table, key), op, source }
    }

    /// Adds `w` to `pipe`; `false` if it writes nothing (a plain set with no fields).
    fn push_write(&self, pipe: &mut redis::Pipeline, w: &Write<'_>) -> bool {
        let endpoint = &self.links[w.db().index()].endpoint;
        let sep = endpoint.separator;
        match *w {
            Write::Set { fields: [], .. } => return false,
            Write::Set { table, key, fields, .. } => {
                let cmd = pipe.cmd("HSET").arg(format!("{table}{sep}{key}"));
                for (f, v) in fields {
                    cmd.arg(*f).arg(*v);
                }
            }
            Write::Del { table, key, .. } => {
                pipe.cmd("DEL").arg(format!("{table}{sep}{key}"));
            }
            Write::Produce { table, key, fields, .. } => {
                let cmd = pipe
                    .cmd("EVALSHA")
                    .arg(&self.set_sha)
                    .arg(3)
                    .arg(format!("{table}_CHANNEL@{}", endpoint.id))
                    .arg(format!("{table}_KEY_SET"))
                    .arg(format!("_{table}{sep}{key}"))
                    .arg(NOTIFY_PAYLOAD)
                    .arg(key);
                for (f, v) in fields {
                    cmd.arg(*f).arg(*v);
                }
            }
            Write::ProduceDel { table, key, .. } => {
                pipe.cmd("EVALSHA")
                    .arg(&self.del_sha)
                    .arg(4)
                    .arg(format!("{table}_CHANNEL@{}", endpoint.id))
                    .arg(format!("{table}_KEY_SET"))
                    .arg(format!("_{table}{sep}{key}"))
                    .arg(format!("{table}_DEL_SET"))
                    .arg(NOTIFY_PAYLOAD)
                    .arg(key);
            }
        }
        true
    }
}

impl DatabaseReads for RedisConnections {
    type Error = RedisError;

    async fn get(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        visit: &mut FieldVisitor<'_>,
    ) -> Result<bool, RedisError> {
        let full = self.full_key(db, table, key);
        let fields: Vec<(Vec<u8>, Vec<u8>)> =
            self.read(db, "HGETALL", &full, redis::cmd("HGETALL").arg(&full)).await?;
        for (f, v) in &fields {
            visit(swss_cut(f), v);
        }
        Ok(!fields.is_empty())
    }

    async fn get_many(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        visit: &mut KeyFieldVisitor<'_>,
    ) -> Result<(), RedisError> {
        if keys.is_empty() {
            return Ok(());
        }
        let pattern = self.full_key(db, table, "*");
        let mut conn = self.read_conn(db, "HGETALL", &pattern).await?;
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("HGETALL").arg(self.full_key(db, table, key));
        }
        self.counters.round_trips += 1;
        self.counters.commands += keys.len() as u64;
        // A key that is not a hash (WRONGTYPE) is an error of its own command
        // only: it reads as a key with no fields, and the rest are read.
        let hashes: Vec<redis::RedisResult<HashReply>> =
            pipe.ignore_errors().query_async(&mut conn).await.map_err(|source| {
                self.counters.errors += 1;
                if is_connection_error(&source) {
                    self.mark_down(db);
                }
                RedisError::Command { db, key: pattern.clone(), op: "HGETALL", source }
            })?;
        for (i, fields) in hashes.iter().enumerate() {
            for (f, v) in fields.iter().flatten() {
                visit(i, swss_cut(f), v);
            }
        }
        Ok(())
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<bool, RedisError> {
        let full = self.full_key(db, table, key);
        let value: Option<Vec<u8>> =
            self.read(db, "HGET", &full, redis::cmd("HGET").arg(&full).arg(field)).await?;
        match value {
            Some(value) => {
                visit(swss_cut(&value));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn keys(
        &mut self,
        db: Db,
        table: &str,
        visit: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<(), RedisError> {
        let pattern = self.full_key(db, table, "*");
        let prefix_len = pattern.len() - 1;
        let keys: Vec<Vec<u8>> = self.read(db, "KEYS", &pattern, redis::cmd("KEYS").arg(&pattern)).await?;
        for key in &keys {
            visit(key.get(prefix_len..).unwrap_or_default());
        }
        Ok(())
    }

    async fn exists(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        present: &mut [bool],
    ) -> Result<(), RedisError> {
        self.ask_each(db, table, keys, None, present).await
    }

    async fn has_field(
        &mut self,
        db: Db,
        table: &str,
        keys: &[&str],
        field: &str,
        present: &mut [bool],
    ) -> Result<(), RedisError> {
        self.ask_each(db, table, keys, Some(field), present).await
    }
}

impl RawBackend for RedisConnections {
    /// Sends `writes` run by run (a run = consecutive writes to one
    /// database), one pipeline each. On failure, the index reported is the
    /// start of the run that failed: every run before it landed.
    async fn send(&mut self, writes: &[Write<'_>]) -> Result<(), (usize, SendError<RedisError>)> {
        let mut start = 0;
        while start < writes.len() {
            let db = writes[start].db();
            let len = writes[start..].iter().take_while(|w| w.db() == db).count();
            self.send_run(&writes[start..start + len]).await.map_err(|e| (start, e))?;
            start += len;
        }
        Ok(())
    }

    /// Tries every down connection whose retry time has come.
    async fn reconnect_due(&mut self) {
        let now = Instant::now();
        for db in Db::ALL {
            let link = &self.links[db.index()];
            if link.conn.is_some() || now < link.retry_at {
                continue;
            }
            match self.open(db).await {
                Ok(()) => self.counters.reconnects += 1,
                Err(_) => {
                    self.counters.connect_failures += 1;
                    let link = &mut self.links[db.index()];
                    link.retry_at = Instant::now() + link.backoff.next_delay();
                }
            }
        }
    }

    fn all_up(&self) -> bool {
        self.links.iter().all(|l| l.conn.is_some())
    }

    fn restarted(&self) -> bool {
        self.restarted
    }

    fn stats(&self) -> DatabaseStats {
        let c = self.counters;
        DatabaseStats {
            round_trips: c.round_trips,
            commands: c.commands,
            errors: c.errors,
            reconnects: c.reconnects,
            connect_failures: c.connect_failures,
            server_restarts: c.server_restarts,
        }
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
