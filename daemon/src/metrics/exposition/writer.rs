//! The shapes a family takes (a counter, a gauge, a family by one label,
//! an info gauge, a histogram), written through `prometheus-client`'s
//! descriptor encoder.

use std::fmt;

use portsyncd_core::metrics::Histogram;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// Writes families one after another.
pub(super) struct Writer<'a, 'b> {
    /// The encoder, for a family of a shape of its own.
    pub enc: &'b mut DescriptorEncoder<'a>,
}

impl Writer<'_, '_> {
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        m.encode_counter::<NoLabelSet, _, u64>(&value, None)
    }

    pub fn counter_f64(&mut self, name: &str, help: &str, unit: &Unit, value: f64) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, Some(unit), MetricType::Counter)?;
        m.encode_counter::<NoLabelSet, _, f64>(&value, None)
    }

    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
        m.encode_gauge(&value)
    }

    /// A counter family with one label.
    pub fn counters_by<'v>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        series: impl Iterator<Item = (&'v str, u64)>,
    ) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (value, n) in series {
            m.encode_family(&[(label, value)])?.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }

    /// An info family as a gauge of 1 with labels (`<name>_info`): what
    /// the Prometheus text format writes, and what `promtool` and older
    /// scrapers read in OpenMetrics too (they do not know its `info` type).
    pub fn info(&mut self, name: &str, help: &str, labels: &[(&str, &str)]) -> fmt::Result {
        let name = format!("{name}_info");
        let mut m = self.enc.encode_descriptor(&name, help, None, MetricType::Gauge)?;
        m.encode_family(&labels)?.encode_gauge(&1u64)
    }

    pub fn histogram<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        h: &Histogram<N>,
        scale: f64,
    ) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, unit, MetricType::Histogram)?;
        // Per bucket, not cumulative: the encoder adds them up.
        let mut buckets: Vec<(f64, u64)> = h.buckets().map(|(b, n)| (b as f64 * scale, n)).collect();
        buckets.push((f64::INFINITY, h.above()));
        m.encode_histogram::<NoLabelSet>(h.sum() as f64 * scale, h.count(), &buckets, None)
    }
}
