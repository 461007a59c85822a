//! The shipped Prometheus rules (`packaging/prometheus/portsyncd.rules.yml`)
//! against the daemon's own rule table: each shipped in-daemon rule is
//! rendered here from `default_rules()` (name, expression, `for`,
//! `keep_firing_for`, labels) and must be found in the file word for word;
//! the file has no other alert but `PortsyncdDown`; every metric a rule
//! names is one the endpoint exports. Then `promtool check rules` and
//! `promtool test rules` (the unit tests of each alert beside it), so the
//! file is what Prometheus 2.42 (Debian's) loads.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use portsyncd::alerting::prometheus_severity;
use portsyncd::metrics::exposition::FAMILIES;
use portsyncd_core::alerts::{Condition, Rule};
use portsyncd_core::driver::{Watched, default_rules};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/prometheus");
const RULES: &str = include_str!("../../packaging/prometheus/portsyncd.rules.yml");

/// A duration as Prometheus writes it.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    assert_eq!(Duration::from_secs(s), d, "whole seconds only");
    match s {
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The PromQL of a rule's condition on its metric.
fn expr(rule: &Rule<Watched>) -> String {
    let m = rule.metric.name();
    match rule.condition {
        Condition::Above(x) => format!("{m} > {x}"),
        Condition::Below(x) => format!("{m} < {x}"),
        Condition::Equals(x) => format!("{m} == {x}"),
        Condition::Between(lo, hi) => format!("{m} >= {lo} and {m} <= {hi}"),
        Condition::RateOfChange { over, by } => format!("increase({m}[{}]) > {by}", duration(over)),
    }
}

/// A rule as the file must have it (its annotations follow).
fn rendered(rule: &Rule<Watched>) -> String {
    format!(
        "      - alert: {}\n        expr: {}\n        for: {}\n        keep_firing_for: {}\n        labels:\n          \
         severity: {}\n          sonic_severity: {}\n",
        rule.name,
        expr(rule),
        duration(rule.for_),
        duration(rule.keep_firing_for),
        prometheus_severity(rule.severity),
        rule.severity.name()
    )
}

#[test]
fn every_shipped_rule_is_in_the_file_as_the_daemon_has_it() {
    let rules = default_rules();
    for rule in &rules {
        let want = rendered(rule);
        assert!(
            RULES.contains(&want),
            "packaging/prometheus/portsyncd.rules.yml lacks, word for word:\n{want}"
        );
    }
    let mut alerts: Vec<&str> =
        RULES.lines().filter_map(|l| l.trim_start().strip_prefix("- alert: ")).map(str::trim).collect();
    alerts.sort_unstable();
    let mut want: Vec<&str> = rules.iter().map(|r| r.name.as_str()).chain(["PortsyncdDown"]).collect();
    want.sort_unstable();
    assert_eq!(alerts, want, "the file's alerts against the daemon's rules and PortsyncdDown");
}

#[test]
fn every_metric_the_rules_name_is_exported() {
    let exprs = RULES.lines().filter_map(|l| l.trim_start().strip_prefix("expr: "));
    let mut named = 0;
    for expr in exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if !word.starts_with("portsyncd_") {
                continue;
            }
            named += 1;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix).filter(|base| FAMILIES.contains(base)))
                .unwrap_or(word);
            assert!(FAMILIES.contains(&family), "{word} (in `{expr}`) is not exported");
        }
    }
    assert!(named >= 10, "{named}");
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(Path::new(DIR))
        .output()
        .expect("promtool (Debian's prometheus package; tests/run-all.sh installs it)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    promtool(&["check", "rules", "portsyncd.rules.yml"]);
    promtool(&["test", "rules", "portsyncd.rules.test.yml"]);
}
