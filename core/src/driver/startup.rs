//! Start-up: LOGGER, DEVICE_METADATA, the WarmStart keys, CONFIG_DB ports,
//! the warm-restart snapshot and the baseline STATE_DB gives it, then the
//! first dump — in the C++ daemon's order (SONIC.md §5, §11).
//!
//! What each answer means for the start lives here; which request comes
//! next lives in `next_start`. A failed start-up read or a refused start-up
//! write ends the run before anything of the ports is written.

use super::*;
use crate::warm::SnapshotPort;

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Moves start-up on to `step`, unless the run is already ending (a
    /// signal, a failure) while an answer was awaited.
    pub(super) fn start_step(&mut self, step: StartStep) {
        if matches!(self.stage, Stage::Start(_)) {
            self.stage = Stage::Start(step);
        }
    }

    pub(super) fn logger_reply(&mut self, reply: Reply<'_>) {
        if let Reply::Field { field, value, .. } = reply {
            if field == logger::LOGLEVEL_FIELD.as_bytes() {
                self.learnt.level = Some(Level::parse(value).ok_or(Text::new(value)));
            } else if field == logger::LOGOUTPUT_FIELD.as_bytes() {
                self.learnt.output = Some(Output::parse(value));
            }
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
                let hash = fnv(value);
                if self.bad_level_seen != Some(hash) {
                    self.bad_level_seen = Some(hash);
                    self.emit(Event::BadLogLevel { value: Text::new(value), kept: self.level });
                }
            }
        }
    }

    pub(super) fn baseline_reply(&mut self, reply: Reply<'_>) {
        match reply {
            Reply::Field { index, field, value } => {
                if index < self.learnt.cursor || index >= self.keys.len() {
                    return;
                }
                while self.learnt.cursor < index {
                    self.finish_baseline_key();
                }
                self.learnt.reader.field(field, value);
            }
            Reply::Done => {
                while self.learnt.cursor < self.keys.len() {
                    self.finish_baseline_key();
                }
            }
            _ => {}
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

    pub(super) fn read_ended(&mut self, now: Instant, purpose: ReadFor, failed: bool) {
        let start_failed =
            |this: &mut Self, what: &'static str| this.exit(Err(Failure::StartupRead { what }));
        match purpose {
            ReadFor::Logger if failed => start_failed(self, "CONFIG_DB LOGGER"),
            ReadFor::Logger => self.logger_read(),
            ReadFor::SwitchType if failed => start_failed(self, "CONFIG_DB DEVICE_METADATA"),
            ReadFor::SwitchType => self.start_step(StartStep::WarmEnable(0)),
            ReadFor::WarmEnable(_) | ReadFor::RestoreCount if failed => {
                start_failed(self, "STATE_DB warm-restart keys")
            }
            ReadFor::WarmEnable(i) if i + 1 < warm::ENABLE_KEYS.len() => {
                self.start_step(StartStep::WarmEnable(i + 1))
            }
            ReadFor::WarmEnable(_) => {
                let next = if self.learnt.warm_enabled {
                    StartStep::RestoreCount
                } else {
                    self.learnt.warm = Some(warm::check(false, None));
                    StartStep::WriteRestoreCount
                };
                self.start_step(next);
            }
            ReadFor::RestoreCount => {
                if self.learnt.warm.is_none() {
                    self.learnt.warm = Some(warm::check(true, None));
                }
                self.start_step(StartStep::WriteRestoreCount);
            }
            ReadFor::ConfigKeys if failed => start_failed(self, "CONFIG_DB PORT"),
            ReadFor::ConfigKeys => {
                let count = self.engine.configured_ports();
                self.emit(if count == 0 { Event::NoConfigPorts } else { Event::ConfigPorts { count } });
                self.start_step(StartStep::ConfigFields);
            }
            ReadFor::ConfigFields if failed => start_failed(self, "CONFIG_DB PORT"),
            ReadFor::ConfigFields => self.start_step(StartStep::LoadSnapshot),
            ReadFor::Baseline if failed => start_failed(self, "STATE_DB PORT_TABLE"),
            ReadFor::Baseline => {
                let kept = self.learnt.kept;
                self.emit(Event::WarmBaseline { kept, rewritten: self.keys.len() - kept });
                self.start_step(StartStep::Dump);
            }
            ReadFor::Presence => {
                if failed {
                    // The batch's writes for ports never answered are dropped
                    // below; a dump once the retry timer fires writes them.
                    self.emit(Event::PresenceUnknown);
                    self.resync_later(now);
                } else if self.refused.is_empty() && !self.resync_wanted {
                    self.retry.reset();
                }
                let presence = &self.presence;
                if let Err(e) = self.engine.resolve_presence(|n| presence.last(n)) {
                    self.emit(Event::Engine(e));
                }
                self.commit(now);
            }
            ReadFor::Prune => {
                if failed {
                    self.emit(Event::PruneSkipped);
                }
                self.end_prune();
            }
            ReadFor::LogLevel => {}
        }
    }

    pub(super) fn logger_read(&mut self) {
        let missing_level = self.learnt.level.is_none();
        let missing_output = self.learnt.output.is_none();
        if missing_level || missing_output {
            let _ = self.ops.push(WriteOp::LoggerDefaults { level: missing_level, output: missing_output });
        }
        match self.learnt.level {
            Some(Ok(level)) => self.set_level(level),
            Some(Err(value)) => self.emit(Event::BadLogLevel { value, kept: self.level }),
            None => {}
        }
        let output = self.config.log_output.or(self.learnt.output.flatten()).unwrap_or(Output::Syslog);
        let _ = self.direct.push_back(Direct::Output(output));
        self.start_step(if self.ops.is_empty() { StartStep::SwitchType } else { StartStep::LoggerDefaults });
    }

    pub(super) fn set_level(&mut self, level: Level) {
        if level != self.level {
            let old = self.level;
            self.level = level;
            let _ = self.direct.push_back(Direct::Level(level));
            let _ = self.events.push_back(Event::LogLevelChanged { old, new: level });
        }
    }

    /// The answer to [`Io::LoadSnapshot`].
    pub fn handle_snapshot(&mut self, now: Instant, load: SnapshotLoad<'_, P>) -> Result<(), Unasked> {
        self.now = self.now.max(now);
        if self.awaiting != Awaiting::SnapshotLoad {
            return Err(Unasked { answer: "a snapshot load" });
        }
        self.awaiting = Awaiting::Nothing;
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
            SnapshotLoad::Loaded(s) => &s.ports,
        };
        if let Err(e) = self.engine.restore_ports(ports) {
            self.emit(Event::Engine(e));
            return Ok(());
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
        Ok(())
    }

    pub(super) fn next_start(&mut self, step: StartStep) -> Step {
        match step {
            StartStep::Logger => Step::Ask(Request::Read(ReadFor::Logger)),
            StartStep::LoggerDefaults => Step::Ask(Request::Write(WriteFor::Startup("CONFIG_DB LOGGER"))),
            StartStep::SwitchType => Step::Ask(Request::Read(ReadFor::SwitchType)),
            StartStep::WarmEnable(i) => Step::Ask(Request::Read(ReadFor::WarmEnable(i))),
            StartStep::RestoreCount => Step::Ask(Request::Read(ReadFor::RestoreCount)),
            StartStep::WriteRestoreCount => match self.learnt.warm {
                Some(Ok(check)) => {
                    self.engine = LinkSync::new(SyncConfig {
                        start: check.start,
                        switch_type: self.learnt.switch_type,
                    });
                    self.ops.clear();
                    let _ = self.ops.push(WriteOp::RestoreCount { count: check.restore_count });
                    Step::Ask(Request::Write(WriteFor::Startup("STATE_DB WARM_RESTART_TABLE")))
                }
                Some(Err(_)) | None => {
                    self.exit(Err(Failure::BadRestoreCount));
                    Step::Again
                }
            },
            StartStep::ConfigKeys => Step::Ask(Request::Read(ReadFor::ConfigKeys)),
            StartStep::ConfigFields => {
                self.keys.clear();
                for name in self.engine.config_ports() {
                    let _ = self.keys.push(*name);
                }
                if self.keys.is_empty() {
                    self.start_step(StartStep::LoadSnapshot);
                    return Step::Again;
                }
                Step::Ask(Request::Read(ReadFor::ConfigFields))
            }
            StartStep::LoadSnapshot => {
                if self.engine.config().start == StartKind::Warm {
                    Step::Ask(Request::LoadSnapshot)
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
                Step::Ask(Request::Read(ReadFor::Baseline))
            }
            StartStep::Dump => {
                if let Err(e) = self.engine.begin_initial_dump() {
                    self.emit(Event::Engine(e));
                }
                Step::Ask(Request::Dump)
            }
        }
    }
}
