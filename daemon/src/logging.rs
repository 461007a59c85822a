//! Logging the SONiC way: eight syslog levels named as in CONFIG_DB
//! `LOGGER|portsyncd` `LOGLEVEL`, written to syslog (`/dev/log`) or stderr as
//! `LOGOUTPUT` says, with the level changeable while the daemon runs.
//!
//! On a multi-ASIC box the lines of the daemon serving namespace `asic0`
//! carry it ([`set_namespace`]): `portsyncd[asic0] LEVEL text` on stderr,
//! and `[asic0] text` under the usual `portsyncd` tag in syslog. Without a
//! namespace the lines are as they always were.
//!
//! This module decides the format and where lines go; what is worth a line is
//! decided where the decision is made. A level check is one atomic load, so a
//! line below the level costs nothing but that.
//!
//! Adapter errors that repeat (a read or write Redis answers with an error
//! batch after batch, a snapshot that cannot be saved) go through
//! [`trouble`]: the first line is written, later ones of the same kind are
//! counted and their count is written once per window (at the next one
//! after the window, or when the trouble is over: [`trouble_over`]) — the
//! core's [`Repeats`] decides.

use std::fmt;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;

use std::time::Duration;

use portsyncd_core::Instant;
use portsyncd_core::repeats::{Repeats, Say};

use crate::sync::{AtomicU8, Mutex, Ordering};

pub use portsyncd_core::logger::{Level, Output};

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SINK: Mutex<Lines> = Mutex::new(Lines { sink: None, namespace: None });
static TROUBLE: Mutex<Repeats<{ Trouble::ALL.len() }>> = Mutex::new(Repeats::new(Duration::from_secs(10)));

/// Kinds of adapter trouble whose lines are rate-limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// A database read failed.
    Read,
    /// The databases refused a write batch.
    Write,
    /// The warm-restart snapshot could not be saved (the why; the driver
    /// says what that costs, once, at WARN).
    SnapshotSave,
}

impl Trouble {
    const ALL: [Trouble; 3] = [Trouble::Read, Trouble::Write, Trouble::SnapshotSave];

    fn what(self) -> &'static str {
        match self {
            Trouble::Read => "database read errors",
            Trouble::Write => "database write errors",
            Trouble::SnapshotSave => "snapshot save errors",
        }
    }

    /// The level its lines are written at.
    pub const fn level(self) -> Level {
        match self {
            Trouble::Read => Level::Warn,
            Trouble::Write => Level::Error,
            Trouble::SnapshotSave => Level::Info,
        }
    }
}

/// How long repeated adapter errors of one kind are counted before their
/// count is written.
pub fn set_repeat_window(window: Duration) {
    TROUBLE.lock().unwrap_or_else(|e| e.into_inner()).set_window(window);
}

/// Writes one line about adapter trouble of `kind` at `now` (at the kind's
/// level), or counts it if one was written within the window (see the
/// module docs).
pub fn trouble(kind: Trouble, now: Instant, args: fmt::Arguments<'_>) {
    let (say, due) = {
        let mut repeats = TROUBLE.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = [0u32; Trouble::ALL.len()];
        while let Some((k, held)) = repeats.poll(now) {
            if let Some(slot) = due.get_mut(k) {
                *slot = held;
            }
        }
        (repeats.happened(now, kind as usize), due)
    };
    for (k, held) in Trouble::ALL.iter().zip(due) {
        if held > 0 {
            held_back(*k, held);
        }
    }
    if say == Say::Line {
        write(kind.level(), args);
    }
}

/// The trouble of `kind` is over (the driver said so: the databases are
/// reachable again, refused writes were written; or a save succeeded): the
/// count of lines held back, if any.
pub fn trouble_over(kind: Trouble) {
    let held = TROUBLE.lock().unwrap_or_else(|e| e.into_inner()).ended(kind as usize);
    if let Some(held) = held {
        write(
            kind.level(),
            format_args!("{}: {held} more lines like the last held back until it was over", kind.what()),
        );
    }
}

fn held_back(kind: Trouble, held: u32) {
    let window = TROUBLE.lock().unwrap_or_else(|e| e.into_inner()).window();
    write(
        kind.level(),
        format_args!(
            "{}: {held} more lines like the last held back over {} s",
            kind.what(),
            window.as_secs()
        ),
    );
}

enum Sink {
    Syslog(UnixDatagram),
    Stderr,
}

/// Where lines go and what they are labelled with.
struct Lines {
    sink: Option<Sink>,
    /// The multi-ASIC namespace served, if any.
    namespace: Option<String>,
}

/// Labels every line from now on with the multi-ASIC namespace served
/// (`None`: no label, the single-ASIC format).
pub fn set_namespace(namespace: Option<String>) {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).namespace = namespace;
}

/// Whether a line at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Sets the level; returns the previous one.
pub fn set_level(level: Level) -> Level {
    Level::from_u8(LEVEL.swap(level as u8, Ordering::Relaxed))
}

/// Sends lines to `output` from now on.
pub fn set_output(output: Output) {
    let sink = match output {
        Output::Syslog => UnixDatagram::unbound()
            .and_then(|s| s.connect("/dev/log").map(|()| s))
            .map_or(Sink::Stderr, Sink::Syslog),
        Output::Stderr => Sink::Stderr,
    };
    SINK.lock().unwrap_or_else(|e| e.into_inner()).sink = Some(sink);
}

/// Writes one line (use the macros).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut lines = SINK.lock().unwrap_or_else(|e| e.into_inner());
    let Lines { sink, namespace } = &mut *lines;
    let ns = namespace.as_deref();
    match sink.as_mut() {
        Some(Sink::Syslog(socket)) => {
            let line = syslog_line(level, std::process::id(), ns, args);
            if socket.send(line.as_bytes()).is_err() {
                let _ = match ns {
                    Some(ns) => writeln!(std::io::stderr(), "{} [{ns}] {}", level.name(), args),
                    None => writeln!(std::io::stderr(), "{} {}", level.name(), args),
                };
            }
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "{}", stderr_line(level, ns, args));
        }
    }
}

/// A syslog datagram: tag `portsyncd[pid]`, the namespace (if any) first in
/// the message.
fn syslog_line(level: Level, pid: u32, namespace: Option<&str>, args: fmt::Arguments<'_>) -> String {
    // <facility LOG_DAEMON (3) * 8 + severity>
    let priority = 24 + level as u8;
    match namespace {
        Some(ns) => format!("<{priority}>portsyncd[{pid}]: [{ns}] {args}"),
        None => format!("<{priority}>portsyncd[{pid}]: {args}"),
    }
}

/// A line on stderr (without its newline).
fn stderr_line(level: Level, namespace: Option<&str>, args: fmt::Arguments<'_>) -> String {
    match namespace {
        Some(ns) => format!("portsyncd[{ns}] {} {args}", level.name()),
        None => format!("portsyncd {} {args}", level.name()),
    }
}

/// Logs at a level: `log!(Notice, "...", ...)`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        if $crate::logging::enabled($crate::logging::Level::$level) {
            $crate::logging::write($crate::logging::Level::$level, format_args!($($arg)+));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_labels_lines_and_none_keeps_the_single_asic_format() {
        assert_eq!(
            stderr_line(Level::Notice, None, format_args!("PortInitDone sent")),
            "portsyncd NOTICE PortInitDone sent"
        );
        assert_eq!(
            stderr_line(Level::Notice, Some("asic0"), format_args!("PortInitDone sent")),
            "portsyncd[asic0] NOTICE PortInitDone sent"
        );
        assert_eq!(
            syslog_line(Level::Warn, 42, None, format_args!("x")),
            format!("<{}>portsyncd[42]: x", 24 + Level::Warn as u8)
        );
        assert_eq!(
            syslog_line(Level::Warn, 42, Some("asic1"), format_args!("x")),
            format!("<{}>portsyncd[42]: [asic1] x", 24 + Level::Warn as u8)
        );
    }
}
