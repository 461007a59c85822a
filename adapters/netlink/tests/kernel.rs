//! Against this machine's kernel, changing nothing: our dump ends at its own
//! NLMSG_DONE, and a failed RTM_SETLINK reports the kernel's errno.

use std::time::Duration;

use portsyncd_core::netlink::{Message, messages};
use portsyncd_core::{Eoiu, EoiuDetector, Instant};
use portsyncd_netlink::{DEFAULT_RCVBUF, LinkControl, LinkMonitor, Received};

#[test]
fn dump_ends_at_our_done_with_every_link() {
    smol::block_on(async {
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
    smol::block_on(async {
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
    smol::block_on(async {
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
    smol::block_on(async {
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
