//! How the driver's milestones and counters read in a log line: named
//! values an operator reads at a glance (`eoiu 0.6 ms, port config done
//! 1.2 ms, …`, `datagrams 120, overruns 0, …`), not Rust `Debug` structs.
//!
//! Every name is one token or a few words followed by the number, and no
//! name is a suffix of another within one line, so that scripts can pick a
//! value with `grep -o 'name [0-9]*'` (benches/e2e.sh does).

use core::fmt;
use core::time::Duration;

use crate::engine::SyncCounters;
use crate::filter::IgnoreReason;

/// `d` in milliseconds with one decimal, rounded: `0.6 ms`.
struct Ms(Duration);

/// When things happened, from the driver's creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Milestones {
    /// End of the initial dump.
    pub eoiu: Option<Duration>,
    /// PortConfigDone decided.
    pub port_config_done: Option<Duration>,
    /// PortInitDone decided.
    pub port_init_done: Option<Duration>,
}

impl Milestones {
    /// None reached (what `Default` gives), in a `const`.
    pub const NONE: Self = Self { eoiu: None, port_config_done: None, port_init_done: None };
}

/// What the driver counted (the engine counts its own: [`Driver::engine`](super::Driver::engine)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Datagrams handed in (a datagram fed in parts counts once per part).
    pub datagrams: u64,
    /// Malformed netlink messages skipped.
    pub malformed: u64,
    /// Netlink overruns.
    pub overruns: u64,
    /// Dumps requested after an overrun or an interrupted or incomplete dump.
    pub redumps: u64,
    /// Ports deleted because a dump no longer had them.
    pub vanished: u64,
    /// APPL_DB `PORT_TABLE` producer sets decided (ports and markers).
    pub appl_produces: u64,
    /// Write batches carried out.
    pub writes_sent: u64,
    /// Write batches a database refused.
    pub writes_refused: u64,
    /// Refused writes that found no room to be kept.
    pub refused_lost: u64,
    /// APPL_DB presence reads.
    pub presence_reads: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// Snapshot saves that failed.
    pub snapshot_failures: u64,
    /// Reconciliations begun (periodic or requested).
    pub reconciliations: u64,
    /// STATE_DB port entries reconciliation repaired.
    pub repaired: u64,
    /// Netlink socket failures (not overruns), and failed attempts to open
    /// it again.
    pub netlink_failures: u64,
    /// Times the netlink socket was opened again.
    pub netlink_reopens: u64,
    /// Links whose notifications the link source drops (partitioned
    /// instances: other instances' links), as last set.
    pub links_denied: u64,
    /// STATE_DB `SYSTEM_ALARMS` rows written or deleted.
    pub alarm_rows_written: u64,
    /// Alarm rows dropped from a full queue.
    pub alarm_rows_dropped: u64,
    /// Hashes, values and keys too large to read (each one a WARN line;
    /// a LOGGER hash once while it stays so).
    pub too_large: u64,
}

impl DriverCounters {
    /// All zero (what `Default` gives), in a `const`.
    pub const ZERO: Self = Self {
        datagrams: 0,
        malformed: 0,
        overruns: 0,
        redumps: 0,
        vanished: 0,
        appl_produces: 0,
        writes_sent: 0,
        writes_refused: 0,
        refused_lost: 0,
        presence_reads: 0,
        snapshots: 0,
        snapshot_failures: 0,
        reconciliations: 0,
        repaired: 0,
        netlink_failures: 0,
        netlink_reopens: 0,
        links_denied: 0,
        alarm_rows_written: 0,
        alarm_rows_dropped: 0,
        too_large: 0,
    };
}

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0.as_micros() + 50) / 100;
        write!(f, "{}.{} ms", tenths / 10, tenths % 10)
    }
}

/// A milestone's time, or that it was not reached.
struct At(Option<Duration>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => Ms(d).fmt(f),
            None => f.write_str("not reached"),
        }
    }
}

impl fmt::Display for Milestones {
    /// `eoiu 0.6 ms, port config done 1.2 ms, port init done not reached`
    /// (times from the driver's start).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Milestones { eoiu, port_config_done, port_init_done } = *self;
        write!(
            f,
            "eoiu {}, port config done {}, port init done {}",
            At(eoiu),
            At(port_config_done),
            At(port_init_done)
        )
    }
}

impl fmt::Display for DriverCounters {
    /// `datagrams 120, malformed 0, overruns 0, redumps 0, …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured: a counter added to the struct must be added here.
        let DriverCounters {
            datagrams,
            malformed,
            overruns,
            redumps,
            vanished,
            appl_produces,
            writes_sent,
            writes_refused,
            refused_lost,
            presence_reads,
            snapshots,
            snapshot_failures,
            reconciliations,
            repaired,
            netlink_failures,
            netlink_reopens,
            links_denied,
            alarm_rows_written: _,
            alarm_rows_dropped: _,
            too_large,
        } = *self;
        write!(
            f,
            "datagrams {datagrams}, malformed {malformed}, overruns {overruns}, redumps {redumps}, \
             vanished ports {vanished}, APPL_DB produces {appl_produces}, writes {writes_sent} (refused {writes_refused}, \
             lost {refused_lost}), presence reads {presence_reads}, snapshots saved {snapshots} \
             (failed {snapshot_failures}), reconciliations {reconciliations} (repaired {repaired}), \
             netlink failures {netlink_failures} (reopened {netlink_reopens}), \
             links denied in the kernel {links_denied}, too large to read {too_large}"
        )
    }
}

impl fmt::Display for SyncCounters {
    /// `link messages 500, ignored 3 (not_a_port 3), …, batches 12, …`; the
    /// ignored messages by reason, the reasons with none left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SyncCounters {
            link_messages,
            ignored,
            rejected_names,
            stale_links,
            stale_overflow,
            coalesced,
            state_sets,
            state_dels,
            not_in_app_db,
            batches,
            suppressed,
            vanished,
            published_overflow,
        } = *self;
        write!(f, "link messages {link_messages}, ignored {}", ignored.iter().sum::<u64>())?;
        let mut first = true;
        for reason in IgnoreReason::ALL {
            let n = ignored[reason.index()];
            if n > 0 {
                f.write_str(if first { " (" } else { ", " })?;
                write!(f, "{reason} {n}")?;
                first = false;
            }
        }
        if !first {
            f.write_str(")")?;
        }
        write!(
            f,
            ", rejected names {rejected_names}, stale links {stale_links} (not kept {stale_overflow}), \
             coalesced {coalesced}, state sets {state_sets}, state deletes {state_dels}, \
             not in APPL_DB {not_in_app_db}, batches {batches}, unchanged writes left out {suppressed}, \
             deleted after a dump {vanished}, published overflow {published_overflow}"
        )
    }
}

#[cfg(test)]
mod tests {
    use std::format;

    use super::{DriverCounters, Duration, IgnoreReason, Milestones, SyncCounters};

    #[test]
    fn milestones_read_in_milliseconds() {
        let m = Milestones {
            eoiu: Some(Duration::from_micros(560)),
            port_config_done: Some(Duration::from_micros(1_249)),
            port_init_done: None,
        };
        assert_eq!(format!("{m}"), "eoiu 0.6 ms, port config done 1.2 ms, port init done not reached");
        let m = Milestones { eoiu: Some(Duration::from_secs(3)), ..Milestones::default() };
        assert!(format!("{m}").starts_with("eoiu 3000.0 ms, "), "{m}");
    }

    #[test]
    fn counters_read_as_names_and_numbers() {
        let d = DriverCounters { datagrams: 120, redumps: 2, writes_sent: 30, ..DriverCounters::default() };
        assert_eq!(
            format!("{d}"),
            "datagrams 120, malformed 0, overruns 0, redumps 2, vanished ports 0, APPL_DB produces 0, \
             writes 30 (refused 0, lost 0), presence reads 0, snapshots saved 0 (failed 0), \
             reconciliations 0 (repaired 0), netlink failures 0 (reopened 0), links denied in the kernel 0, \
             too large to read 0"
        );
        let mut e = SyncCounters { link_messages: 500, batches: 12, ..SyncCounters::default() };
        let line = format!("{e}");
        assert!(line.starts_with("link messages 500, ignored 0, rejected names 0, "), "{line}");
        assert!(line.contains(", batches 12, "), "{line}");
        e.ignored[IgnoreReason::NotAPort.index()] = 3;
        e.ignored[IgnoreReason::StaleLink.index()] = 1;
        let line = format!("{e}");
        assert!(line.starts_with("link messages 500, ignored 4 (not_a_port 3, stale_link 1), "), "{line}");
    }

    #[test]
    fn the_values_scripts_grep_for_appear_once() {
        // benches/e2e.sh: `grep -o 'batches [0-9]*'`, `grep -o 'redumps [0-9]*'`.
        let line =
            format!("{} {} {}", Milestones::default(), DriverCounters::default(), SyncCounters::default());
        for name in ["batches ", "redumps "] {
            assert_eq!(line.matches(name).count(), 1, "{name:?} in {line}");
        }
    }
}
