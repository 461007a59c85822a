//! Prometheus metrics: what the loop publishes, how it reads as the
//! exposition format, and the endpoint that serves it.
//!
//! The loop publishes a [`MetricsSnapshot`] on a [`Board`] at most once per
//! [`PUBLISH_INTERVAL`] (the driver's maintenance timer wakes it at least
//! that often): a copy of counters it already keeps, taken between events,
//! so that the hot path has no lock, atomic or allocation for metrics. The
//! endpoint ([`http`]) copies the latest publication out on each scrape and
//! encodes it with `prometheus-client` ([`exposition`]); process figures
//! (CPU, memory, descriptors) are read from `/proc` at scrape time.
//!
//! This module decides names, help texts and labels; what is counted and
//! when is the core's.

pub mod addr;
pub mod exposition;
pub mod http;
pub mod process;

use std::time::Duration;

use portsyncd_core::Instant;
use portsyncd_core::PortName;
use portsyncd_core::alerts::AlertState;
use portsyncd_core::backend::{DatabaseStats, Databases};
use portsyncd_core::driver::{DriverCounters, Milestones, Observed};
use portsyncd_core::engine::{PortFlaps, SyncCounters};
use portsyncd_core::health::{HealthState, Reason};
use portsyncd_core::metrics::DriverMetrics;

use crate::sync::{Arc, Board};
use portsyncd_core::driver::DefaultDriver;

pub use addr::{MetricsAddr, SocketAccess};

/// Least time between two publications.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// One rule's alert as the gauges show it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertGauge {
    /// The rule's name.
    pub name: String,
    /// `pending` or `firing`.
    pub state: &'static str,
    /// SONiC's severity name.
    pub severity: &'static str,
}

/// Everything the endpoint shows of the loop, as of one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// When the loop published it (`None`: it has not yet).
    pub published_at: Option<Instant>,
    /// What the driver counted.
    pub driver: DriverCounters,
    /// What the engine decided.
    pub engine: SyncCounters,
    /// Batch sizes and notification-to-write latency.
    pub histograms: DriverMetrics,
    /// When EOIU, PortConfigDone and PortInitDone came.
    pub milestones: Milestones,
    /// Health as last assessed.
    pub health: (HealthState, Reason),
    /// The database backend's counters.
    pub db: DatabaseStats,
    /// Facts of the moment (backend status, kept writes, warm start, ports).
    pub observed: Option<Observed>,
    /// Each configured port's flaps, in config order (bounded by the
    /// configured ports).
    pub flaps: Vec<(PortName, PortFlaps)>,
    /// Alerts pending or firing.
    pub alerts: Vec<AlertGauge>,
    /// The multi-ASIC namespace served ([`HOST_NAMESPACE`] if none): set
    /// once before the loop starts; [`MetricsPublisher::tick`] leaves it.
    pub namespace: String,
}

/// The `namespace` label of a daemon that serves no multi-ASIC namespace.
pub const HOST_NAMESPACE: &str = "host";

impl Default for MetricsSnapshot {
    fn default() -> Self {
        Self {
            published_at: None,
            driver: DriverCounters::default(),
            engine: SyncCounters::default(),
            histograms: DriverMetrics::default(),
            milestones: Milestones::default(),
            health: (HealthState::Healthy, Reason::AllWell),
            db: DatabaseStats::default(),
            observed: None,
            flaps: Vec::new(),
            alerts: Vec::new(),
            namespace: HOST_NAMESPACE.to_owned(),
        }
    }
}

/// The board the loop publishes on and the endpoint reads.
pub type MetricsBoard = Arc<Board<MetricsSnapshot>>;

/// A new, empty board.
pub fn board() -> MetricsBoard {
    Arc::new(Board::new(MetricsSnapshot::default()))
}

/// A new, empty board for a daemon serving multi-ASIC namespace
/// `namespace` (`None`: [`HOST_NAMESPACE`]).
pub fn board_for(namespace: Option<&str>) -> MetricsBoard {
    let namespace = namespace.unwrap_or(HOST_NAMESPACE).to_owned();
    Arc::new(Board::new(MetricsSnapshot { namespace, ..MetricsSnapshot::default() }))
}

/// The loop's side: publishes the driver's figures when they are due.
#[derive(Debug)]
pub struct MetricsPublisher {
    board: MetricsBoard,
    next: Option<Instant>,
}

impl MetricsPublisher {
    /// Publishes on `board`.
    pub fn new(board: MetricsBoard) -> Self {
        Self { board, next: None }
    }

    /// Publishes if [`PUBLISH_INTERVAL`] has passed since the last time (or
    /// `force`: the run is ending).
    pub fn tick(&mut self, now: Instant, driver: &DefaultDriver, db: &impl Databases, force: bool) {
        if !force && self.next.is_some_and(|next| now < next) {
            return;
        }
        self.next = Some(now.saturating_add(PUBLISH_INTERVAL));
        let observed = driver.observed();
        self.board.publish(|s| {
            s.published_at = Some(now);
            s.driver = *driver.counters();
            s.engine = *driver.engine().counters();
            s.histograms = *driver.metrics();
            s.milestones = *driver.milestones();
            s.health = driver.health();
            s.db = db.stats();
            s.observed = Some(observed);
            s.flaps.clear();
            s.flaps.extend(driver.engine().port_flaps().map(|(name, f)| (*name, f)));
            s.alerts.clear();
            s.alerts.extend(driver.alerts().filter(|a| a.state != AlertState::Inactive).map(|a| {
                AlertGauge { name: a.name.to_owned(), state: a.state.name(), severity: a.severity.name() }
            }));
        });
    }
}
