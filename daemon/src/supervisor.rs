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
//!   on stdout at each [`Notify::Alive`]: with `stdout_capture_maxbytes`,
//!   supervisord turns it into a PROCESS_COMMUNICATION_STDOUT event; SONiC's
//!   supervisor-proc-exit-listener logs a WARNING ("Process 'portsyncd' is
//!   stuck ...") for a process of `watchdog_processes` whose heartbeats stop
//!   (it restarts nothing). On by default when supervisord runs the daemon
//!   ([`heartbeat_interval`]).
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

/// The heartbeat's interval when the settings do not give one and
/// supervisord runs the daemon: SONiC's listener warns after 60 s of silence
/// unless CONFIG_DB's `HEARTBEAT|portsyncd` says otherwise; every 10 s gives
/// it six.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// Whether supervisord started this process: it puts `SUPERVISOR_ENABLED`
/// in the environment of every program it runs. `env` reads a variable.
pub fn under_supervisord(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    env("SUPERVISOR_ENABLED").is_some()
}

/// The heartbeat's interval: the settings' (`0`: off); unset,
/// [`DEFAULT_HEARTBEAT`] under supervisord and off elsewhere.
pub fn heartbeat_interval(setting: Option<Duration>, under_supervisord: bool) -> Option<Duration> {
    match setting {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => under_supervisord.then_some(DEFAULT_HEARTBEAT),
    }
}

/// supervisord's heartbeat on stdout.
///
/// Under supervisord the tokens are written alone: supervisord captures
/// what is between them and logs what is around them, so a newline after
/// them became an empty syslog line (`portsyncd `) per heartbeat. Anywhere
/// else (a terminal, a test reading lines) each heartbeat ends its line.
#[derive(Debug, Default)]
pub struct Heartbeat {
    newline: bool,
}

impl Heartbeat {
    /// The heartbeat for a process `under_supervisord` or not.
    pub fn new(under_supervisord: bool) -> Self {
        Self { newline: !under_supervisord }
    }
}

/// What supervisord's listener looks for on a watched process's stdout.
pub const HEARTBEAT: &str = "<!--XSUPERVISOR:BEGIN-->heartbeat<!--XSUPERVISOR:END-->";

impl Supervisor for Heartbeat {
    fn notify(&mut self, notify: Notify) {
        if notify == Notify::Alive {
            let mut out = io::stdout().lock();
            let end = if self.newline { "\n" } else { "" };
            if let Err(e) = write!(out, "{HEARTBEAT}{end}").and_then(|()| out.flush()) {
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

impl Supervisors {
    /// Before the loop runs (no driver yet): tells systemd why the start
    /// takes long, `status`, and to wait `extend` more for READY.
    pub fn waiting(&mut self, status: &str, extend: Duration) {
        if let Some(s) = self.systemd.as_ref() {
            let states = [NotifyState::Status(status), NotifyState::ExtendTimeoutUsec(usec(extend))];
            if let Err(e) = s.send(&states) {
                log!(Warn, "sd_notify: {e}");
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_is_on_under_supervisord_unless_the_settings_say_otherwise() {
        let ms = Duration::from_millis;
        assert_eq!(heartbeat_interval(None, true), Some(DEFAULT_HEARTBEAT));
        assert_eq!(heartbeat_interval(None, false), None);
        assert_eq!(heartbeat_interval(Some(ms(0)), true), None);
        assert_eq!(heartbeat_interval(Some(ms(2000)), false), Some(ms(2000)));
        assert_eq!(heartbeat_interval(Some(ms(2000)), true), Some(ms(2000)));
        assert!(under_supervisord(|v| (v == "SUPERVISOR_ENABLED").then(|| "1".into())));
        assert!(!under_supervisord(|_| None));
    }
}
