//! The shell completions (`packaging/completions/`), each run in its own
//! shell: bash (the function called with the words bash would give it),
//! zsh (an interactive zsh on a pseudo-terminal, TAB pressed, what the
//! completion system would list captured) and fish (`complete -C`). Each
//! offers exactly the flags the usage text names, the values of `--db` as
//! `--db VALUE` and as `--db=VALUE`, and for `-n`/`--namespace` the ASIC
//! namespaces of `database_global.json` (`--db-global-config`'s file).
//!
//! zsh and fish are installed by `tests/run-all.sh` when missing; a test
//! whose shell is absent fails (it does not skip).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/completions");

#[derive(Clone, Copy, Debug)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

fn quote(w: &str) -> String {
    format!("'{}'", w.replace('\'', r"'\''"))
}

/// What `shell` offers for the command line `line` (the last word, maybe
/// empty, is being completed), values only: a completed `--flag=VALUE`
/// word gives `VALUE`.
fn complete(shell: Shell, line: &str) -> BTreeSet<String> {
    let out = match shell {
        Shell::Bash => {
            // bash splits words at COMP_WORDBREAKS, which holds '=':
            // `--db=m` is the three words `--db`, `=`, `m`.
            let mut words: Vec<String> = Vec::new();
            for w in line.split(' ') {
                match w.split_once('=') {
                    Some((flag, value)) => words.extend([flag.to_owned(), "=".to_owned(), value.to_owned()]),
                    None => words.push(w.to_owned()),
                }
            }
            if words.last().is_some_and(|w| w.is_empty()) && line.ends_with('=') {
                words.pop();
            }
            let script = format!(
                "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE={}; _portsyncd; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                quote(&format!("{DIR}/portsyncd.bash")),
                words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
                words.len() - 1,
                quote(line),
            );
            Command::new("bash").args(["--norc", "--noprofile", "-c", &script]).output()
        }
        Shell::Zsh => {
            // An interactive zsh on a pty (zsh/zpty) that sources `setup`:
            // compinit with our _portsyncd first in $fpath, compadd wrapped
            // to print each match it adds; then `line` and a TAB.
            let dir = tempfile::tempdir().unwrap();
            let setup = dir.path().join("setup.zsh");
            std::fs::write(&setup, ZSH_SETUP.replace("@DIR@", DIR)).unwrap();
            let script = format!(
                r#"
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "source {setup}"
zpty -w -n z {line}$'\t'
out=''
while zpty -r z chunk; do out+=$chunk; [[ $out == *'<ALLDONE>'* ]] && break; done
print -r -- $out
"#,
                setup = quote(setup.to_str().unwrap()),
                line = quote(line),
            );
            Command::new("timeout").args(["30", "zsh", "-f", "-c", &script]).output()
        }
        Shell::Fish => {
            let script =
                format!("source {}; complete -C {}", quote(&format!("{DIR}/portsyncd.fish")), quote(line));
            Command::new("fish").args(["--no-config", "-c", &script]).output()
        }
    };
    let out = out.unwrap_or_else(|e| panic!("{shell:?}: {e} (tests/run-all.sh installs it)"));
    assert!(out.status.success(), "{shell:?}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<String> = match shell {
        Shell::Bash => text.lines().map(str::to_owned).collect(),
        Shell::Zsh => text
            .split("<MATCH>")
            .skip(1)
            .filter_map(|m| m.split_once("</MATCH>").map(|(m, _)| m.to_owned()))
            .collect(),
        Shell::Fish => text.lines().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect(),
    };
    let last = line.rsplit(' ').next().unwrap_or_default();
    values
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(|v| match (last.split_once('='), v.split_once('=')) {
            (Some((flag, _)), Some((f, value))) if f == flag => value.to_owned(),
            _ => v,
        })
        .collect()
}

/// Sourced by the interactive zsh of [`complete`]: each match added is
/// printed between markers, and the shell ends once the completion has run.
const ZSH_SETUP: &str = r#"
PS1=''
fpath=(@DIR@ $fpath)
autoload -Uz compinit && compinit -u -D
compadd() {
    # Calls that only collect matches (-O, -A) or descriptions (-D) are not additions.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
    local -a hits
    builtin compadd -O hits "$@"
    local h
    for h in $hits; do print -r -- "<MATCH>$h</MATCH>"; done
    builtin compadd "$@"
}
comppostfuncs=(__portsyncd_test_done)
__portsyncd_test_done() { print -r -- "<ALL""DONE>"; exit }
"#;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn usage_flags() -> BTreeSet<String> {
    portsyncd::cli::USAGE
        // The options, not the closing note on how values are written.
        .split("\nA value follows")
        .next()
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || "[]|,()".contains(c))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_offers_every_flag_of_the_usage_and_nothing_else() {
    let usage = usage_flags();
    assert!(usage.len() >= 12, "{usage:?}");
    for shell in SHELLS {
        // zsh hides a short flag behind its long one unless asked for '-'.
        assert_eq!(
            complete(shell, "portsyncd --"),
            usage.iter().filter(|f| f.starts_with("--")).cloned().collect(),
            "{shell:?}"
        );
        assert_eq!(
            complete(shell, "portsyncd --db-"),
            set(&["--db-config", "--db-global-config"]),
            "{shell:?}"
        );
    }
    assert_eq!(complete(Shell::Bash, "portsyncd "), usage);
    assert_eq!(complete(Shell::Fish, "portsyncd -"), usage);
}

#[test]
fn each_offers_the_values_of_a_flag_given_apart_or_attached() {
    for shell in SHELLS {
        for line in ["portsyncd --db ", "portsyncd --db="] {
            assert_eq!(complete(shell, line), set(&["redis", "memory"]), "{shell:?} {line:?}");
        }
        for line in ["portsyncd --db m", "portsyncd --db=m"] {
            assert_eq!(complete(shell, line), set(&["memory"]), "{shell:?} {line:?}");
        }
    }
}

/// A database_global.json as SONiC writes it on a two-ASIC box (the host's
/// include has no namespace), and an odd but valid one on one line.
fn global_config(dir: &Path) -> (String, String) {
    let pretty = dir.join("database_global.json");
    std::fs::write(
        &pretty,
        r#"{
    "INCLUDES" : [
        {
            "include" : "../../redis/sonic-db/database_config.json"
        },
        {
            "namespace" : "asic0",
            "include" : "../../redis0/sonic-db/database_config.json"
        },
        {
            "namespace" : "asic1",
            "include" : "../../redis1/sonic-db/database_config.json"
        }
    ],
    "VERSION" : "1.0"
}
"#,
    )
    .unwrap();
    let compact = dir.join("compact.json");
    std::fs::write(
        &compact,
        r#"{"INCLUDES":[{"include":"a.json"},{"namespace":"asic4","include":"b.json"},{"namespace": "asic5","include":"c.json"}],"VERSION":"1.0"}"#,
    )
    .unwrap();
    (pretty.to_str().unwrap().to_owned(), compact.to_str().unwrap().to_owned())
}

#[test]
fn each_offers_the_asic_namespaces_of_database_global_json_for_n() {
    let dir = tempfile::tempdir().unwrap();
    let (pretty, compact) = global_config(dir.path());
    for shell in SHELLS {
        for (file, names) in [(&pretty, ["asic0", "asic1"]), (&compact, ["asic4", "asic5"])] {
            for given in [format!("--db-global-config {file}"), format!("--db-global-config={file}")] {
                for flag in ["-n ", "--namespace ", "--namespace="] {
                    let line = format!("portsyncd {given} {flag}");
                    assert_eq!(complete(shell, &line), set(&names), "{shell:?} {line:?}");
                }
                let line = format!("portsyncd {given} -n asic1");
                let want: &[&str] = if file == &pretty { &["asic1"] } else { &[] };
                assert_eq!(complete(shell, &line), set(want), "{shell:?} {line:?}");
            }
        }
        // No file: nothing to offer (not /run/netns's entries).
        let line = format!("portsyncd --db-global-config {}/absent.json -n ", dir.path().display());
        assert_eq!(complete(shell, &line), set(&[]), "{shell:?} {line:?}");
    }
}
