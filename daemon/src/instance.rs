//! One portsyncd at a time: checked before any netlink socket or database
//! connection is opened, so that a second daemon stops with one line and
//! has changed nothing (a second daemon used to start cold and bring every
//! `Ethernet*` link down under the first).
//!
//! Two locks, both released by the kernel when the process ends, however it
//! ends (nothing stale to clean up after a crash):
//!
//! - **the state directory**: see [`crate::state_dir`]. Only another
//!   daemon holding it stops the start; a directory that cannot be used
//!   (read-only, full, missing and uncreatable) is a problem the run
//!   carries on with, without warm-restart snapshots until it can be;
//! - **the network namespace**: the abstract unix socket
//!   [`NETNS_LOCK_NAME`] (`@portsyncd`; `@portsyncd/<namespace>` for a
//!   daemon serving a multi-ASIC namespace), bound and never used. Abstract
//!   socket names belong to a network namespace, so two daemons with
//!   different state directories cannot fight over the same links either;
//!   two daemons serving two ASIC namespaces from one network namespace do
//!   not refuse each other, two serving the same one do.
//!
//! It also enters the network namespace `--netns` names ([`enter_netns`]),
//! which must come before any socket, this module's included, is opened.
//!
//! It decides nothing about what the daemon does next.

use std::fs::File;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::Path;

use crate::state_dir::StateDir;

/// The abstract unix socket (`@portsyncd`: no file, gone with the process)
/// that one daemon per network namespace binds; a daemon serving a
/// multi-ASIC namespace binds `@portsyncd/<namespace>` ([`lock_name`]).
/// It must be bound inside the namespace whose links the daemon changes
/// (under `ip netns exec`, or after entering `--netns`).
pub const NETNS_LOCK_NAME: &str = "portsyncd";

/// Where `ip netns add` puts named network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The abstract socket name of a daemon serving `namespace` (see
/// [`NETNS_LOCK_NAME`]).
pub fn lock_name(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{NETNS_LOCK_NAME}/{ns}"),
        None => NETNS_LOCK_NAME.to_owned(),
    }
}

/// What distinguishes this daemon's lock from its neighbours': the
/// multi-ASIC namespace served, and the instance id among partitioned ones
/// (`asic0/instance2`); `None` for the only daemon of the only namespace.
pub fn instance_label(
    namespace: Option<&str>,
    partition: &portsyncd_core::partition::Partition,
) -> Option<String> {
    let instance = (!partition.is_single()).then(|| format!("instance{}", partition.id()));
    match (namespace, instance) {
        (Some(ns), Some(i)) => Some(format!("{ns}/{i}")),
        (Some(ns), None) => Some(ns.to_owned()),
        (None, i) => i,
    }
}

/// The name each Redis connection gives itself (`CLIENT SETNAME`), as
/// `CLIENT LIST` shows it: `portsyncd`, then `-<namespace>` for a multi-ASIC
/// namespace and `-<id>` for one of several partitioned instances
/// (`portsyncd-asic0-1`). A byte Redis refuses in a name (a space, a control
/// or non-ASCII character) is written `_`.
pub fn client_name(namespace: Option<&str>, partition: &portsyncd_core::partition::Partition) -> String {
    let mut name = String::from("portsyncd");
    if let Some(ns) = namespace {
        name.push('-');
        name.extend(ns.chars().map(|c| if ('!'..='~').contains(&c) { c } else { '_' }));
    }
    if !partition.is_single() {
        name.push_str(&format!("-{}", partition.id()));
    }
    name
}

/// Whether `/run/netns/NAME` can be opened, as [`enter_netns`] opens it
/// (`--check-config`: nothing is entered).
pub fn netns_exists(name: &str) -> Result<(), String> {
    open_netns(name).map(|_| ())
}

/// `/run/netns/NAME`, opened, and its path; the error names both.
fn open_netns(name: &str) -> Result<(File, std::path::PathBuf), String> {
    let path = Path::new(NETNS_RUN_DIR).join(name);
    match File::open(&path) {
        Ok(file) => Ok((file, path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("network namespace {name}: no {} (see ip netns list)", path.display()))
        }
        Err(e) => Err(format!("network namespace {name}: cannot open {}: {e}", path.display())),
    }
}

/// Moves this thread into the network namespace `/run/netns/<name>`. Call
/// it first thing in `main`, while the process has one thread: threads
/// started later inherit it, ones already running would not. `name` is a
/// plain file name (the command line refuses `/` and `..`).
pub fn enter_netns(name: &str) -> Result<(), String> {
    let (file, path) = open_netns(name)?;
    use std::os::fd::AsFd as _;
    rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
        .map_err(|e| match e {
            rustix::io::Errno::INVAL => {
                format!("network namespace {name}: {} is not a network namespace", path.display())
            }
            _ => format!("network namespace {name}: cannot enter {}: {}", path.display(), io::Error::from(e)),
        })
}

/// The network namespace's lock, held for the life of the process (drop
/// releases it).
#[derive(Debug)]
pub struct Instance {
    _netns: UnixListener,
}

impl Instance {
    /// Takes both locks, or says in one line why not; the state directory
    /// comes back with its lock, and with the problem it has, if any
    /// ([`StateDir::problem`]). `namespace`: the multi-ASIC namespace
    /// served, if any ([`lock_name`]).
    pub fn claim(state_dir: &Path, namespace: Option<&str>) -> Result<(Self, StateDir), String> {
        Self::claim_as(state_dir, &lock_name(namespace))
    }

    /// [`claim`](Self::claim) with another socket name (this module's
    /// tests, which share the host's network namespace).
    fn claim_as(state_dir: &Path, netns_name: &str) -> Result<(Self, StateDir), String> {
        let mut dir = StateDir::lock(state_dir)?;
        let netns = lock_netns(netns_name)?;
        // Only once both are held: a refused daemon leaves no pid behind.
        dir.claim();
        Ok((Self { _netns: netns }, dir))
    }
}

/// `asic0`, `instance2` or `asic0/instance2`, in words.
fn describe_label(label: &str) -> String {
    match label.split_once('/') {
        Some((ns, instance)) => format!("namespace {ns}, {}", describe_label(instance)),
        None => match label.strip_prefix("instance") {
            Some(id) => format!("instance {id}"),
            None => format!("namespace {label}"),
        },
    }
}

/// Binds the abstract socket `@<name>` in this network namespace.
fn lock_netns(name: &str) -> Result<UnixListener, String> {
    let addr = SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| format!("abstract unix socket @{name}: {e}"))?;
    UnixListener::bind_addr(&addr).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => match name.split_once('/') {
            None => format!(
                "another portsyncd runs in this network namespace (it holds the abstract unix socket @{name}); \
                 one daemon per network namespace"
            ),
            Some((_, label)) => format!(
                "another portsyncd for {} runs in this network namespace (it holds the abstract \
                 unix socket @{name}); one daemon per {}",
                describe_label(label),
                if label.contains("instance") { "instance id" } else { "namespace" }
            ),
        },
        _ => format!("abstract unix socket @{name}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::state_dir::LOCK_FILE;

    fn unique(tag: &str) -> String {
        format!("portsyncd-test-{}-{tag}", std::process::id())
    }

    #[test]
    fn one_claim_per_state_dir_and_per_name_while_held() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/state");
        let first = Instance::claim_as(&dir, &unique("one")).unwrap();
        assert!(dir.is_dir(), "created with its parents");
        assert_eq!(first.1.problem(), None);
        let pid = std::process::id();
        assert_eq!(fs::read_to_string(dir.join(LOCK_FILE)).unwrap(), format!("{pid}\n"));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "the probe is gone");
        // The same directory (a lock is per open file, so this holds within one process too).
        let e = Instance::claim_as(&dir, &unique("two")).unwrap_err();
        assert_eq!(
            e,
            format!(
                "state dir {} is in use by portsyncd pid {pid} (it holds {}/portsyncd.lock); one daemon per state dir",
                dir.display(),
                dir.display()
            )
        );
        // Another directory, the same namespace lock.
        let other = tmp.path().join("other");
        let e = Instance::claim_as(&other, &unique("one")).unwrap_err();
        assert!(e.starts_with("another portsyncd runs in this network namespace"), "{e}");
        assert!(e.contains(&format!("@{}", unique("one"))), "{e}");
        assert_eq!(fs::read_to_string(other.join(LOCK_FILE)).unwrap(), "", "no pid left by a refused claim");
        // Released with the holder.
        drop(first);
        let again = Instance::claim_as(&dir, &unique("one")).unwrap();
        drop(again);
    }

    #[test]
    fn a_namespace_has_its_own_lock_name() {
        assert_eq!(lock_name(None), "portsyncd");
        assert_eq!(lock_name(Some("asic0")), "portsyncd/asic0");
        let tmp = tempfile::tempdir().unwrap();
        let base = unique("ns");
        let asic0 = Instance::claim_as(&tmp.path().join("0"), &format!("{base}/asic0")).unwrap();
        // Another namespace, the same network namespace: both run.
        let asic1 = Instance::claim_as(&tmp.path().join("1"), &format!("{base}/asic1")).unwrap();
        // The same namespace again: refused, named.
        let e = Instance::claim_as(&tmp.path().join("2"), &format!("{base}/asic0")).unwrap_err();
        assert_eq!(
            e,
            format!(
                "another portsyncd for namespace asic0 runs in this network namespace (it holds the abstract \
                 unix socket @{base}/asic0); one daemon per namespace"
            )
        );
        drop((asic0, asic1));
    }

    #[test]
    fn entering_a_missing_netns_says_so() {
        let name = unique("no-such-netns");
        assert_eq!(
            enter_netns(&name).unwrap_err(),
            format!("network namespace {name}: no /run/netns/{name} (see ip netns list)")
        );
    }

    #[test]
    fn the_client_name_says_namespace_and_instance() {
        use portsyncd_core::partition::{Partition, Share};
        let single = Partition::single();
        let second = Partition::new(1, 4, Share::Even).unwrap();
        assert_eq!(client_name(None, &single), "portsyncd");
        assert_eq!(client_name(Some("asic0"), &single), "portsyncd-asic0");
        assert_eq!(client_name(None, &second), "portsyncd-1");
        assert_eq!(client_name(Some("asic0"), &second), "portsyncd-asic0-1");
        assert_eq!(client_name(Some("a b\u{e9}"), &single), "portsyncd-a_b_");
    }
}
