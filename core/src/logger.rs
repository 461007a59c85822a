//! SONiC's CONFIG_DB `LOGGER|<app>` table: which `LOGLEVEL` and `LOGOUTPUT`
//! values exist, and what is written when they are missing.
//!
//! This module decides what a value means; it does not log (the daemon
//! does) and does not read the table (the driver asks for it).

use core::fmt;

/// CONFIG_DB table of per-daemon log settings.
pub const LOGGER_TABLE: &str = "LOGGER";
/// Field naming the level.
pub const LOGLEVEL_FIELD: &str = "LOGLEVEL";
/// Field naming the output.
pub const LOGOUTPUT_FIELD: &str = "LOGOUTPUT";
/// Written when `LOGLEVEL` is missing.
pub const DEFAULT_LEVEL: &str = "NOTICE";
/// Written when `LOGOUTPUT` is missing.
pub const DEFAULT_OUTPUT: &str = "SYSLOG";

/// Syslog severities, most severe first; SONiC's LOGLEVEL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// EMERG
    Emerg = 0,
    /// ALERT
    Alert,
    /// CRIT
    Crit,
    /// ERROR
    Error,
    /// WARN
    Warn,
    /// NOTICE (SONiC's default)
    Notice,
    /// INFO
    Info,
    /// DEBUG
    Debug,
}

impl Level {
    const NAMES: [&'static str; 8] = ["EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG"];

    /// Every level, most severe first.
    pub const ALL: [Level; 8] = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Error,
        Level::Warn,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    /// Parses a LOGLEVEL value (`NOTICE`, `INFO`, ...; also `WARNING`).
    pub fn parse(name: &[u8]) -> Option<Self> {
        let name = if name == b"WARNING" { b"WARN".as_slice() } else { name };
        let i = Self::NAMES.iter().position(|n| n.as_bytes() == name)?;
        Some(Self::ALL[i])
    }

    /// The level whose number (`self as u8`) is `v`; beyond DEBUG is DEBUG.
    pub fn from_u8(v: u8) -> Self {
        Self::ALL[usize::from(v.min(7))]
    }

    /// The LOGLEVEL name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where lines go (CONFIG_DB `LOGOUTPUT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `SYSLOG`: the local syslog socket.
    Syslog,
    /// `STDERR` (also accepted: `STDOUT`, which goes to stderr too).
    Stderr,
}

impl Output {
    /// Parses a LOGOUTPUT value.
    pub fn parse(name: &[u8]) -> Option<Self> {
        match name {
            b"SYSLOG" => Some(Output::Syslog),
            b"STDERR" | b"STDOUT" => Some(Output::Stderr),
            _ => None,
        }
    }

    /// The LOGOUTPUT name.
    pub fn name(self) -> &'static str {
        match self {
            Output::Syslog => "SYSLOG",
            Output::Stderr => "STDERR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Level, Output};

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse(b"NOTICE"), Some(Level::Notice));
        assert_eq!(Level::parse(b"WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse(b"notice"), None);
        assert!(Level::Error < Level::Notice);
        for level in Level::ALL {
            assert_eq!(Level::parse(level.name().as_bytes()), Some(level));
            assert_eq!(Level::from_u8(level as u8), level);
        }
        assert_eq!(Output::parse(b"SYSLOG"), Some(Output::Syslog));
        assert_eq!(Output::parse(b"FILE"), None);
    }
}
