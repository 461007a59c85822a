//! portsyncd(8), checked: it renders without a warning (groff, as `man`
//! does), names the version being built, and documents every flag the usage
//! text names (the usage is the command line's own, `portsyncd::cli::USAGE`).

use std::process::Command;

const PAGE: &str = include_str!("../../packaging/man/portsyncd.8");

/// The page rendered as `man` renders it; fails on any groff warning.
fn rendered() -> String {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u", "packaging/man/portsyncd.8"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("groff (Debian: groff-base; tests/run-all.sh installs it)");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && warnings.is_empty(), "groff: {warnings}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_page_renders_without_warnings_and_names_this_version() {
    let text = rendered();
    assert!(text.contains("PORTSYNCD(8)"), "{text}");
    let version = format!("\"portsyncd {}\"", env!("CARGO_PKG_VERSION"));
    assert!(PAGE.lines().next().is_some_and(|th| th.contains(&version)), "the .TH line names {version}");
}

#[test]
fn every_flag_of_the_usage_is_documented() {
    // groff renders an ASCII hyphen as U+2010 in some places; compare on ASCII.
    let text = rendered().replace(['\u{2010}', '\u{2212}'], "-");
    let flags: Vec<&str> = portsyncd::cli::USAGE
        // The options, not the closing note on how values are written.
        .split("\nA value follows")
        .next()
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || "[]|,()".contains(c))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .collect();
    assert!(flags.len() >= 12, "{flags:?}");
    // Each has an entry in OPTIONS: a line that starts with it (alone, or
    // before its value or its other spelling).
    let options = text.split_once("\nOPTIONS\n").expect("OPTIONS").1;
    let options = options.split_once("\nSIGNALS\n").expect("SIGNALS").0;
    for flag in flags {
        let heads = |l: &str| {
            l.strip_prefix(flag).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ',']))
        };
        let entry = options.lines().map(str::trim_start).any(|l| {
            heads(l) || (l.starts_with('-') && l.split_once(", ").is_some_and(|(_, other)| heads(other)))
        });
        assert!(entry, "portsyncd(8) has no OPTIONS entry for {flag}");
    }
}
