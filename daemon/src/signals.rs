//! The process's signals, and the daemon's part of each before the driver
//! hears of it ([`Signalled`](crate::ferry::Signalled)):
//!
//! - SIGTERM, SIGINT: stop;
//! - SIGHUP: the `--config` file is read again. If it is bad, one ERROR
//!   line says why and the settings in force stay; if it is good, one
//!   NOTICE line says which settings changed, which of them take effect now
//!   and which only at the next start ([`crate::config::Config::changes`]),
//!   and the driver gets the new settings. Either way the driver reads
//!   CONFIG_DB's `LOGGER|portsyncd` again at once;
//! - SIGUSR1: reconcile now (the kernel dumped again, STATE_DB read back,
//!   drift repaired), with one NOTICE line;
//! - SIGUSR2: one NOTICE line, otherwise ignored (its default action would
//!   end the process without a word).
//!
//! What a reload means for the run (timers, the log level) is the driver's;
//! this module only reads the file and says what it found.

use std::path::PathBuf;

use crate::config::{self, Config};
use crate::{ferry, log};
#[cfg(target_os = "linux")]
pub use process::ProcessSignals;

/// The process's signals on the hot loop's own wait (Linux): each handled
/// signal raises its flag and writes a byte into one self-pipe (signal-hook,
/// whose handlers do only that), and the read end of the pipe is a socket of
/// the loop's reactor. A signal wakes the loop as a datagram does: no other
/// thread, reactor or executor is involved.
// The flags are shared with signal handlers, not with another thread: the
// sync funnel (loom) cannot model a handler, and signal-hook's API takes
// exactly these std types. They are read only here.
#[cfg(target_os = "linux")]
#[allow(clippy::disallowed_types)]
mod process {
    use std::io::Read as _;
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

    use super::Reload;
    use crate::config::Config;
    use crate::ferry::{Signalled, Signals};
    use crate::log;

    /// What each handled signal raises (every one whose default would end
    /// the process silently, besides the two that stop it).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Raised {
        Terminate,
        Reload,
        Reconcile,
        Ignored,
    }

    const HANDLED: [(i32, Raised); 5] = [
        (SIGTERM, Raised::Terminate),
        (SIGINT, Raised::Terminate),
        (SIGHUP, Raised::Reload),
        (SIGUSR1, Raised::Reconcile),
        (SIGUSR2, Raised::Ignored),
    ];

    /// How often the flags are looked at once the self-pipe failed.
    const FLAG_POLL: std::time::Duration = std::time::Duration::from_secs(1);

    /// The process's signals, registered.
    pub struct ProcessSignals {
        /// One flag per [`HANDLED`] signal.
        flags: [Arc<AtomicBool>; HANDLED.len()],
        /// The self-pipe's read end, on the loop's reactor.
        wake: portsyncd_reactor::Source<UnixStream>,
        /// It failed: the flags are polled instead.
        pipe_failed: bool,
        reload: Reload,
    }

    impl ProcessSignals {
        /// Registers the handlers. `config` is what the daemon runs on, read
        /// from `path` (`required`: whether a missing file is an error).
        pub fn register(path: PathBuf, required: bool, config: Config) -> std::io::Result<Self> {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            write.set_nonblocking(true)?;
            let flags: [Arc<AtomicBool>; HANDLED.len()] = Default::default();
            for ((signal, _), flag) in HANDLED.iter().zip(&flags) {
                // The flag first: once the byte wakes the loop, it is set.
                signal_hook::flag::register(*signal, flag.clone())?;
                signal_hook::low_level::pipe::register(*signal, write.try_clone()?)?;
            }
            Ok(Self {
                flags,
                wake: portsyncd_reactor::Source::new(read)?,
                pipe_failed: false,
                reload: Reload::new(path, required, config),
            })
        }

        /// Whether SIGTERM or SIGINT has been received (the flag stays up
        /// for the loop). For waits before the loop runs: the wait for
        /// Redis at start.
        pub fn terminate_raised(&self) -> bool {
            HANDLED
                .iter()
                .zip(&self.flags)
                .any(|((_, raised), flag)| *raised == Raised::Terminate && flag.load(Ordering::SeqCst))
        }

        /// The signal raised first in [`HANDLED`]'s order, its flag lowered.
        fn take_raised(&self) -> Option<Raised> {
            HANDLED
                .iter()
                .zip(&self.flags)
                .find_map(|((_, raised), flag)| flag.swap(false, Ordering::SeqCst).then_some(*raised))
        }
    }

    impl Signals for ProcessSignals {
        async fn next(&mut self) -> Signalled {
            loop {
                // Flags before the pipe's bytes: a signal whose byte is read
                // below has its flag seen at the next turn at the latest.
                while let Some(raised) = self.take_raised() {
                    match raised {
                        Raised::Terminate => return Signalled::Terminate,
                        Raised::Reload => return Signalled::Reload(self.reload.read_again().map(Box::new)),
                        Raised::Reconcile => {
                            log!(Notice, "SIGUSR1 received: reconciling now");
                            return Signalled::Reconcile;
                        }
                        Raised::Ignored => log!(Notice, "SIGUSR2 received: ignored"),
                    }
                }
                if self.pipe_failed {
                    // The flags still rise: looked at every second instead.
                    portsyncd_reactor::Timer::after(FLAG_POLL).await;
                    continue;
                }
                let mut bytes = [0u8; 64];
                let read = match self.wake.read_with(|mut pipe| pipe.read(&mut bytes)).await {
                    // Its write ends live as long as the process: an end is an error.
                    Ok(0) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
                    other => other,
                };
                if let Err(e) = read {
                    log!(
                        Error,
                        "signals: the self-pipe failed ({e}); signals are now looked at every second"
                    );
                    self.pipe_failed = true;
                }
            }
        }
    }
}

/// The settings file, and the settings in force.
#[derive(Debug)]
pub struct Reload {
    path: PathBuf,
    required: bool,
    in_force: Config,
}

impl Reload {
    /// Settings `in_force`, read from `path`.
    pub fn new(path: PathBuf, required: bool, in_force: Config) -> Self {
        Self { path, required, in_force }
    }

    /// SIGHUP: reads the file again and logs one line; the driver settings
    /// now in force, or `None` if the file is bad (nothing changes then).
    pub fn read_again(
        &mut self,
    ) -> Option<(portsyncd_core::driver::DriverConfig, crate::alerting::Alerting)> {
        match Config::load(&self.path, self.required) {
            Err(e) => {
                log!(Error, "SIGHUP: {e}; the settings in force stay");
                None
            }
            Ok(new) => {
                let changes = self.in_force.changes(&new);
                log!(Notice, "SIGHUP: {} read again; {}", self.path.display(), config::describe(&changes));
                self.in_force = self.in_force.run_time_part_of(&new);
                crate::logging::set_repeat_window(self.in_force.log_repeat_window);
                Some((ferry::driver_config(&self.in_force), self.in_force.alerts.clone()))
            }
        }
    }

    /// The settings in force.
    pub fn in_force(&self) -> &Config {
        &self.in_force
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_reload_applies_a_good_file_and_keeps_the_settings_on_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portsyncd.conf");
        std::fs::write(&path, "[netlink]\ndump_timeout_ms = 3000\n").unwrap();
        let start = Config::load(&path, true).unwrap();
        let mut reload = Reload::new(path.clone(), true, start.clone());
        // Unchanged.
        let same = reload.read_again().unwrap();
        assert_eq!(same, (ferry::driver_config(&start), start.alerts.clone()));
        // A run-time setting and a start-only one.
        std::fs::write(&path, "[netlink]\ndump_timeout_ms = 250\nreceive_buffer_bytes = 65536\n").unwrap();
        let (new, _) = reload.read_again().unwrap();
        assert_eq!(new.dump_timeout, Duration::from_millis(250));
        assert_eq!(reload.in_force().dump_timeout, Duration::from_millis(250));
        assert_eq!(
            reload.in_force().netlink_receive_buffer,
            start.netlink_receive_buffer,
            "at the next start"
        );
        // Bad: nothing changes.
        std::fs::write(&path, "[netlink]\ndump_timeout_ms = 0\n").unwrap();
        assert_eq!(reload.read_again(), None);
        assert_eq!(reload.in_force().dump_timeout, Duration::from_millis(250));
        // Gone (it was given: required): bad too.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(reload.read_again(), None);
    }
}
