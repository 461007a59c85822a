//! Against this machine's kernel, changing nothing: our dump ends at its own
//! NLMSG_DONE, and a failed RTM_SETLINK reports the kernel's errno.

use std::time::Duration;

use portsyncd_core::netlink::{Message, messages};
use portsyncd_core::{Eoiu, EoiuDetector, Instant};
use portsyncd_netlink::{DEFAULT_RCVBUF, LinkControl, LinkDenial, LinkMonitor, Received};

#[test]
fn dump_ends_at_our_done_with_every_link() {
    block_on(async {
        let mut monitor = LinkMonitor::open(DEFAULT_RCVBUF).unwrap();
        assert!(monitor.receive_buffer() > 0);
        let seq = monitor.request_dump().unwrap();
        let mut eoiu = EoiuDetector::new();
        eoiu.start(Instant::from_millis(0), seq, Duration::from_secs(5));
        let mut names = Vec::new();
        let port_id = monitor.port_id();
        let outcome = loop {
            let Received::Datagram(bytes) = monitor.recv().await.unwrap() else { continue };
            let mut end = None;
            for message in messages(bytes) {
                let message = message.unwrap();
                if let Message::Link(link) = message {
                    assert_eq!(link.header.seq, seq);
                    assert_eq!(link.header.pid, port_id);
                    names.push(String::from_utf8_lossy(link.name.unwrap_or_default()).into_owned());
                }
                end = end.or(eoiu.observe(&message));
            }
            if let Some(end) = end {
                break end;
            }
        };
        assert_eq!(outcome, Eoiu::Complete);
        assert!(names.iter().any(|n| n == "lo"), "{names:?}");
        assert_eq!(monitor.counters().dumps, 1);
    });
}

#[test]
fn setlink_on_a_missing_link_reports_the_kernels_error() {
    block_on(async {
        let mut control = LinkControl::open().unwrap();
        let err = control.set_admin_down(0x7fff_fff0).await.unwrap_err();
        assert!(err.to_string().starts_with("netlink: RTM_SETLINK:"), "{err}");
        assert!(
            err.errno() == Some(19) || err.is_permission_denied(),
            "ENODEV (or EPERM when not root): {err:?}"
        );
    });
}

#[test]
fn permission_probe_changes_nothing_and_answers() {
    block_on(async {
        let before = std::fs::read_to_string("/sys/class/net/lo/flags").unwrap_or_default();
        let mut control = LinkControl::open().unwrap();
        match control.check_permission().await {
            Ok(()) => {}
            Err(e) => assert!(e.is_permission_denied(), "{e}"),
        }
        assert_eq!(std::fs::read_to_string("/sys/class/net/lo/flags").unwrap_or_default(), before);
    });
}

/// After a reopen the monitor is a new socket (a new port id), subscribed
/// and sized as before, whose dumps carry sequence numbers after the old
/// one's; it dumps to its own NLMSG_DONE like the first.
#[test]
fn a_reopened_monitor_is_a_new_subscribed_socket_that_dumps() {
    block_on(async {
        let mut monitor = LinkMonitor::open(DEFAULT_RCVBUF).unwrap();
        let buffer = monitor.receive_buffer();
        let old_port = monitor.port_id();
        let old_seq = monitor.request_dump().unwrap();
        monitor.reopen().unwrap();
        assert_ne!(monitor.port_id(), old_port, "a new socket");
        assert_eq!(monitor.receive_buffer(), buffer);
        assert_eq!(monitor.counters().reopens, 1);
        // The old socket's queued replies went with it: only the new dump answers.
        let seq = monitor.request_dump().unwrap();
        assert!(seq > old_seq, "{seq} after {old_seq}");
        let port_id = monitor.port_id();
        let mut eoiu = EoiuDetector::new();
        eoiu.start(Instant::from_millis(0), seq, Duration::from_secs(5));
        let outcome = loop {
            let Received::Datagram(bytes) = monitor.recv().await.unwrap() else { continue };
            let mut end = None;
            for message in messages(bytes) {
                let message = message.unwrap();
                if let Message::Link(link) = &message {
                    assert_eq!(link.header.seq, seq, "no reply of the old socket's dump");
                    assert_eq!(link.header.pid, port_id);
                }
                end = end.or(eoiu.observe(&message));
            }
            if let Some(end) = end {
                break end;
            }
        };
        assert_eq!(outcome, Eoiu::Complete);
    });
}

/// The link filter, in the kernel: in a network namespace of the test's
/// own, notifications of a denied link no longer arrive, another link's
/// do, and a dump still reports both.
#[test]
fn denied_links_notifications_are_dropped_by_the_kernel() {
    let ns = TestNs::new("psfilter");
    ns.ip(&["link", "add", "Ethernet0", "type", "veth", "peer", "name", "v0"]);
    ns.ip(&["link", "add", "Ethernet4", "type", "veth", "peer", "name", "v4"]);
    let (denied, kept) = (ns.index("Ethernet0"), ns.index("Ethernet4"));
    let nsr = &ns;
    let seen = ns.run(move || async move {
        let mut monitor = LinkMonitor::open(DEFAULT_RCVBUF).unwrap();
        monitor.deny_links(LinkDenial { ifindexes: &[denied], keep_port_names: false }).unwrap();
        // Both flap; then one change of the kept link closes the test.
        nsr.ip(&["link", "set", "Ethernet0", "up"]);
        nsr.ip(&["link", "set", "Ethernet0", "mtu", "9000"]);
        nsr.ip(&["link", "set", "Ethernet4", "mtu", "9100"]);
        let mut seen = Vec::new();
        while !seen.contains(&(kept, 9100)) {
            let Received::Datagram(bytes) = monitor.recv().await.unwrap() else { continue };
            for message in messages(bytes) {
                if let Ok(Message::Link(link)) = message {
                    seen.push((link.index, link.mtu.unwrap_or(0)));
                }
            }
        }
        // A dump is not filtered.
        let seq = monitor.request_dump().unwrap();
        let mut dumped = Vec::new();
        'dump: loop {
            let Received::Datagram(bytes) = monitor.recv().await.unwrap() else { continue };
            for message in messages(bytes) {
                match message.unwrap() {
                    Message::Link(link) if link.header.seq == seq => dumped.push(link.index),
                    Message::Done { header, .. } if header.seq == seq => break 'dump,
                    _ => {}
                }
            }
        }
        (seen, dumped)
    });
    let (seen, dumped) = seen;
    assert!(seen.iter().all(|(i, _)| *i != denied), "a denied link's notification arrived: {seen:?}");
    assert!(seen.contains(&(kept, 9100)));
    assert!(dumped.contains(&denied) && dumped.contains(&kept), "{dumped:?}");
}

/// A single instance's filter, in the kernel: a denied link that is no
/// port (a veth peer) stays silent until it is renamed into a port; from
/// the rename on, its notifications arrive although its ifindex is denied.
#[test]
fn a_denied_link_renamed_into_a_port_is_heard_at_once() {
    let ns = TestNs::new("psrename");
    ns.ip(&["link", "add", "Ethernet0", "type", "veth", "peer", "name", "v0"]);
    let peer = ns.index("v0");
    let nsr = &ns;
    let seen = ns.run(move || async move {
        let mut monitor = LinkMonitor::open(DEFAULT_RCVBUF).unwrap();
        monitor.deny_links(LinkDenial { ifindexes: &[peer], keep_port_names: true }).unwrap();
        nsr.ip(&["link", "set", "v0", "mtu", "9000"]);
        nsr.ip(&["link", "set", "v0", "name", "Ethernet8"]);
        nsr.ip(&["link", "set", "Ethernet8", "mtu", "9100"]);
        let mut seen: Vec<(u32, String, u32)> = Vec::new();
        while !seen.iter().any(|(_, name, mtu)| name == "Ethernet8" && *mtu == 9100) {
            let Received::Datagram(bytes) = monitor.recv().await.unwrap() else { continue };
            for message in messages(bytes) {
                if let Ok(Message::Link(link)) = message {
                    let name = String::from_utf8_lossy(link.name.unwrap_or_default()).into_owned();
                    seen.push((link.index, name, link.mtu.unwrap_or(0)));
                }
            }
        }
        seen
    });
    assert!(
        !seen.iter().any(|(i, name, _)| *i == peer && name == "v0"),
        "the peer's notification arrived before its rename: {seen:?}"
    );
    assert!(seen.iter().any(|(i, name, _)| *i == peer && name == "Ethernet8"), "{seen:?}");
}

/// A network namespace of the test's own, deleted when dropped.
struct TestNs(String);

impl TestNs {
    fn new(prefix: &str) -> Self {
        let name = format!("{prefix}{}", std::process::id());
        let ok = std::process::Command::new("ip").args(["netns", "add", &name]).status().unwrap().success();
        assert!(ok, "ip netns add {name}");
        Self(name)
    }

    /// `ip -n NS ARGS`, which must succeed.
    fn ip(&self, args: &[&str]) {
        let out = std::process::Command::new("ip").args(["-n", &self.0]).args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The ifindex of link `name` there.
    fn index(&self, name: &str) -> u32 {
        let out = std::process::Command::new("ip")
            .args(["-n", &self.0, "-o", "link", "show", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).split(':').next().unwrap().trim().parse().unwrap()
    }

    /// Runs the future `make` makes on a thread of its own inside the
    /// namespace, on the reactor.
    fn run<T: Send, F: std::future::Future<Output = T>>(&self, make: impl FnOnce() -> F + Send) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&file),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap();
                block_on(make())
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `f` on the reactor the adapter's sockets wait on.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    portsyncd_reactor::block_on(f).expect("the reactor starts")
}
