//! The connections to CONFIG_DB, APPL_DB and STATE_DB (Linux: their
//! sockets wait on `portsyncd-reactor`'s epoll set): reads, pipelines of
//! writes, reconnects, and the ProducerStateTable scripts.

use std::time::Instant;

use portsyncd_core::backend::{
    DatabaseReads, DatabaseStats, Db, FieldVisitor, Guard, KeyFieldVisitor, TooLarge, ValueVisitor, Write,
    swss_cut,
};
use portsyncd_core::backoff::Backoff;
use portsyncd_pending::{Journaled, RawBackend, SendError};

use crate::framing::{self, Piece, Unit};
use crate::named::NamedScripts;
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

/// Check-and-write of a run of plain sets with the same field names, each
/// only if its guard key exists, in one step (nothing can change a guard
/// between its check and its write). KEYS: pairs of (the hash to set, its
/// guard). ARGV: the guards' database, the sets' database, the number of
/// fields `n`, their `n` names, then `n` values per pair. Returns per pair
/// 1 (written) or 0 (the guard was missing: nothing written). The names
/// travel once per run, not once per port: Redis converts every argument a
/// script passes on, and the names would be half of them.
const GUARDED_SET_SCRIPT: &str = r"
redis.call('SELECT', ARGV[1])
local present = {}
for i = 2, #KEYS, 2 do
    present[#present + 1] = redis.call('EXISTS', KEYS[i])
end
redis.call('SELECT', ARGV[2])
local fields = tonumber(ARGV[3])
if fields == 0 then
    return present
end
local args = {}
for k = 1, fields do
    args[2 * k - 1] = ARGV[3 + k]
end
local at = 4 + fields
for n = 1, #present do
    if present[n] == 1 then
        for k = 1, fields do
            args[2 * k] = ARGV[at + k - 1]
        end
        redis.call('HSET', KEYS[2 * n - 1], unpack(args))
    end
    at = at + fields
end
return present
";

/// Every script the connections call by SHA: loaded at connect, and again
/// when a server answers `NOSCRIPT`.
const SCRIPTS: [&str; 3] = [PRODUCE_SET_SCRIPT, PRODUCE_DEL_SCRIPT, GUARDED_SET_SCRIPT];

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
    shas: Shas,
    /// The check-and-write scripts with field names written in.
    named: NamedScripts,
    counters: RedisCounters,
    /// What each command of the last write pipeline carried (kept for its
    /// capacity).
    sent: Vec<Sent>,
}

/// The SHA1s of [`SCRIPTS`], by use.
struct Shas {
    set: String,
    del: String,
    guarded: String,
}

impl Shas {
    fn new() -> Self {
        let sha = |script| redis::Script::new(script).get_hash().to_owned();
        Self { set: sha(PRODUCE_SET_SCRIPT), del: sha(PRODUCE_DEL_SCRIPT), guarded: sha(GUARDED_SET_SCRIPT) }
    }
}

/// One command of a write pipeline: the writes `first..first + len` it
/// carries out (a guarded set script carries a run of them).
#[derive(Clone, Copy)]
struct Sent {
    first: usize,
    len: usize,
    guarded: bool,
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
            shas: Shas::new(),
            named: NamedScripts::default(),
            options,
            counters: RedisCounters::default(),
            sent: Vec::new(),
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
    /// database, notes the server's run id, and loads the scripts (one round
    /// trip).
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
        let scripts = SCRIPTS.len() + self.named.len();
        for script in SCRIPTS.into_iter().chain(self.named.texts()) {
            conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(script));
        }
        self.counters.round_trips += 1;
        self.counters.commands += (named + 2 + scripts) as u64;
        conn.exchange().await.map_err(|e| fail(e.into()))?;
        for ok in 0..=named {
            conn.decode::<()>(ok).map_err(fail)?;
        }
        let server: String = conn.decode(named + 1).map_err(fail)?;
        for script in named + 2..named + 2 + scripts {
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
            *slot = resp::integer(conn.reply(i))? != 0;
            Ok(())
        });
        decoded.map_err(|source| {
            self.counters.errors += 1;
            fail(source)
        })
    }

    /// Sends `writes` (all of one database) as one pipeline, setting
    /// `absent[i]` for each check-and-write that found its guard missing.
    /// A guard on the same server is checked by the guarded set script, in
    /// the same step as its write (consecutive ones in one call); guards on
    /// another server are asked first (one round trip more), and the sets
    /// whose guard exists then go out as plain sets.
    async fn send_run(
        &mut self,
        writes: &[Write<'_>],
        absent: &mut [bool],
    ) -> Result<(), SendError<RedisError>> {
        let Some(db) = writes.first().map(Write::db) else { return Ok(()) };
        let layouts = Db::ALL.map(|d| Layout::of(&self.links[d.index()].endpoint));
        let local =
            Db::ALL.map(|g| self.links[g.index()].endpoint.addr == self.links[db.index()].endpoint.addr);
        let skipped = self.ask_remote_guards(writes, &local).await?;
        for (slot, &skip) in absent.iter_mut().zip(&skipped) {
            *slot = skip;
        }
        // The commands' map to the writes, in a buffer kept across sends
        // (the hot path allocates nothing here).
        let mut sent = std::mem::take(&mut self.sent);
        sent.clear();
        let Some(conn) = self.links[db.index()].conn.as_mut() else { return Err(SendError::Down) };
        let mut i = 0;
        while i < writes.len() {
            let run = guarded_run(&writes[i..], &local);
            let one = Sent { first: i, len: run.max(1), guarded: run > 0 };
            i += one.len;
            let skip = skipped.get(one.first).copied().unwrap_or(false);
            if !one.guarded && (skip || !writes_something(&writes[one.first])) {
                continue;
            }
            if encode_sent(conn, &layouts, &self.shas, &mut self.named, writes, one) {
                // Its script was made now and loaded just before: no write.
                sent.push(Sent { first: one.first, len: 0, guarded: false });
            }
            sent.push(one);
        }
        let replies = if sent.is_empty() { Ok(None) } else { self.exchange(db, sent.len()).await.map(Some) };
        let mut missing_script = Vec::new();
        let mut refused = None;
        if let Ok(Some(conn)) = &replies {
            for (r, one) in sent.iter().enumerate() {
                let reply = conn.reply(r);
                if resp::error_code_is(reply, b"NOSCRIPT") {
                    missing_script.push(*one);
                } else if resp::is_error(reply) {
                    refused = Some((one.first, resp::error_of(reply)));
                    break;
                } else if one.guarded {
                    note_guards(reply, *one, absent);
                }
            }
        }
        let down = replies.is_err();
        self.sent = sent;
        if down {
            return Err(SendError::Down);
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
        let Some(conn) = self.links[db.index()].conn.as_mut() else { return Err(SendError::Down) };
        let scripts = SCRIPTS.len() + self.named.len();
        for script in SCRIPTS.into_iter().chain(self.named.texts()) {
            conn.push(redis::cmd("SCRIPT").arg("LOAD").arg(script));
        }
        for one in &missing_script {
            // Every script is loaded just above: none is made here.
            let _ = encode_sent(conn, &layouts, &self.shas, &mut self.named, writes, *one);
        }
        let Ok(conn) = self.exchange(db, scripts + missing_script.len()).await else {
            return Err(SendError::Down);
        };
        let mut refused = None;
        for (k, one) in missing_script.iter().enumerate() {
            let r = scripts + k;
            let reply = conn.reply(r);
            if resp::is_error(reply) {
                refused = Some((one.first, resp::error_of(reply)));
                break;
            }
            if one.guarded {
                note_guards(reply, *one, absent);
            }
        }
        match refused {
            Some((i, e)) => Err(SendError::Refused(self.command_error(&writes[i], e))),
            None => Ok(()),
        }
    }

    /// For each of `writes`, whether it is a check-and-write whose guard,
    /// on a server other than its own (`local[db]` false), is missing:
    /// asked now, one pipeline per guard database. A guard that cannot be
    /// asked leaves the run unsent (kept by the journal, as if its own
    /// connection had dropped).
    async fn ask_remote_guards(
        &mut self,
        writes: &[Write<'_>],
        local: &[bool; 3],
    ) -> Result<Vec<bool>, SendError<RedisError>> {
        // Empty (no allocation) unless a guard is elsewhere.
        let mut skipped = Vec::new();
        for guard_db in Db::ALL.into_iter().filter(|g| !local[g.index()]) {
            let asked: Vec<(usize, Guard<'_>)> = writes
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.guard().filter(|g| g.db == guard_db).map(|g| (i, g)))
                .collect();
            // One table per pipeline read: SONiC's guards are all APPL_DB PORT_TABLE.
            let mut tables: Vec<&str> = asked.iter().map(|(_, g)| g.table).collect();
            tables.sort_unstable();
            tables.dedup();
            for table in tables {
                let of_table: Vec<&(usize, Guard<'_>)> =
                    asked.iter().filter(|(_, g)| g.table == table).collect();
                let keys: Vec<&str> = of_table.iter().map(|(_, g)| g.key).collect();
                let mut present = vec![false; keys.len()];
                if self.exists(guard_db, table, &keys, &mut present).await.is_err() {
                    return Err(SendError::Down);
                }
                skipped.resize(writes.len(), false);
                for ((i, _), present) in of_table.iter().zip(present) {
                    skipped[*i] = !present;
                }
            }
        }
        Ok(skipped)
    }

    /// A write the server answered with an error (counted).
    fn command_error(&mut self, w: &Write<'_>, source: redis::RedisError) -> RedisError {
        self.counters.errors += 1;
        let (table, key) = w.target();
        let op = match w {
            Write::Set { .. } => "HSET",
            Write::SetIfPresent { .. } => "HSET if present",
            Write::Del { .. } => "DEL",
            Write::Produce { .. } => "producer set",
            Write::ProduceDel { .. } => "producer del",
        };
        RedisError::Command { db: w.db(), key: self.full_key(w.db(), table, key), op, source }
    }
}

/// The most one pipeline of writes carries (its requests, as encoded): a
/// start-up that produces every port's CONFIG_DB fields goes out in
/// several round trips rather than through one send buffer of hundreds of
/// KiB that the process would keep (a storm's batch of 512 ports is under
/// this). A single larger write is sent alone.
const PIPELINE_BYTES: usize = 64 << 10;

/// About what `w` takes encoded (a little more than it does).
fn encoded_size(w: &Write<'_>) -> usize {
    let (table, key) = w.target();
    let guard = w.guard().map_or(0, |g| g.table.len() + g.key.len() + 16);
    let fields: usize = w.fields().iter().map(|(f, v)| f.len() + v.len() + 32).sum();
    2 * (table.len() + key.len()) + guard + fields + 160
}

/// Whether `w` sends a command (a plain set with no fields writes nothing).
fn writes_something(w: &Write<'_>) -> bool {
    !matches!(w, Write::Set { fields: [], .. } | Write::SetIfPresent { fields: [], .. })
}

/// A database's key layout: its separator and id, as the encoders need them.
#[derive(Clone, Copy)]
struct Layout {
    separator: [u8; 4],
    separator_len: usize,
    id: u32,
}

impl Layout {
    fn of(endpoint: &DbEndpoint) -> Self {
        let mut separator = [0; 4];
        let separator_len = endpoint.separator.encode_utf8(&mut separator).len();
        Self { separator, separator_len, id: endpoint.id }
    }

    fn sep(&self) -> &[u8] {
        &self.separator[..self.separator_len]
    }
}

/// How many of `writes`, from the first, go out as one guarded set script
/// call: check-and-writes whose guards are in one database on this server,
/// with the first's field names. 0 if the first is none.
fn guarded_run(writes: &[Write<'_>], local: &[bool; 3]) -> usize {
    let Some(first) = writes.first() else { return 0 };
    let Some(guard_db) = first.guard().map(|g| g.db).filter(|g| local[g.index()]) else { return 0 };
    let names = |w: &Write<'_>| w.fields().iter().map(|(f, _)| *f).eq(first.fields().iter().map(|(f, _)| *f));
    writes.iter().take_while(|w| w.guard().is_some_and(|g| g.db == guard_db) && names(w)).count()
}

/// Queues `one` on `conn`: a run of check-and-writes as one guarded set
/// script call (the script with its field names written in, if there is
/// one or room for one), anything else as its single command. `true`: a
/// script made now was queued for loading first (one reply more).
fn encode_sent(
    conn: &mut Connection,
    layouts: &[Layout; 3],
    shas: &Shas,
    named: &mut NamedScripts,
    writes: &[Write<'_>],
    one: Sent,
) -> bool {
    let run = &writes[one.first..one.first + one.len];
    if !one.guarded {
        encode_write(conn, &layouts[run[0].db().index()], shas, &run[0]);
        return false;
    }
    let Some(guard_db) = run[0].guard().map(|g| g.db) else { return false };
    let (own, guards) = (&layouts[run[0].db().index()], &layouts[guard_db.index()]);
    let names = run[0].fields();
    if let Some((sha, new)) = named.script_for(names.iter().map(|(name, _)| *name)) {
        if let Some(text) = new {
            conn.command(3).arg(&[b"SCRIPT"]).arg(&[b"LOAD"]).arg(&[text.as_bytes()]);
        }
        let mut digits = [[0; 20]; 3];
        let [keys, guard_id, own_id] = &mut digits;
        conn.command(3 + 2 * run.len() + 2 + run.len() * names.len())
            .arg(&[b"EVALSHA"])
            .arg(&[sha.as_bytes()])
            .arg(&[resp::decimal(2 * run.len() as u64, keys)]);
        for w in run {
            let (table, key) = w.target();
            conn.arg(&[table.as_bytes(), own.sep(), key.as_bytes()]);
        }
        for w in run {
            let guard = w.guard().unwrap_or(Guard { db: guard_db, table: "", key: "" });
            conn.arg(&[guard.table.as_bytes(), guards.sep(), guard.key.as_bytes()]);
        }
        conn.arg(&[resp::decimal(u64::from(guards.id), guard_id)]);
        conn.arg(&[resp::decimal(u64::from(own.id), own_id)]);
        for w in run {
            for (_, value) in w.fields() {
                conn.arg(&[value]);
            }
        }
        return new.is_some();
    }
    let mut digits = [[0; 20]; 4];
    let [pairs, guard_id, own_id, fields] = &mut digits;
    conn.command(3 + 2 * run.len() + 3 + names.len() + run.len() * names.len())
        .arg(&[b"EVALSHA"])
        .arg(&[shas.guarded.as_bytes()])
        .arg(&[resp::decimal(2 * run.len() as u64, pairs)]);
    for w in run {
        let (table, key) = w.target();
        let guard = w.guard().unwrap_or(Guard { db: guard_db, table: "", key: "" });
        conn.arg(&[table.as_bytes(), own.sep(), key.as_bytes()]);
        conn.arg(&[guard.table.as_bytes(), guards.sep(), guard.key.as_bytes()]);
    }
    conn.arg(&[resp::decimal(u64::from(guards.id), guard_id)]);
    conn.arg(&[resp::decimal(u64::from(own.id), own_id)]);
    conn.arg(&[resp::decimal(names.len() as u64, fields)]);
    for (name, _) in names {
        conn.arg(&[name]);
    }
    for w in run {
        for (_, value) in w.fields() {
            conn.arg(&[value]);
        }
    }
    false
}

/// A guarded set script's answer, read in place: an array of integers,
/// `:1` for a write that landed and `:0` for one whose guard was missing;
/// or a named script's `:1`, every guard was there. Any other answer
/// changes nothing.
fn note_guards(reply: &[u8], one: Sent, absent: &mut [bool]) {
    if reply == b":1\r\n" {
        for slot in absent.iter_mut().skip(one.first).take(one.len) {
            *slot = false;
        }
        return;
    }
    if reply.first() != Some(&b'*') {
        return;
    }
    let mut elements = reply.split(|&b| b == b'\n').skip(1);
    for k in 0..one.len {
        let written = match elements.next() {
            Some([b':', b'0', b'\r']) => false,
            Some([b':', ..]) => true,
            _ => return,
        };
        if let Some(slot) = absent.get_mut(one.first + k) {
            *slot = !written;
        }
    }
}

/// Queues `w` on `conn` (nothing for a plain set with no fields), encoded
/// straight from its borrowed parts. A check-and-write sent alone (its guard
/// was asked already) is a plain set.
fn encode_write(conn: &mut Connection, layout: &Layout, shas: &Shas, w: &Write<'_>) {
    let sep = layout.sep();
    let mut id = [0; 20];
    let id = resp::decimal(u64::from(layout.id), &mut id);
    match *w {
        Write::Set { fields: [], .. } | Write::SetIfPresent { fields: [], .. } => {}
        Write::Set { table, key, fields, .. } | Write::SetIfPresent { table, key, fields, .. } => {
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
                .arg(&[shas.set.as_bytes()])
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
                .arg(&[shas.del.as_bytes()])
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
    async fn send(
        &mut self,
        writes: &[Write<'_>],
        absent: &mut [bool],
    ) -> Result<(), (usize, SendError<RedisError>)> {
        let mut start = 0;
        while start < writes.len() {
            let db = writes[start].db();
            let mut bytes = 0;
            let len = writes[start..]
                .iter()
                .take_while(|w| w.db() == db)
                .take_while(|w| {
                    let first = bytes == 0;
                    bytes += encoded_size(w);
                    first || bytes <= PIPELINE_BYTES
                })
                .count();
            let run_absent = absent.get_mut(start..).unwrap_or_default();
            self.send_run(&writes[start..start + len], run_absent).await.map_err(|e| (start, e))?;
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
