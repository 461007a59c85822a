//! Issue 10, "every bad input gets a clear answer and nothing is lost": the
//! process-level rows — one instance, a bad state directory, special files
//! as configuration, a journal too small for the ports, unused databases in
//! database_config.json, signals, and the line printed on stop.

use std::time::Duration;

use portsyncd_contract::RawView;
use portsyncd_core::backend::Db;

use crate::harness::*;

/// A switch running with `n` ports published (orchagent's stand-in running).
fn running(n: usize) -> Switch {
    let mut sw = Switch::new(n);
    sw.start();
    for i in 0..n {
        sw.expect_hash(Db::State, &format!("PORT_TABLE|{}", name(i)), &state("down", "down", "1500"), T);
    }
    sw
}

/// The values `benches/e2e.sh` picks from the daemon's log with `grep -o
/// '<name> [0-9]*' "$work/log" | grep -o '[0-9]*'`: each pattern, as the
/// script has it, and what it yields on `log`.
fn bench_greps(log: &std::path::Path) -> Vec<(String, String)> {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/e2e.sh")).unwrap();
    let patterns: Vec<String> = script
        .split("grep -o '")
        .skip(1)
        .filter_map(|rest| {
            let (pattern, after) = rest.split_once('\'')?;
            after.starts_with(" \"$work/log\"").then(|| pattern.to_owned())
        })
        .collect();
    assert!(patterns.len() >= 3, "the script's greps: {patterns:?}");
    patterns
        .into_iter()
        .map(|p| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("grep -o '{p}' \"$0\" | grep -o '[0-9]*'"))
                .arg(log)
                .output()
                .unwrap();
            (p, String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .collect()
}

/// Row 7: the lines printed on stop name each value, durations in ms, and
/// the benchmark script still finds its three figures (one number each).
#[test]
fn the_lines_on_stop_read_as_names_and_values() {
    let mut sw = running(2);
    assert!(wait_until(T, || sw.exists(Db::Appl, "PORT_TABLE:PortInitDone")), "{}", sw.log());
    let (status, _) = sw.daemon().stop_with("TERM");
    assert!(status.success(), "{status:?}\n{}", sw.log());
    let log = sw.log();
    let stopped = log.lines().find(|l| l.contains("stopped: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(!stopped.contains('{') && !stopped.contains("Some("), "Debug output: {stopped}");
    assert!(
        stopped.contains("stopped: eoiu ")
            && stopped.contains(" ms, port config done ")
            && stopped.contains(" ms, port init done "),
        "{stopped}"
    );
    for name in ["datagrams ", "redumps 0", "link messages ", "batches "] {
        assert!(stopped.contains(name), "{name:?} in {stopped}");
    }
    let redis = log.lines().find(|l| l.contains("redis: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(redis.contains("redis: round trips ") && !redis.contains('{'), "{redis}");
    for (pattern, value) in bench_greps(&sw.dir.join("portsyncd.log")) {
        assert!(value.parse::<u64>().is_ok(), "benches/e2e.sh's grep -o '{pattern}' gives {value:?}\n{log}");
    }
}
