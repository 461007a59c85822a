//! The bash completion (`packaging/completions/portsyncd.bash`), run in
//! bash: it offers exactly the flags the usage text names, and the values
//! `--db` takes.

use std::collections::BTreeSet;
use std::process::Command;

/// What the completion offers for the words `line` (the last one is being
/// completed), one per line.
fn complete(line: &[&str]) -> BTreeSet<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/completions/portsyncd.bash");
    let words = line.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
    let program = format!(
        "source '{script}'; COMP_WORDS=({words}); COMP_CWORD={}; _portsyncd; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        line.len() - 1
    );
    let out = Command::new("bash").args(["--norc", "-c", &program]).output().expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn it_offers_every_flag_of_the_usage_and_nothing_else() {
    let usage: BTreeSet<String> = portsyncd::cli::USAGE
        // The options, not the closing note on how values are written.
        .split("\nA value follows")
        .next()
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || "[]|,()".contains(c))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .map(str::to_owned)
        .collect();
    assert!(usage.len() >= 12, "{usage:?}");
    assert_eq!(complete(&["portsyncd", ""]), usage);
    assert_eq!(
        complete(&["portsyncd", "--db-"]),
        BTreeSet::from(["--db-config".into(), "--db-global-config".into()])
    );
}

#[test]
fn it_offers_the_values_of_a_flag() {
    assert_eq!(complete(&["portsyncd", "--db", ""]), BTreeSet::from(["redis".into(), "memory".into()]));
    assert_eq!(complete(&["portsyncd", "--db", "m"]), BTreeSet::from(["memory".into()]));
}
