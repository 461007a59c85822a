//! The settings, three ways, kept in agreement: the keys the daemon's
//! parser takes (`portsyncd::config`), the shipped settings file
//! (`packaging/portsyncd.conf`: every key, commented out, at its default),
//! and the reference (`docs/configuration.md`'s table). A key added to one
//! and not the others, or a default changed in one place only, fails here.

use std::collections::BTreeSet;

use portsyncd::config::Config;

const SHIPPED: &str = include_str!("../../packaging/portsyncd.conf");
const REFERENCE: &str = include_str!("../../docs/configuration.md");

/// The names the parser expects where `probe` puts an unknown one, from
/// its refusal ("unknown field `zz_probe`, expected one of `a`, `b`").
fn expected_by_parser(probe: &str) -> BTreeSet<String> {
    let err = Config::parse(probe).expect_err("an unknown key is refused");
    let list = err
        .split_once("expected one of ")
        .or_else(|| err.split_once("expected "))
        .unwrap_or_else(|| panic!("no expected keys in: {err}"))
        .1;
    // "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
    list.split(", ")
        .flat_map(|k| k.split(" or "))
        .map(|k| k.trim().trim_matches(|c| c == '`' || c == '.').split('`').next().unwrap_or("").to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

/// Every `[section] key` the parser reads (array-of-table sections named
/// `[[section.name]]`).
fn parser_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for section in expected_by_parser("zz_probe = 1") {
        for key in expected_by_parser(&format!("[{section}]\nzz_probe = 1")) {
            keys.insert(match (section.as_str(), key.as_str()) {
                ("alerts", "rule" | "silence") => format!("[[{section}.{key}]]"),
                _ => format!("[{section}] {key}"),
            });
        }
    }
    keys
}

/// Every key the reference's settings table names: `` `[netlink] dump_timeout_ms` ``
/// rows, `` `[instance] id, count, partition` `` (one row, three keys),
/// `` `[[alerts.rule]]` ``.
fn reference_keys() -> BTreeSet<String> {
    let table = REFERENCE
        .split_once("| key | default | range | when | meaning |")
        .expect("the settings table")
        .1
        .split("\n\n")
        .next()
        .unwrap();
    let mut keys = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.trim_start_matches("| `").split('`').next().unwrap();
        if let Some(array) = cell.strip_prefix("[[") {
            keys.insert(format!("[[{}]]", array.split("]]").next().unwrap()));
            continue;
        }
        let (section, names) = cell.split_once("] ").expect("`[section] key`");
        for name in names.split(", ") {
            keys.insert(format!("{section}] {name}"));
        }
    }
    keys
}

/// The shipped file with its defaults uncommented (`#key = value` and
/// `[section]` lines; `## ` lines are examples and stay comments).
fn shipped_uncommented() -> String {
    SHIPPED
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `[section] key`s the shipped file sets once uncommented, and its
/// examples' array tables.
fn shipped_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut section = String::new();
    for line in shipped_uncommented().lines() {
        let example = line.strip_prefix("## ");
        let line = example.unwrap_or(line);
        if let Some(array) = line.strip_prefix("[[") {
            keys.insert(format!("[[{}]]", array.trim_end_matches("]]")));
        } else if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if example.is_none()
            && let Some((key, _)) = line.split_once(" = ")
            && !line.starts_with('#')
        {
            keys.insert(format!("[{section}] {key}"));
        }
    }
    keys
}

#[test]
fn the_parser_the_shipped_file_and_the_reference_name_the_same_keys() {
    let parser = parser_keys();
    assert!(parser.len() > 20, "{parser:?}");
    assert_eq!(reference_keys(), parser, "docs/configuration.md's table against the parser");
    assert_eq!(shipped_keys(), parser, "packaging/portsyncd.conf against the parser");
}

#[test]
fn the_shipped_file_as_is_gives_the_defaults() {
    assert_eq!(Config::parse(SHIPPED).unwrap(), Config::default());
}

#[test]
fn the_values_the_shipped_file_shows_are_the_defaults() {
    let uncommented = shipped_uncommented();
    let parsed = Config::parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    // The two keys unset by default show an example instead.
    let expected = Config {
        log_output: Some(portsyncd::logging::Output::Syslog),
        metrics_addr: parsed.metrics_addr.clone(),
        ..Config::default()
    };
    assert!(expected.metrics_addr.is_some());
    assert_eq!(parsed, expected);
}

#[test]
fn the_reference_shows_the_shipped_defaults() {
    // Each numeric or boolean default in the reference's table is the value
    // the shipped file shows for that key.
    let shipped: Vec<(String, String)> = {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in shipped_uncommented().lines() {
            if let Some(name) = line.strip_prefix('[').filter(|_| !line.starts_with("[[")) {
                section = name.trim_end_matches(']').to_owned();
            } else if let Some((key, value)) = line.split_once(" = ").filter(|_| !line.starts_with('#')) {
                out.push((format!("[{section}] {key}"), value.to_owned()));
            }
        }
        out
    };
    let mut checked = 0;
    for row in REFERENCE.lines().filter(|l| l.starts_with("| `[") && !l.starts_with("| `[[")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let key = cells[0].trim_start_matches("| `").trim_end_matches('`');
        let default = cells[1].trim();
        if !(default.chars().all(|c| c.is_ascii_digit()) || default == "true" || default == "false") {
            continue;
        }
        let shown = shipped.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(shown, Some(default), "{key}: the reference says {default}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} defaults compared");
}
