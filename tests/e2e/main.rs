//! End-to-end: the real `portsyncd` binary against a real redis-server and
//! real kernel links (veth, bridge) in a fresh network namespace per test,
//! with an orchagent stand-in. Needs root (namespaces, links).

mod harness;
mod scenarios;
mod warm;
