//! SONiC's `database_config.json`: which Redis serves which database.
//!
//! This module decides where a database name (`CONFIG_DB`, `APPL_DB`,
//! `STATE_DB`, ...) lives: its Redis instance (unix socket preferred, as
//! swss-common connects by default, else host and port), its numeric id (for
//! `SELECT` and for producer channel names) and its key separator. It does not
//! connect to anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where swss-common looks for the file by default.
pub const DEFAULT_DB_CONFIG_PATH: &str = "/var/run/redis/sonic-db/database_config.json";

/// How to reach one Redis instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisAddr {
    /// A unix socket (preferred when the file gives one).
    Unix(PathBuf),
    /// TCP host and port.
    Tcp(String, u16),
}

impl fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            RedisAddr::Tcp(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// One database, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbEndpoint {
    /// Its name in the file.
    pub name: String,
    /// Numeric id (`SELECT`).
    pub id: u32,
    /// `:` or `|`.
    pub separator: char,
    /// The instance's name in the file.
    pub instance: String,
    /// How to reach the instance.
    pub addr: RedisAddr,
}

/// What is wrong with a `database_config.json`.
#[derive(Debug, thiserror::Error)]
pub enum DbConfigError {
    /// The file could not be read.
    #[error("cannot read SONiC database config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not the JSON we expect.
    #[error("SONiC database config {path} is not valid: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with serde_json's line and column.
        problem: String,
    },
    /// A database the daemon needs is not in the file.
    #[error("SONiC database config {path} has no database {name}")]
    NoSuchDatabase {
        /// The file.
        path: PathBuf,
        /// The database name.
        name: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct RawConfig {
    instances: BTreeMap<String, RawInstance>,
    databases: BTreeMap<String, RawDatabase>,
    #[allow(dead_code)] // present in every real file; not interpreted (as in swss-common)
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawInstance {
    hostname: String,
    port: u16,
    #[serde(default)]
    unix_socket_path: Option<String>,
}

#[derive(Deserialize)]
struct RawDatabase {
    id: u32,
    separator: String,
    instance: String,
}

/// A parsed, validated `database_config.json`.
#[derive(Clone, Debug)]
pub struct DbConfig {
    path: PathBuf,
    databases: BTreeMap<String, DbEndpoint>,
}

impl DbConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, DbConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DbConfigError::Read { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, DbConfigError> {
        let invalid = |problem: String| DbConfigError::Invalid { path: path.into(), problem };
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut databases = BTreeMap::new();
        for (name, db) in raw.databases {
            let separator = match db.separator.as_str() {
                ":" => ':',
                "|" => '|',
                other => {
                    return Err(invalid(format!(
                        "database {name}: separator {other:?} is neither \":\" nor \"|\""
                    )));
                }
            };
            let instance = raw.instances.get(&db.instance).ok_or_else(|| {
                invalid(format!("database {name}: instance {:?} is not in INSTANCES", db.instance))
            })?;
            let addr = match instance.unix_socket_path.as_deref() {
                Some(socket) if !socket.is_empty() => RedisAddr::Unix(socket.into()),
                _ => RedisAddr::Tcp(instance.hostname.clone(), instance.port),
            };
            let endpoint =
                DbEndpoint { name: name.clone(), id: db.id, separator, instance: db.instance, addr };
            databases.insert(name, endpoint);
        }
        Ok(Self { path: path.into(), databases })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves a database by name.
    pub fn resolve(&self, name: &str) -> Result<&DbEndpoint, DbConfigError> {
        self.databases
            .get(name)
            .ok_or_else(|| DbConfigError::NoSuchDatabase { path: self.path.clone(), name: name.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONIC_DEFAULT: &str = r#"{
        "INSTANCES": {
            "redis": { "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/var/run/redis/redis.sock" },
            "redis_chassis": { "hostname": "redis_chassis.server", "port": 6380, "unix_socket_path": "/var/run/redis/redis_chassis.sock" },
            "tcp_only": { "hostname": "10.0.0.1", "port": 6400 }
        },
        "DATABASES": {
            "APPL_DB": { "id": 0, "separator": ":", "instance": "redis" },
            "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
            "STATE_DB": { "id": 6, "separator": "|", "instance": "redis" },
            "CHASSIS_APP_DB": { "id": 12, "separator": "|", "instance": "redis_chassis" },
            "REMOTE_DB": { "id": 1, "separator": ":", "instance": "tcp_only" }
        },
        "VERSION": "1.0"
    }"#;

    fn parse(text: &str) -> Result<DbConfig, DbConfigError> {
        DbConfig::parse(Path::new("/etc/db.json"), text)
    }

    #[test]
    fn resolves_sonic_defaults_preferring_the_socket() {
        let c = parse(SONIC_DEFAULT).unwrap();
        let appl = c.resolve("APPL_DB").unwrap();
        assert_eq!((appl.id, appl.separator), (0, ':'));
        assert_eq!(appl.addr, RedisAddr::Unix("/var/run/redis/redis.sock".into()));
        let state = c.resolve("STATE_DB").unwrap();
        assert_eq!((state.id, state.separator, state.instance.as_str()), (6, '|', "redis"));
        assert_eq!(c.resolve("REMOTE_DB").unwrap().addr, RedisAddr::Tcp("10.0.0.1".into(), 6400));
        assert_eq!(
            c.resolve("NOPE_DB").unwrap_err().to_string(),
            "SONiC database config /etc/db.json has no database NOPE_DB"
        );
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert!(err("{").contains("/etc/db.json is not valid: EOF while parsing"), "{}", err("{"));
        assert!(err(r#"{"DATABASES": {}}"#).contains("missing field `INSTANCES`"));
        let bad_sep = SONIC_DEFAULT.replace(r#""id": 6, "separator": "|""#, r#""id": 6, "separator": "/""#);
        assert!(
            err(&bad_sep).contains(r#"database STATE_DB: separator "/" is neither"#),
            "{}",
            err(&bad_sep)
        );
        let bad_inst = SONIC_DEFAULT.replace(
            r#""id": 4, "separator": "|", "instance": "redis""#,
            r#""id": 4, "separator": "|", "instance": "nope""#,
        );
        assert!(err(&bad_inst).contains(r#"database CONFIG_DB: instance "nope" is not in INSTANCES"#));
        let missing = DbConfig::load(Path::new("/nonexistent/database_config.json")).unwrap_err().to_string();
        assert!(
            missing.starts_with("cannot read SONiC database config /nonexistent/database_config.json:"),
            "{missing}"
        );
    }
}
