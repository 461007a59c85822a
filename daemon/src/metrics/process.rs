//! The process's own figures, read from `/proc/self` at scrape time under
//! the names every Prometheus client library uses (`process_*`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What `/proc` says of this process now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The descriptor limit (soft).
    pub max_fds: u64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Threads.
    pub threads: u64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where there is no procfs.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        Self::from_stat(&stat, ticks_per_second(), page_size(), boot_time()?).map(|mut s| {
            s.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
            s.max_fds = max_fds().unwrap_or(0);
            s
        })
    }

    /// The figures in a `/proc/<pid>/stat` line.
    fn from_stat(stat: &str, ticks: u64, page: u64, boot: SystemTime) -> Option<Self> {
        // The command name (field 2) may hold spaces and parentheses: the
        // fields that follow start after its last ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        // `rest` starts at field 3 (state): field n is f[n - 3].
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let ticks = ticks.max(1) as f64;
        let cpu_seconds = (field(14)? + field(15)?) as f64 / ticks;
        let start = boot + Duration::from_secs_f64(field(22)? as f64 / ticks);
        Some(Self {
            cpu_seconds,
            threads: field(20)?,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)?.saturating_mul(page),
            start_time_seconds: start.duration_since(UNIX_EPOCH).ok()?.as_secs_f64(),
            open_fds: 0,
            max_fds: 0,
        })
    }
}

fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// `btime` of `/proc/stat`: when the machine booted.
fn boot_time() -> Option<SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn max_fds() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_an_awkward_name_reads_right() {
        // Fields 3.. of a real line, with utime 150, stime 50, threads 3,
        // starttime 1000, vsize 8 MiB, rss 500 pages; the name holds ") (".
        let line = "4242 (port) (syncd) S 1 4242 4242 0 -1 4194560 300 0 0 0 150 50 0 0 20 0 3 0 1000 \
                    8388608 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let boot = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = ProcessStats::from_stat(line, 100, 4096, boot).unwrap();
        assert_eq!(s.cpu_seconds, 2.0);
        assert_eq!(s.threads, 3);
        assert_eq!(s.virtual_bytes, 8 << 20);
        assert_eq!(s.resident_bytes, 500 * 4096);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn this_process_reads() {
        let s = ProcessStats::read().unwrap();
        assert!(s.resident_bytes > 0 && s.open_fds >= 3 && s.threads >= 1 && s.max_fds >= s.open_fds);
    }
}
