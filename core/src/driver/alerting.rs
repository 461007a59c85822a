//! The driver's alert rules: which of its figures a rule can watch, the
//! rule set SONiC operators get by default, and the evaluation on the
//! driver's clock (see [`crate::alerts`] for the semantics).
//!
//! Alert lines go out as [`Event::Alert`]; the states, for gauges, through
//! [`Driver::alerts`]. Rules watch figures the driver keeps itself, so
//! that an alert means the same on a virtual clock as in production.

use core::fmt::Write as _;
use core::time::Duration;

use heapless::String;

use super::Driver;
use super::io::WriteResult;
use super::state::AlarmWrites;
use crate::alerts::{AlertSettings, AlertView, Condition, Rule, RuleError, RuleName, Severity};
use crate::backend::BackendStatus;
use crate::backend::{Db, Field, Write};
use crate::event::{AlertLine, Event};
use crate::schema::Decimal;
use crate::time::Instant;

/// A figure an alert rule can watch, named as the metrics endpoint
/// exports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Watched {
    /// 1 while every database connection is up and no write is kept.
    RedisConnected,
    /// Writes kept (Redis away, or refused and to be tried again).
    KeptWrites,
    /// How long writes have been kept, in seconds.
    KeptWritesAgeSeconds,
    /// Netlink overruns (a counter).
    NetlinkOverruns,
    /// Dumps requested again (a counter).
    NetlinkRedumps,
    /// Malformed netlink messages (a counter).
    NetlinkMalformed,
    /// Ports deleted because a dump no longer had them (a counter).
    PortsVanished,
    /// Write batches a database refused (a counter).
    WriteBatchesRefused,
    /// Refused writes with no room to be kept (a counter).
    WritesLost,
    /// Snapshot saves that failed (a counter).
    SnapshotFailures,
    /// 1 once PortInitDone is written.
    PortInitDone,
    /// Configured ports whose host interface has not appeared.
    AwaitingPorts,
    /// 0 healthy, 1 degraded, 2 unhealthy.
    HealthState,
    /// The most flaps one port had in a minute.
    PortFlapsMaxPerMinute,
}

impl Watched {
    /// Every figure.
    pub const ALL: [Watched; 14] = [
        Watched::RedisConnected,
        Watched::KeptWrites,
        Watched::KeptWritesAgeSeconds,
        Watched::NetlinkOverruns,
        Watched::NetlinkRedumps,
        Watched::NetlinkMalformed,
        Watched::PortsVanished,
        Watched::WriteBatchesRefused,
        Watched::WritesLost,
        Watched::SnapshotFailures,
        Watched::PortInitDone,
        Watched::AwaitingPorts,
        Watched::HealthState,
        Watched::PortFlapsMaxPerMinute,
    ];

    /// Its metric name.
    pub const fn name(self) -> &'static str {
        match self {
            Watched::RedisConnected => "portsyncd_redis_connected",
            Watched::KeptWrites => "portsyncd_kept_writes",
            Watched::KeptWritesAgeSeconds => "portsyncd_kept_writes_age_seconds",
            Watched::NetlinkOverruns => "portsyncd_netlink_overruns_total",
            Watched::NetlinkRedumps => "portsyncd_netlink_redumps_total",
            Watched::NetlinkMalformed => "portsyncd_netlink_malformed_total",
            Watched::PortsVanished => "portsyncd_ports_vanished_total",
            Watched::WriteBatchesRefused => "portsyncd_write_batches_refused_total",
            Watched::WritesLost => "portsyncd_writes_lost_total",
            Watched::SnapshotFailures => "portsyncd_snapshot_failures_total",
            Watched::PortInitDone => "portsyncd_port_init_done",
            Watched::AwaitingPorts => "portsyncd_awaiting_ports",
            Watched::HealthState => "portsyncd_health_state",
            Watched::PortFlapsMaxPerMinute => "portsyncd_port_flaps_max_per_minute",
        }
    }

    /// The figure a metric name names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// The STATE_DB table alarms are written to when the daemon is asked to
/// (`[alerts] state_db`): rows shaped like the current-alarm table of SONiC's
/// event and alarm framework (HLD `event-alarm-framework.md`): one per rule
/// firing, deleted when it resolves.
pub const SYSTEM_ALARMS_TABLE: &str = "SYSTEM_ALARMS";

/// Where an alarm row comes from (`resource`, and the key's first part).
pub const ALARM_RESOURCE: &str = "portsyncd";

/// A rule's alarm row to write (raised) or delete (cleared).
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmRow {
    /// The rule.
    pub rule: RuleName,
    /// Its severity.
    pub severity: Severity,
    /// Raised (written), or cleared (deleted).
    pub raise: bool,
    /// The value that raised it.
    pub value: Option<f64>,
}

/// The formatted values of an [`AlarmRow`].
#[derive(Clone, Debug)]
pub struct AlarmText {
    key: String<64>,
    text: String<96>,
    created: Decimal,
}

/// The fields of a raised alarm's row.
pub type AlarmFields<'a> = [Field<'a>; 8];

impl AlarmRow {
    /// Formats its values; `unix_ns` is `time-created` (the wall clock is
    /// the caller's: the core reads none).
    pub fn text(&self, unix_ns: u64) -> AlarmText {
        let mut key = String::new();
        // Both fit: "portsyncd|" and a name of at most 32 bytes.
        let _ = write!(key, "{ALARM_RESOURCE}|{}", self.rule);
        let mut text = String::new();
        // Cut short if a value ever needs more room: it is a description.
        let _ = match self.value {
            Some(v) => write!(text, "portsyncd alert {}: value {v}", self.rule),
            None => write!(text, "portsyncd alert {}: value absent", self.rule),
        };
        AlarmText { key, text, created: Decimal::new(unix_ns) }
    }

    /// The fields of a raised alarm (none matter for a cleared one).
    pub fn fields<'a>(&'a self, text: &'a AlarmText) -> AlarmFields<'a> {
        [
            (b"id", text.key.as_bytes()),
            (b"type-id", self.rule.as_bytes()),
            (b"resource", ALARM_RESOURCE.as_bytes()),
            (b"severity", self.severity.name().as_bytes()),
            (b"text", text.text.as_bytes()),
            (b"time-created", text.created.as_str().as_bytes()),
            (b"action", b"RAISE"),
            (b"acknowledged", b"false"),
        ]
    }

    /// The STATE_DB write: `SYSTEM_ALARMS|portsyncd|<rule>` set with
    /// `fields`, or deleted.
    pub fn write<'a>(&self, text: &'a AlarmText, fields: &'a [Field<'a>]) -> Write<'a> {
        if self.raise {
            Write::Set { db: Db::State, table: SYSTEM_ALARMS_TABLE, key: text.key.as_str(), fields }
        } else {
            Write::Del { db: Db::State, table: SYSTEM_ALARMS_TABLE, key: text.key.as_str() }
        }
    }
}

/// The rules shipped: each a SONiC operator's first question.
pub fn default_rules() -> [Rule<Watched>; 5] {
    let name = |s: &str| {
        let mut n = RuleName::new();
        // The names below fit.
        let _ = n.push_str(s);
        n
    };
    let secs = Duration::from_secs;
    let rule = |n: &str, metric, condition, for_: Duration, severity| Rule {
        name: name(n),
        metric,
        condition,
        for_,
        keep_firing_for: Duration::ZERO,
        severity,
    };
    [
        rule(
            "RedisUnreachable",
            Watched::RedisConnected,
            Condition::Below(1.0),
            secs(30),
            Severity::Critical,
        ),
        rule(
            "NetlinkOverruns",
            Watched::NetlinkOverruns,
            Condition::RateOfChange { over: secs(60), by: 2.0 },
            Duration::ZERO,
            Severity::Major,
        ),
        rule("PortInitDoneLate", Watched::PortInitDone, Condition::Below(1.0), secs(300), Severity::Major),
        rule(
            "PortFlapping",
            Watched::PortFlapsMaxPerMinute,
            Condition::Above(5.0),
            Duration::ZERO,
            Severity::Minor,
        ),
        rule("Unhealthy", Watched::HealthState, Condition::Equals(2.0), secs(10), Severity::Critical),
    ]
}

impl<const P: usize, const B: usize> Driver<P, B> {
    /// Sets the alert rules and their settings (at start, and again on a
    /// reload: a rule unchanged keeps its state). Refused as a whole.
    pub fn set_alert_rules(
        &mut self,
        now: Instant,
        settings: AlertSettings,
        rules: &[Rule<Watched>],
    ) -> Result<(), RuleError> {
        self.alerts.reconfigure(now, settings, rules)?;
        if self.config.alarm_table && self.alarm_writes == AlarmWrites::Uncleared {
            // Rows a run that crashed left behind: cleared once, at start.
            self.alarm_writes = AlarmWrites::Open;
            for rule in rules {
                self.queue_alarm(AlarmRow {
                    rule: rule.name.clone(),
                    severity: rule.severity,
                    raise: false,
                    value: None,
                });
            }
        }
        self.drain_alert_notices();
        Ok(())
    }

    /// Silences the rule `name` for `for_` from `now` (its state still moves;
    /// no line is said for it meanwhile).
    pub fn silence_alert(&mut self, now: Instant, name: &str, for_: Duration) -> Result<(), RuleError> {
        self.alerts.silence(now, name, for_)
    }

    /// Every rule and its alert's state, for gauges.
    pub fn alerts(&self) -> impl Iterator<Item = AlertView<'_>> {
        self.alerts.alerts()
    }

    /// The value of `watched` now, `o` being the facts of the moment.
    fn watched(&self, o: &super::Observed, watched: Watched) -> f64 {
        match watched {
            Watched::RedisConnected => f64::from(u8::from(self.backend == BackendStatus::Connected)),
            Watched::KeptWrites => o.kept_writes() as f64,
            Watched::KeptWritesAgeSeconds => o.kept_for(self.now).as_secs_f64(),
            Watched::NetlinkOverruns => self.counters.overruns as f64,
            Watched::NetlinkRedumps => self.counters.redumps as f64,
            Watched::NetlinkMalformed => self.counters.malformed as f64,
            Watched::PortsVanished => self.counters.vanished as f64,
            Watched::WriteBatchesRefused => self.counters.writes_refused as f64,
            Watched::WritesLost => self.counters.refused_lost as f64,
            Watched::SnapshotFailures => self.counters.snapshot_failures as f64,
            Watched::PortInitDone => f64::from(u8::from(o.init_done)),
            Watched::AwaitingPorts => o.awaiting_ports as f64,
            Watched::HealthState => f64::from(self.health.state().code()),
            Watched::PortFlapsMaxPerMinute => f64::from(o.max_port_flaps_per_minute),
        }
    }

    /// Evaluates the rules if that is due.
    pub(super) fn evaluate_alerts(&mut self, now: Instant) {
        if self.alerts.poll_timeout().is_none_or(|at| now < at) {
            return;
        }
        // The facts once (they walk the ports), then every figure from them.
        let observed = self.observed();
        let mut values = [None; Watched::ALL.len()];
        for (slot, w) in values.iter_mut().zip(Watched::ALL) {
            *slot = Some(self.watched(&observed, w));
        }
        self.alerts
            .handle_timeout(now, |w| Watched::ALL.iter().position(|x| *x == w).and_then(|i| values[i]));
        self.drain_alert_notices();
    }

    fn drain_alert_notices(&mut self) {
        while let Some(notice) = self.alerts.poll_notice() {
            self.emit(Event::Alert(AlertLine::from(&notice)));
            if self.config.alarm_table && notice.kind != crate::alerts::NoticeKind::StillFiring {
                let raise = notice.kind == crate::alerts::NoticeKind::Firing;
                self.queue_alarm(AlarmRow {
                    rule: notice.name,
                    severity: notice.severity,
                    raise,
                    value: notice.value,
                });
            }
        }
    }

    /// Queues an alarm row; a full queue drops its oldest row (counted).
    fn queue_alarm(&mut self, row: AlarmRow) {
        if self.alarm_rows.is_full() {
            self.alarm_rows.pop_front();
            self.counters.alarm_rows_dropped += 1;
        }
        let _ = self.alarm_rows.push_back(row);
    }

    /// Whether an alarm row is to be written (none while the last attempt
    /// was refused, until the next maintenance).
    pub(super) fn alarm_due(&self) -> bool {
        self.alarm_writes != AlarmWrites::Held
            && !self.alarm_rows.is_empty()
            && self.backend != BackendStatus::Restarted
    }

    /// The row to write next (the queue is not empty while one is asked).
    pub(super) fn alarm_row(&self) -> &AlarmRow {
        self.alarm_rows.front().unwrap_or(&NO_ROW)
    }

    /// How an alarm row's write went.
    pub(super) fn on_alarm_written(&mut self, now: Instant, result: WriteResult) {
        self.answered(now);
        if result == WriteResult::Done {
            self.alarm_rows.pop_front();
            self.counters.alarm_rows_written += 1;
        } else {
            self.alarm_writes = AlarmWrites::Held;
        }
    }
}

/// Never written: [`Driver::alarm_row`] hands it out only if asked with an
/// empty queue, which `alarm_due` rules out.
static NO_ROW: AlarmRow =
    AlarmRow { rule: RuleName::new(), severity: Severity::Warning, raise: false, value: None };
