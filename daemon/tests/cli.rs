//! The command line of the built binary, at its edges: `--` ends the
//! options, short options take attached values, a value that looks like a
//! flag is refused unless attached, `--flag=value` works for every flag, an
//! unknown flag is an error whatever else is given (`--version` and `--help`
//! included), and an argument that is not UTF-8 is an error, not a panic.
//!
//! Each run is `--check-config --db memory` on a temp dir of its own (it
//! touches no Redis and no link), or ends before that.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Output};

fn run(args: &[OsString], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portsyncd"))
        .args(args)
        .current_dir(cwd)
        // Outside a SONiC container: the namespace comes from -n only.
        .env_remove("NAMESPACE_ID")
        .env_remove("NAMESPACE_PREFIX")
        .output()
        .expect("runs portsyncd")
}

/// A temp dir, and the arguments of a check that touches nothing there:
/// `--check-config --db memory --config <dir>/empty.toml` (and the state dir
/// `<dir>/state` where the case gives it).
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("empty.toml"), "").unwrap();
        Self { dir }
    }

    fn check(&self, extra: &[&str]) -> Output {
        let d = self.dir.path();
        let mut args: Vec<OsString> =
            ["--check-config", "--db", "memory", "--config"].map(OsString::from).into();
        args.push(d.join("empty.toml").into());
        args.extend(extra.iter().map(OsString::from));
        run(&args, d)
    }

    fn state(&self) -> String {
        self.dir.path().join("state").to_str().unwrap().to_owned()
    }

    fn raw(&self, args: &[&str]) -> Output {
        run(&args.iter().map(OsString::from).collect::<Vec<_>>(), self.dir.path())
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or_default().to_owned()
}

#[track_caller]
fn usage_error(o: &Output, line: &str) {
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(stderr_line(o), line, "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
}

#[test]
fn double_dash_ends_the_options() {
    let c = Case::new();
    let o = c.check(&["--state-dir", &c.state(), "--"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("the settings are valid"), "{o:?}");
    // After `--` nothing is a flag, and the daemon takes no operands.
    usage_error(&c.raw(&["--", "--version"]), "portsyncd: unexpected argument \"--version\"");
    usage_error(&c.raw(&["--db", "memory", "--", "x"]), "portsyncd: unexpected argument \"x\"");
}

#[test]
fn short_options_take_attached_values() {
    let c = Case::new();
    for (arg, ns) in [("-nasic0", "asic0"), ("-n=asic1", "asic1")] {
        let o = c.check(&["--state-dir", &c.state(), arg]);
        assert_eq!(o.status.code(), Some(0), "{arg}: {o:?}");
        assert!(stdout(&o).contains(&format!("\nnamespace: {ns}\n")), "{arg}: {}", stdout(&o));
    }
    let o = c.check(&["--state-dir", &c.state(), "-n", "asic2"]);
    assert!(stdout(&o).contains("\nnamespace: asic2\n"), "{o:?}");
}

#[test]
fn every_flag_takes_its_value_after_an_equals_sign() {
    let c = Case::new();
    let state = format!("--state-dir={}", c.state());
    let o = c.check(&[&state, "--namespace=asic3", "--db=memory", "--metrics-addr=9109"]);
    // --db given twice (once by Case): the equals form is a flag like any.
    usage_error(&o, "portsyncd: --db given twice");
    let d = c.dir.path().to_str().unwrap();
    let o = c.raw(&[
        "--check-config",
        "--db=memory",
        &format!("--config={d}/empty.toml"),
        &state,
        "--namespace=asic3",
        "--metrics-addr=9109",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("\nnamespace: asic3\n"), "{out}");
    assert!(out.contains(&format!("\nstate dir: {}\n", c.state())), "{out}");
    assert!(out.contains("\n  metrics.addr = 127.0.0.1:9109\n"), "{out}");
    usage_error(&c.raw(&["--check-config=yes"]), "portsyncd: --check-config takes no value (got \"yes\")");
}

#[test]
fn a_value_that_looks_like_a_flag_is_refused_unless_attached() {
    let c = Case::new();
    // The next word is a flag, not --state-dir's value.
    usage_error(
        &c.raw(&["--state-dir", "--config", "x"]),
        "portsyncd: --state-dir needs a value (\"--config\" looks like a flag: \
         write --state-dir=VALUE for a value beginning with '-')",
    );
    usage_error(
        &c.raw(&["-n", "-V"]),
        "portsyncd: -n/--namespace needs a value (\"-V\" looks like a flag: \
         write -n=VALUE or --namespace=VALUE for a value beginning with '-')",
    );
    // Attached, a value may begin with '-' (here a state dir in the cwd).
    std::fs::create_dir(c.dir.path().join("-odd")).unwrap();
    let o = c.check(&["--state-dir=-odd"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("\nstate dir: -odd\n"), "{}", stdout(&o));
}

#[test]
fn an_unknown_flag_is_an_error_whatever_else_is_given() {
    let c = Case::new();
    for args in [
        &["--version", "--bogus"][..],
        &["--bogus", "--version"],
        &["--help", "--bogus"],
        &["-V", "-x"],
        &["--version", "--db", "mysql"],
        &["--version", "--config"],
    ] {
        let o = c.raw(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{args:?}: {o:?}");
    }
    usage_error(&c.raw(&["--version", "--bogus"]), "portsyncd: unknown argument \"--bogus\"");
    usage_error(&c.raw(&["-V", "-x"]), "portsyncd: unknown argument \"-x\"");
    // With nothing wrong, --version and --help answer and exit 0.
    let o = c.raw(&["--db", "memory", "--version"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), format!("portsyncd {}\n", env!("CARGO_PKG_VERSION")))
    );
    let o = c.raw(&["-h"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).starts_with("usage: portsyncd"), "{o:?}");
}

#[test]
fn an_argument_that_is_not_utf8_is_an_error_not_a_panic() {
    let c = Case::new();
    let bad = OsString::from_vec(b"--config=\xff.toml".to_vec());
    let o = run(&[OsString::from("--check-config"), OsString::from("--db=memory"), bad], c.dir.path());
    // A path need not be UTF-8: the file given is looked for (and absent).
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stderr_line(&o), "portsyncd: config \u{FFFD}.toml: No such file or directory (os error 2)");
    let o = run(&[OsString::from_vec(b"--netns=\xff".to_vec())], c.dir.path());
    usage_error(&o, "portsyncd: --netns: not UTF-8: \"\\xFF\"");
    let o = run(&[OsString::from_vec(b"\xff".to_vec())], c.dir.path());
    usage_error(&o, "portsyncd: unexpected argument \"\\xFF\"");
}
