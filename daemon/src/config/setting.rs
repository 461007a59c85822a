//! What a row of [`SETTINGS`](super::SETTINGS) holds: a key's name, its
//! default, when a change of it applies, what it sets in one line; and how
//! its value is read (checked, then put in a [`Config`] being built), shown
//! (`--check-config`, a reload's line) and taken from another [`Config`]
//! (what a reload puts in force).

use super::Config;
use super::read::{Given, Parsed};

/// One key of the settings file.
pub struct Setting {
    /// `section.key`, as errors, `--check-config` and a reload's line name
    /// it (`netlink.dump_timeout_ms`).
    pub key: &'static str,
    /// Its value when the file does not give it.
    pub default: DefaultValue,
    /// When a changed value applies.
    pub when: When,
    /// What it sets, in one line (the reference's description of it starts
    /// with this line).
    pub doc: &'static str,
    /// Checks a value (given, or the default) and puts it in place.
    pub(crate) read: fn(&mut Parsed, &Given<'_>) -> Result<(), String>,
    /// Its value in a config, as shown.
    pub(crate) show: fn(&Config) -> String,
    /// Sets in the first config what this key sets, from the second (keys
    /// read together, like `[instance]`'s, each take all they set).
    pub(crate) take: fn(&mut Config, &Config),
}

impl Setting {
    /// Its `[section]` in the file.
    pub fn section(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(section, _)| section)
    }

    /// Its name within the section.
    pub fn name(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, name)| name)
    }
}

/// When a changed value applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// On SIGHUP: a running daemon takes it.
    RunTime,
    /// At the next start only.
    NextStart,
}

impl std::fmt::Display for When {
    /// As the reference's table says it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RunTime => "run time",
            Self::NextStart => "next start",
        })
    }
}

/// A key's value when the file does not give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// None: an absent key means something of its own (its doc says what).
    Unset,
    /// An integer.
    Integer(i64),
    /// A boolean.
    Bool(bool),
    /// Another value, in TOML.
    Toml(&'static str),
}

impl DefaultValue {
    /// As TOML, as the shipped file shows it; `None` when unset.
    pub fn toml(self) -> Option<String> {
        match self {
            Self::Unset => None,
            Self::Integer(n) => Some(n.to_string()),
            Self::Bool(b) => Some(b.to_string()),
            Self::Toml(text) => Some(text.to_owned()),
        }
    }
}
