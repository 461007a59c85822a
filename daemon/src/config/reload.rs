//! What the table says about two configs, or one: each setting's value as
//! shown ([`Config::effective`], `--check-config`), which settings differ
//! ([`Config::changes`], [`describe`]: a reload's line), and what a running
//! daemon takes of a file read again ([`Config::run_time_part_of`]). When the
//! file is read again is [`crate::signals`]'s.

use super::{Config, SETTINGS, When};

/// A setting whose value differs between two [`Config`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its key in the file (`netlink.dump_timeout_ms`).
    pub key: &'static str,
    /// The value in force.
    pub old: String,
    /// The value read.
    pub new: String,
    /// Whether a running daemon applies it (on SIGHUP); if not, it takes
    /// effect at the next start.
    pub at_run_time: bool,
}

impl Config {
    /// Every setting as `(key, value in effect)`, in file order (what
    /// `--check-config` prints).
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        SETTINGS.iter().map(|s| (s.key, (s.show)(self))).collect()
    }

    /// The settings of `new` that differ from these, in file order.
    pub fn changes(&self, new: &Config) -> Vec<Change> {
        SETTINGS
            .iter()
            .filter_map(|s| {
                let (old, new) = ((s.show)(self), (s.show)(new));
                (old != new).then_some(Change { key: s.key, old, new, at_run_time: s.when == When::RunTime })
            })
            .collect()
    }

    /// These settings with the ones a running daemon applies taken from
    /// `new`: what is in force after a reload (the rest waits for a restart).
    pub fn run_time_part_of(&self, new: &Config) -> Config {
        let mut in_force = self.clone();
        for setting in SETTINGS.iter().filter(|s| s.when == When::RunTime) {
            (setting.take)(&mut in_force, new);
        }
        in_force
    }
}

/// `changes` in one line: `in effect now: a 1 => 2; at the next start only:
/// b 3 => 4`, or `no setting changed`.
pub fn describe(changes: &[Change]) -> String {
    let list = |at_run_time: bool| {
        changes
            .iter()
            .filter(|c| c.at_run_time == at_run_time)
            .map(|c| format!("{} {} => {}", c.key, c.old, c.new))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (now, later) = (list(true), list(false));
    match (now.is_empty(), later.is_empty()) {
        (true, true) => "no setting changed".to_owned(),
        (false, true) => format!("in effect now: {now}"),
        (true, false) => format!("at the next start only: {later}"),
        (false, false) => format!("in effect now: {now}; at the next start only: {later}"),
    }
}
