//! The snapshot as Prometheus metric families: names, help, labels.
//!
//! `prometheus-client` does the encoding (OpenMetrics text, or the classic
//! Prometheus text format 0.0.4, as the scraper's `Accept` asks: [`Format`]);
//! the families are written in `families.rs`, through the few shapes of
//! `writer.rs`. Counters are named there without their `_total`, which the
//! encoder adds. Every family is listed in [`FAMILIES`], which the dashboard
//! test and the docs are checked against.
//!
//! What is counted, and when, is the core's; when a scrape reads the
//! snapshot is [`super::http`]'s.

mod families;
#[cfg(test)]
mod tests;
mod writer;

use prometheus_client::registry::Registry;

pub use families::FAMILIES;

use super::MetricsSnapshot;
use super::process::ProcessStats;

/// The text format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Prometheus,
}

impl Format {
    /// What the scraper's `Accept` header asks for, per RFC 9110 §12.5.1:
    /// each format takes the q-value of the most specific media range that
    /// matches it (`type/subtype` with a `version` parameter, then without,
    /// then `type/*`, then `*/*`; a range naming another `version` does not
    /// match), and the higher q wins. Prometheus text 0.0.4 when there is no
    /// `Accept`, on a tie, and when neither is acceptable (q=0 or not
    /// named: the header is then disregarded, as §12.5.1 allows, rather
    /// than answered 406). A range whose q is not a valid qvalue is skipped.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Prometheus;
        };
        let openmetrics = quality(accept, "application", "openmetrics-text", "1.0.0");
        let text = quality(accept, "text", "plain", "0.0.4");
        if openmetrics > text { Self::OpenMetrics } else { Self::Prometheus }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// The q-value, in thousandths, `accept` gives `kind/sub` at `version`
/// (see [`Format::from_accept`]); 0 when no range matches.
fn quality(accept: &str, kind: &str, sub: &str, version: &str) -> u16 {
    let mut best: Option<(u8, u16)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let Some((t, s)) = parts.next().and_then(|m| m.trim().split_once('/')) else {
            continue;
        };
        let (t, s) = (t.trim(), s.trim());
        let mut specificity = match (t, s) {
            ("*", "*") => 0,
            (t, "*") if t.eq_ignore_ascii_case(kind) => 1,
            (t, s) if t.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
            _ => continue,
        };
        let mut q = Some(1000);
        let mut matches = true;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            if name.eq_ignore_ascii_case("q") {
                q = qvalue(value);
            } else if name.eq_ignore_ascii_case("version") && specificity == 2 {
                matches = value == version;
                specificity = 3;
            }
        }
        let Some(q) = q else {
            continue;
        };
        if matches && best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` if it is
/// not one.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Encodes `snapshot` (and `process`, when known) in `format`.
pub fn encode(snapshot: MetricsSnapshot, process: Option<ProcessStats>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(families::Families { snapshot, process }));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::Prometheus => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
    };
    out
}
