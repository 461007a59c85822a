//! Every family the endpoint exposes, its name, help and labels, written
//! from one snapshot ([`Families`], a `prometheus-client` collector), and
//! the list of their names ([`FAMILIES`]).

use std::fmt;

use portsyncd_core::backend::BackendStatus;
use portsyncd_core::engine::{DEFAULT_PORT_CAPACITY, StartKind};
use portsyncd_core::filter::IgnoreReason;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::writer::Writer;
use crate::metrics::MetricsSnapshot;
use crate::metrics::process::ProcessStats;

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
    "portsyncd_log_lines_to_stderr_total",
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

/// A snapshot, and the process's figures when known, as families.
#[derive(Debug)]
pub(super) struct Families {
    /// What the loop published.
    pub snapshot: MetricsSnapshot,
    /// Read from `/proc` at scrape time (`None`: not known).
    pub process: Option<ProcessStats>,
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
        // The process's, not the loop's: read at scrape time.
        w.counter(
            "portsyncd_log_lines_to_stderr",
            "Lines meant for syslog that went to stderr because syslog did not answer.",
            crate::logging::lines_to_stderr(),
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
