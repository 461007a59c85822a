//! Reading a settings file against [`SETTINGS`].
//!
//! The text is parsed as TOML (a syntax error names its line); each key it
//! gives is looked up in the table (a section or a key the table does not
//! have is refused with its line, in serde's words: ``unknown field `x`,
//! expected one of `a`, `b` ``), and its row reads it, in the file's order,
//! into a [`Config`] being built; then each row the file did not give reads
//! its default. A value of the wrong type is refused in serde's words with
//! its line (`invalid type: string "fast", expected i64 (line 2)`); one out
//! of range names the key and the range. The keys read together
//! (`[alerts]`, `[instance]`) are checked as a whole at the end. The first
//! problem found is the one reported: the first in the file, unless it is
//! one of a whole `[alerts]` or `[instance]`.

use std::time::Duration;

use portsyncd_core::alerts::AlertSettings;
use portsyncd_core::health::HealthThresholds;
use portsyncd_core::partition::Partition;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};

use super::instance::RawInstance;
use super::{Config, SETTINGS, Setting};
use crate::alerting::{Alerting, RawAlerts};

/// A config being built, and the keys read together, until they are
/// checked as a whole.
pub(crate) struct Parsed {
    /// The settings read so far.
    pub config: Config,
    /// `[alerts]` as given.
    pub alerts: RawAlerts,
    /// `[instance]` as given.
    pub instance: RawInstance,
}

/// One key's value, from the file or its default, for its row to read.
pub(crate) struct Given<'a> {
    /// `section.key`.
    pub key: &'static str,
    value: Spanned<DeValue<'a>>,
    /// The text the value was read from (for the line an error names).
    text: &'a str,
}

impl Given<'_> {
    /// The value as a `T`, or serde's words for why not, with the line.
    pub fn de<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(ValueDeserializer::from(self.value.clone()))
            .map_err(|e| e.message().to_owned() + &span_note(self.text, e.span()))
    }

    /// An integer in `min..=max` (`min` is never negative).
    pub fn integer(&self, min: i64, max: i64) -> Result<u64, String> {
        let v: i64 = self.de()?;
        if (min..=max).contains(&v) {
            Ok(v as u64)
        } else {
            Err(format!("{} = {v} is out of range {min}..={max}", self.key))
        }
    }

    /// A time in milliseconds, in `min..=max`.
    pub fn millis(&self, min: i64, max: i64) -> Result<Duration, String> {
        self.integer(min, max).map(Duration::from_millis)
    }
}

/// Reads `text` against [`SETTINGS`] (the module's doc says how).
pub(super) fn parse(text: &str) -> Result<Config, String> {
    let doc = DeTable::parse(text).map_err(|e| e.message().to_owned() + &span_note(text, e.span()))?;
    let given = keys_given(doc.get_ref(), text)?;
    let mut parsed =
        Parsed { config: blank(), alerts: RawAlerts::default(), instance: RawInstance::default() };
    for (setting, value) in &given {
        (setting.read)(&mut parsed, &Given { key: setting.key, value: (*value).clone(), text })?;
    }
    for setting in SETTINGS.iter().filter(|s| !given.iter().any(|(g, _)| g.key == s.key)) {
        let Some(default) = setting.default.toml() else { continue };
        let value = DeValue::parse(&default).map_err(|e| format!("{}: default: {e}", setting.key))?;
        (setting.read)(&mut parsed, &Given { key: setting.key, value, text: &default })?;
    }
    let Parsed { mut config, alerts, instance } = parsed;
    config.alerts = alerts.build()?;
    config.partition = instance.build()?;
    Ok(config)
}

/// Each key the file gives, with its value, in the file's order; the first
/// section or key the table does not have is refused.
fn keys_given<'d, 'i>(
    doc: &'d DeTable<'i>,
    text: &str,
) -> Result<Vec<(&'static Setting, &'d Spanned<DeValue<'i>>)>, String> {
    let mut sections: Vec<&str> = Vec::new();
    for setting in SETTINGS {
        if !sections.contains(&setting.section()) {
            sections.push(setting.section());
        }
    }
    let mut given = Vec::new();
    for (section, value) in in_file_order(doc) {
        if !sections.contains(&section.get_ref().as_ref()) {
            return Err(unknown_field(section.get_ref(), &sections) + &span_note(text, Some(section.span())));
        }
        let Some(table) = value.get_ref().as_table() else {
            let found = value.get_ref().type_str();
            return Err(
                format!("invalid type: {found}, expected a table") + &span_note(text, Some(value.span()))
            );
        };
        let rows: Vec<_> = SETTINGS.iter().filter(|s| s.section() == section.get_ref()).collect();
        for (name, value) in in_file_order(table) {
            let Some(row) = rows.iter().find(|s| s.name() == name.get_ref()) else {
                let names: Vec<&str> = rows.iter().map(|s| s.name()).collect();
                return Err(unknown_field(name.get_ref(), &names) + &span_note(text, Some(name.span())));
            };
            given.push((*row, value));
        }
    }
    Ok(given)
}

type Entry<'d, 'i> = (&'d Spanned<DeString<'i>>, &'d Spanned<DeValue<'i>>);

fn in_file_order<'d, 'i>(table: &'d DeTable<'i>) -> Vec<Entry<'d, 'i>> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// serde's words for a field it does not know.
fn unknown_field(name: &str, expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    let expected = match &quoted[..] {
        [] => "there are no fields".to_owned(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        many => format!("expected one of {}", many.join(", ")),
    };
    format!("unknown field `{name}`, {expected}")
}

/// ` (line N)` for a problem at `span` of `text`.
fn span_note(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

/// Where reading starts: every field as no key has set it yet (each row
/// then reads its value or its default into it; `alerts` and `partition`
/// are built from their keys at the end). A field added to [`Config`] is
/// named here, and needs its row in [`SETTINGS`]: the test
/// `every_field_has_a_row` fails until it has one.
fn blank() -> Config {
    Config {
        netlink_receive_buffer: 0,
        dump_timeout: Duration::ZERO,
        coalesce_window: Duration::from_millis(3),
        startup_coalesce_window: Duration::from_millis(10),
        redis_response_timeout: Duration::ZERO,
        redis_reconnect_max: Duration::ZERO,
        redis_connect_wait: Duration::ZERO,
        redis_journal_keys: 0,
        log_output: None,
        memory_ports: Vec::new(),
        snapshot_interval: Duration::ZERO,
        log_repeat_window: Duration::ZERO,
        health: HealthThresholds::default(),
        supervisor_heartbeat: None,
        metrics_addr: None,
        metrics_socket: crate::metrics::SocketAccess { mode: 0, group: None },
        alerts: Alerting {
            settings: AlertSettings::default(),
            rules: Vec::new(),
            silences: Vec::new(),
            state_db: false,
            default_rules: false,
        },
        reconcile_interval: None,
        partition: Partition::single(),
    }
}
