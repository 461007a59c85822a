//! Alert rules: when a metric's value makes an alert pending, firing or
//! resolved, with Prometheus's alerting semantics, and what to log about it.
//!
//! [`AlertRules`] holds up to `R` [`Rule`]s, each a [`Condition`] on one
//! metric (the caller's own identifier type `M`). Every
//! [`interval`](AlertSettings::interval) it evaluates them all at once, on
//! the values the caller's lookup gives, and moves each alert as
//! Prometheus's `AlertingRule.Eval` does: inactive → pending when the
//! condition holds, pending → firing once it has held for `for_` (measured
//! between evaluation times), firing → inactive when it stops holding, or
//! only after `keep_firing_for` of not holding. A pending alert that goes
//! away was never an alert. An absent or NaN value makes any condition
//! false.
//!
//! What the log is told comes out as [`AlertNotice`]s: *firing*, *still
//! firing* every [`repeat_interval`](AlertSettings::repeat_interval), and
//! *resolved* for an alert the log was told fires. A silenced rule still
//! moves (the gauges of [`AlertRules::alerts`] show the truth) but is not
//! spoken of; when its silence ends, the log is brought up to date at the
//! next evaluation: firing if it fires and the log was not told, resolved if
//! the log was told and it no longer fires, nothing if it fired and resolved
//! within the silence.
//!
//! It does not read metrics or a clock, word or send anything, or do what
//! Alertmanager does (grouping, inhibition, routing); the notice queue is
//! bounded and its overflow is counted. Evaluations missed by a busy loop
//! are not caught up: the late one is evaluated once.
//!
//! # Memory
//!
//! [`DefaultAlertRules`] (32 rules, 64 notices) is 30,032 bytes on 64-bit
//! targets with a one-byte `M` (checked by a test): 776 bytes a rule, 576 of
//! them the counter history of [`Condition::RateOfChange`] (every rule has
//! one), and 80 bytes a queued notice.

use core::fmt;
use core::time::Duration;

use heapless::{Deque, String, Vec};

use crate::time::Instant;

/// The default (and advised) rule capacity.
pub const MAX_RULES: usize = 32;

/// The longest rule name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// The default capacity of the notice queue: one evaluation and one
/// reconfiguration of [`MAX_RULES`] rules, unpolled.
pub const DEFAULT_NOTICE_CAPACITY: usize = 2 * MAX_RULES;

/// Samples a [`Condition::RateOfChange`] keeps: one per 1/32 of its window,
/// and the base before the window.
const RATE_SAMPLES: usize = 33;

/// A rule's name: non-empty, `[A-Za-z0-9_]` only (it becomes a Prometheus
/// label value and a syslog word).
pub type RuleName = String<MAX_NAME_LEN>;

/// [`AlertRules`] with the default capacities.
pub type DefaultAlertRules<M> = AlertRules<M, MAX_RULES>;

/// SONiC's alarm severities, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `CRITICAL`.
    Critical,
    /// `MAJOR`.
    Major,
    /// `MINOR`.
    Minor,
    /// `WARNING`.
    Warning,
    /// `INFORMATIONAL`.
    Informational,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::Major, Severity::Minor, Severity::Warning, Severity::Informational];

    /// The upper-case name SONiC uses (`CRITICAL`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::Major => "MAJOR",
            Severity::Minor => "MINOR",
            Severity::Warning => "WARNING",
            Severity::Informational => "INFORMATIONAL",
        }
    }

    /// The severity named `name`, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a rule's condition holds for a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    /// `value > x`.
    Above(f64),
    /// `value < x`.
    Below(f64),
    /// `value == x`.
    Equals(f64),
    /// `lo <= value <= hi`.
    Between(f64, f64),
    /// The value, a counter, increased by more than `by` within the last
    /// `over`, as Prometheus's `increase()` counts it: a drop is a reset and
    /// the value after it is the increase since. No extrapolation: the
    /// increase runs from the newest sample at or before `now - over` (or
    /// the oldest held) to the value now, so it covers at least `over` when
    /// the samples reach that far back, and is 0 with a single value. Every
    /// evaluated value counts; one per `over / 32` is kept as a sample. An
    /// absent or NaN value forgets the history: the series starts anew.
    RateOfChange {
        /// The window.
        over: Duration,
        /// The increase that must be exceeded.
        by: f64,
    },
}

impl Condition {
    /// No NaN, `lo <= hi`, a window, a non-negative increase.
    fn is_valid(self) -> bool {
        match self {
            Condition::Above(x) | Condition::Below(x) | Condition::Equals(x) => !x.is_nan(),
            Condition::Between(lo, hi) => lo <= hi,
            Condition::RateOfChange { over, by } => !over.is_zero() && by >= 0.0,
        }
    }

    /// Whether a level condition holds for `v` (never NaN);
    /// [`RateOfChange`](Condition::RateOfChange) is decided by [`Increase`].
    fn holds(self, v: f64) -> bool {
        match self {
            Condition::Above(x) => v > x,
            Condition::Below(x) => v < x,
            Condition::Equals(x) => v == x,
            Condition::Between(lo, hi) => lo <= v && v <= hi,
            Condition::RateOfChange { .. } => false,
        }
    }
}

/// One alerting rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule<M> {
    /// Its name (see [`RuleName`]).
    pub name: RuleName,
    /// The metric it watches.
    pub metric: M,
    /// When it holds.
    pub condition: Condition,
    /// How long it must hold before the alert fires (Prometheus's `for`).
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition stops
    /// holding (Prometheus's `keep_firing_for`).
    pub keep_firing_for: Duration,
    /// How severe.
    pub severity: Severity,
}

/// An alert's state (Prometheus's `alertstate` label values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition does not hold.
    Inactive,
    /// It holds, not yet for `for_`.
    Pending,
    /// It has held for `for_` (or is kept firing).
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`.
    pub const fn name(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often rules are evaluated and firing alerts said again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSettings {
    /// Between evaluations (at least 1 ms; default 1 s).
    pub interval: Duration,
    /// A firing alert is said again this long after it was last said
    /// (default 5 min; zero: never again).
    pub repeat_interval: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AlertSettings {
    /// The defaults, in a `const`.
    pub const DEFAULT: Self =
        Self { interval: Duration::from_secs(1), repeat_interval: Duration::from_secs(300) };
}

/// What a notice says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The alert fires (or fires and the log has not been told).
    Firing,
    /// It still fires ([`AlertSettings::repeat_interval`] after the last
    /// notice).
    StillFiring,
    /// It no longer fires, or its rule is gone.
    Resolved,
}

impl NoticeKind {
    /// `firing`, `still firing` or `resolved`.
    pub const fn name(self) -> &'static str {
        match self {
            NoticeKind::Firing => "firing",
            NoticeKind::StillFiring => "still firing",
            NoticeKind::Resolved => "resolved",
        }
    }
}

/// Something to log about an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertNotice {
    /// The rule.
    pub name: RuleName,
    /// Its severity.
    pub severity: Severity,
    /// What happened.
    pub kind: NoticeKind,
    /// The value at the evaluation (`None`: absent).
    pub value: Option<f64>,
    /// How long the alert has been (for [`NoticeKind::Resolved`]: was)
    /// active, pending time included.
    pub since: Duration,
}

impl fmt::Display for AlertNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alert {} {} ({}): value ", self.name, self.kind.name(), self.severity)?;
        match self.value {
            Some(v) => write!(f, "{v}")?,
            None => f.write_str("absent")?,
        }
        write!(f, ", active for {} s", self.since.as_secs())
    }
}

/// One rule's alert as it is, for `ALERTS`-style gauges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertView<'a> {
    /// The rule's name.
    pub name: &'a str,
    /// Its severity.
    pub severity: Severity,
    /// Its state.
    pub state: AlertState,
    /// The value at the last evaluation (`None`: absent or not evaluated).
    pub value: Option<f64>,
    /// Since when it is pending or firing.
    pub active_since: Option<Instant>,
    /// Silenced (until the first evaluation after the silence ends).
    pub silenced: bool,
}

/// A rule set or a request the engine refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// More rules than the capacity.
    TooManyRules {
        /// The capacity.
        max: usize,
    },
    /// The rule at this position (from 0) has the name of an earlier one.
    DuplicateName {
        /// Its position.
        rule: usize,
    },
    /// The rule at this position has an empty name or one with a character
    /// outside `[A-Za-z0-9_]`.
    BadName {
        /// Its position.
        rule: usize,
    },
    /// The rule at this position has a NaN threshold, a `Between` whose low
    /// end is above its high end, or a `RateOfChange` over no time or by a
    /// negative increase.
    BadCondition {
        /// Its position.
        rule: usize,
    },
    /// An evaluation interval under 1 ms.
    BadInterval,
    /// No rule by that name.
    UnknownRule,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RuleError::TooManyRules { max } => write!(f, "more than {max} alert rules"),
            RuleError::DuplicateName { rule } => write!(f, "alert rule {rule}: name already used"),
            RuleError::BadName { rule } => {
                write!(f, "alert rule {rule}: name must be non-empty [A-Za-z0-9_]")
            }
            RuleError::BadCondition { rule } => write!(f, "alert rule {rule}: invalid condition"),
            RuleError::BadInterval => f.write_str("alert evaluation interval under 1 ms"),
            RuleError::UnknownRule => f.write_str("no alert rule by that name"),
        }
    }
}

impl core::error::Error for RuleError {}

fn validate<M: Eq>(settings: &AlertSettings, rules: &[Rule<M>], max: usize) -> Result<(), RuleError> {
    if settings.interval < Duration::from_millis(1) {
        return Err(RuleError::BadInterval);
    }
    if rules.len() > max {
        return Err(RuleError::TooManyRules { max });
    }
    for (i, rule) in rules.iter().enumerate() {
        let name_ok =
            !rule.name.is_empty() && rule.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(RuleError::BadName { rule: i });
        }
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(RuleError::DuplicateName { rule: i });
        }
        if !rule.condition.is_valid() {
            return Err(RuleError::BadCondition { rule: i });
        }
    }
    Ok(())
}

/// A counter's reset-corrected running total, and samples of it.
#[derive(Clone, Debug, Default)]
struct Increase {
    /// The last value evaluated.
    last: Option<f64>,
    /// The sum of its increases since the first (resets counted).
    total: f64,
    /// `(time, total)`, oldest first, at least `over / 32` apart.
    samples: Deque<(Instant, f64), RATE_SAMPLES>,
}

impl Increase {
    /// Takes `value` at `now`: the increase over the last `over`.
    fn observe(&mut self, now: Instant, value: f64, over: Duration) -> f64 {
        if let Some(last) = self.last {
            self.total += if value < last { value } else { value - last };
        }
        self.last = Some(value);
        // The base is the newest sample at or before the window's start.
        let start = now.saturating_sub(over);
        while self.samples.get(1).is_some_and(|&(t, _)| t <= start) {
            self.samples.pop_front();
        }
        let increase = self.samples.front().map_or(0.0, |&(_, base)| self.total - base);
        if self.samples.back().is_none_or(|&(t, _)| now.saturating_since(t) >= over / 32) {
            if self.samples.is_full() {
                self.samples.pop_front();
            }
            let _ = self.samples.push_back((now, self.total));
        }
        increase
    }
}

/// One rule and its alert.
#[derive(Clone, Debug)]
struct Slot<M> {
    rule: Rule<M>,
    state: AlertState,
    active_since: Option<Instant>,
    keep_firing_since: Option<Instant>,
    value: Option<f64>,
    /// The log was told it fires (and not yet that it resolved).
    told_firing: bool,
    last_told: Instant,
    /// How long the last firing episode was active.
    last_active_for: Duration,
    silenced_until: Option<Instant>,
    increase: Increase,
}

impl<M: Copy + Eq> Slot<M> {
    fn new(rule: Rule<M>) -> Self {
        Self {
            rule,
            state: AlertState::Inactive,
            active_since: None,
            keep_firing_since: None,
            value: None,
            told_firing: false,
            last_told: Instant::default(),
            last_active_for: Duration::ZERO,
            silenced_until: None,
            increase: Increase::default(),
        }
    }

    /// The one place the state changes.
    fn set_state(&mut self, now: Instant, new: AlertState) {
        match (self.state, new) {
            (AlertState::Inactive, AlertState::Pending) => self.active_since = Some(now),
            (AlertState::Firing, AlertState::Inactive) => {
                self.last_active_for = self.active_for(now);
                self.active_since = None;
            }
            (_, AlertState::Inactive) => self.active_since = None,
            _ => {}
        }
        self.keep_firing_since = None;
        self.state = new;
    }

    fn active_for(&self, now: Instant) -> Duration {
        self.active_since.map_or(Duration::ZERO, |since| now.saturating_since(since))
    }

    /// Prometheus's `Eval` for one series.
    fn evaluate(&mut self, now: Instant, value: Option<f64>) {
        self.value = value;
        let holds = match (value.filter(|v| !v.is_nan()), self.rule.condition) {
            (None, _) => {
                self.increase = Increase::default();
                false
            }
            (Some(v), Condition::RateOfChange { over, by }) => self.increase.observe(now, v, over) > by,
            (Some(v), condition) => condition.holds(v),
        };
        match self.state {
            AlertState::Inactive if holds => self.set_state(now, AlertState::Pending),
            AlertState::Pending if !holds => self.set_state(now, AlertState::Inactive),
            AlertState::Firing if holds => self.keep_firing_since = None,
            AlertState::Firing => {
                let since = *self.keep_firing_since.get_or_insert(now);
                if now.saturating_since(since) >= self.rule.keep_firing_for {
                    self.set_state(now, AlertState::Inactive);
                }
            }
            _ => {}
        }
        if self.state == AlertState::Pending && self.active_for(now) >= self.rule.for_ {
            self.set_state(now, AlertState::Firing);
        }
    }

    /// What the log must be told at `now`, unless silenced.
    fn tell(&mut self, now: Instant, repeat: Duration) -> Option<AlertNotice> {
        if self.silenced_until.is_some_and(|until| now < until) {
            return None;
        }
        self.silenced_until = None;
        let firing = self.state == AlertState::Firing;
        let kind = match (firing, self.told_firing) {
            (true, false) => NoticeKind::Firing,
            (true, true) if !repeat.is_zero() && now.saturating_since(self.last_told) >= repeat => {
                NoticeKind::StillFiring
            }
            (false, true) => NoticeKind::Resolved,
            _ => return None,
        };
        self.told_firing = firing;
        self.last_told = now;
        Some(self.notice(now, kind))
    }

    fn notice(&self, now: Instant, kind: NoticeKind) -> AlertNotice {
        let since = match self.state {
            AlertState::Firing => self.active_for(now),
            _ => self.last_active_for,
        };
        let rule = &self.rule;
        AlertNotice { name: rule.name.clone(), severity: rule.severity, kind, value: self.value, since }
    }
}

/// Up to `R` alert rules and up to `N` notices not yet polled. See the
/// module docs.
#[derive(Clone, Debug)]
pub struct AlertRules<M, const R: usize, const N: usize = DEFAULT_NOTICE_CAPACITY> {
    settings: AlertSettings,
    slots: Vec<Slot<M>, R>,
    next_evaluation: Instant,
    notices: Deque<AlertNotice, N>,
    dropped: u64,
}

impl<M: Copy + Eq, const R: usize, const N: usize> AlertRules<M, R, N> {
    /// `rules`, all inactive; the first evaluation is due at `now`.
    pub fn new(now: Instant, settings: AlertSettings, rules: &[Rule<M>]) -> Result<Self, RuleError> {
        let mut alerts = Self::empty(now);
        alerts.reconfigure(now, settings, rules)?;
        Ok(alerts)
    }

    /// No rules (with the default settings): nothing is evaluated until
    /// [`reconfigure`](Self::reconfigure) sets some.
    pub const fn empty(now: Instant) -> Self {
        Self {
            settings: AlertSettings::DEFAULT,
            slots: Vec::new(),
            next_evaluation: now,
            notices: Deque::new(),
            dropped: 0,
        }
    }

    /// A set with no rules yet starts at `now` (its first evaluation is due
    /// then).
    pub fn restart_at(&mut self, now: Instant) {
        self.next_evaluation = now;
    }

    /// New settings and rules (SIGHUP), all checked before anything
    /// changes. A rule whose name, metric and condition are unchanged keeps
    /// its alert (and its silence, its samples, what the log was told);
    /// the others start inactive. A rule removed or changed whose firing the
    /// log was told is said resolved now. The next evaluation is due at
    /// `now`.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        settings: AlertSettings,
        rules: &[Rule<M>],
    ) -> Result<(), RuleError> {
        validate(&settings, rules, R)?;
        let mut old = core::mem::take(&mut self.slots);
        for rule in rules {
            let slot = match old.iter().position(|s| s.rule.name == rule.name) {
                Some(i) => {
                    let mut prev = old.remove(i);
                    if prev.rule.metric == rule.metric && prev.rule.condition == rule.condition {
                        prev.rule = rule.clone();
                        prev
                    } else {
                        let silenced_until = prev.silenced_until;
                        self.retire(now, &prev);
                        Slot { silenced_until, ..Slot::new(rule.clone()) }
                    }
                }
                None => Slot::new(rule.clone()),
            };
            self.slots.push(slot).map_err(|_| RuleError::TooManyRules { max: R })?;
        }
        for prev in &old {
            self.retire(now, prev);
        }
        self.settings = settings;
        self.next_evaluation = now;
        Ok(())
    }

    fn retire(&mut self, now: Instant, prev: &Slot<M>) {
        if prev.told_firing {
            let notice = prev.notice(now, NoticeKind::Resolved);
            self.queue(notice);
        }
    }

    fn queue(&mut self, notice: AlertNotice) {
        if self.notices.is_full() {
            self.notices.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        let _ = self.notices.push_back(notice);
    }

    /// Evaluates every rule if an evaluation is due at `now`, with
    /// `value(metric)` (`None`: the series is absent), and queues the
    /// notices. Due on time or late by less than an interval, the next
    /// evaluation stays on the grid; later than that, it is `now +
    /// interval` (missed evaluations are not caught up).
    pub fn handle_timeout(&mut self, now: Instant, mut value: impl FnMut(M) -> Option<f64>) {
        if now < self.next_evaluation {
            return;
        }
        let interval = self.settings.interval;
        let on_grid = self.next_evaluation.saturating_add(interval);
        self.next_evaluation = if now < on_grid { on_grid } else { now.saturating_add(interval) };
        let repeat = self.settings.repeat_interval;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            slot.evaluate(now, value(slot.rule.metric));
            if let Some(notice) = slot.tell(now, repeat) {
                self.queue(notice);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work: the
    /// next evaluation (`None` with no rules).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.slots.is_empty()).then_some(self.next_evaluation)
    }

    /// The oldest notice not yet taken. Call until `None` after
    /// [`handle_timeout`](Self::handle_timeout) and
    /// [`reconfigure`](Self::reconfigure).
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<AlertNotice> {
        self.notices.pop_front()
    }

    /// Notices dropped, oldest first, because the queue was full.
    pub const fn dropped_notices(&self) -> u64 {
        self.dropped
    }

    /// Silences rule `name` from `now` for `for_`: its alert still moves,
    /// nothing is said of it (see the module docs).
    pub fn silence(&mut self, now: Instant, name: &str, for_: Duration) -> Result<(), RuleError> {
        let slot = self.slots.iter_mut().find(|s| s.rule.name == name).ok_or(RuleError::UnknownRule)?;
        slot.silenced_until = Some(now.saturating_add(for_));
        Ok(())
    }

    /// Ends every silence (the log is brought up to date at the next
    /// evaluation).
    pub fn unsilence_all(&mut self) {
        for slot in &mut self.slots {
            slot.silenced_until = None;
        }
    }

    /// Every rule's alert, in the order of the rules.
    pub fn alerts(&self) -> impl Iterator<Item = AlertView<'_>> {
        self.slots.iter().map(|s| AlertView {
            name: s.rule.name.as_str(),
            severity: s.rule.severity,
            state: s.state,
            value: s.value,
            active_since: s.active_since,
            silenced: s.silenced_until.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::string::{String as StdString, ToString};
    use std::vec::Vec as StdVec;

    use super::Condition::{Above, Below, Between, Equals, RateOfChange};
    use super::{
        AlertNotice, AlertRules, AlertSettings, AlertState, AlertView, Condition, DefaultAlertRules,
        Duration, Increase, Instant, NoticeKind, Rule, RuleError, RuleName, Severity, Slot,
    };

    type Rules = AlertRules<u8, 4>;

    fn at(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn rule(name: &str, metric: u8, condition: Condition) -> Rule<u8> {
        Rule {
            name: RuleName::try_from(name).unwrap(),
            metric,
            condition,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: Severity::Major,
        }
    }

    fn start(rules: &[Rule<u8>]) -> Rules {
        AlertRules::new(at(0), AlertSettings::default(), rules).unwrap()
    }

    fn notices(a: &mut Rules) -> StdVec<(StdString, NoticeKind)> {
        core::iter::from_fn(|| a.poll_notice()).map(|n| (n.name.as_str().to_string(), n.kind)).collect()
    }

    /// Evaluates at second `t` with `value` for every metric: rule 0's state
    /// after it (`i`, `p`, `f`) and the notices said (`F` firing, `S` still
    /// firing, `R` resolved).
    fn step(a: &mut Rules, t: u64, value: Option<f64>) -> StdString {
        a.handle_timeout(at(t), |_| value);
        let mut token = StdString::from(&a.alerts().next().unwrap().state.name()[..1]);
        for (_, kind) in notices(a) {
            token.push(match kind {
                NoticeKind::Firing => 'F',
                NoticeKind::StillFiring => 'S',
                NoticeKind::Resolved => 'R',
            });
        }
        token
    }

    /// [`step`] at seconds `from`, `from + 1`, … with `values`.
    fn timeline(a: &mut Rules, from: u64, values: &[f64]) -> StdString {
        let steps: StdVec<_> = (from..).zip(values).map(|(t, &v)| step(a, t, Some(v))).collect();
        steps.join(" ")
    }

    fn view(a: &Rules, i: usize) -> AlertView<'_> {
        a.alerts().nth(i).unwrap()
    }

    #[test]
    fn pending_fires_on_the_evaluation_for_after_it_became_active_then_resolves() {
        let mut a = start(&[Rule { for_: secs(3), ..rule("hot", 0, Above(50.0)) }]);
        assert_eq!(a.poll_timeout(), Some(at(0)), "the first evaluation is due at the start");
        assert_eq!(timeline(&mut a, 0, &[10.0, 60.0, 60.0, 60.0]), "i p p p");
        assert_eq!(view(&a, 0).active_since, Some(at(1)));
        assert_eq!(step(&mut a, 4, Some(61.0)), "fF", "4 - 1 >= 3");
        assert_eq!(a.poll_timeout(), Some(at(5)));
        let v = view(&a, 0);
        assert_eq!((v.name, v.state, v.value, v.silenced), ("hot", AlertState::Firing, Some(61.0), false));
        assert_eq!(timeline(&mut a, 5, &[70.0]), "f");
        a.handle_timeout(at(6), |_| Some(50.0));
        let resolved = a.poll_notice().unwrap();
        assert_eq!(resolved.to_string(), "alert hot resolved (MAJOR): value 50, active for 5 s");
        assert_eq!((view(&a, 0).state, view(&a, 0).active_since), (AlertState::Inactive, None));
    }

    #[test]
    fn for_zero_fires_on_the_first_true_evaluation() {
        let mut a = start(&[rule("low", 0, Below(1.0))]);
        a.handle_timeout(at(0), |_| Some(0.5));
        let n = a.poll_notice().unwrap();
        assert_eq!((n.kind, n.since, n.value), (NoticeKind::Firing, Duration::ZERO, Some(0.5)));
        assert_eq!(n.to_string(), "alert low firing (MAJOR): value 0.5, active for 0 s");
        assert_eq!(timeline(&mut a, 1, &[2.0, 0.0]), "iR fF");
    }

    #[test]
    fn a_pending_alert_that_goes_away_resets_without_a_notice() {
        let mut a = start(&[Rule { for_: secs(2), ..rule("eq", 0, Equals(7.0)) }]);
        assert_eq!(timeline(&mut a, 0, &[7.0, 7.0, 6.0, 7.0, 7.0]), "p p i p p");
        assert_eq!(view(&a, 0).active_since, Some(at(3)), "a later true starts anew");
        assert_eq!(timeline(&mut a, 5, &[7.0]), "fF");
    }

    #[test]
    fn absent_and_nan_values_are_false() {
        let mut a = start(&[rule("band", 0, Between(1.0, 2.0))]);
        assert_eq!(step(&mut a, 0, Some(1.0)), "fF", "inclusive low end");
        assert_eq!(step(&mut a, 1, Some(2.0)), "f", "inclusive high end");
        assert_eq!(step(&mut a, 2, None), "iR");
        assert_eq!(view(&a, 0).value, None);
        assert_eq!(step(&mut a, 3, Some(1.5)), "fF");
        assert_eq!(step(&mut a, 4, Some(f64::NAN)), "iR");
        assert_eq!(step(&mut a, 5, Some(2.5)), "i");
    }

    #[test]
    fn keep_firing_for_holds_through_a_flap_and_never_applies_to_pending() {
        let mut a = start(&[Rule { keep_firing_for: secs(3), ..rule("flap", 0, Above(0.0)) }]);
        // Keeping from 1; true again at 3 resets; keeping from 4 until 7.
        let values = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(timeline(&mut a, 0, &values), "fF f f f f f f iR");

        let mut a = start(&[Rule { for_: secs(5), keep_firing_for: secs(10), ..rule("p", 0, Above(0.0)) }]);
        assert_eq!(timeline(&mut a, 0, &[1.0, 1.0, 0.0]), "p p i");
    }

    #[test]
    fn still_firing_repeats_every_repeat_interval_from_the_last_notice() {
        let settings = AlertSettings { repeat_interval: secs(3), ..AlertSettings::default() };
        let mut a: Rules = AlertRules::new(at(0), settings, &[rule("r", 0, Above(0.0))]).unwrap();
        assert_eq!(timeline(&mut a, 0, &[1.0; 8]), "fF f f fS f f fS f");
        // A silence holds the repeat back; it is said when the silence ends.
        a.silence(at(8), "r", secs(3)).unwrap();
        assert_eq!(timeline(&mut a, 8, &[1.0; 4]), "f f f fS");

        let never = AlertSettings { repeat_interval: Duration::ZERO, ..AlertSettings::default() };
        let mut a: Rules = AlertRules::new(at(0), never, &[rule("r", 0, Above(0.0))]).unwrap();
        assert_eq!(timeline(&mut a, 0, &[1.0; 20]).matches('S').count(), 0, "zero: never again");
    }

    #[test]
    fn a_silence_hides_a_fire_and_reveals_a_still_firing_one_after() {
        let mut a = start(&[rule("s", 0, Above(0.0))]);
        a.silence(at(0), "s", secs(4)).unwrap();
        assert!(view(&a, 0).silenced);
        // Fires and resolves within the silence: nothing; fires again, still
        // firing when the silence ends at 4: said then.
        assert_eq!(timeline(&mut a, 0, &[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]), "f i f f fF f");
        assert!(!view(&a, 0).silenced);
        // Told it fires, then resolved within a silence: said resolved after.
        a.silence(at(6), "s", secs(2)).unwrap();
        assert_eq!(timeline(&mut a, 6, &[0.0, 0.0, 0.0]), "i i iR");
        // unsilence_all: said at the next evaluation.
        a.silence(at(9), "s", secs(60)).unwrap();
        assert_eq!(timeline(&mut a, 9, &[1.0]), "f");
        a.unsilence_all();
        assert_eq!(timeline(&mut a, 10, &[1.0]), "fF");
        assert_eq!(a.silence(at(11), "nope", secs(1)), Err(RuleError::UnknownRule));
    }

    #[test]
    fn reconfigure_keeps_unchanged_rules_and_resolves_removed_firing_ones() {
        let rules = [rule("a", 0, Above(50.0)), rule("b", 1, Above(50.0)), rule("c", 2, Above(50.0))];
        let mut a = start(&rules);
        a.handle_timeout(at(0), |_| Some(70.0));
        assert_eq!(notices(&mut a).len(), 3);
        a.silence(at(1), "b", secs(100)).unwrap();
        a.handle_timeout(at(1), |_| Some(70.0));
        let new = [
            Rule { severity: Severity::Critical, for_: secs(9), ..rule("a", 0, Above(50.0)) },
            rule("b", 1, Above(60.0)),
            rule("d", 3, Below(0.0)),
        ];
        assert_eq!(a.reconfigure(at(2), AlertSettings::default(), &new), Ok(()));
        let said = notices(&mut a);
        assert_eq!(said, [("b".to_string(), NoticeKind::Resolved), ("c".to_string(), NoticeKind::Resolved)]);
        assert_eq!(a.poll_timeout(), Some(at(2)), "the new rules are due at once");
        let v = view(&a, 0);
        assert_eq!(
            (v.state, v.active_since, v.severity),
            (AlertState::Firing, Some(at(0)), Severity::Critical)
        );
        let v = view(&a, 1);
        assert_eq!((v.state, v.silenced), (AlertState::Inactive, true), "changed: anew, its silence kept");
        a.handle_timeout(at(2), |_| Some(70.0));
        assert!(notices(&mut a).is_empty(), "a was told already, b is silenced");
        assert_eq!((view(&a, 0).state, view(&a, 1).state), (AlertState::Firing, AlertState::Firing));
        let names: StdVec<_> = a.alerts().map(|v| v.name).collect();
        assert_eq!(names, ["a", "b", "d"]);
        // A refused configuration changes nothing.
        let bad = [rule("a", 0, Above(50.0)), rule("a", 1, Above(1.0))];
        let refused = a.reconfigure(Instant::from_millis(2_500), AlertSettings::default(), &bad);
        assert_eq!(refused, Err(RuleError::DuplicateName { rule: 1 }));
        assert_eq!(a.alerts().count(), 3);
        assert_eq!(a.poll_timeout(), Some(at(3)), "not rescheduled");
    }

    #[test]
    fn rate_of_change_counts_a_counter_reset_as_prometheus_increase() {
        let over = RateOfChange { over: secs(10), by: 6.0 };
        let mut a = start(&[rule("errors", 0, over)]);
        // +2 +2, reset to 1 (+1), +2: 7 > 6 at 4 (positive steps alone: 6).
        let values = [100.0, 102.0, 104.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0];
        // At 10 the base is the sample at 0 (7); at 11, the one at 1 (5).
        assert_eq!(timeline(&mut a, 0, &values), "i i i i fF f f f f f f iR");
        // An absent value forgets the history: a single value counts 0.
        assert_eq!(step(&mut a, 12, None), "i");
        assert_eq!(timeline(&mut a, 13, &[50.0, 56.0, 57.0]), "i i fF");
    }

    #[test]
    fn rate_of_change_samples_one_per_over_32_and_keeps_a_base_when_sparse() {
        // Dense: a sample per second, 2 s kept apart over 64 s.
        let over = secs(64);
        let mut inc = Increase::default();
        for t in 0..=200 {
            let increase = inc.observe(at(t), t as f64, over);
            let expected = match t {
                0 => 0.0,
                1..=64 => t as f64,
                _ => 64.0 + (t % 2) as f64, // base at an even second
            };
            assert_eq!(increase, expected, "at {t}");
        }
        assert_eq!(inc.samples.len(), 33);
        assert_eq!(inc.samples.front().map(|s| s.0), Some(at(136)), "newest at or before 200 - 64");
        let times: StdVec<_> = inc.samples.iter().map(|s| s.0.as_millis()).collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] == 2_000), "kept 2 s apart");

        // Sparse: one value per 5 s on a 2 s window: the base is the
        // previous value, so the increase covers 5 s rather than none.
        let mut inc = Increase::default();
        assert_eq!(inc.observe(at(0), 0.0, secs(2)), 0.0, "a single value");
        assert_eq!(inc.observe(at(5), 5.0, secs(2)), 5.0);
        assert_eq!(inc.observe(at(10), 10.0, secs(2)), 5.0);
        assert_eq!(inc.samples.len(), 2);
    }

    #[test]
    fn a_late_timeout_evaluates_once_and_does_not_catch_up() {
        let mut a = start(&[Rule { for_: secs(3), ..rule("late", 0, Above(0.0)) }]);
        let mut reads = 0;
        let mut read = |_: u8| {
            reads += 1;
            Some(1.0)
        };
        a.handle_timeout(at(0), &mut read);
        a.handle_timeout(Instant::from_millis(500), &mut read);
        assert_eq!(a.poll_timeout(), Some(at(1)), "early: nothing due");
        a.handle_timeout(Instant::from_millis(1_200), &mut read);
        assert_eq!(a.poll_timeout(), Some(at(2)), "a little late: on the grid");
        a.handle_timeout(Instant::from_millis(5_500), &mut read);
        assert_eq!(a.poll_timeout(), Some(Instant::from_millis(6_500)), "missed ones skipped");
        assert_eq!(reads, 3);
        assert_eq!(view(&a, 0).state, AlertState::Firing, "5.5 s after 0");
        let n = a.poll_notice().unwrap();
        assert_eq!((n.kind, n.since), (NoticeKind::Firing, Duration::from_millis(5_500)));
    }

    #[test]
    fn every_rule_error() {
        let d = AlertSettings::default();
        let new = |rules: &[Rule<u8>]| AlertRules::<u8, 2>::new(at(0), d, rules).err();
        let ok = rule("ok", 0, Above(1.0));
        let three = [rule("a", 0, Above(1.0)), rule("b", 0, Above(1.0)), rule("c", 0, Above(1.0))];
        assert_eq!(new(&three), Some(RuleError::TooManyRules { max: 2 }));
        let mut two = AlertRules::<u8, 2>::new(at(0), d, &three[..2]).unwrap();
        assert_eq!(two.reconfigure(at(1), d, &three), Err(RuleError::TooManyRules { max: 2 }));
        assert_eq!(new(&[ok.clone(), ok.clone()]), Some(RuleError::DuplicateName { rule: 1 }));
        for name in ["", "has space", "dash-ed", "é"] {
            assert_eq!(new(&[ok.clone(), rule(name, 0, Above(1.0))]), Some(RuleError::BadName { rule: 1 }));
        }
        let bad = [
            Above(f64::NAN),
            Below(f64::NAN),
            Equals(f64::NAN),
            Between(2.0, 1.0),
            Between(f64::NAN, 1.0),
            RateOfChange { over: Duration::ZERO, by: 1.0 },
            RateOfChange { over: secs(1), by: -1.0 },
            RateOfChange { over: secs(1), by: f64::NAN },
        ];
        for c in bad {
            assert_eq!(new(&[rule("x", 0, c)]), Some(RuleError::BadCondition { rule: 0 }), "{c:?}");
        }
        assert!(new(&[rule("inf", 0, Above(f64::INFINITY)), rule("Ok_9", 0, Between(1.0, 1.0))]).is_none());
        let fast = AlertSettings { interval: Duration::from_micros(999), ..d };
        assert_eq!(AlertRules::<u8, 2>::new(at(0), fast, &[]).err(), Some(RuleError::BadInterval));
        assert_eq!(two.silence(at(0), "zz", secs(1)), Err(RuleError::UnknownRule));
        // No rules is a valid set, with nothing to do until rules come.
        let mut none = AlertRules::<u8, 2>::new(at(0), d, &[]).unwrap();
        assert_eq!(none.poll_timeout(), None);
        none.reconfigure(at(5), d, &[ok]).unwrap();
        assert_eq!(none.poll_timeout(), Some(at(5)));
        assert_eq!(RuleError::BadCondition { rule: 3 }.to_string(), "alert rule 3: invalid condition");
    }

    #[test]
    fn a_full_notice_queue_drops_the_oldest_and_counts() {
        let rules = [rule("a", 0, Above(0.0)), rule("b", 1, Above(0.0)), rule("c", 2, Above(0.0))];
        let mut a = AlertRules::<u8, 4, 2>::new(at(0), AlertSettings::default(), &rules).unwrap();
        a.handle_timeout(at(0), |_| Some(1.0));
        assert_eq!(a.dropped_notices(), 1);
        let names: StdVec<_> = core::iter::from_fn(|| a.poll_notice()).map(|n| n.name).collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn names_parse_and_display() {
        let names = Severity::ALL.map(|s| s.to_string());
        assert_eq!(names, ["CRITICAL", "MAJOR", "MINOR", "WARNING", "INFORMATIONAL"]);
        for s in Severity::ALL {
            assert_eq!(Severity::parse(&s.to_string().to_lowercase()), Some(s));
        }
        assert_eq!(Severity::parse("Warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("warn"), None);
        let states = [AlertState::Inactive, AlertState::Pending, AlertState::Firing].map(|s| s.to_string());
        assert_eq!(states, ["inactive", "pending", "firing"]);
    }

    /// The bound stated in the module documentation.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn documented_memory_bound_holds() {
        use core::mem::size_of;
        assert_eq!(size_of::<DefaultAlertRules<u8>>(), 30_032, "update the module docs");
        assert_eq!(size_of::<Slot<u8>>(), 776, "update the module docs");
        assert_eq!(size_of::<Increase>(), 576, "update the module docs");
        assert_eq!(size_of::<AlertNotice>(), 80, "update the module docs");
    }
}
