//! Start-up: LOGGER, DEVICE_METADATA, the WarmStart keys, CONFIG_DB ports,
//! the warm-restart snapshot and the baseline STATE_DB gives it, then the
//! first dump — in the C++ daemon's order (SONIC.md §5, §11), except that
//! the reads that decide whether the run can start at all (LOGGER,
//! DEVICE_METADATA, the WarmStart keys, whether the CONFIG_DB port keys fit)
//! come before the first write: the LOGGER defaults and `restore_count` are
//! written after them, so that a start refused for those writes nothing.
//!
//! What each answer means for the start lives here; which request comes
//! next lives in `next_start`. A failed start-up read or a refused start-up
//! write ends the run before anything of the ports is written.

use super::io::SnapshotLoad;
use super::state::{Ask, Direct, ReadFor, Stage, StartStep, Step, WriteFor};
use super::{Driver, Event, Failure, fnv};
use crate::engine::{StartKind, SyncConfig};
use crate::event::Text;
use crate::logger::{self, Level, Output};
use crate::warm::{SnapshotPort, StatePortReader};
use crate::writes::WriteOp;

/// Whether `value` is not the unusable value last seen (kept hashed in
/// `seen`): an unusable CONFIG_DB value is said once, not at every poll.
fn newly_bad(seen: &mut Option<u32>, value: &[u8]) -> bool {
    let hash = fnv(value);
    let new = *seen != Some(hash);
    *seen = Some(hash);
    new
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Moves start-up on to `step`, unless the run is already ending (a
    /// signal, a failure) while an answer was awaited.
    pub(super) fn start_step(&mut self, step: StartStep) {
        if matches!(self.stage, Stage::Start(_)) {
            self.set_stage(Stage::Start(step));
        }
    }

    pub(super) fn logger_reply(&mut self, field: &[u8], value: &[u8]) {
        // An unusable value is noted whole (the line shows 32 bytes of it),
        // so that the poll does not say it again.
        if field == logger::LOGLEVEL_FIELD.as_bytes() {
            let level = Level::parse(value).ok_or(Text::new(value));
            if level.is_err() {
                newly_bad(&mut self.bad_level_seen, value);
            }
            self.learnt.level = Some(level);
        } else if field == logger::LOGOUTPUT_FIELD.as_bytes() {
            let output = Output::parse(value).ok_or(Text::new(value));
            if output.is_err() {
                newly_bad(&mut self.bad_output_seen, value);
            }
            self.learnt.output = Some(output);
        }
    }

    pub(super) fn apply_level(&mut self, value: &[u8]) {
        match Level::parse(value) {
            Some(new) => {
                self.bad_level_seen = None;
                if new != self.level {
                    let old = self.level;
                    self.level = new;
                    let _ = self.direct.push_back(Direct::Level(new));
                    // Said at NOTICE whatever the new level.
                    let _ = self.events.push_back(Event::LogLevelChanged { old, new });
                }
            }
            None => {
                if newly_bad(&mut self.bad_level_seen, value) {
                    self.emit(Event::BadLogLevel { value: Text::new(value), kept: self.level });
                }
            }
        }
    }

    /// CONFIG_DB's LOGOUTPUT, read again at run time (unless the settings
    /// file fixes the output).
    pub(super) fn apply_output(&mut self, value: &[u8]) {
        let parsed = Output::parse(value);
        if parsed.is_some() {
            self.db_output = parsed;
        }
        if self.config.log_output.is_some() {
            return;
        }
        match parsed {
            Some(new) => {
                self.bad_output_seen = None;
                if new != self.output {
                    let old = self.output;
                    self.output = new;
                    let _ = self.direct.push_back(Direct::Output(new));
                    let _ = self.events.push_back(Event::LogOutputChanged { old, new });
                }
            }
            None => {
                if newly_bad(&mut self.bad_output_seen, value) {
                    self.emit(Event::BadLogOutput { value: Text::new(value), kept: self.output });
                }
            }
        }
    }

    /// The key at the cursor has been read: its STATE_DB state becomes its baseline.
    pub(super) fn finish_baseline_key(&mut self) {
        let reader = core::mem::take(&mut self.learnt.reader);
        let Some(name) = self.keys.get(self.learnt.cursor).copied() else { return };
        self.learnt.cursor += 1;
        // STATE_DB has no ifindex: the snapshot's, or 0 until the dump tells.
        let ifindex = self.engine.restored_state(&name).map_or(0, |s| s.ifindex);
        let held = reader.state(ifindex);
        self.learnt.kept += usize::from(held.is_some());
        if let Err(e) = self.engine.rebase(&name, held) {
            self.emit(Event::Engine(e));
        }
    }

    pub(super) fn logger_read(&mut self) {
        match self.learnt.level {
            Some(Ok(level)) => self.set_level(level),
            Some(Err(value)) => self.emit(Event::BadLogLevel { value, kept: self.level }),
            None => {}
        }
        let configured = match self.learnt.output {
            Some(Ok(output)) => {
                self.db_output = Some(output);
                Some(output)
            }
            Some(Err(value)) => {
                let kept = self.config.log_output.unwrap_or(Output::Syslog);
                self.emit(Event::BadLogOutput { value, kept });
                None
            }
            None => None,
        };
        self.output = self.config.log_output.or(configured).unwrap_or(Output::Syslog);
        let _ = self.direct.push_back(Direct::Output(self.output));
        self.start_step(StartStep::SwitchType);
    }

    pub(super) fn set_level(&mut self, level: Level) {
        if level != self.level {
            let old = self.level;
            self.level = level;
            let _ = self.direct.push_back(Direct::Level(level));
            let _ = self.events.push_back(Event::LogLevelChanged { old, new: level });
        }
    }

    /// What the snapshot load found.
    pub(super) fn snapshot_loaded(&mut self, load: SnapshotLoad<'_>) {
        self.start_step(StartStep::Dump);
        let ports: &[SnapshotPort] = match load {
            SnapshotLoad::Missing => {
                self.emit(Event::NoSnapshot { unusable: false });
                &[]
            }
            SnapshotLoad::Unusable => {
                self.emit(Event::NoSnapshot { unusable: true });
                &[]
            }
            SnapshotLoad::Loaded(ports) => ports,
        };
        if let Err(e) = self.engine.restore_ports(ports) {
            self.emit(Event::Engine(e));
            return;
        }
        // The snapshot's ports, and configured ports it may have missed (published
        // after it was last saved, or no usable snapshot at all): STATE_DB says
        // what each holds.
        self.keys.clear();
        for port in ports {
            let _ = self.keys.push(port.name);
        }
        for name in self.engine.config_ports() {
            if self.engine.published_state(name).is_none() && self.keys.push(*name).is_err() {
                break;
            }
        }
        self.start_step(StartStep::Baseline);
    }

    pub(super) fn next_start(&mut self, step: StartStep) -> Step {
        match step {
            StartStep::Logger => Step::Ask(Ask::Read(ReadFor::Logger)),
            StartStep::LoggerDefaults => {
                let (level, output) = (self.learnt.level.is_none(), self.learnt.output.is_none());
                // Among partitioned instances the leader writes what is
                // portsyncd's as a whole: every key is written by one instance.
                if (!level && !output) || !self.config.partition.is_leader() {
                    self.start_step(StartStep::WriteRestoreCount);
                    return Step::Again;
                }
                self.ops.clear();
                let _ = self.ops.push(WriteOp::LoggerDefaults { level, output });
                Step::Ask(Ask::Write(WriteFor::Startup("CONFIG_DB LOGGER")))
            }
            StartStep::SwitchType => Step::Ask(Ask::Read(ReadFor::SwitchType)),
            StartStep::WarmEnable(i) => Step::Ask(Ask::Read(ReadFor::WarmEnable(i))),
            StartStep::RestoreCount => Step::Ask(Ask::Read(ReadFor::RestoreCount)),
            StartStep::WriteRestoreCount if !self.config.partition.is_leader() => {
                self.start_step(StartStep::ConfigFields);
                Step::Again
            }
            StartStep::WriteRestoreCount => {
                // Checked when the engine was made (ConfigKeys).
                let count = match self.learnt.warm {
                    Some(Ok(check)) => check.restore_count,
                    _ => 0,
                };
                self.ops.clear();
                let _ = self.ops.push(WriteOp::RestoreCount { count });
                Step::Ask(Ask::Write(WriteFor::Startup("STATE_DB WARM_RESTART_TABLE")))
            }
            StartStep::ConfigKeys => match self.learnt.warm {
                Some(Ok(check)) => {
                    self.engine
                        .reset(SyncConfig { start: check.start, switch_type: self.learnt.switch_type });
                    if check.fell_back_to_cold {
                        self.emit(Event::WarmFellBackToCold);
                    }
                    self.emit(Event::Starting {
                        start: check.start,
                        switch_type: self.learnt.switch_type,
                        restore_count: check.restore_count,
                    });
                    Step::Ask(Ask::Read(ReadFor::ConfigKeys))
                }
                Some(Err(_)) | None => {
                    self.exit(Err(Failure::BadRestoreCount));
                    Step::Again
                }
            },
            StartStep::ConfigFields => {
                self.keys.clear();
                for name in self.engine.config_ports() {
                    let _ = self.keys.push(*name);
                }
                if self.keys.is_empty() {
                    self.start_step(StartStep::LoadSnapshot);
                    return Step::Again;
                }
                Step::Ask(Ask::Read(ReadFor::ConfigFields))
            }
            StartStep::LoadSnapshot => {
                if self.engine.config().start == StartKind::Warm {
                    Step::Ask(Ask::LoadSnapshot)
                } else {
                    self.start_step(StartStep::Dump);
                    Step::Again
                }
            }
            StartStep::Baseline => {
                self.learnt.cursor = 0;
                self.learnt.kept = 0;
                self.learnt.reader = StatePortReader::default();
                if self.keys.is_empty() {
                    self.start_step(StartStep::Dump);
                    return Step::Again;
                }
                Step::Ask(Ask::Read(ReadFor::Baseline))
            }
            StartStep::Dump => {
                if let Err(e) = self.engine.begin_initial_dump() {
                    self.emit(Event::Engine(e));
                }
                Step::Ask(Ask::Dump)
            }
        }
    }
}
