//! `[alerts]` in the settings file: the rule set (the shipped rules unless
//! `default_rules = false`, plus or replacing them by name), its evaluation
//! and repeat intervals, and silences. What the rules mean is the core's
//! ([`portsyncd_core::alerts`]); the `[alerts]` keys are rows of
//! [`crate::config::SETTINGS`]; this module reads an `[[alerts.rule]]` and
//! checks the set as a whole.

use std::time::Duration;

use portsyncd_core::alerts::{AlertSettings, Condition, MAX_RULES, Rule, RuleName, Severity};
use portsyncd_core::driver::{Watched, default_rules};
use serde::Deserialize;

/// The alert settings in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Alerting {
    /// Evaluation and repeat intervals.
    pub settings: AlertSettings,
    /// The rules, shipped ones first.
    pub rules: Vec<Rule<Watched>>,
    /// Rules silenced, and for how long from when the settings are read
    /// (at start, or on SIGHUP).
    pub silences: Vec<(String, Duration)>,
    /// Alerts also go to STATE_DB `SYSTEM_ALARMS` (next start; off by
    /// default, so that Redis holds exactly what the C++ daemon leaves).
    pub state_db: bool,
    /// Whether the rules started from the shipped ones (`default_rules`).
    pub default_rules: bool,
}

impl Default for Alerting {
    /// What a settings file without `[alerts]` gives: the shipped rules, at
    /// the default intervals, nothing silenced, nothing in STATE_DB.
    fn default() -> Self {
        crate::config::Config::default().alerts
    }
}

/// A SONiC severity as Prometheus' usual `severity` label says it
/// (`critical`, `warning`, `info`): what the shipped rules file
/// (`packaging/prometheus/portsyncd.rules.yml`) labels each rule with, SONiC's
/// word going in `sonic_severity`. Only CRITICAL pages.
pub const fn prometheus_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Major | Severity::Minor | Severity::Warning => "warning",
        Severity::Informational => "info",
    }
}

/// `[alerts]` as given (each key's row in [`crate::config::SETTINGS`] puts
/// it here), until [`RawAlerts::build`] checks it as a whole.
#[derive(Default)]
pub(crate) struct RawAlerts {
    /// `default_rules`.
    pub default_rules: bool,
    /// `state_db`.
    pub state_db: bool,
    /// `interval_ms` and `repeat_interval_ms`.
    pub settings: AlertSettings,
    /// `[[alerts.rule]]`.
    pub rules: Vec<RawRule>,
    /// `[[alerts.silence]]`.
    pub silences: Vec<RawSilence>,
}

/// An `[[alerts.rule]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    name: String,
    metric: String,
    above: Option<f64>,
    below: Option<f64>,
    equals: Option<f64>,
    between: Option<[f64; 2]>,
    increase_by: Option<f64>,
    over_ms: Option<i64>,
    #[serde(default)]
    for_ms: i64,
    #[serde(default)]
    keep_firing_for_ms: i64,
    severity: String,
}

/// An `[[alerts.silence]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSilence {
    rule: String,
    for_ms: i64,
}

/// The longest time an `[alerts]` key takes: a week.
pub(crate) const MAX_MS: i64 = 7 * 86_400_000;

fn ms(key: &str, v: i64, min: i64) -> Result<Duration, String> {
    if (min..=MAX_MS).contains(&v) {
        Ok(Duration::from_millis(v as u64))
    } else {
        Err(format!("{key} = {v} is out of range {min}..={MAX_MS}"))
    }
}

impl RawAlerts {
    /// Checks and builds the settings.
    pub(crate) fn build(self) -> Result<Alerting, String> {
        let mut a = Alerting {
            settings: self.settings,
            rules: if self.default_rules { default_rules().into() } else { Vec::new() },
            silences: Vec::new(),
            state_db: self.state_db,
            default_rules: self.default_rules,
        };
        for raw in self.rules {
            let rule = raw.build()?;
            match a.rules.iter_mut().find(|r| r.name == rule.name) {
                Some(shipped) => *shipped = rule,
                None => a.rules.push(rule),
            }
        }
        if a.rules.len() > MAX_RULES {
            return Err(format!("alerts: {} rules, at most {MAX_RULES}", a.rules.len()));
        }
        // The core checks the rest (names, conditions, intervals) exactly as
        // it will apply them.
        portsyncd_core::alerts::DefaultAlertRules::<Watched>::new(
            portsyncd_core::Instant::from_millis(0),
            a.settings,
            &a.rules,
        )
        .map_err(|e| format!("alerts: {e}"))?;
        for s in self.silences {
            if !a.rules.iter().any(|r| r.name.as_str() == s.rule) {
                return Err(format!("alerts.silence: no rule named {:?}", s.rule));
            }
            a.silences.push((s.rule, ms("alerts.silence.for_ms", s.for_ms, 1)?));
        }
        Ok(a)
    }
}

impl RawRule {
    fn build(self) -> Result<Rule<Watched>, String> {
        let at = |what: &str| format!("alerts.rule {:?}: {what}", self.name);
        let name =
            RuleName::try_from(self.name.as_str()).map_err(|_| at("the name is longer than 32 bytes"))?;
        let metric = Watched::parse(&self.metric).ok_or_else(|| {
            let names: Vec<&str> = Watched::ALL.iter().map(|w| w.name()).collect();
            at(&format!("metric {:?} cannot be watched; one of {}", self.metric, names.join(", ")))
        })?;
        let mut conditions = Vec::new();
        if let Some(x) = self.above {
            conditions.push(Condition::Above(x));
        }
        if let Some(x) = self.below {
            conditions.push(Condition::Below(x));
        }
        if let Some(x) = self.equals {
            conditions.push(Condition::Equals(x));
        }
        if let Some([lo, hi]) = self.between {
            conditions.push(Condition::Between(lo, hi));
        }
        match (self.increase_by, self.over_ms) {
            (Some(by), Some(over)) => conditions
                .push(Condition::RateOfChange { over: ms("over_ms", over, 1).map_err(|e| at(&e))?, by }),
            (None, None) => {}
            _ => return Err(at("increase_by and over_ms go together")),
        }
        let [condition] = conditions[..] else {
            return Err(at("needs exactly one of above, below, equals, between, increase_by with over_ms"));
        };
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            at(&format!(
                "severity {:?}: one of CRITICAL, MAJOR, MINOR, WARNING, INFORMATIONAL",
                self.severity
            ))
        })?;
        Ok(Rule {
            name,
            metric,
            condition,
            for_: ms("for_ms", self.for_ms, 0).map_err(|e| at(&e))?,
            keep_firing_for: ms("keep_firing_for_ms", self.keep_firing_for_ms, 0).map_err(|e| at(&e))?,
            severity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[alerts]` read as the daemon reads it.
    fn parse(text: &str) -> Result<Alerting, String> {
        crate::config::Config::parse(text).map(|c| c.alerts)
    }

    #[test]
    fn shipped_rules_replaced_by_name_and_added_to() {
        let a = parse(
            "[alerts]\ninterval_ms = 500\n\
             [[alerts.rule]]\nname = \"PortFlapping\"\nmetric = \"portsyncd_port_flaps_max_per_minute\"\nabove = 20\nseverity = \"major\"\n\
             [[alerts.rule]]\nname = \"Lost\"\nmetric = \"portsyncd_writes_lost_total\"\nincrease_by = 0\nover_ms = 60000\nseverity = \"CRITICAL\"\n\
             [[alerts.silence]]\nrule = \"Lost\"\nfor_ms = 3600000\n",
        )
        .unwrap();
        assert_eq!(a.settings.interval, Duration::from_millis(500));
        assert_eq!(a.rules.len(), default_rules().len() + 1);
        let flapping = a.rules.iter().find(|r| r.name.as_str() == "PortFlapping").unwrap();
        assert_eq!((flapping.condition, flapping.severity), (Condition::Above(20.0), Severity::Major));
        assert_eq!(a.silences, vec![("Lost".to_owned(), Duration::from_secs(3600))]);
        assert!(parse("[alerts]\ndefault_rules = false\n").unwrap().rules.is_empty());
    }

    #[test]
    fn bad_rules_name_the_rule_and_the_problem() {
        let rule = |body: &str| parse(&format!("[[alerts.rule]]\nname = \"R\"\n{body}\n")).unwrap_err();
        assert!(
            rule("metric = \"nope\"\nabove = 1\nseverity = \"MAJOR\"")
                .contains("metric \"nope\" cannot be watched")
        );
        assert!(rule("metric = \"portsyncd_kept_writes\"\nseverity = \"MAJOR\"").contains("exactly one of"));
        assert!(
            rule("metric = \"portsyncd_kept_writes\"\nabove = 1\nbelow = 2\nseverity = \"MAJOR\"")
                .contains("exactly one of")
        );
        assert!(
            rule("metric = \"portsyncd_kept_writes\"\nabove = 1\nseverity = \"BAD\"")
                .contains("severity \"BAD\"")
        );
        assert!(
            rule("metric = \"portsyncd_kept_writes\"\nincrease_by = 1\nseverity = \"MAJOR\"")
                .contains("go together")
        );
        assert!(
            rule("metric = \"portsyncd_kept_writes\"\nbetween = [2, 1]\nseverity = \"MAJOR\"")
                .starts_with("alerts:")
        );
        assert!(
            parse("[[alerts.rule]]\nname = \"bad name\"\nmetric = \"portsyncd_kept_writes\"\nabove = 1\nseverity = \"MAJOR\"\n")
                .unwrap_err()
                .starts_with("alerts:")
        );
        assert!(
            parse("[[alerts.silence]]\nrule = \"Nope\"\nfor_ms = 1\n").unwrap_err().contains("no rule named")
        );
    }
}
