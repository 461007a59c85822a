//! The snapshot as Prometheus metric families: names, help, labels.
//!
//! `prometheus-client` does the encoding (OpenMetrics text, or the classic
//! Prometheus text format 0.0.4, as the scraper's `Accept` asks); counters
//! are named here without their `_total`, which the encoder adds. Every
//! family is listed in [`FAMILIES`], which the dashboard test and the docs
//! are checked against.

use std::fmt;

use portsyncd_core::backend::BackendStatus;
use portsyncd_core::engine::{DEFAULT_PORT_CAPACITY, StartKind};
use portsyncd_core::filter::IgnoreReason;
use portsyncd_core::metrics::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

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

/// Every metric name the endpoint can expose, as a scraper sees it
/// (counters with `_total`, histograms by their family name).
pub const FAMILIES: &[&str] = &[
    "portsyncd_build_info",
    "portsyncd_netlink_datagrams_total",
    "portsyncd_netlink_messages_total",
    "portsyncd_link_events_total",
    "portsyncd_link_events_ignored_total",
    "portsyncd_netlink_malformed_total",
    "portsyncd_netlink_overruns_total",
    "portsyncd_netlink_redumps_total",
    "portsyncd_ports_vanished_total",
    "portsyncd_state_db_writes_total",
    "portsyncd_state_db_deletes_total",
    "portsyncd_appl_db_produces_total",
    "portsyncd_write_batches_total",
    "portsyncd_write_batches_refused_total",
    "portsyncd_writes_lost_total",
    "portsyncd_redis_round_trips_total",
    "portsyncd_redis_commands_total",
    "portsyncd_redis_errors_total",
    "portsyncd_redis_reconnects_total",
    "portsyncd_redis_connect_failures_total",
    "portsyncd_redis_server_restarts_total",
    "portsyncd_redis_connected",
    "portsyncd_kept_writes",
    "portsyncd_kept_writes_age_seconds",
    "portsyncd_write_batch_ops",
    "portsyncd_event_to_write_seconds",
    "portsyncd_health_state",
    "portsyncd_health_info",
    "portsyncd_warm_start",
    "portsyncd_warm_restores",
    "portsyncd_snapshot_saves_total",
    "portsyncd_snapshot_failures_total",
    "portsyncd_eoiu_seconds",
    "portsyncd_port_config_done_seconds",
    "portsyncd_port_init_done_seconds",
    "portsyncd_port_init_done",
    "portsyncd_configured_ports",
    "portsyncd_awaiting_ports",
    "portsyncd_published_ports",
    "portsyncd_port_flaps_total",
    "portsyncd_port_flaps_max_per_minute",
    "portsyncd_alerts",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// Encodes `snapshot` (and `process`, when known) in `format`.
pub fn encode(snapshot: MetricsSnapshot, process: Option<ProcessStats>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families { snapshot, process }));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::Prometheus => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
    };
    out
}

#[derive(Debug)]
struct Families {
    snapshot: MetricsSnapshot,
    process: Option<ProcessStats>,
}

/// Writes families one after another.
struct Writer<'a, 'b> {
    enc: &'b mut DescriptorEncoder<'a>,
}

impl Writer<'_, '_> {
    fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        m.encode_counter::<NoLabelSet, _, u64>(&value, None)
    }

    fn counter_f64(&mut self, name: &str, help: &str, unit: &Unit, value: f64) -> fmt::Result {
        let mut m = self.enc.encode_descriptor(name, help, Some(unit), MetricType::Counter)?;
        m.encode_counter::<NoLabelSet, _, f64>(&value, None)
    }

    fn gauge(
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
    fn counters_by<'v>(
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
    fn info(&mut self, name: &str, help: &str, labels: &[(&str, &str)]) -> fmt::Result {
        let name = format!("{name}_info");
        let mut m = self.enc.encode_descriptor(&name, help, None, MetricType::Gauge)?;
        m.encode_family(&labels)?.encode_gauge(&1u64)
    }

    fn histogram<const N: usize>(
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

impl Collector for Families {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.snapshot;
        let mut w = Writer { enc: &mut enc };
        let (d, e, db) = (&s.driver, &s.engine, &s.db);
        let capacity = DEFAULT_PORT_CAPACITY.to_string();
        w.info(
            "portsyncd_build",
            "The running build: its version, how many ports it has room for, and the multi-ASIC \
             namespace it serves (host: none).",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("port_capacity", &capacity),
                ("namespace", &s.namespace),
            ],
        )?;

        // The kernel side.
        w.counter("portsyncd_netlink_datagrams", "rtnetlink datagrams received.", d.datagrams)?;
        w.counter(
            "portsyncd_netlink_messages",
            "Link messages decoded and handed to the engine.",
            e.link_messages,
        )?;
        let ignored: u64 = e.ignored.iter().sum();
        let for_ports = e
            .link_messages
            .saturating_sub(ignored)
            .saturating_sub(e.rejected_names)
            .saturating_sub(e.stale_links)
            .saturating_sub(e.stale_overflow);
        w.counters_by(
            "portsyncd_link_events",
            "Link messages by what they were: for a port, ignored, a rejected name, a stale link.",
            "kind",
            [
                ("port", for_ports),
                ("ignored", ignored),
                ("rejected_name", e.rejected_names),
                ("stale", e.stale_links + e.stale_overflow),
                ("coalesced", e.coalesced),
            ]
            .into_iter(),
        )?;
        w.counters_by(
            "portsyncd_link_events_ignored",
            "Link messages ignored, by reason.",
            "reason",
            IgnoreReason::ALL.iter().map(|r| (r.label(), e.ignored[r.index()])),
        )?;
        w.counter("portsyncd_netlink_malformed", "Malformed netlink messages skipped.", d.malformed)?;
        w.counter("portsyncd_netlink_overruns", "Netlink socket overruns (notifications lost).", d.overruns)?;
        w.counter(
            "portsyncd_netlink_redumps",
            "Link dumps requested again after an overrun or a failed dump.",
            d.redumps,
        )?;
        w.counter(
            "portsyncd_ports_vanished",
            "Ports deleted from STATE_DB because a dump no longer had them.",
            d.vanished,
        )?;

        // What was written.
        w.counter("portsyncd_state_db_writes", "STATE_DB PORT_TABLE writes decided.", e.state_sets)?;
        w.counter("portsyncd_state_db_deletes", "STATE_DB PORT_TABLE deletes decided.", e.state_dels)?;
        w.counter(
            "portsyncd_appl_db_produces",
            "APPL_DB PORT_TABLE producer sets decided (ports, PortConfigDone, PortInitDone).",
            d.appl_produces,
        )?;
        w.counter("portsyncd_write_batches", "Write batches carried out.", d.writes_sent)?;
        w.counter("portsyncd_write_batches_refused", "Write batches a database refused.", d.writes_refused)?;
        w.counter("portsyncd_writes_lost", "Refused writes that found no room to be kept.", d.refused_lost)?;

        // Redis.
        w.counter("portsyncd_redis_round_trips", "Redis round trips (a pipeline is one).", db.round_trips)?;
        w.counter("portsyncd_redis_commands", "Redis commands sent.", db.commands)?;
        w.counter(
            "portsyncd_redis_errors",
            "Redis commands or pipelines answered with an error, or lost with their connection.",
            db.errors,
        )?;
        w.counter("portsyncd_redis_reconnects", "Redis reconnects.", db.reconnects)?;
        w.counter(
            "portsyncd_redis_connect_failures",
            "Failed Redis connection attempts.",
            db.connect_failures,
        )?;
        w.counter(
            "portsyncd_redis_server_restarts",
            "Redis servers found restarted (a new run id: their data lost).",
            db.server_restarts,
        )?;
        let observed = s.observed;
        let backend = observed.map(|o| o.backend);
        w.gauge(
            "portsyncd_redis_connected",
            "1 when every database connection is up and no write is kept.",
            None,
            u64::from(backend.is_none_or(|b| b == BackendStatus::Connected)),
        )?;
        // The same figures the alert rules watch (the driver's facts).
        let kept = observed.map_or(0, |o| o.kept_writes() as u64);
        w.gauge(
            "portsyncd_kept_writes",
            "Keys whose writes wait: for Redis to come back, or to be tried again after a refusal.",
            None,
            kept,
        )?;
        let age = match (observed, s.published_at) {
            (Some(o), Some(at)) => o.kept_for(at).as_secs_f64(),
            _ => 0.0,
        };
        w.gauge(
            "portsyncd_kept_writes_age",
            "How long writes have been kept (0: none are).",
            Some(&Unit::Seconds),
            age,
        )?;

        // The hot path.
        w.histogram(
            "portsyncd_write_batch_ops",
            "Writes per batch sent (ports and markers).",
            None,
            &s.histograms.write_batch_ops,
            1.0,
        )?;
        w.histogram(
            "portsyncd_event_to_write",
            "From receiving a batch's first notification to the write that publishes it being acknowledged.",
            Some(&Unit::Seconds),
            &s.histograms.event_to_write_ms,
            0.001,
        )?;

        // Health.
        let (state, reason) = s.health;
        w.gauge(
            "portsyncd_health_state",
            "Health: 0 healthy, 1 degraded, 2 unhealthy.",
            None,
            u64::from(state.code()),
        )?;
        w.info("portsyncd_health", "Health and why.", &[("state", state.name()), ("reason", reason.name())])?;

        // Warm restart.
        let warm = observed.and_then(|o| o.warm);
        w.gauge(
            "portsyncd_warm_start",
            "1 when this run started warm.",
            None,
            u64::from(warm.is_some_and(|w| w.start == StartKind::Warm)),
        )?;
        w.gauge(
            "portsyncd_warm_restores",
            "STATE_DB WARM_RESTART_TABLE|portsyncd restore_count as this run wrote it.",
            None,
            warm.map_or(0, |w| w.restore_count),
        )?;
        w.counter("portsyncd_snapshot_saves", "Warm-restart snapshots saved.", d.snapshots)?;
        w.counter(
            "portsyncd_snapshot_failures",
            "Warm-restart snapshot saves that failed.",
            d.snapshot_failures,
        )?;

        // Milestones: present once reached.
        let m = &s.milestones;
        for (name, help, at) in [
            ("portsyncd_eoiu", "Time from start to the end of the initial link dump.", m.eoiu),
            ("portsyncd_port_config_done", "Time from start to PortConfigDone.", m.port_config_done),
            ("portsyncd_port_init_done", "Time from start to PortInitDone.", m.port_init_done),
        ] {
            if let Some(at) = at {
                w.gauge(name, help, Some(&Unit::Seconds), at.as_secs_f64())?;
            }
        }
        w.gauge(
            "portsyncd_port_init_done",
            "1 once PortInitDone has been written.",
            None,
            u64::from(observed.is_some_and(|o| o.init_done)),
        )?;

        // Ports.
        let (configured, awaiting, published) =
            observed.map_or((0, 0, 0), |o| (o.configured_ports, o.awaiting_ports, o.published_ports));
        w.gauge("portsyncd_configured_ports", "CONFIG_DB PORT entries.", None, configured as u64)?;
        w.gauge(
            "portsyncd_awaiting_ports",
            "Configured ports whose host interface has not appeared.",
            None,
            awaiting as u64,
        )?;
        w.gauge(
            "portsyncd_published_ports",
            "Ports whose STATE_DB PORT_TABLE entry this run holds.",
            None,
            published as u64,
        )?;
        w.counters_by(
            "portsyncd_port_flaps",
            "Oper state changes the kernel reported, per configured port.",
            "port",
            s.flaps.iter().map(|(name, f)| (name.as_str(), u64::from(f.total))),
        )?;
        w.gauge(
            "portsyncd_port_flaps_max_per_minute",
            "The most flaps one port had in the last minute (or this one so far).",
            None,
            observed.map_or(0, |o| u64::from(o.max_port_flaps_per_minute)),
        )?;

        // Alerts, shaped like Prometheus's ALERTS.
        {
            let mut m = w.enc.encode_descriptor(
                "portsyncd_alerts",
                "Alert rules pending or firing (ALERTS-style).",
                None,
                MetricType::Gauge,
            )?;
            for a in &s.alerts {
                let labels =
                    [("alertname", a.name.as_str()), ("alertstate", a.state), ("severity", a.severity)];
                m.encode_family(&labels)?.encode_gauge(&1u64)?;
            }
        }

        // The process.
        if let Some(p) = self.process {
            w.counter_f64("process_cpu", "User and system CPU time.", &Unit::Seconds, p.cpu_seconds)?;
            w.gauge("process_resident_memory", "Resident memory.", Some(&Unit::Bytes), p.resident_bytes)?;
            w.gauge("process_virtual_memory", "Virtual memory.", Some(&Unit::Bytes), p.virtual_bytes)?;
            w.gauge("process_open_fds", "Open file descriptors.", None, p.open_fds)?;
            w.gauge("process_max_fds", "The file descriptor limit.", None, p.max_fds)?;
            w.gauge(
                "process_start_time",
                "Start time since the Unix epoch.",
                Some(&Unit::Seconds),
                p.start_time_seconds,
            )?;
            w.gauge("process_threads", "Threads.", None, p.threads)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portsyncd_core::Instant;
    use portsyncd_core::driver::Observed;
    use portsyncd_core::engine::PortFlaps;

    use super::*;
    use crate::metrics::AlertGauge;

    /// A snapshot with every optional part present.
    fn full() -> MetricsSnapshot {
        let mut s =
            MetricsSnapshot { published_at: Some(Instant::from_millis(90_000)), ..Default::default() };
        s.milestones.eoiu = Some(Duration::from_millis(12));
        s.milestones.port_config_done = Some(Duration::from_millis(10));
        s.milestones.port_init_done = Some(Duration::from_millis(40));
        s.histograms.event_to_write_ms.observe(3);
        s.histograms.write_batch_ops.observe(17);
        s.observed = Some(Observed {
            backend: BackendStatus::Degraded { pending: 2 },
            kept_since: Some(Instant::from_millis(60_000)),
            refused_kept: 1,
            warm: None,
            configured_ports: 2,
            awaiting_ports: 0,
            published_ports: 2,
            init_done: true,
            max_port_flaps_per_minute: 3,
        });
        let port = |n: &str| portsyncd_core::PortName::try_from(n).unwrap();
        s.flaps = vec![
            (port("Ethernet0"), PortFlaps { total: 3, this_window: 3, last_window: 0 }),
            (port("Ethernet4"), PortFlaps::default()),
        ];
        s.alerts =
            vec![AlertGauge { name: "RedisUnreachable".into(), state: "pending", severity: "CRITICAL" }];
        s
    }

    fn process() -> ProcessStats {
        ProcessStats {
            cpu_seconds: 1.5,
            resident_bytes: 4 << 20,
            virtual_bytes: 8 << 20,
            open_fds: 9,
            max_fds: 1024,
            start_time_seconds: 1.7e9,
            threads: 3,
        }
    }

    /// Family names in the text (from `# TYPE` lines), with the suffixes a
    /// scraper sees.
    fn families(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| {
                let mut it = l.split(' ');
                let (name, kind) = (it.next().unwrap(), it.next().unwrap());
                match kind {
                    // OpenMetrics names a counter family without `_total`.
                    "counter" if !name.ends_with("_total") => format!("{name}_total"),
                    _ => name.to_owned(),
                }
            })
            .collect()
    }

    #[test]
    fn every_family_listed_is_exported_in_both_formats_and_nothing_else() {
        let mut listed: Vec<String> = FAMILIES.iter().map(|s| s.to_string()).collect();
        listed.sort();
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let mut got = families(&encode(full(), Some(process()), format));
            got.sort();
            assert_eq!(got, listed, "{format:?}");
        }
    }

    #[test]
    fn the_build_info_names_the_namespace_served() {
        let s = MetricsSnapshot { namespace: "asic1".into(), ..full() };
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let text = encode(s.clone(), None, format);
            let want = format!(
                r#"portsyncd_build_info{{version="{}",port_capacity="{}",namespace="asic1"}} 1"#,
                env!("CARGO_PKG_VERSION"),
                DEFAULT_PORT_CAPACITY
            );
            assert!(text.lines().any(|l| l == want), "{format:?}: no line {want:?} in\n{text}");
        }
    }

    #[test]
    fn values_read_as_their_families_say() {
        let text = encode(full(), Some(process()), Format::Prometheus);
        for line in [
            "portsyncd_kept_writes 3",
            "portsyncd_kept_writes_age_seconds 30.0",
            "portsyncd_redis_connected 0",
            "portsyncd_port_init_done_seconds 0.04",
            r#"portsyncd_port_flaps_total{port="Ethernet0"} 3"#,
            r#"portsyncd_alerts{alertname="RedisUnreachable",alertstate="pending",severity="CRITICAL"} 1"#,
            r#"portsyncd_event_to_write_seconds_bucket{le="0.005"} 1"#,
            r#"portsyncd_write_batch_ops_bucket{le="16"} 0"#,
            r#"portsyncd_write_batch_ops_bucket{le="32"} 1"#,
            r#"portsyncd_write_batch_ops_bucket{le="+Inf"} 1"#,
            "portsyncd_write_batch_ops_count 1",
            "portsyncd_event_to_write_seconds_sum 0.003",
            "process_cpu_seconds_total 1.5",
            format!(
                r#"portsyncd_build_info{{version="{}",port_capacity="{}",namespace="host"}} 1"#,
                env!("CARGO_PKG_VERSION"),
                DEFAULT_PORT_CAPACITY
            )
            .as_str(),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }

    /// promtool checks the Prometheus text format (its parser does not read
    /// OpenMetrics: an OpenMetrics counter family would read as two
    /// families, one without help). The OpenMetrics text is checked for its
    /// own rules by `openmetrics_text_keeps_its_rules`.
    #[test]
    fn promtool_accepts_the_prometheus_text() {
        {
            let format = Format::Prometheus;
            let text = encode(full(), Some(process()), format);
            let mut child = std::process::Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("promtool (Debian's prometheus package; tests/run-all.sh installs it)");
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{format:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn openmetrics_text_keeps_its_rules() {
        let text = encode(full(), Some(process()), Format::OpenMetrics);
        assert!(text.ends_with("# EOF\n"), "ends with # EOF");
        let mut family = ("", "");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                family = (name, kind);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let sample = line.split(['{', ' ']).next().unwrap();
            let suffixes: &[&str] = match family.1 {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            assert!(
                suffixes.iter().any(|s| sample == format!("{}{s}", family.0)),
                "{sample} is not a sample of {} {}",
                family.1,
                family.0
            );
        }
    }
}
