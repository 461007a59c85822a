//! Carrying out one request of the core's [`Driver`](portsyncd_core::driver::Driver):
//! each [`Io`] maps to one call on a port — [`Databases`], [`LinkSource`],
//! [`LinkController`], [`SnapshotStore`](portsyncd_core::backend::SnapshotStore) — or on the process (log level,
//! service manager), and its outcome goes back to the driver as data.
//!
//! Adapter errors are logged here, where their text is, and reported to the
//! driver as the plain fact that the operation failed; what that means is
//! the driver's to decide. A read's answer is collected into a kept buffer
//! ([`ReplyBuffer`]) and handed to the driver as a view through the request
//! itself; every other answer is one value.

use std::collections::HashMap;

use portsyncd_core::backend::{Databases, Field, LinkController, LinkSource, TooLarge};
use portsyncd_core::driver::{
    DefaultDriver, Failure, Io, Keep, Notify, Read, Receive, SnapshotLoad, WriteResult,
};
use portsyncd_core::engine::{DEFAULT_BATCH_CAPACITY, DEFAULT_PORT_CAPACITY};
use portsyncd_core::event::Event;
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName};

use crate::ferry::Clock;
use crate::log;
use crate::logging::{self, Trouble};
use crate::replies::ReplyBuffer;
use crate::saving::SaveBeside;

/// The service manager (systemd, or nothing).
pub trait Supervisor {
    /// Tells it `notify`.
    fn notify(&mut self, notify: Notify);
}

/// CONFIG_DB `PORT|<name>` fields as read at start, produced verbatim:
/// bytes, UTF-8 or not, as swss-common copies them.
#[derive(Debug, Default)]
///
/// Each port's fields are one block of bytes: for each field, its name's
/// length, the name, the value's length, the value (lengths as u32, little
/// endian). A name and a value each in an allocation of its own cost about
/// four times their bytes (measured: 287 KiB for 512 ports of seven fields).
pub struct ConfigFields(HashMap<PortName, Box<[u8]>>);

impl ConfigFields {
    /// `name`'s fields, in the order read.
    fn pairs(&self, name: &PortName) -> Vec<Field<'_>> {
        fn take<'b>(rest: &mut &'b [u8]) -> Option<&'b [u8]> {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (bytes, tail) = tail.split_at_checked(len)?;
            *rest = tail;
            Some(bytes)
        }
        let mut out = Vec::new();
        let Some(mut rest) = self.0.get(name).map(|b| &b[..]) else { return out };
        while let (Some(f), Some(v)) = (take(&mut rest), take(&mut rest)) {
            out.push((f, v));
        }
        out
    }
}

/// Appends one field to a port's block (see [`ConfigFields`]); a name or
/// value of 4 GiB or more (past any read limit) is left out.
fn keep_field(block: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    let (Ok(f), Ok(v)) = (u32::try_from(field.len()), u32::try_from(value.len())) else { return };
    block.extend_from_slice(&f.to_le_bytes());
    block.extend_from_slice(field);
    block.extend_from_slice(&v.to_le_bytes());
    block.extend_from_slice(value);
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
    /// The save being written beside the loop, if one is.
    pub saving: Option<crate::saving::SaveUnderWay>,
    /// The service manager.
    pub supervisor: V,
    /// Kept for producing.
    pub config_fields: ConfigFields,
    /// The answer of the read under way.
    pub replies: ReplyBuffer,
    /// Publishes the figures for the metrics endpoint (`None`: no endpoint).
    pub metrics: Option<crate::metrics::MetricsPublisher>,
}

/// What the driver wants once its requests are carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    /// The link source read (see [`Receive`]).
    Receive(Receive),
    /// Nothing until a signal or its deadline.
    Idle,
    /// The run is over.
    Exit(Result<(), Failure>),
}

/// Logs what the driver has to say and carries out its requests until it
/// wants input or exits.
pub async fn carry_out<D, L, C, S, V>(
    driver: &mut DefaultDriver,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    mut now: Instant,
) -> Wants
where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SaveBeside<DEFAULT_PORT_CAPACITY>,
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
                None => return Wants::Idle,
            }
        };
        let wants = match io {
            Io::Receive(receive) => Wants::Receive(receive),
            Io::Exit(result) => Wants::Exit(result),
            io => {
                now = carry_out_one(io, parts, clock, now).await;
                continue;
            }
        };
        // What the driver said while deciding this, before anything waits.
        while let Some(event) = driver.poll_event() {
            say(&event);
        }
        return wants;
    }
}

/// Carries out one request that needs an answer, or is done when
/// performed; the time after it.
async fn carry_out_one<D, L, C, S, V>(
    io: Io<'_, DEFAULT_PORT_CAPACITY, DEFAULT_BATCH_CAPACITY>,
    parts: &mut Parts<D, L, C, S, V>,
    clock: &impl Clock,
    mut now: Instant,
) -> Instant
where
    D: Databases,
    L: LinkSource,
    C: LinkController,
    S: SaveBeside<DEFAULT_PORT_CAPACITY>,
    V: Supervisor,
{
    match io {
        Io::Receive(_) | Io::Exit(_) => {}
        Io::Read(request) => {
            let read = request.read();
            let ok =
                perform_read(&mut parts.db, read, &mut parts.config_fields, &mut parts.replies, now).await;
            // The answer's time is when it came (how long it took matters).
            now = clock.now();
            if ok {
                request.answer(now, &parts.replies);
            } else {
                request.failed(now);
            }
            parts.replies.release();
        }
        Io::Write(request) => {
            // A batch holds at most DEFAULT_BATCH_CAPACITY writes: no allocation.
            let mut absent = [false; DEFAULT_BATCH_CAPACITY];
            let result =
                perform_write(&mut parts.db, request.ops(), &parts.config_fields, &mut absent, now).await;
            now = clock.now();
            request.answer(now, result, &absent);
        }
        Io::WriteAlarm(request) => {
            // time-created: nanoseconds since the epoch, as SONiC's alarm table has it.
            let unix_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            let row = request.row();
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
            request.answer(now, result);
        }
        Io::ReopenLinks(request) => {
            let open = match parts.links.reopen() {
                Ok(()) => true,
                Err(e) => {
                    // The driver says it failed (rate-limited); the why, at INFO.
                    log!(Info, "netlink: {e}");
                    false
                }
            };
            request.answer(now, open);
        }
        Io::DenyLinks(request) => {
            let done = match parts.links.deny_links(request.denial()) {
                Ok(()) => true,
                Err(e) => {
                    log!(Warn, "netlink: {e}; notifications of links this instance does not take still come");
                    false
                }
            };
            request.answer(now, done);
        }
        Io::RequestDump(request) => {
            // A dump that cannot be asked for ends the run: said once.
            let seq = parts.links.request_dump().map_err(|e| log!(Error, "{e}")).ok();
            request.answer(now, seq);
        }
        Io::BringLinkDown(request) => {
            let (ifindex, name) = (request.ifindex(), *request.name());
            let done = parts.control.set_admin_down(ifindex).await;
            now = clock.now();
            if let Err(e) = &done {
                log!(Warn, "bringing {name} (ifindex {ifindex}) down: {e}");
            }
            request.answer(now, done.is_ok());
        }
        Io::LoadSnapshot(request) => {
            // Answered from inside the store's call, with its ports where it
            // decoded them (no snapshot value on this stack).
            let mut unanswered = Some(request);
            let loaded = parts.snapshots.load(&mut |ports| {
                if let Some(request) = unanswered.take() {
                    request.answer(now, SnapshotLoad::Loaded(ports));
                }
            });
            if let Some(request) = unanswered {
                match loaded {
                    Ok(_) => request.answer(now, SnapshotLoad::Missing),
                    Err(e) => {
                        log!(Warn, "warm-restart snapshot unusable ({e})");
                        request.answer(now, SnapshotLoad::Unusable);
                    }
                }
            }
        }
        Io::SaveSnapshot(request) => {
            // Serialized straight from the engine's record: no copy (28 KiB
            // at 1024 ports) on the stack or the heap.
            let snapshot = request.engine().snapshot_view();
            let saved = match parts.snapshots.begin_beside(&snapshot) {
                Some(Ok(writer)) => match crate::saving::SaveUnderWay::start(writer) {
                    Ok(under_way) => {
                        parts.saving = Some(under_way);
                        request.hand_off(now);
                        return now;
                    }
                    Err((writer, e)) => {
                        log!(Info, "snapshot: no thread to save beside the loop ({e}); saved in place");
                        crate::saving::finished(&mut parts.snapshots, writer.write(), now)
                    }
                },
                Some(Err(e)) => crate::saving::outcome(Err(e), S::fault, now),
                None => crate::saving::outcome(parts.snapshots.save(&snapshot), S::fault, now),
            };
            request.answer(now, saved);
        }
        Io::Maintain(request) => {
            let status = match request.deadline() {
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
            request.answer(now, status);
        }
        Io::SetLogLevel(level) => {
            logging::set_level(level);
        }
        Io::SetLogOutput(output) => logging::set_output(output),
        Io::Notify(notify) => parts.supervisor.notify(notify),
    }
    now
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

/// Carries out a read into `replies`; `false` if it failed (logged here).
async fn perform_read<D: Databases>(
    db: &mut D,
    read: Read<'_>,
    config_fields: &mut ConfigFields,
    replies: &mut ReplyBuffer,
    now: Instant,
) -> bool {
    let result = match read {
        Read::Hash { db: which, table, key } => {
            db.get(which, table, key, &mut |field| replies.hash_field(0, field)).await.map(|_| ())
        }
        Read::Field { db: which, table, key, field } => {
            db.hget(which, table, key, field, &mut |v| replies.value(v)).await.map(|_| ())
        }
        Read::Keys { db: which, table } => db.keys(which, table, &mut |k| replies.key(k)).await,
        Read::Hashes { db: which, table, keys, keep: Keep::ConfigPortFields } => {
            // Kept here, each string once, for the writes that produce them;
            // the driver hears only which keys had any field (or were too
            // large to read), and each port's `index` (partitioned instances
            // share ports out by it).
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut kept: Vec<Result<Vec<u8>, TooLarge>> = vec![Ok(Vec::new()); keys.len()];
            let index = portsyncd_core::schema::CONFIG_INDEX_FIELD.as_bytes();
            let mut visit = |i: usize, field: Result<Field<'_>, TooLarge>| match (kept.get_mut(i), field) {
                (Some(Ok(block)), Ok((f, v))) => {
                    if f == index {
                        replies.field(i, f, v);
                    }
                    keep_field(block, f, v);
                }
                (Some(port), Err(too_large)) => *port = Err(too_large),
                _ => {}
            };
            db.get_many(which, table, &names, &mut visit).await.map(|()| {
                for (i, block) in kept.iter().enumerate() {
                    match block {
                        Ok(block) => replies.flag(i, !block.is_empty()),
                        Err(too_large) => replies.too_large(i, *too_large),
                    }
                }
                let kept = keys
                    .iter()
                    .copied()
                    .zip(kept)
                    .filter_map(|(name, block)| Some((name, block.ok()?.into_boxed_slice())));
                config_fields.0.extend(kept);
            })
        }
        Read::Hashes { db: which, table, keys, keep: Keep::Nothing } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            db.get_many(which, table, &names, &mut |i, field| replies.hash_field(i, field)).await
        }
        Read::Exists { db: which, table, keys } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut present = vec![false; names.len()];
            db.exists(which, table, &names, &mut present).await.map(|()| {
                present.iter().enumerate().for_each(|(i, p)| replies.flag(i, *p));
            })
        }
        Read::HasField { db: which, table, keys, field } => {
            let names: Vec<&str> = keys.iter().map(PortName::as_str).collect();
            let mut present = vec![false; names.len()];
            db.has_field(which, table, &names, field, &mut present).await.map(|()| {
                present.iter().enumerate().for_each(|(i, p)| replies.flag(i, *p));
            })
        }
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            logging::trouble(Trouble::Read, now, format_args!("{e}"));
            replies.release();
            false
        }
    }
}

/// The decided writes, mapped to SONiC writes by the core, in one call.
async fn perform_write<D: Databases>(
    db: &mut D,
    ops: &[WriteOp],
    config_fields: &ConfigFields,
    absent: &mut [bool],
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
    match db.write_checked(&writes, absent).await {
        Ok(()) => WriteResult::Done,
        Err(e) => {
            logging::trouble(Trouble::Write, now, format_args!("{e}"));
            WriteResult::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigFields, HashMap, PortName, keep_field};

    #[test]
    fn a_ports_fields_come_back_in_order_byte_for_byte() {
        let mut block = Vec::new();
        keep_field(&mut block, b"lanes", b"0,1,2,3");
        keep_field(&mut block, b"description", b"");
        keep_field(&mut block, b"\xfe", b"caf\xe9 \x00");
        let e0 = PortName::try_from("Ethernet0").unwrap();
        let fields = ConfigFields(HashMap::from([(e0, block.into_boxed_slice())]));
        let want: [(&[u8], &[u8]); 3] =
            [(b"lanes", b"0,1,2,3"), (b"description", b""), (b"\xfe", b"caf\xe9 \x00")];
        assert_eq!(fields.pairs(&e0), want);
        assert!(fields.pairs(&PortName::try_from("Ethernet4").unwrap()).is_empty());
    }
}
