//! What a read's answer means: each part of it ([`Reply`]) for the purpose
//! the read was made for, and what follows once it is over (or failed).
//! Which read is made when is `poll_io`'s.

use super::Driver;
use super::io::{Failure, Keep, Read, Replies, Reply};
use super::state::Redump;
use super::state::{ReadFor, StartStep};
use crate::backend::{Db, TooLarge};
use crate::engine::{SwitchType, SyncError};
use crate::event::{Event, Oversized, Text};
use crate::time::Instant;
use crate::warm::StatePortReader;
use crate::writes::WriteOp;
use crate::{logger, schema, warm};

impl<const P: usize, const B: usize> Driver<P, B> {
    /// A read's answer (`None`: it failed).
    pub(super) fn on_read(&mut self, now: Instant, purpose: ReadFor, parts: Option<&dyn Replies>) {
        self.answered(now);
        let Some(parts) = parts else {
            self.read_ended(now, purpose, true);
            return;
        };
        parts.each(&mut |reply| self.read_part(purpose, reply));
        match purpose {
            ReadFor::ConfigKeys | ReadFor::ConfigFields => self.config_keys_read(),
            ReadFor::Baseline => self.finish_keys(Self::finish_baseline_key),
            ReadFor::Reconcile => self.finish_keys(Self::finish_reconcile_key),
            _ => {}
        }
        self.read_ended(now, purpose, false);
    }

    /// One part of a read's answer.
    fn read_part(&mut self, purpose: ReadFor, reply: Reply<'_>) {
        match (purpose, reply) {
            (purpose, Reply::TooLarge { index, size }) => self.too_large(purpose, index, size),
            (ReadFor::Logger, Reply::Field { field, value, .. }) => self.logger_reply(field, value),
            (ReadFor::SwitchType, Reply::Value(v)) => self.switch_type_reply(v),
            (ReadFor::WarmEnable(_), Reply::Value(v)) => self.learnt.warm_enabled |= warm::enables(Some(v)),
            (ReadFor::RestoreCount, Reply::Value(v)) => self.learnt.warm = Some(warm::check(true, Some(v))),
            (ReadFor::ConfigKeys, Reply::Key(key)) => self.config_key_reply(key),
            (ReadFor::ConfigFields, reply) => self.config_fields_reply(reply),
            (ReadFor::Baseline, Reply::Field { index, field, value }) => {
                self.key_field(index, field, value, Self::finish_baseline_key)
            }
            (ReadFor::Presence, Reply::Flag { index, present }) => {
                if let Some(name) = self.keys.get(index) {
                    self.presence.answer(*name, present);
                }
            }
            (ReadFor::Prune, Reply::Flag { index, present }) => {
                if let Some(name) = self.keys.get(index).copied() {
                    if let Err(e) = self.engine.prune(&name, present) {
                        self.emit(Event::Engine(e));
                    }
                }
            }
            (ReadFor::Reconcile, Reply::Field { index, field, value }) => {
                self.key_field(index, field, value, Self::finish_reconcile_key)
            }
            (ReadFor::Instances, Reply::Field { index, field, value }) => {
                self.instance_reply(index, field, value)
            }
            (ReadFor::LeaderToken, Reply::Field { field, value, .. }) => {
                self.leader_token_reply(field, value)
            }
            (ReadFor::LoggerPoll, Reply::Field { field, value, .. }) => {
                if field == logger::LOGLEVEL_FIELD.as_bytes() {
                    self.apply_level(value);
                } else if field == logger::LOGOUTPUT_FIELD.as_bytes() {
                    self.apply_output(value);
                }
            }
            // A part of another shape than the read gives: nothing to learn.
            _ => {}
        }
    }

    /// A field of key `index` of a read of STATE_DB port hashes that walks
    /// the keys in order (the warm baseline, reconciliation): the keys
    /// before it are finished first.
    fn key_field(&mut self, index: usize, field: &[u8], value: &[u8], finish: fn(&mut Self)) {
        if index < self.learnt.cursor || index >= self.keys.len() {
            return;
        }
        while self.learnt.cursor < index {
            finish(self);
        }
        self.learnt.reader.field(field, value);
    }

    /// Such a read is complete: every key left is finished.
    fn finish_keys(&mut self, finish: fn(&mut Self)) {
        while self.learnt.cursor < self.keys.len() {
            finish(self);
        }
    }

    /// What was too large to read is taken as absent, said (one WARN) and
    /// counted; never the end of the run.
    fn too_large(&mut self, purpose: ReadFor, index: usize, size: TooLarge) {
        let name = self.keys.get(index).copied();
        let walked = index >= self.learnt.cursor;
        let entry = match (purpose, name) {
            (ReadFor::ConfigKeys, _) => Oversized::ConfigKey,
            (ReadFor::ConfigFields, Some(name)) => {
                if let Err(e) = self.engine.drop_config_port(&name) {
                    self.emit(Event::Engine(e));
                }
                Oversized::ConfigPort(name)
            }
            (ReadFor::Logger | ReadFor::LoggerPoll, _) => {
                self.logger_too_large.seen = true;
                if self.logger_too_large.said {
                    return;
                }
                Oversized::Logger
            }
            (ReadFor::SwitchType, _) => Oversized::SwitchType,
            (ReadFor::WarmEnable(i), _) => {
                Oversized::WarmEnable(warm::ENABLE_KEYS[i.min(warm::ENABLE_KEYS.len() - 1)])
            }
            (ReadFor::RestoreCount, _) => {
                self.learnt.warm = Some(Err(warm::BadRestoreCount));
                Oversized::RestoreCount
            }
            (ReadFor::Baseline, Some(name)) if walked => {
                // Its reader stays empty: nothing kept, so written again.
                while self.learnt.cursor < index {
                    self.finish_baseline_key();
                }
                Oversized::Baseline(name)
            }
            (ReadFor::Reconcile, Some(name)) if walked => {
                while self.learnt.cursor < index {
                    self.finish_reconcile_key();
                }
                self.learnt.cursor += 1;
                self.learnt.reader = StatePortReader::default();
                let state = self.engine.published_state(&name);
                if let Some(state) = state {
                    self.collect(WriteOp::SetStatePort { name, state });
                }
                Oversized::Reconciled { name, written: state.is_some() }
            }
            // APPL_DB's flags, other instances' rows: taken as absent.
            _ => return,
        };
        self.counters.too_large += 1;
        self.emit(Event::TooLarge { entry, size });
    }

    fn switch_type_reply(&mut self, value: &[u8]) {
        if value == schema::SWITCH_TYPE_DPU.as_bytes() {
            self.learnt.switch_type = SwitchType::Dpu;
        } else if core::str::from_utf8(value).is_err() {
            // Anything but "dpu" is a switch to the C++ daemon too; bytes
            // that are not text are worth a word.
            self.emit(Event::BadSwitchType { value: Text::new(value) });
        }
    }

    fn config_key_reply(&mut self, key: &[u8]) {
        match self.engine.add_config_port(key) {
            Ok(()) => {}
            // Counted: the run is refused once all keys are in.
            Err(SyncError::PortTableFull) => self.learnt.over_capacity += 1,
            Err(error) => self.config_key_skipped(Event::ConfigPortSkipped { key: Text::new(key), error }),
        }
    }

    /// A CONFIG_DB PORT key skipped: the first few are said, one by one.
    fn config_key_skipped(&mut self, line: Event) {
        self.learnt.skipped += 1;
        if self.learnt.skipped <= crate::name::FEW {
            self.emit(line);
        }
    }

    /// The read of CONFIG_DB PORT keys or fields is over: the skipped keys
    /// not said one by one are counted in one line.
    fn config_keys_read(&mut self) {
        let more = core::mem::take(&mut self.learnt.skipped).saturating_sub(crate::name::FEW);
        if more > 0 {
            self.emit(Event::ConfigPortsSkippedMore { more });
        }
    }

    /// A configured port's `index` (partitioned instances share ports out
    /// by it), or whether it had any field at all (one without is dropped).
    fn config_fields_reply(&mut self, reply: Reply<'_>) {
        match reply {
            Reply::Field { index, field, value } if field == schema::CONFIG_INDEX_FIELD.as_bytes() => {
                if let Some(name) = self.keys.get(index).copied() {
                    if let Err(e) = self.engine.set_port_index(&name, value) {
                        self.emit(Event::Engine(e));
                    }
                }
            }
            Reply::Flag { index, present: false } => {
                if let Some(name) = self.keys.get(index).copied() {
                    match self.engine.drop_config_port(&name) {
                        Ok(()) => self.config_key_skipped(Event::ConfigPortEmpty { name }),
                        Err(e) => self.emit(Event::Engine(e)),
                    }
                }
            }
            _ => {}
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
                    StartStep::ConfigKeys
                };
                self.start_step(next);
            }
            ReadFor::RestoreCount => {
                if self.learnt.warm.is_none() {
                    self.learnt.warm = Some(warm::check(true, None));
                }
                self.start_step(StartStep::ConfigKeys);
            }
            ReadFor::ConfigKeys if failed => start_failed(self, "CONFIG_DB PORT"),
            ReadFor::ConfigKeys => {
                let count = self.engine.configured_ports();
                if self.learnt.over_capacity > 0 {
                    self.exit(Err(Failure::TooManyPorts {
                        ports: count + self.learnt.over_capacity,
                        capacity: P,
                    }));
                    return;
                }
                self.emit(if count == 0 { Event::NoConfigPorts } else { Event::ConfigPorts { count } });
                self.start_step(StartStep::LoggerDefaults);
            }
            ReadFor::ConfigFields if failed => start_failed(self, "CONFIG_DB PORT"),
            ReadFor::ConfigFields => {
                self.assign_partition();
                self.start_step(StartStep::LoadSnapshot);
            }
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
                } else if self.refused.is_empty() && self.redump == Redump::No {
                    self.retry.reset();
                }
                let presence = &self.presence;
                if let Err(e) = self.engine.resolve_presence(|n| presence.last(n)) {
                    self.emit(Event::Engine(e));
                }
                self.commit();
            }
            ReadFor::Reconcile => self.reconcile_read_ended(failed),
            ReadFor::Instances => self.instances_read(now, failed),
            ReadFor::LeaderToken => self.leader_token_read(now),
            ReadFor::Prune => {
                if failed {
                    self.emit(Event::PruneSkipped);
                }
                self.end_prune();
            }
            ReadFor::LoggerPoll => {}
        }
        if matches!(purpose, ReadFor::Logger | ReadFor::LoggerPoll) && !failed {
            self.logger_too_large.said = core::mem::take(&mut self.logger_too_large.seen);
        }
    }

    pub(super) fn read_of(&self, purpose: ReadFor) -> Read<'_> {
        let keys = &self.keys;
        match purpose {
            ReadFor::Logger => Read::Hash { db: Db::Config, table: logger::LOGGER_TABLE, key: schema::APP },
            ReadFor::SwitchType => Read::Field {
                db: Db::Config,
                table: schema::CONFIG_DEVICE_METADATA_TABLE,
                key: schema::CONFIG_DEVICE_METADATA_KEY,
                field: schema::SWITCH_TYPE_FIELD,
            },
            ReadFor::WarmEnable(i) => Read::Field {
                db: Db::State,
                table: warm::WARM_RESTART_ENABLE_TABLE,
                key: warm::ENABLE_KEYS[i.min(warm::ENABLE_KEYS.len() - 1)],
                field: warm::ENABLE_FIELD,
            },
            ReadFor::RestoreCount => Read::Field {
                db: Db::State,
                table: warm::WARM_RESTART_TABLE,
                key: schema::APP,
                field: warm::RESTORE_COUNT_FIELD,
            },
            ReadFor::ConfigKeys => Read::Keys { db: Db::Config, table: schema::CONFIG_PORT_TABLE },
            ReadFor::ConfigFields => Read::Hashes {
                db: Db::Config,
                table: schema::CONFIG_PORT_TABLE,
                keys,
                keep: Keep::ConfigPortFields,
            },
            ReadFor::Baseline => {
                Read::Hashes { db: Db::State, table: schema::STATE_PORT_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::Presence => Read::Exists { db: Db::Appl, table: schema::APP_PORT_TABLE, keys },
            ReadFor::Prune => Read::HasField {
                db: Db::Appl,
                table: schema::APP_PORT_TABLE,
                keys,
                field: schema::ADMIN_STATUS_FIELD,
            },
            ReadFor::LoggerPoll => {
                Read::Hash { db: Db::Config, table: logger::LOGGER_TABLE, key: schema::APP }
            }
            ReadFor::Reconcile => {
                Read::Hashes { db: Db::State, table: schema::STATE_PORT_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::Instances => {
                Read::Hashes { db: Db::State, table: schema::INSTANCE_TABLE, keys, keep: Keep::Nothing }
            }
            ReadFor::LeaderToken => {
                Read::Hash { db: Db::State, table: schema::INSTANCE_TABLE, key: schema::INSTANCE_KEYS[0] }
            }
        }
    }
}
