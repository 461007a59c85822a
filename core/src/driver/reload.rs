//! Changes while running: SIGHUP ([`Signal::Reload`]) and new settings
//! ([`Driver::reconfigure`]). What they mean for the timers is decided here;
//! reading a configuration file, and saying what changed in it, is the
//! caller's.

use super::state::{Direct, Stage};
use super::timers::Timer;
use super::{Driver, DriverConfig};
use crate::logger::Output;
use crate::time::Instant;

impl<const P: usize, const B: usize> Driver<P, B> {
    /// SIGHUP: CONFIG_DB's `LOGGER|portsyncd` is read again at once (its poll
    /// is made due, and its timer runs again from `now`); during start-up,
    /// as soon as it is over. Nothing once the driver is stopping.
    pub(super) fn reload(&mut self, now: Instant) {
        if !matches!(self.stage, Stage::Start(_) | Stage::Run) {
            return;
        }
        self.timers.fire(Timer::LoggerPoll);
        self.timers.set(Timer::LoggerPoll, now.saturating_add(self.config.logger_poll_interval));
    }

    /// New settings while running (a configuration file read again on
    /// SIGHUP). Each takes effect from `now`:
    ///
    /// - `maintain_interval`, `logger_poll_interval`: their timers are
    ///   re-armed, never later than they were due (a shorter interval is
    ///   felt at once, a longer one from the next tick);
    /// - `snapshot_interval`: the next save is due that long after the last;
    /// - `dump_timeout`: every dump from the next (a dump under way keeps
    ///   its deadline);
    /// - `retry_base`, `retry_max`, `datagrams_per_batch`, `coalesce_window`,
    ///   `startup_coalesce_window`, `shutdown_flush`: their next use;
    /// - `log_output`: handed out at once ([`Io::SetLogOutput`](super::Io::SetLogOutput)) if the
    ///   output in use changes (without it, CONFIG_DB's LOGOUTPUT rules);
    /// - `repeat_window`: windows opened from now;
    /// - `health`: from the next assessment;
    /// - `reconcile_interval`: a changed one counts from now;
    /// - `seed`, `liveness_interval`, `alarm_table`, `partition` and
    ///   `run_token` are kept from the start (the
    ///   supervisor's, not a setting of the file).
    pub fn reconfigure(&mut self, now: Instant, config: DriverConfig) {
        self.advance(now);
        let old = self.config;
        self.config = DriverConfig {
            seed: old.seed,
            liveness_interval: old.liveness_interval,
            alarm_table: old.alarm_table,
            partition: old.partition,
            run_token: old.run_token,
            ..config
        };
        self.health.set_thresholds(config.health);
        // The line naming the ports awaiting their host interface, if not said yet.
        if config.health.port_init_report_after != old.health.port_init_report_after
            && self.timers.get(Timer::AwaitingReport).is_some()
        {
            match config.health.port_init_report_after {
                d if d.is_zero() => self.timers.stop(Timer::AwaitingReport),
                d => self.timers.set(Timer::AwaitingReport, self.started.saturating_add(d)),
            }
        }
        if config.maintain_interval != old.maintain_interval {
            self.timers.set_by(Timer::Maintain, now.saturating_add(config.maintain_interval));
        }
        if config.logger_poll_interval != old.logger_poll_interval {
            self.timers.set_by(Timer::LoggerPoll, now.saturating_add(config.logger_poll_interval));
        }
        if config.reconcile_interval != old.reconcile_interval {
            match config.reconcile_interval {
                Some(every) => self.timers.set(Timer::Reconcile, now.saturating_add(every)),
                None => self.timers.stop(Timer::Reconcile),
            }
        }
        if config.snapshot_interval != old.snapshot_interval && self.timers.get(Timer::Snapshot).is_some() {
            self.timers.set(Timer::Snapshot, self.last_save.saturating_add(config.snapshot_interval));
        }
        self.retry.set_bounds(config.retry_base, config.retry_max);
        self.repeats.set_window(config.repeat_window);
        // As start-up decides it: the setting, else CONFIG_DB's LOGOUTPUT.
        let output = config.log_output.or(self.db_output).unwrap_or(Output::Syslog);
        if output != self.output {
            self.output = output;
            let _ = self.direct.push_back(Direct::Output(output));
        }
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::{DriverConfig, Instant, Output, Timer};
    use crate::driver::canned::{self, Facts};
    use crate::driver::{DefaultDriver, Input, Io, Signal, Taken};
    use crate::event::Event;
    use crate::logger::Level;
    use crate::netlink::emit_done;

    /// One configured port, LOGLEVEL as `level` says; records reads of it.
    struct World {
        level: &'static [u8],
        events: std::vec::Vec<Event>,
    }

    impl Facts for World {
        fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
            key(b"Ethernet0");
        }
        fn log_level(&self) -> Option<&[u8]> {
            Some(self.level)
        }
        fn event(&mut self, event: &Event) {
            self.events.push(*event);
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// When maintenance and the LOGGER poll are next due.
    fn maintain_and_logger_at(d: &DefaultDriver) -> (Option<Instant>, Option<Instant>) {
        (d.timers.get(Timer::Maintain), d.timers.get(Timer::LoggerPoll))
    }

    /// A driver past its initial dump at 10 ms.
    fn running(config: DriverConfig, world: &mut World) -> std::boxed::Box<DefaultDriver> {
        let mut d = std::boxed::Box::new(DefaultDriver::new(at(0), config));
        assert!(canned::answer_all(&mut d, at(0), world).is_none());
        let mut done = [0u8; 20];
        emit_done(&mut done, 1).unwrap();
        assert_eq!(d.handle(at(10), Input::Datagram(&done)), Taken::All);
        let _ = d.handle(at(10), Input::QueueEmpty);
        assert!(canned::answer_all(&mut d, at(10), world).is_none());
        assert!(d.milestones().eoiu.is_some());
        d
    }

    #[test]
    fn a_reload_reads_the_log_level_at_once() {
        let mut world = World { level: b"NOTICE", events: std::vec::Vec::new() };
        let mut d = running(DriverConfig::default(), &mut world);
        world.level = b"DEBUG";
        assert_eq!(d.poll_timeout(), Some(at(1000)), "maintenance, then the LOGGER poll at 5 s");
        let _ = d.handle(at(100), Input::Signal(Signal::Reload));
        assert!(canned::answer_all(&mut d, at(100), &mut world).is_none());
        assert_eq!(d.level(), Level::Debug, "read at 100 ms, not at the 5 s poll");
        assert!(world.events.contains(&Event::LogLevelChanged { old: Level::Notice, new: Level::Debug }));
        // Its poll runs again from the reload.
        assert_eq!(d.timers.get(Timer::LoggerPoll), Some(at(5100)));
        // Once stopping, a reload is nothing.
        let _ = d.handle(at(200), Input::Signal(Signal::Terminate));
        let _ = d.handle(at(200), Input::Signal(Signal::Reload));
        assert!(!d.timers.has_fired(Timer::LoggerPoll));
    }

    #[test]
    fn new_settings_rearm_the_timers_and_keep_the_seed() {
        let mut world = World { level: b"NOTICE", events: std::vec::Vec::new() };
        let config = DriverConfig { seed: 42, ..DriverConfig::default() };
        let mut d = running(config, &mut world);
        assert_eq!(maintain_and_logger_at(&d), (Some(at(1000)), Some(at(5000))));
        let shorter = DriverConfig {
            maintain_interval: Duration::from_millis(200),
            logger_poll_interval: Duration::from_millis(300),
            snapshot_interval: Duration::from_millis(50),
            dump_timeout: Duration::from_millis(70),
            seed: 7,
            ..DriverConfig::default()
        };
        d.reconfigure(at(100), shorter);
        assert_eq!(maintain_and_logger_at(&d), (Some(at(300)), Some(at(400))), "sooner, from now");
        assert_eq!(d.poll_timeout(), Some(at(300)));
        assert_eq!(d.config.seed, 42, "the seed is the start's");
        assert_eq!(d.config.dump_timeout, Duration::from_millis(70));
        // Longer again: not later than already due.
        d.reconfigure(at(150), DriverConfig { seed: 1, ..DriverConfig::default() });
        assert_eq!(maintain_and_logger_at(&d), (Some(at(300)), Some(at(400))));
        // The timers fire, then run at the new intervals.
        d.handle_timeout(at(300));
        assert_eq!(d.timers.get(Timer::Maintain), Some(at(1300)));
        // The same settings again change nothing.
        let before = maintain_and_logger_at(&d);
        d.reconfigure(at(350), DriverConfig { seed: 1, ..DriverConfig::default() });
        assert_eq!(maintain_and_logger_at(&d), before);
        assert!(d.poll_io().is_none_or(|io| !matches!(io, Io::SetLogOutput(_))), "log output unchanged");
    }

    #[test]
    fn a_new_log_output_is_handed_out_at_once() {
        let mut world = World { level: b"NOTICE", events: std::vec::Vec::new() };
        let mut d = running(DriverConfig::default(), &mut world);
        // CONFIG_DB's LOGOUTPUT is STDERR in this world: fixing the same
        // output changes nothing.
        d.reconfigure(at(100), DriverConfig { log_output: Some(Output::Stderr), ..DriverConfig::default() });
        assert!(d.poll_io().is_none_or(|io| !matches!(io, Io::SetLogOutput(_))));
        d.reconfigure(at(200), DriverConfig { log_output: Some(Output::Syslog), ..DriverConfig::default() });
        assert!(matches!(d.poll_io(), Some(Io::SetLogOutput(Output::Syslog))));
        // Back to CONFIG_DB's LOGOUTPUT.
        d.reconfigure(at(300), DriverConfig::default());
        assert!(matches!(d.poll_io(), Some(Io::SetLogOutput(Output::Stderr))));
    }
}
