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
// The tokenizer: `promql/mod.rs`, shared with the fleet end-to-end test.

mod promql;

use promql::{Selector, metric_names, selectors, split_top_level, strip_spaces};

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
