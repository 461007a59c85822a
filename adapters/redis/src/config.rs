//! SONiC's `database_config.json`: which Redis serves which database.
//!
//! This module decides where a database name (`CONFIG_DB`, `APPL_DB`,
//! `STATE_DB`, ...) lives: its Redis instance (unix socket preferred, as
//! swss-common connects by default, else host and port), its numeric id (for
//! `SELECT` and for producer channel names) and its key separator. It does not
//! connect to anything.
//!
//! A SONiC box's file lists many databases (ASIC_DB, COUNTERS_DB,
//! CHASSIS_APP_DB on a `redis_chassis` instance only some boxes define, ...).
//! Only the ones portsyncd uses ([`Db::ALL`]: CONFIG_DB, APPL_DB, STATE_DB)
//! must be present and valid, instance included; any other entry is read
//! only if asked for by name, and its problems are its own.
//!
//! On a multi-ASIC box each ASIC namespace has its own Redis and its own
//! `database_config.json`; the host's `database_global.json`
//! ([`GlobalDbConfig`]) names them. [`DbConfig::load_namespace`] finds a
//! namespace's file through it the way swss-common's
//! `SonicDBConfig::initializeGlobalConfig` and `getDbInfo` do, with one
//! difference: only the selected file is read (swss-common reads every
//! included file, so one ASIC's broken file stops the tools of every ASIC).
//!
//! It also reads small configuration files without ever blocking
//! ([`read_config_file`]): the daemon reads its own settings file with it too.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use portsyncd_core::backend::Db;
use serde::Deserialize;

/// Where swss-common looks for the file by default.
pub const DEFAULT_DB_CONFIG_PATH: &str = "/var/run/redis/sonic-db/database_config.json";

/// Where swss-common looks for the multi-namespace file by default.
pub const DEFAULT_DB_GLOBAL_CONFIG_PATH: &str = "/var/run/redis/sonic-db/database_global.json";

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
    /// The global file (`database_global.json`) could not be read.
    #[error("cannot read SONiC global database config {path}: {source}")]
    GlobalRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The global file is not the JSON we expect.
    #[error("SONiC global database config {path} is not valid: {problem}")]
    GlobalInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with serde_json's line and column.
        problem: String,
    },
    /// No include of the global file is for this namespace.
    #[error(
        "namespace {namespace} is not in SONiC global database config {path} ({})",
        known_namespaces(known)
    )]
    UnknownNamespace {
        /// The global file.
        path: PathBuf,
        /// The namespace asked for.
        namespace: String,
        /// The namespaces it has, in file order.
        known: Vec<String>,
    },
    /// The namespace's own `database_config.json` is wrong.
    #[error("namespace {namespace} (SONiC global database config {global}): {source}")]
    Namespace {
        /// The global file that named it.
        global: PathBuf,
        /// The namespace.
        namespace: String,
        /// What is wrong with the namespace's file.
        source: Box<DbConfigError>,
    },
}

fn known_namespaces(known: &[String]) -> String {
    if known.is_empty() {
        "it names no namespace".into()
    } else {
        format!("its namespaces: {}", known.join(", "))
    }
}

/// The most bytes a configuration file may have ([`read_config_file`]):
/// real ones are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a configuration file as text without ever blocking, whatever the
/// path names: it is opened non-blocking (a FIFO without a writer opens at
/// once), refused unless the opened file is a regular file (a FIFO, a
/// device, a directory or a socket would block, never end or make no sense),
/// and refused if larger than [`MAX_CONFIG_BYTES`]. The error says which.
pub fn read_config_file(path: &Path) -> io::Result<String> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", file_kind(meta.file_type())),
        ));
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_CONFIG_BYTES} bytes, the limit for a configuration file"),
        )
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    // Bounded even if the file grows while it is read.
    Read::take(&file, MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// What kind of file this is, in words (for errors about a path).
pub fn file_kind(t: FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a symbolic link"
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct RawConfig {
    /// Each checked only when a database that is asked for names it.
    instances: BTreeMap<String, serde_json::Value>,
    /// Each checked only when asked for (the used ones at once).
    databases: BTreeMap<String, serde_json::Value>,
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

/// A parsed `database_config.json` whose CONFIG_DB, APPL_DB and STATE_DB
/// are valid.
#[derive(Clone, Debug)]
pub struct DbConfig {
    path: PathBuf,
    /// Every database of the file: resolved, or what is wrong with it.
    databases: BTreeMap<String, Result<DbEndpoint, String>>,
}

impl DbConfig {
    /// Reads ([`read_config_file`]) and validates `path`.
    pub fn load(path: &Path) -> Result<Self, DbConfigError> {
        let text =
            read_config_file(path).map_err(|source| DbConfigError::Read { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path` (named in errors): the JSON
    /// as a whole, and the databases the daemon uses ([`Db::ALL`]) with
    /// their instances. Other databases are not checked here.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DbConfigError> {
        let invalid = |problem: String| DbConfigError::Invalid { path: path.into(), problem };
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let databases = raw
            .databases
            .iter()
            .map(|(name, db)| (name.clone(), endpoint(name, db, &raw.instances)))
            .collect();
        let config = Self { path: path.into(), databases };
        for db in Db::ALL {
            config.resolve(db.name())?;
        }
        Ok(config)
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves a database by name.
    pub fn resolve(&self, name: &str) -> Result<&DbEndpoint, DbConfigError> {
        match self.databases.get(name) {
            Some(Ok(endpoint)) => Ok(endpoint),
            Some(Err(problem)) => {
                Err(DbConfigError::Invalid { path: self.path.clone(), problem: problem.clone() })
            }
            None => Err(DbConfigError::NoSuchDatabase { path: self.path.clone(), name: name.into() }),
        }
    }
}

impl DbConfig {
    /// The configuration of multi-ASIC namespace `namespace`: the
    /// `database_config.json` that `global` (a `database_global.json`)
    /// includes for it ([`GlobalDbConfig::include_for`]), read and validated
    /// as [`load`](Self::load) does. Errors name the namespace and the files.
    pub fn load_namespace(global: &Path, namespace: &str) -> Result<Self, DbConfigError> {
        let include = GlobalDbConfig::load(global)?.include_for(namespace)?;
        Self::load(&include).map_err(|source| DbConfigError::Namespace {
            global: global.into(),
            namespace: namespace.into(),
            source: Box::new(source),
        })
    }
}

/// One entry of `INCLUDES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    /// The included file, resolved against the global file's directory.
    pub path: PathBuf,
    /// `namespace` (`None`: absent, null or empty).
    pub namespace: Option<String>,
    /// `container_name` (`None`: absent, null or empty).
    pub container_name: Option<String>,
}

/// A parsed `database_global.json`: which `database_config.json` serves
/// which namespace (and which container: DPU entries).
///
/// swss-common's rules (`SonicDBConfig::initializeGlobalConfig`):
/// - each include is keyed by the pair (`container_name`, `namespace`), an
///   absent, null or empty one counting as empty; the empty pair is the
///   default (host) configuration; a later entry with the same key replaces
///   an earlier one;
/// - the path is the global file's path up to and including its last `/`,
///   followed by the include as written (so a leading `/` does not make it
///   absolute, and `..` is allowed: real files say
///   `../../redis0/sonic-db/database_config.json`);
/// - a missing `INCLUDES` means no entries; `VERSION` is not interpreted.
///
/// portsyncd is not a container-named lookup: a namespace selects the entry
/// with that namespace and no `container_name`.
#[derive(Clone, Debug)]
pub struct GlobalDbConfig {
    path: PathBuf,
    includes: Vec<Include>,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct RawGlobal {
    #[serde(default)]
    includes: Option<Vec<RawInclude>>,
    #[allow(dead_code)] // not interpreted (as in swss-common)
    version: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawInclude {
    include: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    container_name: Option<String>,
}

impl GlobalDbConfig {
    /// Reads ([`read_config_file`]) and parses `path`.
    pub fn load(path: &Path) -> Result<Self, DbConfigError> {
        let text = read_config_file(path)
            .map_err(|source| DbConfigError::GlobalRead { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if read from `path` (named in errors, and the base
    /// of the includes' paths). The included files are not read.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DbConfigError> {
        let raw: RawGlobal = serde_json::from_str(text)
            .map_err(|e| DbConfigError::GlobalInvalid { path: path.into(), problem: e.to_string() })?;
        let dir = directory_prefix(path);
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let includes = raw
            .includes
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let mut file = dir.clone();
                file.push(&i.include);
                Include {
                    path: file.into(),
                    namespace: non_empty(i.namespace),
                    container_name: non_empty(i.container_name),
                }
            })
            .collect();
        Ok(Self { path: path.into(), includes })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every include, in file order.
    pub fn includes(&self) -> &[Include] {
        &self.includes
    }

    /// The namespaces a lookup without a container name can select, in
    /// file order, each once.
    pub fn namespaces(&self) -> Vec<String> {
        let mut known: Vec<String> = Vec::new();
        for ns in
            self.includes.iter().filter(|i| i.container_name.is_none()).filter_map(|i| i.namespace.as_ref())
        {
            if !known.contains(ns) {
                known.push(ns.clone());
            }
        }
        known
    }

    /// The default (host) configuration's file: the include with neither
    /// a namespace nor a container name, if any.
    pub fn default_include(&self) -> Option<&Path> {
        self.lookup(None)
    }

    /// The file of namespace `namespace` (the last include with that
    /// namespace and no container name), or an error naming the namespace,
    /// this file and the namespaces it has.
    pub fn include_for(&self, namespace: &str) -> Result<PathBuf, DbConfigError> {
        self.lookup(Some(namespace)).map(Path::to_path_buf).ok_or_else(|| DbConfigError::UnknownNamespace {
            path: self.path.clone(),
            namespace: namespace.into(),
            known: self.namespaces(),
        })
    }

    fn lookup(&self, namespace: Option<&str>) -> Option<&Path> {
        self.includes
            .iter()
            .rev()
            .find(|i| i.container_name.is_none() && i.namespace.as_deref() == namespace)
            .map(|i| i.path.as_path())
    }
}

/// The global file's path up to and including its last `/` (empty if it has
/// none: the includes are then relative to the working directory, as the
/// file itself is).
fn directory_prefix(path: &Path) -> OsString {
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    std::ffi::OsStr::from_bytes(&bytes[..end]).to_owned()
}

/// Database `name` of the file, or what is wrong with it (or its instance).
fn endpoint(
    name: &str,
    db: &serde_json::Value,
    instances: &BTreeMap<String, serde_json::Value>,
) -> Result<DbEndpoint, String> {
    let db = RawDatabase::deserialize(db).map_err(|e| format!("database {name}: {e}"))?;
    let separator = match db.separator.as_str() {
        ":" => ':',
        "|" => '|',
        other => return Err(format!("database {name}: separator {other:?} is neither \":\" nor \"|\"")),
    };
    let instance = instances
        .get(&db.instance)
        .ok_or_else(|| format!("database {name}: instance {:?} is not in INSTANCES", db.instance))?;
    let instance = RawInstance::deserialize(instance)
        .map_err(|e| format!("database {name}: instance {:?}: {e}", db.instance))?;
    let addr = match instance.unix_socket_path.as_deref() {
        Some(socket) if !socket.is_empty() => RedisAddr::Unix(socket.into()),
        _ => RedisAddr::Tcp(instance.hostname, instance.port),
    };
    Ok(DbEndpoint { name: name.to_owned(), id: db.id, separator, instance: db.instance, addr })
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
        let no_state = SONIC_DEFAULT.replace(r#""STATE_DB""#, r#""STATE_DB_OLD""#);
        assert_eq!(err(&no_state), "SONiC database config /etc/db.json has no database STATE_DB");
        let bad_shape =
            SONIC_DEFAULT.replace(r#""id": 0, "separator": ":""#, r#""id": "zero", "separator": ":""#);
        assert!(err(&bad_shape).contains("database APPL_DB: invalid type"), "{}", err(&bad_shape));
        let bad_instance = SONIC_DEFAULT.replace(r#""port": 6379"#, r#""port": "6379""#);
        assert!(
            err(&bad_instance).contains(r#"database CONFIG_DB: instance "redis": invalid type"#),
            "{}",
            err(&bad_instance)
        );
    }

    /// SONiC's own list (SONIC.md §1.1): every database, two instances.
    const SONIC_FULL: &str = r#"{
        "INSTANCES": {
            "redis": { "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/var/run/redis/redis.sock" }
        },
        "DATABASES": {
            "APPL_DB": { "id": 0, "separator": ":", "instance": "redis" },
            "ASIC_DB": { "id": 1, "separator": ":", "instance": "redis" },
            "COUNTERS_DB": { "id": 2, "separator": ":", "instance": "redis" },
            "LOGLEVEL_DB": { "id": 3, "separator": ":", "instance": "redis" },
            "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
            "PFC_WD_DB": { "id": 5, "separator": ":", "instance": "redis" },
            "FLEX_COUNTER_DB": { "id": 5, "separator": ":", "instance": "redis" },
            "STATE_DB": { "id": 6, "separator": "|", "instance": "redis" },
            "SNMP_OVERLAY_DB": { "id": 7, "separator": "|", "instance": "redis" },
            "RESTAPI_DB": { "id": 8, "separator": "|", "instance": "redis" },
            "GB_ASIC_DB": { "id": 9, "separator": ":", "instance": "redis" },
            "GB_COUNTERS_DB": { "id": 10, "separator": ":", "instance": "redis" },
            "GB_FLEX_COUNTER_DB": { "id": 11, "separator": ":", "instance": "redis" },
            "CHASSIS_APP_DB": { "id": 12, "separator": "|", "instance": "redis_chassis" },
            "CHASSIS_STATE_DB": { "id": 13, "separator": "|", "instance": "redis_chassis" },
            "APPL_STATE_DB": { "id": 14, "separator": ":", "instance": "redis" },
            "DPU_APPL_DB": { "id": 15, "separator": ":", "instance": "redis" },
            "DPU_APPL_STATE_DB": { "id": 16, "separator": "|", "instance": "redis" },
            "DPU_STATE_DB": { "id": 17, "separator": "|", "instance": "redis" },
            "DPU_COUNTERS_DB": { "id": 18, "separator": ":", "instance": "redis" },
            "ODD_DB": { "separator": "/", "instance": 7 }
        },
        "VERSION": "1.0"
    }"#;

    #[test]
    fn only_the_databases_used_are_checked() {
        // CHASSIS_* on an instance this file does not define, ODD_DB malformed:
        // neither is used, so the file is good.
        let c = parse(SONIC_FULL).unwrap();
        assert_eq!(c.resolve("CONFIG_DB").unwrap().id, 4);
        assert_eq!(c.resolve("ASIC_DB").unwrap().id, 1);
        // Asked for by name, they say what is wrong with them.
        assert_eq!(
            c.resolve("CHASSIS_APP_DB").unwrap_err().to_string(),
            "SONiC database config /etc/db.json is not valid: database CHASSIS_APP_DB: \
             instance \"redis_chassis\" is not in INSTANCES"
        );
        assert!(c.resolve("ODD_DB").unwrap_err().to_string().contains("database ODD_DB: "));
        // A used one on an undefined instance is refused, named.
        let used = SONIC_FULL.replace(
            r#""STATE_DB": { "id": 6, "separator": "|", "instance": "redis" }"#,
            r#""STATE_DB": { "id": 6, "separator": "|", "instance": "redis_chassis" }"#,
        );
        assert_eq!(
            parse(&used).unwrap_err().to_string(),
            "SONiC database config /etc/db.json is not valid: database STATE_DB: \
             instance \"redis_chassis\" is not in INSTANCES"
        );
    }

    #[test]
    fn config_files_are_regular_small_files_read_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("db.json");
        std::fs::write(&good, SONIC_FULL).unwrap();
        assert_eq!(read_config_file(&good).unwrap(), SONIC_FULL);
        assert!(DbConfig::load(&good).is_ok());
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // No writer: a plain open would block here for ever.
        assert_eq!(read_config_file(&fifo).unwrap_err().to_string(), "not a regular file (a FIFO)");
        assert_eq!(
            DbConfig::load(&fifo).unwrap_err().to_string(),
            format!("cannot read SONiC database config {}: not a regular file (a FIFO)", fifo.display())
        );
        let zero = Path::new("/dev/zero");
        assert_eq!(
            read_config_file(zero).unwrap_err().to_string(),
            "not a regular file (a character device)"
        );
        assert_eq!(read_config_file(dir.path()).unwrap_err().to_string(), "not a regular file (a directory)");
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        assert_eq!(
            read_config_file(&big).unwrap_err().to_string(),
            "larger than 1048576 bytes, the limit for a configuration file"
        );
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize]).unwrap();
        assert_eq!(read_config_file(&big).unwrap().len(), MAX_CONFIG_BYTES as usize);
        let missing = read_config_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    /// sonic-buildimage's host file on a two-ASIC box with a DPU entry.
    const GLOBAL: &str = r#"{
        "INCLUDES": [
            { "include": "../../redis/sonic-db/database_config.json" },
            { "namespace": "asic0", "include": "../../redis0/sonic-db/database_config.json" },
            { "namespace": "asic1", "include": "../../redis1/sonic-db/database_config.json" },
            { "container_name": "dpu0", "include": "../../redisdpu0/sonic-db/database_config.json" },
            { "namespace": "asic1", "container_name": "dpu1", "include": "dpu1.json" }
        ],
        "VERSION": "1.0"
    }"#;

    fn global(text: &str) -> Result<GlobalDbConfig, DbConfigError> {
        GlobalDbConfig::parse(Path::new("/var/run/redis/sonic-db/database_global.json"), text)
    }

    #[test]
    fn global_includes_follow_swss_common_rules() {
        let g = global(GLOBAL).unwrap();
        let dir = "/var/run/redis/sonic-db/";
        assert_eq!(
            g.include_for("asic0").unwrap(),
            PathBuf::from(format!("{dir}../../redis0/sonic-db/database_config.json"))
        );
        // asic1 without a container name, not dpu1's entry (keyed (dpu1, asic1)).
        assert_eq!(
            g.include_for("asic1").unwrap(),
            PathBuf::from(format!("{dir}../../redis1/sonic-db/database_config.json"))
        );
        assert_eq!(
            g.default_include(),
            Some(Path::new("/var/run/redis/sonic-db/../../redis/sonic-db/database_config.json"))
        );
        assert_eq!(g.namespaces(), ["asic0", "asic1"]);
        assert_eq!(g.includes().len(), 5);
        assert_eq!(g.includes()[4].container_name.as_deref(), Some("dpu1"));
        assert_eq!(g.path(), Path::new("/var/run/redis/sonic-db/database_global.json"));
    }

    #[test]
    fn global_edge_cases_as_swss_common_reads_them() {
        // The directory is the text up to the last '/', then the include as
        // written: a leading '/' stays under it.
        let g = global(r#"{"INCLUDES": [{"namespace": "asic0", "include": "/abs.json"}]}"#).unwrap();
        assert_eq!(g.include_for("asic0").unwrap(), PathBuf::from("/var/run/redis/sonic-db//abs.json"));
        // No '/' in the global path: relative to the working directory, as the file is.
        let g = GlobalDbConfig::parse(
            Path::new("database_global.json"),
            r#"{"INCLUDES": [{"namespace": "asic0", "include": "a0/db.json"}]}"#,
        )
        .unwrap();
        assert_eq!(g.include_for("asic0").unwrap(), PathBuf::from("a0/db.json"));
        // An empty or null namespace and container name are absent: the default.
        let g = global(
            r#"{"INCLUDES": [{"namespace": "", "container_name": null, "include": "host.json"},
                            {"namespace": "asic0", "include": "first.json"},
                            {"namespace": "asic0", "include": "second.json"}]}"#,
        )
        .unwrap();
        assert_eq!(g.default_include(), Some(Path::new("/var/run/redis/sonic-db/host.json")));
        // The same key twice: the later entry wins (swss-common's map assignment).
        assert_eq!(g.include_for("asic0").unwrap(), PathBuf::from("/var/run/redis/sonic-db/second.json"));
        assert_eq!(g.namespaces(), ["asic0"]);
        // No INCLUDES: no entries.
        let g = global(r#"{"VERSION": "1.0"}"#).unwrap();
        assert!(g.includes().is_empty());
        assert_eq!(g.default_include(), None);
    }

    #[test]
    fn global_errors_name_the_file_and_the_problem() {
        let err = |t: &str| global(t).unwrap_err().to_string();
        let at = "SONiC global database config /var/run/redis/sonic-db/database_global.json is not valid: ";
        assert!(err("{").starts_with(&format!("{at}EOF while parsing")), "{}", err("{"));
        assert!(err("7").starts_with(&format!("{at}invalid type: integer `7`")), "{}", err("7"));
        let no_include = r#"{"INCLUDES": [{"namespace": "asic0"}]}"#;
        assert!(err(no_include).starts_with(&format!("{at}missing field `include`")), "{}", err(no_include));
        let bad_ns = r#"{"INCLUDES": [{"namespace": 0, "include": "a.json"}]}"#;
        assert!(err(bad_ns).starts_with(&format!("{at}invalid type: integer `0`")), "{}", err(bad_ns));
        let not_list = r#"{"INCLUDES": {"include": "a.json"}}"#;
        assert!(err(not_list).starts_with(&format!("{at}invalid type: map")), "{}", err(not_list));

        // An unknown namespace: named, with the file and the ones it has.
        let g = global(GLOBAL).unwrap();
        assert_eq!(
            g.include_for("asic7").unwrap_err().to_string(),
            "namespace asic7 is not in SONiC global database config \
             /var/run/redis/sonic-db/database_global.json (its namespaces: asic0, asic1)"
        );
        // A container name is not a namespace.
        assert!(matches!(g.include_for("dpu0"), Err(DbConfigError::UnknownNamespace { .. })));
        let g = global(r#"{"INCLUDES": [{"include": "host.json"}]}"#).unwrap();
        assert_eq!(
            g.include_for("asic0").unwrap_err().to_string(),
            "namespace asic0 is not in SONiC global database config \
             /var/run/redis/sonic-db/database_global.json (it names no namespace)"
        );

        // Files that cannot be read.
        let missing = Path::new("/nonexistent/database_global.json");
        assert_eq!(
            DbConfig::load_namespace(missing, "asic0").unwrap_err().to_string(),
            "cannot read SONiC global database config /nonexistent/database_global.json: \
             No such file or directory (os error 2)"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(
            GlobalDbConfig::load(&fifo).unwrap_err().to_string(),
            format!(
                "cannot read SONiC global database config {}: not a regular file (a FIFO)",
                fifo.display()
            )
        );
    }

    #[test]
    fn load_namespace_reads_only_the_selected_file() {
        let dir = tempfile::tempdir().unwrap();
        let sonic_db = dir.path().join("redis/sonic-db");
        std::fs::create_dir_all(&sonic_db).unwrap();
        std::fs::create_dir_all(dir.path().join("redis0/sonic-db")).unwrap();
        let global = sonic_db.join("database_global.json");
        std::fs::write(
            &global,
            r#"{"INCLUDES": [
                {"include": "database_config.json"},
                {"namespace": "asic0", "include": "../../redis0/sonic-db/database_config.json"},
                {"namespace": "asic1", "include": "../../redis1/sonic-db/database_config.json"},
                {"namespace": "asic2", "include": "../../redis2/sonic-db/database_config.json"}
            ], "VERSION": "1.0"}"#,
        )
        .unwrap();
        let asic0 = SONIC_DEFAULT.replace("/var/run/redis/redis.sock", "/var/run/redis0/redis.sock");
        std::fs::write(dir.path().join("redis0/sonic-db/database_config.json"), asic0).unwrap();
        // asic1's file is missing and asic2's is broken: neither stops asic0.
        std::fs::create_dir_all(dir.path().join("redis2/sonic-db")).unwrap();
        std::fs::write(dir.path().join("redis2/sonic-db/database_config.json"), "{").unwrap();
        let c = DbConfig::load_namespace(&global, "asic0").unwrap();
        assert_eq!(c.resolve("STATE_DB").unwrap().addr, RedisAddr::Unix("/var/run/redis0/redis.sock".into()));
        assert_eq!(c.path(), sonic_db.join("../../redis0/sonic-db/database_config.json"));

        let e = DbConfig::load_namespace(&global, "asic1").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "namespace asic1 (SONiC global database config {g}): cannot read SONiC database config \
                 {d}/../../redis1/sonic-db/database_config.json: No such file or directory (os error 2)",
                g = global.display(),
                d = sonic_db.display()
            )
        );
        let e = DbConfig::load_namespace(&global, "asic2").unwrap_err();
        assert!(matches!(&e, DbConfigError::Namespace { namespace, .. } if namespace == "asic2"));
        assert!(
            e.to_string().contains("redis2/sonic-db/database_config.json is not valid: EOF while parsing"),
            "{e}"
        );
        let e = DbConfig::load_namespace(&global, "asic9").unwrap_err().to_string();
        assert!(e.ends_with("(its namespaces: asic0, asic1, asic2)"), "{e}");
    }
}
