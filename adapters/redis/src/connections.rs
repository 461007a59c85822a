//! The connections to CONFIG_DB, APPL_DB and STATE_DB (Linux: their
//! sockets wait on `portsyncd-reactor`'s epoll set): reads, pipelines of
//! writes, reconnects, and the ProducerStateTable scripts.

use std::time::Instant;

use portsyncd_core::backend::{
    DatabaseReads, DatabaseStats, Db, FieldVisitor, KeyFieldVisitor, TooLarge, ValueVisitor, Write, swss_cut,
};
use portsyncd_core::backoff::Backoff;
use portsyncd_pending::{Journaled, RawBackend, SendError};

use crate::framing::{self, Piece, Unit};
use crate::resp::{self, Connection};
use crate::{DbConfig, DbEndpoint, RedisCounters, RedisError, RedisOptions};

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

/// One database's connection and its reconnect schedule.
struct Link {
    endpoint: DbEndpoint,
    conn: Option<Connection>,
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

    /// Opens `db`'s connection now: names it (if a name is set), selects the
    /// database, notes the server's run id, and loads the producer scripts
    /// (one round trip).
    async fn open(&mut self, db: Db) -> Result<(), RedisError> {
        let endpoint = self.links[db.index()].endpoint.clone();
        let addr = endpoint.addr.to_string();
        let fail = |source: redis::RedisError| RedisError::Connect { db, addr: addr.clone(), source };
        let mut conn =
            Connection::connect(&endpoint.addr, self.options.connect_timeout, self.options.response_timeout)
                .await
                .map_err(|e| fail(e.into()))?;
        let named = usize::from(self.options.client_name.is_some());
        if let Some(name) = &self.options.client_name {
            conn.push(redis::cmd("CLIENT").arg("SETNAME").arg(name));
        }
        conn.push(redis::cmd("SELECT").arg(endpoint.id));
        conn.push(redis::cmd("INFO").arg("server"));
        conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(PRODUCE_SET_SCRIPT));
        conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(PRODUCE_DEL_SCRIPT));
        self.counters.round_trips += 1;
        self.counters.commands += 4 + named as u64;
        conn.exchange().await.map_err(|e| fail(e.into()))?;
        for ok in 0..=named {
            conn.decode::<()>(ok).map_err(fail)?;
        }
        let server: String = conn.decode(named + 1).map_err(fail)?;
        for script in [named + 2, named + 3] {
            conn.decode::<String>(script).map_err(fail)?;
        }
        let run_id = server.lines().find_map(|l| l.strip_prefix("run_id:")).map(|s| s.trim().to_owned());
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

    /// `db`'s connection for a read, reconnecting first if that is due.
    async fn read_conn(
        &mut self,
        db: Db,
        op: &'static str,
        key: &str,
    ) -> Result<&mut Connection, RedisError> {
        if self.links[db.index()].conn.is_none() {
            self.reconnect_due().await;
        }
        let link = &mut self.links[db.index()];
        link.conn.as_mut().ok_or_else(|| RedisError::Unavailable {
            db,
            addr: link.endpoint.addr.to_string(),
            op,
            key: key.to_owned(),
        })
    }

    /// Sends what is queued on `db`'s connection (`commands` of them) and
    /// waits for the replies; a transport failure takes the connection down.
    async fn exchange(&mut self, db: Db, commands: usize) -> Result<&Connection, redis::RedisError> {
        self.counters.round_trips += 1;
        self.counters.commands += commands as u64;
        let link = &mut self.links[db.index()];
        let Some(conn) = link.conn.as_mut() else {
            return Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into());
        };
        if let Err(e) = conn.exchange().await {
            self.counters.errors += 1;
            self.mark_down(db);
            return Err(e.into());
        }
        match &self.links[db.index()].conn {
            Some(conn) => Ok(conn),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into()),
        }
    }

    /// Sends the reads queued on `db`'s connection (`commands` of them) and
    /// hands each reply to `each` as it comes ([`Connection::stream`]); a
    /// transport failure takes the connection down.
    async fn stream(
        &mut self,
        db: Db,
        commands: usize,
        unit: Unit,
        each: &mut dyn FnMut(usize, Piece<'_>),
    ) -> Result<(), redis::RedisError> {
        self.counters.round_trips += 1;
        self.counters.commands += commands as u64;
        let limit = self.options.read_limit;
        let Some(conn) = self.links[db.index()].conn.as_mut() else {
            return Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into());
        };
        if let Err(e) = conn.stream(limit, unit, each).await {
            self.counters.errors += 1;
            self.mark_down(db);
            return Err(e.into());
        }
        Ok(())
    }

    /// Queues one read of `args` (its key among them) on `db`'s connection,
    /// and streams its reply to `each`; the reply's own failure (an error
    /// reply, a reply that is not what `each` expects) is `each`'s `Err`.
    async fn read_one(
        &mut self,
        db: Db,
        op: &'static str,
        key: &str,
        args: &[&[u8]],
        unit: Unit,
        each: &mut dyn FnMut(Piece<'_>) -> Result<(), redis::RedisError>,
    ) -> Result<(), RedisError> {
        let conn = self.read_conn(db, op, key).await?;
        conn.command(args.len());
        for arg in args {
            conn.arg(&[arg]);
        }
        let mut failed = None;
        let streamed = self
            .stream(db, 1, unit, &mut |_, piece| {
                if failed.is_none() {
                    failed = each(piece).err();
                }
            })
            .await;
        let fail = |source| RedisError::Command { db, key: key.to_owned(), op, source };
        streamed.map_err(fail)?;
        match failed {
            Some(source) => {
                self.counters.errors += 1;
                Err(fail(source))
            }
            None => Ok(()),
        }
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
        let mut sep = [0; 4];
        let sep = self.links[db.index()].endpoint.separator.encode_utf8(&mut sep).as_bytes();
        let conn = self.read_conn(db, op, &pattern).await?;
        for key in keys {
            let full: [&[u8]; 3] = [table.as_bytes(), sep, key.as_bytes()];
            match field {
                Some(field) => conn.command(3).arg(&[b"HEXISTS"]).arg(&full).arg(&[field.as_bytes()]),
                None => conn.command(2).arg(&[b"EXISTS"]).arg(&full),
            };
        }
        let fail = |source| RedisError::Command { db, key: pattern.clone(), op, source };
        let conn = self.exchange(db, keys.len()).await.map_err(fail)?;
        let decoded = (0..keys.len()).zip(present.iter_mut()).try_for_each(|(i, slot)| {
            *slot = conn.decode::<bool>(i)?;
            Ok(())
        });
        decoded.map_err(|source| {
            self.counters.errors += 1;
            fail(source)
        })
    }

    /// Sends `writes` (all of one database) as one pipeline.
    async fn send_run(&mut self, writes: &[Write<'_>]) -> Result<(), SendError<RedisError>> {
        let Some(db) = writes.first().map(Write::db) else { return Ok(()) };
        let Link { conn, endpoint, .. } = &mut self.links[db.index()];
        let Some(conn) = conn.as_mut() else { return Err(SendError::Down) };
        for w in writes {
            encode_write(conn, endpoint, &self.set_sha, &self.del_sha, w);
        }
        let sent = conn.queued();
        if sent == 0 {
            return Ok(());
        }
        let Ok(conn) = self.exchange(db, sent).await else { return Err(SendError::Down) };
        let mut missing_script = Vec::new();
        let mut refused = None;
        for (i, reply) in
            writes.iter().enumerate().filter(|(_, w)| writes_something(w)).map(|(i, _)| i).zip(0..)
        {
            let reply = conn.reply(reply);
            if resp::is_error(reply) {
                if resp::error_code_is(reply, b"NOSCRIPT") {
                    missing_script.push(i);
                } else {
                    refused = Some((i, resp::error_of(reply)));
                    break;
                }
            }
        }
        if let Some((i, e)) = refused {
            return Err(SendError::Refused(self.command_error(&writes[i], e)));
        }
        if missing_script.is_empty() {
            return Ok(());
        }
        // The server lost our scripts (SCRIPT FLUSH, or a restart we have not
        // noticed): load them and send the calls that failed again, in order.
        self.counters.script_reloads += 1;
        let Link { conn, endpoint, .. } = &mut self.links[db.index()];
        let Some(conn) = conn.as_mut() else { return Err(SendError::Down) };
        conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(PRODUCE_SET_SCRIPT));
        conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(PRODUCE_DEL_SCRIPT));
        for &i in &missing_script {
            encode_write(conn, endpoint, &self.set_sha, &self.del_sha, &writes[i]);
        }
        let sent = conn.queued();
        let Ok(conn) = self.exchange(db, sent).await else { return Err(SendError::Down) };
        let refused = (0..sent).find(|&r| resp::is_error(conn.reply(r))).map(|r| {
            let i = missing_script[r.saturating_sub(2)];
            (i, resp::error_of(conn.reply(r)))
        });
        match refused {
            Some((i, e)) => Err(SendError::Refused(self.command_error(&writes[i], e))),
            None => Ok(()),
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
}

/// Whether `w` sends a command (a plain set with no fields writes nothing).
fn writes_something(w: &Write<'_>) -> bool {
    !matches!(w, Write::Set { fields: [], .. })
}

/// Queues `w` on `conn` (nothing for a plain set with no fields), encoded
/// straight from its borrowed parts.
fn encode_write(conn: &mut Connection, endpoint: &DbEndpoint, set_sha: &str, del_sha: &str, w: &Write<'_>) {
    let mut sep = [0; 4];
    let sep = endpoint.separator.encode_utf8(&mut sep).as_bytes();
    let mut id = [0; 20];
    let id = resp::decimal(u64::from(endpoint.id), &mut id);
    match *w {
        Write::Set { fields: [], .. } => {}
        Write::Set { table, key, fields, .. } => {
            conn.command(2 + 2 * fields.len()).arg(&[b"HSET"]).arg(&[table.as_bytes(), sep, key.as_bytes()]);
            for (f, v) in fields {
                conn.arg(&[f]).arg(&[v]);
            }
        }
        Write::Del { table, key, .. } => {
            conn.command(2).arg(&[b"DEL"]).arg(&[table.as_bytes(), sep, key.as_bytes()]);
        }
        Write::Produce { table, key, fields, .. } => {
            let table = table.as_bytes();
            conn.command(8 + 2 * fields.len())
                .arg(&[b"EVALSHA"])
                .arg(&[set_sha.as_bytes()])
                .arg(&[b"3"])
                .arg(&[table, b"_CHANNEL@", id])
                .arg(&[table, b"_KEY_SET"])
                .arg(&[b"_", table, sep, key.as_bytes()])
                .arg(&[NOTIFY_PAYLOAD.as_bytes()])
                .arg(&[key.as_bytes()]);
            for (f, v) in fields {
                conn.arg(&[f]).arg(&[v]);
            }
        }
        Write::ProduceDel { table, key, .. } => {
            let table = table.as_bytes();
            conn.command(9)
                .arg(&[b"EVALSHA"])
                .arg(&[del_sha.as_bytes()])
                .arg(&[b"4"])
                .arg(&[table, b"_CHANNEL@", id])
                .arg(&[table, b"_KEY_SET"])
                .arg(&[b"_", table, sep, key.as_bytes()])
                .arg(&[table, b"_DEL_SET"])
                .arg(&[NOTIFY_PAYLOAD.as_bytes()])
                .arg(&[key.as_bytes()]);
        }
    }
}

/// An `HGETALL` reply's fields to `visit` (names cut as swss-common cuts
/// them), or [`TooLarge`] in their place; whether there was any. An error
/// reply is an `Err`.
fn hash_fields(
    piece: Piece<'_>,
    limit: usize,
    visit: &mut FieldVisitor<'_>,
) -> Result<bool, redis::RedisError> {
    let reply = match piece {
        Piece::TooLong(bytes) => {
            visit(Err(TooLarge { bytes, limit: limit as u64 }));
            return Ok(true);
        }
        Piece::Whole(reply) if resp::is_error(reply) => return Err(resp::error_of(reply)),
        Piece::Whole(reply) => reply,
    };
    let mut strings = framing::bulk_strings(reply)?;
    let mut any = false;
    while let Some(field) = strings.next() {
        let value =
            strings.next().ok_or_else(|| std::io::Error::other("HGETALL: a field without its value"))?;
        visit(Ok((swss_cut(field?), value?)));
        any = true;
    }
    Ok(any)
}

/// A bulk string reply (`HGET`'s value, or a key of `KEYS`) to `visit`, or
/// [`TooLarge`] in its place; whether there was one (not nil). An error
/// reply is an `Err`.
fn value(piece: Piece<'_>, limit: usize, visit: &mut ValueVisitor<'_>) -> Result<bool, redis::RedisError> {
    match piece {
        Piece::TooLong(bytes) => visit(Err(TooLarge { bytes, limit: limit as u64 })),
        Piece::Whole(reply) if resp::is_error(reply) => return Err(resp::error_of(reply)),
        Piece::Whole(reply) => match framing::bulk_string(reply)? {
            Some(value) => visit(Ok(value)),
            None => return Ok(false),
        },
    }
    Ok(true)
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
        let limit = self.options.read_limit;
        let mut found = false;
        let args: [&[u8]; 2] = [b"HGETALL", full.as_bytes()];
        self.read_one(db, "HGETALL", &full, &args, Unit::Reply, &mut |piece| {
            found = hash_fields(piece, limit, visit)?;
            Ok(())
        })
        .await?;
        Ok(found)
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
        let limit = self.options.read_limit;
        let mut sep = [0; 4];
        let sep = self.links[db.index()].endpoint.separator.encode_utf8(&mut sep).as_bytes();
        let conn = self.read_conn(db, "HGETALL", &pattern).await?;
        for key in keys {
            conn.command(2).arg(&[b"HGETALL"]).arg(&[table.as_bytes(), sep, key.as_bytes()]);
        }
        // A key that is not a hash (WRONGTYPE) is an error of its own command
        // only: it reads as a key with no fields, and the rest are read.
        let mut each = |i: usize, piece: Piece<'_>| {
            let _ = hash_fields(piece, limit, &mut |field| visit(i, field));
        };
        self.stream(db, keys.len(), Unit::Reply, &mut each).await.map_err(|source| RedisError::Command {
            db,
            key: pattern.clone(),
            op: "HGETALL",
            source,
        })
    }

    async fn hget(
        &mut self,
        db: Db,
        table: &str,
        key: &str,
        field: &str,
        visit: &mut ValueVisitor<'_>,
    ) -> Result<bool, RedisError> {
        let full = self.full_key(db, table, key);
        let limit = self.options.read_limit;
        let mut found = false;
        let args: [&[u8]; 3] = [b"HGET", full.as_bytes(), field.as_bytes()];
        self.read_one(db, "HGET", &full, &args, Unit::Reply, &mut |piece| {
            found = value(piece, limit, &mut |v| visit(v.map(swss_cut)))?;
            Ok(())
        })
        .await?;
        Ok(found)
    }

    async fn keys(&mut self, db: Db, table: &str, visit: &mut ValueVisitor<'_>) -> Result<(), RedisError> {
        let pattern = self.full_key(db, table, "*");
        let prefix_len = pattern.len() - 1;
        let limit = self.options.read_limit;
        let args: [&[u8]; 2] = [b"KEYS", pattern.as_bytes()];
        // Key by key: a key too large to read is one of them.
        self.read_one(db, "KEYS", &pattern, &args, Unit::Element, &mut |piece| {
            value(piece, limit, &mut |key| visit(key.map(|k| k.get(prefix_len..).unwrap_or_default())))?;
            Ok(())
        })
        .await
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
