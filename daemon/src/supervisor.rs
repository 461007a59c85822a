//! Telling the supervisor what the driver says: systemd (`Type=notify`
//! units) through `NOTIFY_SOCKET`, and SONiC's supervisord through the
//! heartbeat its listener reads on stdout.
//!
//! - [`Systemd`] — `READY=1` with `STATUS=`, `STATUS=` on changes,
//!   `WATCHDOG=1` (when the unit has a watchdog), `EXTEND_TIMEOUT_USEC=`
//!   while start-up runs, `STOPPING=1`. `NOTIFY_SOCKET` may be a path or an
//!   abstract socket (`@name`); the `sd-notify` crate connects to paths only,
//!   so the socket is ours (connected once) and the crate formats the lines.
//! - [`Heartbeat`] — `<!--XSUPERVISOR:BEGIN-->heartbeat<!--XSUPERVISOR:END-->`
//!   on stdout at each [`Notify::Alive`] (supervisord's listener restarts a
//!   process in `watchdog_processes` that stops printing it).
//!
//! It decides nothing: when to say what is the driver's, which is how a
//! stuck loop stops being called alive.

use std::ffi::OsStr;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use portsyncd_core::driver::Notify;
use sd_notify::NotifyState;

use crate::ferry::Supervisor;
use crate::log;

/// systemd's notification socket, if the process has one.
#[derive(Debug)]
pub struct Systemd {
    socket: UnixDatagram,
    /// The unit's watchdog timeout, if it has one.
    watchdog: Option<Duration>,
}

impl Systemd {
    /// From the environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`): `Ok(None)` outside a notify unit.
    pub fn from_env() -> io::Result<Option<Self>> {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(None) };
        let socket = connect(&path)?;
        Ok(Some(Self { socket, watchdog: sd_notify::watchdog_enabled() }))
    }

    /// The unit's watchdog timeout (`WATCHDOG_USEC`), if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    fn send(&self, states: &[NotifyState<'_>]) -> io::Result<()> {
        let mut msg = String::new();
        for state in states {
            msg.push_str(&state.to_string());
            msg.push('\n');
        }
        self.socket.send(msg.as_bytes()).map(drop)
    }
}

/// Connects to `NOTIFY_SOCKET`: `@name` is an abstract socket, anything
/// else a path.
fn connect(path: &OsStr) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => connect_abstract(&socket, name)?,
        None => socket.connect(path)?,
    }
    Ok(socket)
}

#[cfg(target_os = "linux")]
fn connect_abstract(socket: &UnixDatagram, name: &[u8]) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt as _;
    socket.connect_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name)?)
}

/// Abstract sockets are Linux's (systemd runs nowhere else).
#[cfg(not(target_os = "linux"))]
fn connect_abstract(_: &UnixDatagram, _: &[u8]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets are Linux only"))
}

fn usec(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Supervisor for Systemd {
    fn notify(&mut self, notify: Notify) {
        let result = match notify {
            Notify::Ready(status) => {
                let status = status.to_string();
                self.send(&[NotifyState::Ready, NotifyState::Status(&status)])
            }
            Notify::Status(status) => self.send(&[NotifyState::Status(&status.to_string())]),
            Notify::Alive if self.watchdog.is_some() => self.send(&[NotifyState::Watchdog]),
            Notify::Alive => Ok(()),
            Notify::ExtendTimeout(more) => self.send(&[NotifyState::ExtendTimeoutUsec(usec(more))]),
            Notify::Stopping => self.send(&[NotifyState::Stopping]),
        };
        if let Err(e) = result {
            log!(Warn, "sd_notify: {e}");
        }
    }
}

/// supervisord's heartbeat on stdout (opt-in).
#[derive(Debug, Default)]
pub struct Heartbeat;

/// What supervisord's listener looks for on a watched process's stdout.
pub const HEARTBEAT: &str = "<!--XSUPERVISOR:BEGIN-->heartbeat<!--XSUPERVISOR:END-->";

impl Supervisor for Heartbeat {
    fn notify(&mut self, notify: Notify) {
        if notify == Notify::Alive {
            let mut out = io::stdout().lock();
            if let Err(e) = writeln!(out, "{HEARTBEAT}").and_then(|()| out.flush()) {
                log!(Warn, "heartbeat on stdout: {e}");
            }
        }
    }
}

/// Whichever supervisors the process has.
#[derive(Debug, Default)]
pub struct Supervisors {
    /// systemd, under a notify unit.
    pub systemd: Option<Systemd>,
    /// supervisord's heartbeat, when asked for.
    pub heartbeat: Option<Heartbeat>,
}

impl Supervisor for Supervisors {
    fn notify(&mut self, notify: Notify) {
        if let Some(s) = self.systemd.as_mut() {
            s.notify(notify);
        }
        if let Some(h) = self.heartbeat.as_mut() {
            h.notify(notify);
        }
    }
}
