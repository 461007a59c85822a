//! End-to-end: the real `portsyncd` binary against a real redis-server and
//! real kernel links (veth, bridge) in a fresh network namespace per test,
//! with an orchagent stand-in. Needs root (namespaces, links); Linux only.

// The test's own threads (consumer, keyspace watcher) are not the daemon's
// handoffs; the daemon's `sync` funnel does not apply to them.
#![allow(clippy::disallowed_types)]
#![cfg(target_os = "linux")]

mod bad_data;
mod big_values;
mod breakout;
mod endpoint;
mod faults;
mod fleet;
mod hardening;
mod harness;
mod liveness;
mod metrics;
mod multi_asic;
mod partition;
mod reconcile;
mod redis_at_start;
mod sandbox;
mod scenarios;
mod state_dir;
mod supervisord;
mod syslog;
mod warm;
