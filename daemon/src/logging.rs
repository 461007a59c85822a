//! Logging the SONiC way: eight syslog levels named as in CONFIG_DB
//! `LOGGER|portsyncd` `LOGLEVEL`, written to syslog (`/dev/log`) or stderr as
//! `LOGOUTPUT` says, with the level changeable while the daemon runs.
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
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static TROUBLE: Mutex<Repeats<{ Trouble::ALL.len() }>> = Mutex::new(Repeats::new(Duration::from_secs(10)));

/// Kinds of adapter trouble whose lines are rate-limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// A database read failed.
    Read,
    /// The databases refused a write batch.
    Write,
    /// The warm-restart snapshot could not be saved.
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
            Trouble::Read | Trouble::SnapshotSave => Level::Warn,
            Trouble::Write => Level::Error,
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
        held_back(kind, held);
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
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// Writes one line (use the macros).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    match sink.as_mut() {
        Some(Sink::Syslog(socket)) => {
            // <facility LOG_DAEMON (3) * 8 + severity>
            let line = format!("<{}>portsyncd[{}]: {}", 24 + level as u8, std::process::id(), args);
            if socket.send(line.as_bytes()).is_err() {
                let _ = writeln!(std::io::stderr(), "{} {}", level.name(), args);
            }
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "portsyncd {} {}", level.name(), args);
        }
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
