//! Carrying out one request of the core's [`Driver`](portsyncd_core::driver::Driver):
//! each [`Io`] maps to one call on a port — [`Databases`], [`LinkSource`],
//! [`LinkController`], [`SnapshotStore`] — or on the process (log level,
//! service manager), and its outcome goes back to the driver as data.
//!
//! Adapter errors are logged here, where their text is, and reported to the
//! driver as the plain fact that the operation failed; what that means is
//! the driver's to decide. Reads are collected before they are handed back
//! (the request borrows the driver until it is done).

use std::collections::HashMap;

use portsyncd_core::backend::{Databases, Field, LinkController, LinkSource, SnapshotStore};
use portsyncd_core::driver::{
    DefaultDriver, Failure, Io, Keep, Notify, Read, Reply, SnapshotLoad, Unasked, WriteResult,
};
use portsyncd_core::engine::DEFAULT_PORT_CAPACITY;
use portsyncd_core::event::Event;
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName};

use crate::ferry::Clock;
use crate::log;
use crate::logging::{self, Trouble};

/// The service manager (systemd, or nothing).
pub trait Supervisor {
    /// Tells it `notify`.
    fn notify(&mut self, notify: Notify);
}

/// CONFIG_DB `PORT|<name>` fields as read at start, produced verbatim:
/// bytes, UTF-8 or not, as swss-common copies them.
#[derive(Debug, Default)]
pub struct ConfigFields(HashMap<PortName, Vec<OwnedField>>);

/// A field name and value, owned.
type OwnedField = (Vec<u8>, Vec<u8>);

impl ConfigFields {
    fn pairs(&self, name: &PortName) -> Vec<Field<'_>> {
        self.0
            .get(name)
            .map(|f| f.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect())
            .unwrap_or_default()
    }
}

/// Everything the driver's requests are carried out on.
pub struct Parts<D, L, C, S, V> {
    /// SONiC's databases.
    pub db: D,
    /// Link messages and our dumps.
    pub links: L,
    /// Bringing links down.
    pub control: C,
    /// The warm-restart snapshot.
    pub snapshots: S,
    /// The service manager.
    pub supervisor: V,
    /// Kept for producing.
    pub config_fields: ConfigFields,
    /// Publishes the figures for the metrics endpoint (`None`: no endpoint).
    pub metrics: Option<crate::metrics::MetricsPublisher>,
}

/// Logs what the driver has to say and carries out its requests until it
/// has none; `Some` when it asked to exit.
pub async fn carry_out<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    mut now: Instant,
) -> Option<Result<(), Failure>>
where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SnapshotStore<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    loop {
        while let Some(event) = driver.poll_event() {
            say(&event);
        }
        let Some(io) = driver.poll_io() else {
            match driver.poll_event() {
                Some(event) => {
                    say(&event);
                    continue;
                }
                None => return None,
            }
        };
        match io {
            Io::Read(read) => {
                let answer = perform_read(&mut parts.db, read, &mut parts.config_fields, now).await;
                // The answer's time is when it came (how long it took matters).
                now = clock.now();
                answer.hand_to(driver, now);
            }
            Io::Write(ops) => {
                let result = perform_write(&mut parts.db, ops, &parts.config_fields, now).await;
                now = clock.now();
                report(driver.handle_write(now, result));
            }
            Io::WriteAlarm(row) => {
                // time-created: nanoseconds since the epoch, as SONiC's alarm table has it.
                let unix_ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                let text = row.text(unix_ns);
                let fields = row.fields(&text);
                let result = match parts.db.write(&[row.write(&text, &fields)]).await {
                    Ok(()) => WriteResult::Done,
                    Err(e) => {
                        logging::trouble(Trouble::Write, now, format_args!("{e}"));
                        WriteResult::Refused
                    }
                };
                now = clock.now();
                report(driver.handle_write(now, result));
            }
            Io::ReopenLinks => {
                let open = match parts.links.reopen() {
                    Ok(()) => true,
                    Err(e) => {
                        // The driver says it failed (rate-limited); the why, at INFO.
                        log!(Info, "netlink: {e}");
                        false
                    }
                };
                report(driver.handle_links_reopened(now, open));
            }
            Io::DenyLinks(denial) => {
                let done = match parts.links.deny_links(denial) {
                    Ok(()) => true,
                    Err(e) => {
                        log!(
                            Warn,
                            "netlink: {e}; notifications of links this instance does not take still come"
                        );
                        false
                    }
                };
                report(driver.handle_links_denied(now, done));
            }
            Io::RequestDump => {
                // A dump that cannot be asked for ends the run: said once.
                let seq = parts.links.request_dump().map_err(|e| log!(Error, "{e}")).ok();
                report(driver.handle_dump_requested(now, seq));
            }
            Io::BringLinkDown { ifindex, name } => {
                let done = parts.control.set_admin_down(ifindex).await;
                now = clock.now();
                if let Err(e) = &done {
                    log!(Warn, "bringing {name} (ifindex {ifindex}) down: {e}");
                }
                report(driver.handle_link_down(now, done.is_ok()));
            }
            Io::LoadSnapshot => match parts.snapshots.load() {
                Ok(None) => report(driver.handle_snapshot(now, SnapshotLoad::Missing)),
                Ok(Some(snapshot)) => report(driver.handle_snapshot(now, SnapshotLoad::Loaded(&snapshot))),
                Err(e) => {
                    log!(Warn, "warm-restart snapshot unusable ({e})");
                    report(driver.handle_snapshot(now, SnapshotLoad::Unusable));
                }
            },
            Io::SaveSnapshot(engine) => {
                // On the stack (tens of KiB): a heap copy would stay in malloc's arena.
                let snapshot = engine.snapshot();
                let saved = match parts.snapshots.save(&snapshot) {
                    Ok(bytes) => {
                        logging::trouble_over(Trouble::SnapshotSave);
                        Some(bytes)
                    }
                    Err(e) => {
                        logging::trouble(Trouble::SnapshotSave, now, format_args!("{e}"));
                        None
                    }
                };
                report(driver.handle_snapshot_saved(now, saved));
            }
            Io::Maintain { deadline } => {
                let status = match deadline {
                    None => parts.db.maintain().await,
                    Some(at) => {
                        // Bounded: whatever is still kept when time is up stays kept.
                        let db = &mut parts.db;
                        let flushed = smol::future::or(async { Some(db.maintain().await) }, async {
                            clock.at(at).await;
                            None
                        })
                        .await;
                        flushed.unwrap_or_else(|| parts.db.status())
                    }
                };
                now = clock.now();
                report(driver.handle_backend_status(now, status));
            }
            Io::SetLogLevel(level) => {
                logging::set_level(level);
            }
            Io::SetLogOutput(output) => logging::set_output(output),
            Io::Notify(notify) => parts.supervisor.notify(notify),
            Io::Exit(result) => return Some(result),
        }
    }
}

/// Logs what the driver says. When it says a trouble is over, the adapter
/// errors held back meanwhile are counted first.
fn say(event: &Event) {
    match event {
        Event::BackendConnected => {
            logging::trouble_over(Trouble::Read);
            logging::trouble_over(Trouble::Write);
        }
        Event::RefusedWritesDone => logging::trouble_over(Trouble::Write),
        _ => {}
    }
    logging::write(event.level(), format_args!("{event}"));
}

/// The ferry answers only what was asked; if it ever did not, that is a bug
/// worth a line, not a reason to stop.
fn report(result: Result<(), Unasked>) {
    if let Err(e) = result {
        log!(Error, "{e}");
    }
}

/// A read's outcome, owned, to be handed to the driver once its request is done.
enum Answer {
    Fields(Vec<(usize, Vec<u8>, Vec<u8>)>),
    Value(Option<Vec<u8>>),
    Keys(Vec<Vec<u8>>),
    Flags(Vec<bool>),
    /// Which CONFIG_DB ports had fields, and their `index` values.
    ConfigPorts {
        had_fields: Vec<bool>,
        index: Vec<(usize, Vec<u8>)>,
    },
    Failed,
}

impl Answer {
    fn hand_to(self, driver: &mut DefaultDriver, now: Instant) {
        match self {
            Answer::Fields(fields) => {
                for (index, f, v) in &fields {
                    reply(driver, now, Reply::Field { index: *index, field: f, value: v });
                }
            }
            Answer::Value(value) => {
                if let Some(v) = value {
                    reply(driver, now, Reply::Value(&v));
                }
            }
            Answer::Keys(keys) => {
                for k in &keys {
                    reply(driver, now, Reply::Key(k));
                }
            }
            Answer::Flags(flags) => {
                for (index, present) in flags.into_iter().enumerate() {
                    reply(driver, now, Reply::Flag { index, present });
                }
            }
            Answer::ConfigPorts { had_fields, index } => {
                for (i, value) in &index {
                    let field = portsyncd_core::schema::CONFIG_INDEX_FIELD.as_bytes();
                    reply(driver, now, Reply::Field { index: *i, field, value });
                }
                for (index, present) in had_fields.into_iter().enumerate() {
                    reply(driver, now, Reply::Flag { index, present });
                }
            }
            Answer::Failed => return reply(driver, now, Reply::Failed),
        }
        reply(driver, now, Reply::Done);
    }
}

/// One part of an answer; what the driver has to say about it is logged at
/// once (an answer of a thousand keys may be a line each, more than its
/// queue of lines holds).
fn reply(driver: &mut DefaultDriver, now: Instant, part: Reply<'_>) {
    report(driver.handle_reply(now, part));
    while let Some(event) = driver.poll_event() {
        say(&event);
    }
}

async fn perform_read<D: Databases>(
    db: &mut D,
    read: Read<'_>,
    config_fields: &mut ConfigFields,
    now: Instant,
) -> Answer {
    let result = match read {
        Read::Hash { db: which, table, key } => {
            let mut fields = Vec::new();
            db.get(which, table, key, &mut |f, v| fields.push((0, f.to_vec(), v.to_vec())))
                .await
                .map(|_| Answer::Fields(fields))
        }
        Read::Field { db: which, table, key, field } => {
            let mut value = None;
            db.hget(which, table, key, field, &mut |v| value = Some(v.to_vec()))
                .await
                .map(|_| Answer::Value(value))
        }
        Read::Keys { db: which, table } => {
            let mut keys = Vec::new();
            db.keys(which, table, &mut |k| keys.push(k.to_vec())).await.map(|()| Answer::Keys(keys))
        }
        Read::Hashes { db: which, table, keys, keep: Keep::ConfigPortFields } => {
            // Kept here, each string once, for the writes that produce them;
            // the driver hears only which keys had any field.
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut kept: Vec<Vec<OwnedField>> = vec![Vec::new(); keys.len()];
            let mut visit = |i: usize, f: &[u8], v: &[u8]| {
                if let Some(port) = kept.get_mut(i) {
                    port.push((f.to_vec(), v.to_vec()));
                }
            };
            db.get_many(which, table, &names, &mut visit).await.map(|()| {
                let had_fields = kept.iter().map(|f| !f.is_empty()).collect();
                // And each port's `index` (partitioned instances share ports out by it).
                let index = kept
                    .iter()
                    .enumerate()
                    .filter_map(|(i, fields)| {
                        let index = portsyncd_core::schema::CONFIG_INDEX_FIELD.as_bytes();
                        fields.iter().find(|(f, _)| f == index).map(|(_, v)| (i, v.clone()))
                    })
                    .collect();
                config_fields.0.extend(keys.iter().copied().zip(kept));
                Answer::ConfigPorts { had_fields, index }
            })
        }
        Read::Hashes { db: which, table, keys, keep: Keep::Nothing } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut fields = Vec::new();
            let mut visit = |i, f: &[u8], v: &[u8]| fields.push((i, f.to_vec(), v.to_vec()));
            db.get_many(which, table, &names, &mut visit).await.map(|()| Answer::Fields(fields))
        }
        Read::Exists { db: which, table, keys } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut present = vec![false; names.len()];
            db.exists(which, table, &names, &mut present).await.map(|()| Answer::Flags(present))
        }
        Read::HasField { db: which, table, keys, field } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut present = vec![false; names.len()];
            db.has_field(which, table, &names, field, &mut present).await.map(|()| Answer::Flags(present))
        }
    };
    result.unwrap_or_else(|e| {
        logging::trouble(Trouble::Read, now, format_args!("{e}"));
        Answer::Failed
    })
}

/// The decided writes, mapped to SONiC writes by the core, in one call.
async fn perform_write<D: Databases>(
    db: &mut D,
    ops: &[WriteOp],
    config_fields: &ConfigFields,
    now: Instant,
) -> WriteResult {
    // Formatted values (no heap per write), then the CONFIG_DB fields of
    // produced ports, then the writes borrowing both.
    let texts: Vec<_> = ops.iter().map(WriteOp::text).collect();
    let lists: Vec<_> = ops.iter().zip(&texts).map(|(op, text)| op.fields(text)).collect();
    let produced: Vec<Vec<Field<'_>>> =
        ops.iter().filter_map(WriteOp::config_port).map(|n| config_fields.pairs(n)).collect();
    let mut produced_fields = produced.iter();
    let writes: Vec<_> = ops
        .iter()
        .zip(&lists)
        .map(|(op, list)| match op.config_port() {
            Some(_) => op.write(produced_fields.next().map_or(&[], Vec::as_slice)),
            None => op.write(list),
        })
        .collect();
    match db.write(&writes).await {
        Ok(()) => WriteResult::Done,
        Err(e) => {
            logging::trouble(Trouble::Write, now, format_args!("{e}"));
            WriteResult::Refused
        }
    }
}
