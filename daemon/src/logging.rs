//! Logging the SONiC way: eight syslog levels named as in CONFIG_DB
//! `LOGGER|portsyncd` `LOGLEVEL`, written to syslog (`/dev/log`) or stderr as
//! `LOGOUTPUT` says, with the level changeable while the daemon runs.
//!
//! On a multi-ASIC box the lines of the daemon serving namespace `asic0`
//! carry it ([`set_namespace`]): `portsyncd[asic0] LEVEL text` on stderr,
//! and `[asic0] text` under the usual `portsyncd` tag in syslog. Without a
//! namespace the lines are as they always were.
//!
//! Syslog survives its server: a send that fails is tried once more on a
//! new connection to `/dev/log` (rsyslogd restarted and bound a new
//! socket); if that fails too the line goes to stderr in the stderr format,
//! counted ([`lines_to_stderr`]) and said once, and `/dev/log` is tried
//! again at most every [`RECONNECT_INTERVAL`]. Every message is capped at
//! [`MAX_MESSAGE`] bytes, whatever the route ([`CUT_MARK`] ends a cut one).
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

use crate::sync::{AtomicU8, AtomicU64, Mutex, Ordering};

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

/// Where syslog is.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The longest message a line carries, in bytes (the text after the tag, or
/// after the level on stderr; the namespace label included). A longer one is
/// cut at a character boundary and ends with [`CUT_MARK`], so the line stays
/// one datagram on any syslog socket and one line on stderr.
pub const MAX_MESSAGE: usize = 2048;

/// What ends a message cut at [`MAX_MESSAGE`].
pub const CUT_MARK: &str = "…[cut]";

/// How often, at most, syslog is tried again while lines go to stderr.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// Lines meant for syslog that went to stderr (syslog unreachable).
static TO_STDERR: AtomicU64 = AtomicU64::new(0);

/// How many lines meant for syslog went to stderr since the start (the
/// metric `portsyncd_log_lines_to_stderr_total`).
pub fn lines_to_stderr() -> u64 {
    TO_STDERR.load(Ordering::Relaxed)
}

enum Sink {
    Syslog(Syslog),
    Stderr,
}

/// The syslog route: a datagram socket connected to [`SYSLOG_SOCKET`],
/// connected again when a send fails (syslogd restarted: its socket is a new
/// one), and stderr meanwhile.
struct Syslog {
    /// Connected, as far as we know.
    socket: Option<UnixDatagram>,
    /// While syslog is unreachable: when to try again, and how many lines
    /// went to stderr so far.
    away: Option<(std::time::Instant, u64)>,
}

impl Syslog {
    fn new() -> Self {
        Self { socket: connect().ok(), away: None }
    }

    /// Sends one datagram: on the socket held; if that fails, once more on
    /// a new connection (at once after a failed send, then at most every
    /// [`RECONNECT_INTERVAL`] while syslog is away). The error if neither
    /// could be tried or both failed.
    fn send(&mut self, datagram: &[u8]) -> std::io::Result<()> {
        if let Some(socket) = &self.socket {
            if socket.send(datagram).is_ok() {
                return Ok(());
            }
            self.socket = None;
        } else if let Some((next, _)) = self.away
            && std::time::Instant::now() < next
        {
            return Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "not yet tried again"));
        }
        let socket = connect()?;
        socket.send(datagram)?;
        self.socket = Some(socket);
        Ok(())
    }
}

fn connect() -> std::io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(SYSLOG_SOCKET)?;
    Ok(socket)
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

/// Sends lines to `output` from now on. Syslog is connected when the first
/// line is sent if it cannot be now (see [`write()`]).
pub fn set_output(output: Output) {
    let mut lines = SINK.lock().unwrap_or_else(|e| e.into_inner());
    lines.sink = Some(match (output, lines.sink.take()) {
        // Kept as it is (connected, or away with its count).
        (Output::Syslog, Some(Sink::Syslog(syslog))) => Sink::Syslog(syslog),
        (Output::Syslog, _) => Sink::Syslog(Syslog::new()),
        (Output::Stderr, _) => Sink::Stderr,
    });
}

/// Writes one line (use the macros).
///
/// To syslog when that is the output: a line that cannot be sent (after one
/// new connection) goes to stderr in the stderr format, and is counted
/// ([`lines_to_stderr`]); the first such line is preceded by one line
/// saying so, and the first line syslog takes again is followed by one
/// saying how many went to stderr meanwhile.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let message = capped(args);
    let mut lines = SINK.lock().unwrap_or_else(|e| e.into_inner());
    let Lines { sink, namespace } = &mut *lines;
    let ns = namespace.as_deref();
    let Some(Sink::Syslog(syslog)) = sink.as_mut() else {
        let _ = writeln!(std::io::stderr(), "{}", stderr_line(level, ns, &message));
        return;
    };
    let pid = std::process::id();
    match syslog.send(syslog_line(level, pid, ns, &message).as_bytes()) {
        Ok(()) => {
            if let Some((_, held)) = syslog.away.take() {
                let back = format!("syslog answers again: {held} lines went to stderr while it did not");
                let _ = syslog.send(syslog_line(Level::Notice, pid, ns, &back).as_bytes());
            }
        }
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let held = match &mut syslog.away {
                Some((next, held)) => {
                    if std::time::Instant::now() >= *next {
                        *next = std::time::Instant::now() + RECONNECT_INTERVAL;
                    }
                    held
                }
                None => {
                    let said = format!(
                        "syslog {SYSLOG_SOCKET}: {e}; lines go to stderr until it answers again \
                         (tried again at most every {} s)",
                        RECONNECT_INTERVAL.as_secs()
                    );
                    let _ = writeln!(err, "{}", stderr_line(Level::Warn, ns, &said));
                    &mut syslog.away.insert((std::time::Instant::now() + RECONNECT_INTERVAL, 0)).1
                }
            };
            *held += 1;
            TO_STDERR.fetch_add(1, Ordering::Relaxed);
            let _ = writeln!(err, "{}", stderr_line(level, ns, &message));
        }
    }
}

/// The message, cut at [`MAX_MESSAGE`] bytes with [`CUT_MARK`] if longer.
fn capped(args: fmt::Arguments<'_>) -> String {
    let mut message = fmt::format(args);
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE - CUT_MARK.len();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(CUT_MARK);
    }
    message
}

/// A syslog datagram: tag `portsyncd[pid]`, the namespace (if any) first in
/// the message.
fn syslog_line(level: Level, pid: u32, namespace: Option<&str>, message: &str) -> String {
    // <facility LOG_DAEMON (3) * 8 + severity>
    let priority = 24 + level as u8;
    match namespace {
        Some(ns) => format!("<{priority}>portsyncd[{pid}]: [{ns}] {message}"),
        None => format!("<{priority}>portsyncd[{pid}]: {message}"),
    }
}

/// A line on stderr (without its newline).
fn stderr_line(level: Level, namespace: Option<&str>, message: &str) -> String {
    match namespace {
        Some(ns) => format!("portsyncd[{ns}] {} {message}", level.name()),
        None => format!("portsyncd {} {message}", level.name()),
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
            stderr_line(Level::Notice, None, "PortInitDone sent"),
            "portsyncd NOTICE PortInitDone sent"
        );
        assert_eq!(
            stderr_line(Level::Notice, Some("asic0"), "PortInitDone sent"),
            "portsyncd[asic0] NOTICE PortInitDone sent"
        );
        assert_eq!(
            syslog_line(Level::Warn, 42, None, "x"),
            format!("<{}>portsyncd[42]: x", 24 + Level::Warn as u8)
        );
        assert_eq!(
            syslog_line(Level::Warn, 42, Some("asic1"), "x"),
            format!("<{}>portsyncd[42]: [asic1] x", 24 + Level::Warn as u8)
        );
    }

    #[test]
    fn a_long_message_is_cut_with_a_mark_at_a_character_boundary() {
        assert_eq!(capped(format_args!("short")), "short");
        let exact = "x".repeat(MAX_MESSAGE);
        assert_eq!(capped(format_args!("{exact}")), exact);
        let long = "é".repeat(MAX_MESSAGE);
        let cut = capped(format_args!("{long}"));
        assert!(cut.len() <= MAX_MESSAGE && cut.len() > MAX_MESSAGE - CUT_MARK.len() - 2, "{}", cut.len());
        assert!(cut.ends_with(CUT_MARK));
        assert!(cut.trim_end_matches(CUT_MARK).chars().all(|c| c == 'é'));
    }
}
