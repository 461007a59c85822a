//! The Grafana dashboard (`docs/grafana/portsyncd.json`) against the exporter.
//!
//! Every PromQL expression in the dashboard (panel targets, at any depth of
//! rows, and the query variables) is taken apart by a small tokenizer into
//! the metric names it selects. Each name must be one the endpoint exports
//! ([`FAMILIES`]; `X_bucket`/`X_sum`/`X_count` of a histogram family `X`),
//! each panel query must keep to the selected instances, and every family
//! must be on the dashboard at least once. The negative tests break a copy
//! of the dashboard (or of the family list) in memory and show the check
//! fails.

use std::collections::{BTreeSet, HashSet};

use portsyncd::metrics::MetricsSnapshot;
use portsyncd::metrics::exposition::{FAMILIES, Format, encode};
use serde_json::Value;

/// The dashboard as shipped.
const DASHBOARD: &str = include_str!("../../docs/grafana/portsyncd.json");

/// The matcher every panel query's selectors carry.
const INSTANCE_FILTER: &str = r#"instance=~"$instance""#;

/// The datasource every panel and query uses: the import input, which is
/// also the name of the dashboard's datasource variable.
const DATASOURCE: &str = "${DS_PROMETHEUS}";

// ---------------------------------------------------------------------------
// The tokenizer.

/// One vector selector found in an expression.
#[derive(Debug, PartialEq, Eq)]
struct Selector {
    /// The metric name as written.
    name: String,
    /// The text between its braces, if it has any.
    matchers: Option<String>,
}

impl Selector {
    /// Whether one of its matchers is exactly `instance=~"$instance"`
    /// (whitespace outside strings aside).
    fn keeps_to_instances(&self) -> bool {
        self.matchers.as_deref().is_some_and(|m| {
            split_top_level(&m.chars().collect::<Vec<_>>())
                .iter()
                .any(|item| strip_spaces(item) == INSTANCE_FILTER)
        })
    }
}

/// Aggregation operators and binary/modifier keywords: never metric names,
/// matched case-insensitively as PromQL does.
const KEYWORDS: &[&str] = &[
    // Aggregations.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    // Operators and modifiers.
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "by",
    "without",
    // Literals.
    "inf",
    "nan",
];

/// Keywords followed by a list of label names in parentheses (for
/// `group_left`/`group_right` the list is optional).
const LABEL_LIST_KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// PromQL functions (and Grafana's variable query functions other than
/// `label_values`): names only when followed by `(`.
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "info",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
    // Grafana's Prometheus variable queries.
    "label_names",
    "metrics",
    "query_result",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The vector selectors of a PromQL expression (or of a Grafana
/// `label_values(...)` variable query), in order.
fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    scan(&chars, &mut out).map_err(|e| format!("{e} in `{expr}`"))?;
    Ok(out)
}

/// The metric names of [`selectors`].
fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    Ok(selectors(expr)?.into_iter().map(|s| s.name).collect())
}

fn scan(c: &[char], out: &mut Vec<Selector>) -> Result<(), String> {
    let mut i = 0;
    let mut depth = 0usize;
    while i < c.len() {
        let ch = c[i];
        match ch {
            _ if ch.is_whitespace() => i += 1,
            '"' | '\'' | '`' => i = skip_string(c, i)?,
            '#' => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            // A selector without a name outside its braces: `{__name__="x"}` or `{"x"}`.
            '{' => {
                let end = close(c, i)?;
                let inner = &c[i + 1..end];
                let Some(name) = name_in_matchers(inner)? else {
                    return Err("a selector without a metric name".into());
                };
                out.push(Selector { name, matchers: Some(inner.iter().collect()) });
                i = end + 1;
            }
            // A range or subquery: durations, `$__rate_interval`, `5m:30s`.
            '[' => i = close(c, i)? + 1,
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced `)`")?;
                i += 1;
            }
            '}' | ']' => return Err(format!("unbalanced `{ch}`")),
            '$' => i = skip_variable(c, i)?,
            _ if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                i = skip_number(c, i);
            }
            _ if is_ident_start(ch) => {
                let start = i;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let lower = word.to_ascii_lowercase();
                let next = skip_spaces(c, i);
                let paren = c.get(next) == Some(&'(');
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if paren {
                        i = close(c, next)? + 1;
                    }
                } else if KEYWORDS.contains(&lower.as_str()) {
                    // An operator or aggregation: what follows is scanned as usual.
                } else if word == "label_values" {
                    // `label_values(label)` or `label_values(expr, label)`:
                    // the label is no metric.
                    if !paren {
                        return Err("`label_values` without arguments".into());
                    }
                    let end = close(c, next)?;
                    let args = &c[next + 1..end];
                    if let Some(comma) = last_top_level_comma(args)? {
                        scan(&args[..comma], out)?;
                    }
                    i = end + 1;
                } else if paren {
                    if !FUNCTIONS.contains(&word.as_str()) {
                        return Err(format!("unknown function `{word}`"));
                    }
                } else {
                    let matchers = if c.get(next) == Some(&'{') {
                        let end = close(c, next)?;
                        i = end + 1;
                        Some(c[next + 1..end].iter().collect())
                    } else {
                        None
                    };
                    out.push(Selector { name: word, matchers });
                }
            }
            _ if ch.is_ascii() => i += 1, // Operators, commas, `@`.
            _ => return Err(format!("`{ch}` outside a string")),
        }
    }
    if depth == 0 { Ok(()) } else { Err("unclosed `(`".into()) }
}

fn skip_spaces(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Past the string literal opening at `i`.
fn skip_string(c: &[char], i: usize) -> Result<usize, String> {
    let quote = c[i];
    let mut j = i + 1;
    while j < c.len() {
        match c[j] {
            '\\' if quote != '`' => j += 2,
            q if q == quote => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err("an unterminated string".into())
}

/// The index of the bracket closing the one at `i`, strings skipped.
fn close(c: &[char], i: usize) -> Result<usize, String> {
    let open = c[i];
    let shut = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        _ => unreachable!("not a bracket: {open}"),
    };
    let mut depth = 0;
    let mut j = i;
    while j < c.len() {
        match c[j] {
            '"' | '\'' | '`' => {
                j = skip_string(c, j)?;
                continue;
            }
            x if x == open => depth += 1,
            x if x == shut => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    Err(format!("unclosed `{open}`"))
}

/// Past a Grafana variable: `$name`, `${name}`, `${name:format}`.
fn skip_variable(c: &[char], i: usize) -> Result<usize, String> {
    if c.get(i + 1) == Some(&'{') {
        return Ok(close(c, i + 1)? + 1);
    }
    let mut j = i + 1;
    while j < c.len() && is_ident(c[j]) {
        j += 1;
    }
    if j == i + 1 { Err("a lone `$`".into()) } else { Ok(j) }
}

/// Past a number or duration: `0.99`, `1e-3`, `0x1f`, `1h30m`.
fn skip_number(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        let x = c[i];
        let digit = x.is_ascii_alphanumeric() || x == '.' || x == '_';
        let exponent_sign = (x == '+' || x == '-') && matches!(c[i - 1], 'e' | 'E') && !is_hex(c, i);
        if !(digit || exponent_sign) {
            break;
        }
        i += 1;
    }
    i
}

/// Whether the number ending just before `i` is hexadecimal (`0x1e-3` is
/// `0x1e` minus 3).
fn is_hex(c: &[char], i: usize) -> bool {
    let mut s = i;
    while s > 0 && (c[s - 1].is_ascii_alphanumeric() || c[s - 1] == '.') {
        s -= 1;
    }
    matches!(c.get(s..s + 2), Some(['0', 'x' | 'X']))
}

/// The items of a comma-separated list, commas inside brackets and strings
/// not counted.
fn split_top_level(c: &[char]) -> Vec<String> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => {
                i = skip_string(c, i).unwrap_or(c.len());
                continue;
            }
            '(' | '[' | '{' => {
                i = close(c, i).map_or(c.len(), |e| e + 1);
                continue;
            }
            ',' => {
                items.push(c[start..i].iter().collect());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    items.push(c[start..].iter().collect());
    items.retain(|s: &String| !s.trim().is_empty());
    items
}

/// The position of the last comma outside brackets and strings.
fn last_top_level_comma(c: &[char]) -> Result<Option<usize>, String> {
    let mut last = None;
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => {
                i = skip_string(c, i)?;
                continue;
            }
            '(' | '[' | '{' => {
                i = close(c, i)? + 1;
                continue;
            }
            ',' => last = Some(i),
            _ => {}
        }
        i += 1;
    }
    Ok(last)
}

/// `s` without whitespace outside string literals.
fn strip_spaces(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => {
                let end = skip_string(&c, i).unwrap_or(c.len());
                out.extend(&c[i..end]);
                i = end;
            }
            x if x.is_whitespace() => i += 1,
            x => {
                out.push(x);
                i += 1;
            }
        }
    }
    out
}

/// The metric name a brace-only selector names: `__name__="x"` or a bare
/// `"x"` (PromQL 3's quoted names).
fn name_in_matchers(c: &[char]) -> Result<Option<String>, String> {
    for item in split_top_level(c) {
        let item = strip_spaces(&item);
        let unquote = |s: &str| -> Option<String> {
            let q = s.chars().next()?;
            (matches!(q, '"' | '\'' | '`') && s.len() >= 2 && s.ends_with(q))
                .then(|| s[1..s.len() - 1].into())
        };
        if let Some(name) = unquote(&item) {
            return Ok(Some(name));
        }
        if let Some(value) = item.strip_prefix("__name__=") {
            if value.starts_with('~') {
                return Err("a metric name matched by a regular expression".into());
            }
            return Ok(unquote(value));
        }
        if item.starts_with("__name__") {
            return Err("a metric name matched other than by equality".into());
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------
// The dashboard check.

/// The histogram families, as the exporter declares them (`# TYPE x histogram`).
fn histogram_families() -> Vec<String> {
    encode(MetricsSnapshot::default(), None, Format::Prometheus)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram").map(str::to_string))
        .collect()
}

/// The family a series name belongs to: itself, or the histogram family of
/// its `_bucket`/`_sum`/`_count` series.
fn family_of<'f>(name: &str, families: &[&'f str], histograms: &[String]) -> Option<&'f str> {
    if let Some(f) = families.iter().find(|f| **f == name) {
        return Some(f);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        if !histograms.iter().any(|h| h == base) {
            return None;
        }
        families.iter().find(|f| **f == base).copied()
    })
}

/// Every panel, rows' nested panels included, at any depth.
fn all_panels(panels: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

/// A query variable's query text: Grafana 10 keeps it as a string or as an
/// object with a `query` field.
fn variable_queries(var: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    match &var["query"] {
        Value::String(s) => out.push(s.as_str()),
        q => out.extend(q["query"].as_str()),
    }
    out.extend(var["definition"].as_str());
    out.retain(|q| !q.trim().is_empty());
    out
}

/// What is wrong with `dashboard` against an exporter of `families`, one
/// line each (none: it agrees).
fn check(dashboard: &Value, families: &[&str], histograms: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut covered = HashSet::new();

    match dashboard["title"].as_str() {
        Some(t) if !t.trim().is_empty() => {}
        _ => problems.push("the dashboard has no title".into()),
    }
    match dashboard["uid"].as_str() {
        Some(u)
            if !u.is_empty()
                && u.len() <= 40
                && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {}
        other => problems.push(format!("the dashboard's uid {other:?} is not a usable Grafana uid")),
    }
    if dashboard["schemaVersion"] != 39 {
        problems.push(format!("schemaVersion is {}, not 39", dashboard["schemaVersion"]));
    }
    let input = DATASOURCE.trim_start_matches("${").trim_end_matches('}');
    if !dashboard["__inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["name"] == input && i["type"] == "datasource" && i["pluginId"] == "prometheus")
    {
        problems.push(format!("no Prometheus datasource input {input}"));
    }

    // Templating: the datasource variable, and the query variables' queries.
    let vars: Vec<&Value> = dashboard["templating"]["list"].as_array().into_iter().flatten().collect();
    if !vars.iter().any(|v| v["name"] == input && v["type"] == "datasource" && v["query"] == "prometheus") {
        problems.push(format!("no Prometheus datasource variable {input}"));
    }
    if !vars.iter().any(|v| v["name"] == "instance" && v["type"] == "query") {
        problems.push("no `instance` query variable".into());
    }
    for var in vars.iter().filter(|v| v["type"] == "query") {
        let name = var["name"].as_str().unwrap_or("?");
        let queries = variable_queries(var);
        if queries.is_empty() {
            problems.push(format!("variable {name}: no query"));
        }
        for q in queries {
            match selectors(q) {
                Err(e) => problems.push(format!("variable {name}: {e}")),
                Ok(sels) => {
                    for s in sels {
                        match family_of(&s.name, families, histograms) {
                            Some(f) => {
                                covered.insert(f);
                            }
                            None => problems.push(format!("variable {name}: `{}` is not exported", s.name)),
                        }
                    }
                }
            }
        }
    }

    // Panels.
    let mut ids = HashSet::new();
    for panel in all_panels(&dashboard["panels"]) {
        let title = panel["title"].as_str().unwrap_or("?");
        match panel["id"].as_u64() {
            Some(id) if !ids.insert(id) => problems.push(format!("panel {title:?}: id {id} used twice")),
            Some(_) => {}
            None => problems.push(format!("panel {title:?}: no numeric id")),
        }
        if panel["type"] == "row" {
            continue;
        }
        if let Some(uid) = panel["datasource"]["uid"].as_str().filter(|u| *u != DATASOURCE) {
            problems.push(format!("panel {title:?}: datasource {uid:?}, not {DATASOURCE}"));
        }
        let mut queries = 0;
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(uid) = target["datasource"]["uid"].as_str().filter(|u| *u != DATASOURCE) {
                problems.push(format!("panel {title:?}: a target's datasource {uid:?}, not {DATASOURCE}"));
            }
            let Some(expr) = target["expr"].as_str().filter(|e| !e.trim().is_empty()) else {
                continue;
            };
            queries += 1;
            let sels = match selectors(expr) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("panel {title:?}: {e}"));
                    continue;
                }
            };
            if sels.is_empty() {
                problems.push(format!("panel {title:?}: `{expr}` selects no metric"));
            }
            for s in sels {
                match family_of(&s.name, families, histograms) {
                    Some(f) => {
                        covered.insert(f);
                    }
                    None => problems.push(format!("panel {title:?}: `{}` is not exported", s.name)),
                }
                if !s.keeps_to_instances() {
                    problems
                        .push(format!("panel {title:?}: `{}` lacks {INSTANCE_FILTER} in `{expr}`", s.name));
                }
            }
        }
        if queries == 0 {
            problems.push(format!("panel {title:?}: no query"));
        }
    }

    // Coverage: a family the exporter gained without a panel fails here.
    for f in families {
        if !covered.contains(f) {
            problems.push(format!("`{f}` is exported but no panel or variable queries it"));
        }
    }
    problems
}

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("docs/grafana/portsyncd.json is not JSON")
}

fn assert_agrees(problems: &[String]) {
    assert!(problems.is_empty(), "the dashboard and the exporter disagree:\n{}", problems.join("\n"));
}

fn assert_reports(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got:\n{}",
        problems.join("\n")
    );
}

/// Applies `f` to every target expression of the dashboard.
fn edit_exprs(d: &mut Value, f: &dyn Fn(&str) -> String) {
    fn walk(panels: &mut Value, f: &dyn Fn(&str) -> String) {
        for p in panels.as_array_mut().into_iter().flatten() {
            for t in p["targets"].as_array_mut().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    t["expr"] = Value::String(f(e));
                }
            }
            walk(&mut p["panels"], f);
        }
    }
    walk(&mut d["panels"], f);
}

/// The first panel (at any depth) titled `title`.
fn panel_mut<'a>(panels: &'a mut Value, title: &str) -> Option<&'a mut Value> {
    for p in panels.as_array_mut()? {
        if p["title"] == title {
            return Some(p);
        }
        if let Some(found) = panel_mut(&mut p["panels"], title) {
            return Some(found);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The shipped dashboard.

#[test]
fn dashboard_agrees_with_the_exporter() {
    let histograms = histogram_families();
    assert_agrees(&check(&dashboard(), FAMILIES, &histograms));
}

#[test]
fn histograms_are_read_from_the_exporter() {
    let histograms = histogram_families();
    assert!(histograms.iter().any(|h| h == "portsyncd_write_batch_ops"), "{histograms:?}");
    assert!(histograms.iter().any(|h| h == "portsyncd_event_to_write_seconds"), "{histograms:?}");
    for h in &histograms {
        assert!(FAMILIES.contains(&h.as_str()), "{h} is not in FAMILIES");
    }
}

#[test]
fn dashboard_uids_are_unique() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana");
    let mut uids = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let uid =
                d["uid"].as_str().unwrap_or_else(|| panic!("{} has no uid", path.display())).to_string();
            assert!(uids.insert(uid.clone()), "uid {uid} used twice ({})", path.display());
        }
    }
    assert!(uids.contains("portsyncd-fleet"), "{uids:?}");
}

// ---------------------------------------------------------------------------
// Negative tests: the check fails when the two disagree.

#[test]
fn a_misspelled_metric_fails() {
    let mut d = dashboard();
    edit_exprs(&mut d, &|e| e.replace("portsyncd_redis_errors_total", "portsyncd_redis_error_total"));
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "`portsyncd_redis_error_total` is not exported");
    assert_reports(&problems, "`portsyncd_redis_errors_total` is exported but no panel");
}

#[test]
fn a_misspelled_histogram_series_fails() {
    let mut d = dashboard();
    edit_exprs(&mut d, &|e| {
        e.replace("portsyncd_write_batch_ops_bucket", "portsyncd_write_batch_ops_buckets")
    });
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "`portsyncd_write_batch_ops_buckets` is not exported");
}

#[test]
fn a_family_without_a_panel_fails() {
    // Take every query of portsyncd_warm_restores out of the dashboard.
    let mut d = dashboard();
    fn drop_targets(panels: &mut Value) {
        for p in panels.as_array_mut().into_iter().flatten() {
            if let Some(ts) = p["targets"].as_array_mut() {
                ts.retain(|t| !t["expr"].as_str().unwrap_or("").contains("portsyncd_warm_restores"));
            }
            drop_targets(&mut p["panels"]);
        }
    }
    drop_targets(&mut d["panels"]);
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_eq!(problems, ["`portsyncd_warm_restores` is exported but no panel or variable queries it"]);
}

#[test]
fn a_family_added_to_the_exporter_without_a_panel_fails() {
    let mut families = FAMILIES.to_vec();
    families.push("portsyncd_something_new_total");
    let problems = check(&dashboard(), &families, &histogram_families());
    assert_eq!(problems, ["`portsyncd_something_new_total` is exported but no panel or variable queries it"]);
}

#[test]
fn a_family_removed_from_the_exporter_fails() {
    let families: Vec<&str> = FAMILIES.iter().copied().filter(|f| *f != "portsyncd_kept_writes").collect();
    let problems = check(&dashboard(), &families, &histogram_families());
    assert_reports(&problems, "`portsyncd_kept_writes` is not exported");
    // Only that name: `portsyncd_kept_writes_age_seconds` is another family.
    assert!(problems.iter().all(|p| p.contains("`portsyncd_kept_writes`")), "{problems:#?}");
}

#[test]
fn a_panel_without_a_query_fails_even_in_a_collapsed_row() {
    let mut d = dashboard();
    let threads = panel_mut(&mut d["panels"], "Threads").expect("a Threads panel");
    threads["targets"] = Value::Array(Vec::new());
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "panel \"Threads\": no query");
    assert_reports(&problems, "`process_threads` is exported but no panel");
}

#[test]
fn a_query_not_kept_to_the_selected_instances_fails() {
    let mut d = dashboard();
    edit_exprs(&mut d, &|e| {
        e.replace(r#"portsyncd_published_ports{instance=~"$instance"}"#, "portsyncd_published_ports")
    });
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "`portsyncd_published_ports` lacks");
}

#[test]
fn a_duplicate_panel_id_fails() {
    let mut d = dashboard();
    let id = d["panels"][1]["id"].clone();
    panel_mut(&mut d["panels"], "Threads").unwrap()["id"] = id.clone();
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, &format!("id {id} used twice"));
}

#[test]
fn a_missing_uid_or_title_fails() {
    let mut d = dashboard();
    d.as_object_mut().unwrap().remove("uid");
    d["title"] = Value::String(" ".into());
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "uid None");
    assert_reports(&problems, "no title");
}

#[test]
fn a_hard_coded_datasource_fails() {
    let mut d = dashboard();
    let p = panel_mut(&mut d["panels"], "CPU").unwrap();
    p["targets"][0]["datasource"]["uid"] = Value::String("P1809F7CD0C75ACF3".into());
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "panel \"CPU\": a target's datasource \"P1809F7CD0C75ACF3\"");
}

#[test]
fn a_bad_variable_query_fails() {
    let mut d = dashboard();
    for v in d["templating"]["list"].as_array_mut().unwrap() {
        if v["name"] == "instance" {
            v["definition"] = Value::String("label_values(portsyncd_buildinfo, instance)".into());
        }
    }
    let problems = check(&d, FAMILIES, &histogram_families());
    assert_reports(&problems, "variable instance: `portsyncd_buildinfo` is not exported");
}

// ---------------------------------------------------------------------------
// The tokenizer itself.

fn names(expr: &str) -> Vec<String> {
    metric_names(expr).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tokenizer_takes_names_not_labels() {
    assert_eq!(names("up"), ["up"]);
    assert_eq!(names(r#"foo_total{job="a", instance=~"$instance"}"#), ["foo_total"]);
    assert_eq!(names(r#"foo { port != "bar_total" , le = "0.5" }"#), ["foo"]);
    assert_eq!(names("ns:rule:rate5m"), ["ns:rule:rate5m"]);
    let s = &selectors(r#"a{instance=~"$instance"} + b{ instance =~ "$instance" } + c{instance="x"} + d"#)
        .unwrap();
    let kept: Vec<bool> = s.iter().map(Selector::keeps_to_instances).collect();
    assert_eq!(kept, [true, true, false, false]);
    // A matcher on another label whose value mentions the filter is not the filter.
    let s = &selectors(r#"a{job="instance=~\"$instance\""}"#).unwrap();
    assert!(!s[0].keeps_to_instances());
}

#[test]
fn tokenizer_skips_grouping_labels() {
    assert_eq!(names("sum by (le) (rate(x_bucket[5m]))"), ["x_bucket"]);
    assert_eq!(names("sum(rate(x[5m])) by (instance, le)"), ["x"]);
    assert_eq!(names("sum without (port, kind) (x)"), ["x"]);
    assert_eq!(names("SUM BY (le) (x)"), ["x"]);
    assert_eq!(names("a / on (instance, job) group_left (version, port_capacity) b_info"), ["a", "b_info"]);
    assert_eq!(names("a * ignoring(port) group_right b"), ["a", "b"]);
    assert_eq!(names("a and on (instance) b unless c or d"), ["a", "b", "c", "d"]);
    assert_eq!(names("a > bool 0"), ["a"]);
}

#[test]
fn tokenizer_skips_strings() {
    assert_eq!(names(r#"label_replace(x, "dst", "portsyncd_fake_total", "src", "(.*)")"#), ["x"]);
    assert_eq!(names(r#"x{a="sum(rate(fake_total[5m]))"}"#), ["x"]);
    assert_eq!(names(r#"x{a="with \"escaped\" fake_total", b='single fake'}"#), ["x"]);
    assert_eq!(names(r#"x{a=~`raw \ fake_total`}"#), ["x"]);
    assert_eq!(names(r#"count_values("fake_label", x)"#), ["x"]);
    assert_eq!(names("x # a comment with fake_total\n+ y"), ["x", "y"]);
}

#[test]
fn tokenizer_skips_durations_and_numbers() {
    assert_eq!(names("rate(x[5m])"), ["x"]);
    assert_eq!(names("rate(x[$__rate_interval])"), ["x"]);
    assert_eq!(names("max_over_time(rate(x[1m])[1h30m:30s])"), ["x"]);
    assert_eq!(names("x offset 1h30m"), ["x"]);
    assert_eq!(names("x offset -5m + y @ 1609746000"), ["x", "y"]);
    assert_eq!(names("x @ start() - y @ end()"), ["x", "y"]);
    assert_eq!(names("histogram_quantile(0.99, x) > 1e-3 * 0x1f + .5 - 2E+2"), ["x"]);
    assert_eq!(names("x > Inf or y < NaN"), ["x", "y"]);
}

#[test]
fn tokenizer_skips_variables() {
    assert_eq!(names(r#"x{instance=~"$instance"}"#), ["x"]);
    assert_eq!(names("x{instance=~$instance}"), ["x"]);
    assert_eq!(names("topk($n, x) + ${offset_metric} + ${instance:regex} * y"), ["x", "y"]);
    assert_eq!(names("changes(x[$__range])"), ["x"]);
}

#[test]
fn tokenizer_handles_nesting() {
    assert_eq!(
        names(
            r#"topk(10, histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{instance=~"$instance"}[$__rate_interval]))))"#
        ),
        ["a_bucket"]
    );
    assert_eq!(
        names("sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) and on (instance) (b == 1)"),
        ["a_sum", "a_count", "b"]
    );
    assert_eq!(names("time() - (c and on (instance, job) d)"), ["c", "d"]);
    assert_eq!(names("clamp_min(abs(delta(x[5m])), 0) or vector(0)"), ["x"]);
}

#[test]
fn tokenizer_reads_variable_queries() {
    assert_eq!(names("label_values(portsyncd_build_info, instance)"), ["portsyncd_build_info"]);
    assert_eq!(names(r#"label_values(up{job="portsyncd"}, instance)"#), ["up"]);
    assert_eq!(names("label_values(instance)"), Vec::<String>::new());
    assert_eq!(names("query_result(topk(5, x))"), ["x"]);
}

#[test]
fn tokenizer_reads_brace_only_selectors() {
    assert_eq!(names(r#"{__name__="x", instance=~"$instance"}"#), ["x"]);
    assert_eq!(names(r#"{"x.with.dots", job="a"}"#), ["x.with.dots"]);
    assert!(metric_names(r#"{__name__=~"portsyncd_.*"}"#).is_err());
    assert!(metric_names(r#"{job="a"}"#).is_err());
}

#[test]
fn tokenizer_rejects_what_it_cannot_read() {
    // An unknown function is an error, not a metric name.
    assert!(metric_names("rat(x[5m])").unwrap_err().contains("unknown function `rat`"));
    assert!(metric_names(r#"x{a="b"}"#.trim_end_matches('}')).is_err());
    assert!(metric_names(r#"x{a="b}"#).is_err());
    assert!(metric_names("rate(x[5m]").is_err());
    assert!(metric_names("rate(x[5m]))").is_err());
    assert!(metric_names("x]").is_err());
    assert!(metric_names("x $").is_err());
    assert!(metric_names("label_values").is_err());
    assert!(metric_names("x + é").is_err());
    // A function name not called is a metric name (and so fails the check).
    assert_eq!(names("rate"), ["rate"]);
}

#[test]
fn series_names_map_to_families() {
    let h = vec!["h".to_string()];
    let fams = ["h", "c_total", "g_count"];
    assert_eq!(family_of("h_bucket", &fams, &h), Some("h"));
    assert_eq!(family_of("h_sum", &fams, &h), Some("h"));
    assert_eq!(family_of("h_count", &fams, &h), Some("h"));
    assert_eq!(family_of("h", &fams, &h), Some("h"));
    // Only histograms have those series.
    assert_eq!(family_of("c_total_bucket", &fams, &h), None);
    assert_eq!(family_of("g_count", &fams, &h), Some("g_count"));
    assert_eq!(family_of("g_count_sum", &fams, &h), None);
    assert_eq!(family_of("h_max", &fams, &h), None);
}
