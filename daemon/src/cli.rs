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
    /// `--db-config` (with `-n`: the namespace's file, once main has
    /// resolved it through `--db-global-config`).
    pub db_config: PathBuf,
    /// `-n` / `--namespace`: a multi-ASIC namespace whose databases
    /// `--db-global-config` names.
    pub namespace: Option<String>,
    /// `--db-global-config` (used with `-n` only).
    pub db_global_config: PathBuf,
    /// `--netns`: the network namespace to enter (`/run/netns/NAME`).
    pub netns: Option<String>,
    /// `--db`.
    pub backend: Backend,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// Whether `--state-dir` was given (else a namespace has its own default).
    pub state_dir_given: bool,
    /// `--metrics-addr`.
    pub metrics_addr: Option<crate::metrics::MetricsAddr>,
    /// `--check-config`: validate the settings and the database
    /// configuration, print what is in effect, exit (no lock, no socket, no
    /// write).
    pub check_config: bool,
}

/// Default `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/sonic/portsyncd.conf";
/// Default `--state-dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sonic/portsyncd";

/// The usage text.
pub const USAGE: &str = "\
usage: portsyncd [--config FILE] [--db-config FILE] [--db redis|memory]
                 [-n NAME [--db-global-config FILE]] [--netns NAME]
                 [--state-dir DIR] [--metrics-addr ADDR]
       portsyncd --check-config [the same options]
       portsyncd --version | --help

Keeps SONiC's APPL_DB and STATE_DB port tables in step with the kernel's links.

  --config FILE       TOML settings (default /etc/sonic/portsyncd.conf; a missing
                      default file means defaults)
  --db-config FILE    SONiC database_config.json
                      (default /var/run/redis/sonic-db/database_config.json)
  -n, --namespace NAME
                      multi-ASIC: serve namespace NAME (e.g. asic0), its databases
                      found through --db-global-config (not with --db-config)
  --db-global-config FILE
                      SONiC database_global.json
                      (default /var/run/redis/sonic-db/database_global.json)
  --netns NAME        enter network namespace /run/netns/NAME first
  --db redis|memory   memory: run on an in-memory database (no Redis), seeded
                      from [memory] in the config, printed on exit
  --state-dir DIR     warm-restart snapshot directory (default /var/lib/sonic/portsyncd,
                      or /var/lib/sonic/portsyncd/NAMESPACE when serving a namespace)
  --metrics-addr ADDR Prometheus endpoint (off unless given here or in [metrics]):
                      PORT or :PORT (loopback), IP:PORT, [IPv6]:PORT,
                      unix:PATH or an absolute PATH
  --check-config      validate the settings file and database_config.json (with
                      -n: through the global file) and the state directory, print
                      the settings in effect, and exit without touching Redis or
                      any link
  --version, --help

A value follows its flag, or is attached: --state-dir=DIR, -nNAME, -n=NAME
(attached only, when it begins with '-'). -- ends the options.
";

/// Parses `args` (without the program name) with lexopt, whose rules are
/// getopt's: `--flag VALUE`, `--flag=VALUE`, `-n VALUE`, `-nVALUE`,
/// `-n=VALUE`, `--` ends the options. The daemon takes no operands. Every
/// argument is read before anything is answered, so an unknown flag is an
/// error even beside `--version` or `--help`. One rule of our own: a value
/// that begins with '-' is taken only when attached (`--state-dir=-x`): given
/// as the next word it is taken for a flag whose flag's value is missing
/// (`--state-dir --config x` would otherwise make `--config` a directory).
/// Values that are paths may be any bytes; names and addresses must be
/// UTF-8.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::Arg::{Long, Short, Value};
    let mut config = None;
    let mut db_config = None;
    let mut backend = None;
    let mut state_dir = None;
    let mut metrics_addr = None;
    let mut namespace = None;
    let mut db_global_config = None;
    let mut netns = None;
    let mut check_config = false;
    let mut answer = None;
    let mut parser = lexopt::Parser::from_args(args);
    fn once<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<(), String> {
        if slot.replace(v).is_some() {
            return Err(format!("{name} given twice"));
        }
        Ok(())
    }
    while let Some(arg) = parser.next().map_err(lexopt_error)? {
        match arg {
            Long("help") | Short('h') => {
                answer.get_or_insert(Command::Help);
            }
            Long("version") | Short('V') => {
                answer.get_or_insert(Command::Version);
            }
            Long("check-config") => {
                if std::mem::replace(&mut check_config, true) {
                    return Err("--check-config given twice".into());
                }
            }
            Long("config") => once(&mut config, path(&mut parser, "--config", &[])?, "--config")?,
            Long("db-config") => once(&mut db_config, path(&mut parser, "--db-config", &[])?, "--db-config")?,
            Long("state-dir") => once(&mut state_dir, path(&mut parser, "--state-dir", &[])?, "--state-dir")?,
            Long("metrics-addr") => {
                let addr = text(&mut parser, "--metrics-addr", &[])?;
                once(&mut metrics_addr, addr, "--metrics-addr")?;
            }
            Short('n') | Long("namespace") => {
                let name = text(&mut parser, "-n/--namespace", &["-n", "--namespace"])?;
                once(&mut namespace, checked_name("-n/--namespace", name)?, "-n/--namespace")?;
            }
            Long("db-global-config") => {
                let file = path(&mut parser, "--db-global-config", &[])?;
                once(&mut db_global_config, file, "--db-global-config")?;
            }
            Long("netns") => {
                let name = checked_name("--netns", text(&mut parser, "--netns", &[])?)?;
                once(&mut netns, name, "--netns")?;
            }
            Long("db") => {
                let b = match text(&mut parser, "--db", &[])?.as_str() {
                    "redis" => Backend::Redis,
                    "memory" => Backend::Memory,
                    other => return Err(format!("--db must be redis or memory, not {other:?}")),
                };
                once(&mut backend, b, "--db")?;
            }
            Long(other) => return Err(format!("unknown argument \"--{other}\"")),
            Short(other) => return Err(format!("unknown argument \"-{other}\"")),
            Value(other) => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if let Some(answer) = answer {
        return Ok(answer);
    }
    let metrics_addr = metrics_addr.map(|a| crate::metrics::MetricsAddr::parse(&a)).transpose()?;
    if namespace.is_some() && db_config.is_some() {
        return Err("--db-config and -n/--namespace exclude each other: with -n the namespace's \
                    database_config.json comes from --db-global-config"
            .into());
    }
    if namespace.is_none() && db_global_config.is_some() {
        return Err("--db-global-config needs -n/--namespace".into());
    }
    Ok(Command::Run(Args {
        config_given: config.is_some(),
        config: config.unwrap_or_else(|| DEFAULT_CONFIG.into()),
        db_config: db_config.unwrap_or_else(|| portsyncd_redis::config::DEFAULT_DB_CONFIG_PATH.into()),
        namespace,
        db_global_config: db_global_config
            .unwrap_or_else(|| portsyncd_redis::config::DEFAULT_DB_GLOBAL_CONFIG_PATH.into()),
        netns,
        backend: backend.unwrap_or(Backend::Redis),
        state_dir_given: state_dir.is_some(),
        state_dir: state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        metrics_addr,
        check_config,
    }))
}

/// The value of the flag just read (`name` in messages; `spellings`, when
/// it has more than one, in the hint): attached (`--flag=v`, `-nv`, `-n=v`),
/// anything but empty; else the next argument, unless there is none or it
/// begins with '-'.
fn value(parser: &mut lexopt::Parser, name: &str, spellings: &[&str]) -> Result<std::ffi::OsString, String> {
    let missing = || format!("{name} needs a value");
    if let Some(v) = parser.optional_value() {
        return if v.is_empty() { Err(missing()) } else { Ok(v) };
    }
    let v = parser.value().map_err(|_| missing())?;
    if v.is_empty() {
        return Err(missing());
    }
    if v.as_encoded_bytes().starts_with(b"-") {
        let forms = match spellings {
            [] => format!("{name}=VALUE"),
            all => all.iter().map(|s| format!("{s}=VALUE")).collect::<Vec<_>>().join(" or "),
        };
        return Err(format!(
            "{} ({v:?} looks like a flag: write {forms} for a value beginning with '-')",
            missing()
        ));
    }
    Ok(v)
}

/// A value that is a path: any bytes.
fn path(parser: &mut lexopt::Parser, name: &str, spellings: &[&str]) -> Result<PathBuf, String> {
    value(parser, name, spellings).map(PathBuf::from)
}

/// A value that is a name or an address: UTF-8.
fn text(parser: &mut lexopt::Parser, name: &str, spellings: &[&str]) -> Result<String, String> {
    value(parser, name, spellings)?.into_string().map_err(|v| format!("{name}: not UTF-8: {v:?}"))
}

/// lexopt's own errors, in this command line's words. (`next()` fails only
/// on a value attached to a flag that takes none.)
fn lexopt_error(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::UnexpectedValue { option, value } => {
            format!("{option} takes no value (got {value:?})")
        }
        lexopt::Error::MissingValue { option: Some(option) } => format!("{option} needs a value"),
        other => other.to_string(),
    }
}

/// `name` if it can name a namespace: it becomes a file name (in
/// `/run/netns/`, in the state directory) and part of the instance lock's
/// name, so it may not be empty, hold a `/` or a `..`, or be `.`.
fn checked_name(flag: &str, name: String) -> Result<String, String> {
    if name.is_empty() || name == "." || name.contains('/') || name.contains("..") {
        return Err(format!(
            "{flag} {name:?}: a namespace name may not be empty or \".\", or hold '/' or \"..\""
        ));
    }
    Ok(name)
}

/// The environment variables SONiC's containers set on a multi-ASIC box
/// (`NAMESPACE_ID` 0..N-1; on a single-ASIC box it is set but empty).
pub const NAMESPACE_ID_VAR: &str = "NAMESPACE_ID";
/// See [`NAMESPACE_ID_VAR`] (`asic`, set on single-ASIC boxes too).
pub const NAMESPACE_PREFIX_VAR: &str = "NAMESPACE_PREFIX";

impl Args {
    /// The multi-ASIC namespace this run serves, for its log lines,
    /// metrics, default state directory and instance lock: `-n NAME`; else,
    /// inside a SONiC container, `${NAMESPACE_PREFIX}${NAMESPACE_ID}` when
    /// both are set and not empty; else none (single-ASIC, or the host).
    /// `env` reads an environment variable.
    pub fn namespace_name(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
        if let Some(ns) = &self.namespace {
            return Ok(Some(ns.clone()));
        }
        let set = |var: &str| env(var).filter(|v| !v.is_empty());
        match (set(NAMESPACE_PREFIX_VAR), set(NAMESPACE_ID_VAR)) {
            (Some(prefix), Some(id)) => {
                let flag = format!("{NAMESPACE_PREFIX_VAR} and {NAMESPACE_ID_VAR}");
                checked_name(&flag, format!("{prefix}{id}")).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Serving `namespace`: the default state directory becomes
    /// `/var/lib/sonic/portsyncd/<namespace>` (a given `--state-dir` stays).
    pub fn apply_namespace(&mut self, namespace: Option<&str>) {
        if let (Some(ns), false) = (namespace, self.state_dir_given) {
            self.state_dir = PathBuf::from(DEFAULT_STATE_DIR).join(ns);
        }
    }

    /// One of several partitioned instances: without `--state-dir`, its
    /// own state dir below the default (`…/instance<id>`).
    pub fn apply_instance(&mut self, partition: &portsyncd_core::partition::Partition) {
        if !partition.is_single() && !self.state_dir_given {
            self.state_dir = self.state_dir.join(format!("instance{}", partition.id()));
        }
    }
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
        assert_eq!((a.namespace, a.netns), (None, None));
        assert_eq!(a.db_global_config, PathBuf::from("/var/run/redis/sonic-db/database_global.json"));
    }

    #[test]
    fn namespaces_on_the_command_line() {
        let Command::Run(a) = p(&["-n", "asic0", "--netns", "asic0", "--db-global-config=/g.json"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((a.namespace.as_deref(), a.netns.as_deref()), (Some("asic0"), Some("asic0")));
        assert_eq!(a.db_global_config, PathBuf::from("/g.json"));
        assert!(!a.state_dir_given);
        let Command::Run(a) = p(&["--namespace=asic1"]).unwrap() else { panic!() };
        assert_eq!(a.namespace.as_deref(), Some("asic1"));
        // --netns alone keeps the container's database_config.json.
        let Command::Run(a) = p(&["--netns", "asic2", "--db-config", "/d.json"]).unwrap() else { panic!() };
        assert_eq!((a.netns.as_deref(), a.namespace), (Some("asic2"), None));

        assert_eq!(p(&["-n"]), Err("-n/--namespace needs a value".into()));
        assert_eq!(p(&["--netns="]), Err("--netns needs a value".into()));
        assert_eq!(p(&["-n", "a", "--namespace", "b"]), Err("-n/--namespace given twice".into()));
        for bad in ["a/b", "..", "x..y", "."] {
            assert_eq!(
                p(&["--netns", bad]),
                Err(format!(
                    "--netns {bad:?}: a namespace name may not be empty or \".\", or hold '/' or \"..\""
                ))
            );
            assert!(p(&["-n", bad]).unwrap_err().starts_with("-n/--namespace "));
        }
        assert_eq!(
            p(&["-n", "asic0", "--db-config", "/d.json"]),
            Err("--db-config and -n/--namespace exclude each other: with -n the namespace's \
                 database_config.json comes from --db-global-config"
                .into())
        );
        assert_eq!(
            p(&["--db-global-config", "/g.json"]),
            Err("--db-global-config needs -n/--namespace".into())
        );
    }

    #[test]
    fn the_namespace_served_and_its_state_dir() {
        let args = |a: &[&str]| match p(a).unwrap() {
            Command::Run(a) => a,
            _ => panic!(),
        };
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        // Single-ASIC: SONiC sets NAMESPACE_PREFIX and an empty NAMESPACE_ID.
        let single = env(&[("NAMESPACE_PREFIX", "asic"), ("NAMESPACE_ID", "")]);
        let mut a = args(&[]);
        assert_eq!(a.namespace_name(single), Ok(None));
        assert_eq!(a.namespace_name(env(&[])), Ok(None));
        a.apply_namespace(None);
        assert_eq!(a.state_dir, PathBuf::from("/var/lib/sonic/portsyncd"));
        // In asic3's container.
        let asic3 = env(&[("NAMESPACE_PREFIX", "asic"), ("NAMESPACE_ID", "3")]);
        assert_eq!(a.namespace_name(asic3), Ok(Some("asic3".into())));
        a.apply_namespace(Some("asic3"));
        assert_eq!(a.state_dir, PathBuf::from("/var/lib/sonic/portsyncd/asic3"));
        // -n wins over the environment; a given --state-dir stays.
        let mut a = args(&["-n", "asic0", "--state-dir", "/s"]);
        assert_eq!(a.namespace_name(asic3), Ok(Some("asic0".into())));
        a.apply_namespace(Some("asic0"));
        assert_eq!(a.state_dir, PathBuf::from("/s"));
        let odd = env(&[("NAMESPACE_PREFIX", "../x"), ("NAMESPACE_ID", "0")]);
        assert_eq!(
            args(&[]).namespace_name(odd),
            Err("NAMESPACE_PREFIX and NAMESPACE_ID \"../x0\": a namespace name may not be empty or \".\", \
                 or hold '/' or \"..\""
                .into())
        );
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
        let Command::Run(a) = p(&["--check-config", "--config=/c.toml"]).unwrap() else { panic!() };
        assert!(a.check_config);
        assert!(p(&["--check-config", "--check-config"]).unwrap_err().contains("twice"));
        assert_eq!(p(&["--check-config=yes"]), Err("--check-config takes no value (got \"yes\")".into()));
        let Command::Run(a) = p(&["--metrics-addr=9100"]).unwrap() else { panic!() };
        assert!(!a.check_config);
        assert_eq!(a.metrics_addr, Some(crate::metrics::MetricsAddr::Tcp("127.0.0.1:9100".parse().unwrap())));
    }
}
