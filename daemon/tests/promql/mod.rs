//! A small PromQL tokenizer: the vector selectors (metric names and their
//! matchers) of an expression or of a Grafana `label_values(...)` variable
//! query. Shared by the dashboard's check against the exporter
//! (`daemon/tests/dashboard.rs`) and the fleet end-to-end test, which asks a
//! real Prometheus for each name (`tests/e2e/fleet.rs`).

/// One vector selector found in an expression.
#[derive(Debug, PartialEq, Eq)]
pub struct Selector {
    /// The metric name as written.
    pub name: String,
    /// The text between its braces, if it has any.
    pub matchers: Option<String>,
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
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    scan(&chars, &mut out).map_err(|e| format!("{e} in `{expr}`"))?;
    Ok(out)
}

/// The metric names of [`selectors`].
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
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
pub fn split_top_level(c: &[char]) -> Vec<String> {
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
pub fn strip_spaces(s: &str) -> String {
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
