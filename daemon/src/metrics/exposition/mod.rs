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
    /// What the scraper's `Accept` header asks for (the Prometheus format
    /// unless OpenMetrics is named: what `curl` and older scrapers read).
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
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
