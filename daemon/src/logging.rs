//! Logging the SONiC way: eight syslog levels named as in CONFIG_DB
//! `LOGGER|portsyncd` `LOGLEVEL`, written to syslog (`/dev/log`) or stderr as
//! `LOGOUTPUT` says, with the level changeable while the daemon runs.
//!
//! This module decides the format and where lines go; what is worth a line is
//! decided where the decision is made. A level check is one atomic load, so a
//! line below the level costs nothing but that.

use std::fmt;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;

use crate::sync::{AtomicU8, Mutex, Ordering};

pub use portsyncd_core::logger::{Level, Output};

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

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
