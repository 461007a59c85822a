//! Both encodings of a full snapshot: every family listed and no other,
//! the values as their families say, and each format's own rules (the
//! Prometheus text through `promtool`).

use std::time::Duration;

use portsyncd_core::Instant;
use portsyncd_core::backend::BackendStatus;
use portsyncd_core::driver::Observed;
use portsyncd_core::engine::{DEFAULT_PORT_CAPACITY, PortFlaps};

use super::*;
use crate::metrics::AlertGauge;

/// A snapshot with every optional part present.
fn full() -> MetricsSnapshot {
    let mut s = MetricsSnapshot { published_at: Some(Instant::from_millis(90_000)), ..Default::default() };
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
    s.alerts = vec![AlertGauge { name: "RedisUnreachable".into(), state: "pending", severity: "CRITICAL" }];
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

#[test]
fn accept_is_negotiated_by_q_value_and_specificity() {
    use Format::{OpenMetrics as Om, Prometheus as Text};
    for (accept, want) in [
        (None, Text),
        (Some(""), Text),
        (Some("application/openmetrics-text"), Om),
        (Some("application/openmetrics-text;q=0"), Text),
        (Some("application/openmetrics-text;q=0.000, */*"), Text),
        (Some("application/openmetrics-text;version=1.0.0;q=0, application/*;q=1"), Text),
        (Some("text/plain;q=0.2, application/openmetrics-text;q=0.9"), Om),
        (Some("application/openmetrics-text;q=0.3, text/plain;version=0.0.4;q=0.8"), Text),
        (Some("application/openmetrics-text, text/plain"), Text),
        (Some("application/openmetrics-text;version=0.0.1, text/plain;q=0.1"), Text),
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                 text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            Om,
        ),
        (Some("APPLICATION/OPENMETRICS-TEXT ; Q=0.5 , text/*;q=0.4"), Om),
        // Invalid qvalues: the range is skipped.
        (Some("application/openmetrics-text;q=2, text/plain;q=0.1"), Text),
        (Some("application/openmetrics-text;q=0.5555"), Text),
        (Some("application/json"), Text),
    ] {
        assert_eq!(Format::from_accept(accept), want, "{accept:?}");
    }
}
