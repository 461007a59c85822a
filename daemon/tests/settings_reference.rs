//! The settings table (`portsyncd::config::SETTINGS`, where every key is
//! declared once) against what an operator reads: the shipped settings file
//! (`packaging/portsyncd.conf`: every key, commented out, at its default, or
//! with an example when it is unset by default) and the reference
//! (`docs/configuration.md`'s table: every key with its default, range, when
//! it applies and what it means). A key added to the table and not to the
//! others, or a default, a range or a meaning changed in one place only,
//! fails here.

use std::collections::BTreeSet;

use portsyncd::config::{Config, DefaultValue, SETTINGS, Setting};

const SHIPPED: &str = include_str!("../../packaging/portsyncd.conf");
const REFERENCE: &str = include_str!("../../docs/configuration.md");

fn table_keys() -> Vec<String> {
    SETTINGS.iter().map(|s| s.key.to_owned()).collect()
}

fn setting(key: &str) -> &'static Setting {
    SETTINGS.iter().find(|s| s.key == key).unwrap_or_else(|| panic!("{key} is not in the table"))
}

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

/// One row of the reference's settings table.
struct Row {
    /// `section.key` for each key the row names: `` `[netlink] dump_timeout_ms` ``,
    /// `` `[[alerts.rule]]` ``, `` `[[alerts.silence]] rule, for_ms` ``.
    key: String,
    default: String,
    range: String,
    when: String,
    /// Without markdown emphasis and with `\|` as `|`.
    meaning: String,
}

fn reference_rows() -> Vec<Row> {
    let table = REFERENCE
        .split_once("| key | default | range | when | meaning |")
        .expect("the settings table")
        .1
        .split("\n\n")
        .next()
        .unwrap();
    let mut rows = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        // `\|` is a `|` inside a cell.
        let cells: Vec<String> = line
            .replace("\\|", "\u{1}")
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "|"))
            .collect();
        assert_eq!(cells.len(), 5, "{line}");
        let cell = cells[0].trim_matches('`');
        let key = match cell.strip_prefix("[[") {
            Some(array) => array.split("]]").next().unwrap().to_owned(),
            None => {
                let (section, name) = cell.trim_start_matches('[').split_once("] ").expect("`[section] key`");
                format!("{section}.{name}")
            }
        };
        rows.push(Row {
            key,
            default: cells[1].clone(),
            range: cells[2].clone(),
            when: cells[3].clone(),
            meaning: cells[4].replace("**", ""),
        });
    }
    rows
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

/// `(section.key, value shown)` for each key the shipped file shows, in its
/// order, with its examples' array tables (`## [[alerts.rule]]`, no value).
fn shipped() -> Vec<(String, Option<String>)> {
    let mut keys = Vec::new();
    let mut section = String::new();
    for line in shipped_uncommented().lines() {
        let example = line.strip_prefix("## ");
        let line = example.unwrap_or(line);
        if let Some(array) = line.strip_prefix("[[") {
            keys.push((array.trim_end_matches("]]").to_owned(), None));
        } else if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if example.is_none()
            && let Some((key, value)) = line.split_once(" = ")
            && !line.starts_with('#')
        {
            keys.push((format!("{section}.{key}"), Some(value.to_owned())));
        }
    }
    keys
}

#[test]
fn the_parser_takes_the_table_s_keys_and_no_other() {
    let mut parser = BTreeSet::new();
    for section in expected_by_parser("zz_probe = 1") {
        for key in expected_by_parser(&format!("[{section}]\nzz_probe = 1")) {
            parser.insert(format!("{section}.{key}"));
        }
    }
    assert!(parser.len() > 20, "{parser:?}");
    assert_eq!(parser, table_keys().into_iter().collect::<BTreeSet<_>>());
}

#[test]
fn the_shipped_file_and_the_reference_name_the_table_s_keys_in_its_order() {
    let shipped: Vec<String> = shipped().into_iter().map(|(key, _)| key).collect();
    assert_eq!(shipped, table_keys(), "packaging/portsyncd.conf against the table");
    let reference: Vec<String> = reference_rows().into_iter().map(|r| r.key).collect();
    assert_eq!(reference, table_keys(), "docs/configuration.md's table against the table");
}

#[test]
fn the_shipped_file_as_is_gives_the_defaults() {
    assert_eq!(Config::parse(SHIPPED).unwrap(), Config::default());
}

/// Each key with a default shows it; each key unset by default shows an
/// example that the parser takes.
#[test]
fn the_shipped_file_shows_the_table_s_defaults() {
    for (key, shown) in shipped() {
        if let Some(default) = setting(&key).default.toml() {
            assert_eq!(shown, Some(default), "{key}");
        }
    }
    let uncommented = shipped_uncommented();
    let parsed = Config::parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let defaults = Config::default().effective();
    for ((key, value), (_, default)) in parsed.effective().into_iter().zip(defaults) {
        if setting(key).default != DefaultValue::Unset {
            assert_eq!(value, default, "{key}");
        }
    }
}

/// The reference's default, when and meaning columns say what the table
/// says.
#[test]
fn the_reference_says_what_the_table_says() {
    for row in reference_rows() {
        let s = setting(&row.key);
        assert_eq!(row.when, s.when.to_string(), "{}: when", row.key);
        match s.default.toml() {
            Some(default) => assert!(
                row.default == default || row.default == format!("`{default}`"),
                "{}: the reference says {:?}, the table {default}",
                row.key,
                row.default
            ),
            None => assert!(
                ["unset", "off", ""].contains(&row.default.as_str()),
                "{}: unset by default, the reference says {:?}",
                row.key,
                row.default
            ),
        }
        assert!(
            row.meaning.starts_with(s.doc),
            "{}: the reference's meaning does not start with {:?}",
            row.key,
            s.doc
        );
    }
}

/// Each integer key's range in the reference is the parser's: its ends are
/// taken, one past them refused (`0, or A – B`: 0 taken, A - 1 refused).
#[test]
fn the_reference_s_ranges_are_the_parser_s() {
    let mut checked = 0;
    for row in reference_rows() {
        let s = setting(&row.key);
        let DefaultValue::Integer(_) = s.default else { continue };
        let parse = |v: i64| Config::parse(&format!("[{}]\n{} = {v}\n", s.section(), s.name()));
        let (zero_or, range) = match row.range.strip_prefix("0, or ") {
            Some(range) => (true, range),
            None => (false, row.range.as_str()),
        };
        let (min, max) = range.split_once(" – ").unwrap_or_else(|| panic!("{}: range {range:?}", row.key));
        let (min, max): (i64, i64) = (min.parse().unwrap(), max.parse().unwrap());
        for (v, taken) in [(min, true), (max, true), (max + 1, false), (min - 1, false)] {
            assert_eq!(parse(v).is_ok(), taken, "{} = {v}: {:?}", row.key, parse(v));
        }
        if zero_or {
            assert!(parse(0).is_ok(), "{} = 0", row.key);
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} ranges compared");
}
