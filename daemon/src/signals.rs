//! The process's signals, and the daemon's part of each before the driver
//! hears of it ([`Signalled`]):
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

use async_signal::Signal;
use smol::stream::StreamExt as _;

use crate::config::{self, Config};
use crate::ferry::{self, Signalled, Signals};
use crate::log;

/// The signals the daemon handles (every one whose default would end it
/// silently, besides the two that stop it).
const HANDLED: [Signal; 5] = [Signal::Term, Signal::Int, Signal::Hup, Signal::Usr1, Signal::Usr2];

/// The process's signals, registered.
pub struct ProcessSignals {
    signals: async_signal::Signals,
    reload: Reload,
}

impl ProcessSignals {
    /// Registers the handlers. `config` is what the daemon runs on, read
    /// from `path` (`required`: whether a missing file is an error).
    pub fn register(path: PathBuf, required: bool, config: Config) -> std::io::Result<Self> {
        Ok(Self {
            signals: async_signal::Signals::new(HANDLED)?,
            reload: Reload::new(path, required, config),
        })
    }
}

impl Signals for ProcessSignals {
    async fn next(&mut self) -> Signalled {
        loop {
            match self.signals.next().await {
                Some(Ok(Signal::Term | Signal::Int)) => return Signalled::Terminate,
                Some(Ok(Signal::Hup)) => return Signalled::Reload(self.reload.read_again().map(Box::new)),
                Some(Ok(Signal::Usr1)) => {
                    log!(Notice, "SIGUSR1 received: reconciling now");
                    return Signalled::Reconcile;
                }
                Some(Ok(Signal::Usr2)) => log!(Notice, "SIGUSR2 received: ignored"),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // Signals can no longer be told apart (the handler's pipe
                    // failed): one line, and no more asking, which would only
                    // spin. SIGKILL still ends the process.
                    log!(Error, "signals: {e}; signals are no longer handled");
                    std::future::pending::<()>().await;
                }
                None => std::future::pending().await,
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
