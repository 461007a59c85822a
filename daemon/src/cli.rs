//! The command line, as DESIGN.md fixes it. Unknown flags, missing values and
//! repeated flags are errors that name the flag.

use std::path::PathBuf;

/// Which database backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SONiC's Redis, per database_config.json.
    Redis,
    /// In memory (the mock backend): for trying the daemon without Redis.
    Memory,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon.
    Run(Args),
    /// Print the version.
    Version,
    /// Print the usage.
    Help,
}

/// Options of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// `--config`.
    pub config: PathBuf,
    /// Whether `--config` was given (a given file must exist; the default may not).
    pub config_given: bool,
    /// `--db-config`.
    pub db_config: PathBuf,
    /// `--db`.
    pub backend: Backend,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--metrics-addr`.
    pub metrics_addr: Option<crate::metrics::MetricsAddr>,
}

/// Default `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/sonic/portsyncd.conf";
/// Default `--state-dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sonic/portsyncd";

/// The usage text.
pub const USAGE: &str = "\
usage: portsyncd [--config FILE] [--db-config FILE] [--db redis|memory]
                 [--state-dir DIR] [--metrics-addr ADDR]
       portsyncd --version | --help

Keeps SONiC's APPL_DB and STATE_DB port tables in step with the kernel's links.

  --config FILE       TOML settings (default /etc/sonic/portsyncd.conf; a missing
                      default file means defaults)
  --db-config FILE    SONiC database_config.json
                      (default /var/run/redis/sonic-db/database_config.json)
  --db redis|memory   memory: run on an in-memory database (no Redis), seeded
                      from [memory] in the config, printed on exit
  --state-dir DIR     warm-restart snapshot directory (default /var/lib/sonic/portsyncd)
  --metrics-addr ADDR Prometheus endpoint (off unless given here or in [metrics]):
                      PORT or :PORT (loopback), IP:PORT, [IPv6]:PORT,
                      unix:PATH or an absolute PATH
  --version, --help
";

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut db_config = None;
    let mut backend = None;
    let mut state_dir = None;
    let mut metrics_addr = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("{name} needs a value")),
            }
        };
        fn once<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<(), String> {
            if slot.replace(v).is_some() {
                return Err(format!("{name} given twice"));
            }
            Ok(())
        }
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--config" => once(&mut config, PathBuf::from(value("--config")?), "--config")?,
            "--db-config" => once(&mut db_config, PathBuf::from(value("--db-config")?), "--db-config")?,
            "--state-dir" => once(&mut state_dir, PathBuf::from(value("--state-dir")?), "--state-dir")?,
            "--metrics-addr" => once(&mut metrics_addr, value("--metrics-addr")?, "--metrics-addr")?,
            "--db" => {
                let b = match value("--db")?.as_str() {
                    "redis" => Backend::Redis,
                    "memory" => Backend::Memory,
                    other => return Err(format!("--db must be redis or memory, not {other:?}")),
                };
                once(&mut backend, b, "--db")?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let metrics_addr = metrics_addr.map(|a| crate::metrics::MetricsAddr::parse(&a)).transpose()?;
    Ok(Command::Run(Args {
        config_given: config.is_some(),
        config: config.unwrap_or_else(|| DEFAULT_CONFIG.into()),
        db_config: db_config.unwrap_or_else(|| portsyncd_redis::config::DEFAULT_DB_CONFIG_PATH.into()),
        backend: backend.unwrap_or(Backend::Redis),
        state_dir: state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        metrics_addr,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_behave_like_the_cpp_daemon() {
        let Command::Run(a) = p(&[]).unwrap() else { panic!() };
        assert_eq!(a.config, PathBuf::from("/etc/sonic/portsyncd.conf"));
        assert!(!a.config_given);
        assert_eq!(a.db_config, PathBuf::from("/var/run/redis/sonic-db/database_config.json"));
        assert_eq!(a.backend, Backend::Redis);
        assert_eq!(a.state_dir, PathBuf::from("/var/lib/sonic/portsyncd"));
    }

    #[test]
    fn flags_with_separate_or_inline_values() {
        let Command::Run(a) = p(&["--config", "/x.toml", "--db=memory", "--db-config=/d.json"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((a.config.to_str(), a.config_given, a.backend), (Some("/x.toml"), true, Backend::Memory));
        assert_eq!(a.db_config, PathBuf::from("/d.json"));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["--db", "memory", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn bad_command_lines_name_the_problem() {
        assert_eq!(p(&["--frobnicate"]), Err("unknown argument \"--frobnicate\"".into()));
        assert_eq!(p(&["--config"]), Err("--config needs a value".into()));
        assert_eq!(p(&["--db", "mysql"]), Err("--db must be redis or memory, not \"mysql\"".into()));
        assert_eq!(p(&["--db", "redis", "--db", "memory"]), Err("--db given twice".into()));
        assert!(
            p(&["--metrics-addr", "localhost:9100"])
                .unwrap_err()
                .contains("metrics address \"localhost:9100\"")
        );
        let Command::Run(a) = p(&["--metrics-addr=9100"]).unwrap() else { panic!() };
        assert_eq!(a.metrics_addr, Some(crate::metrics::MetricsAddr::Tcp("127.0.0.1:9100".parse().unwrap())));
    }
}
