//! Warm restart from a snapshot, and full dumps checked against what was
//! published (the overrun recovery), as timelines of the driver.

mod common;

use common::*;
use portsyncd_core::PortName;
use portsyncd_core::driver::{Input, Signal};
use portsyncd_core::engine::{
    Action, DefaultLinkSync, LinkState, Snapshot, SnapshotPort, StartKind, SwitchType, SyncConfig,
};
use portsyncd_core::netlink::{LinkMessage, iff};

const SEQ: u32 = 0x5eed_0001;

fn name(s: &str) -> PortName {
    PortName::try_from(s).unwrap()
}

fn reply(mut msg: LinkMessage<'static>, seq: u32) -> LinkMessage<'static> {
    msg.header.seq = seq;
    msg.header.flags = portsyncd_core::netlink::msg_flags::MULTI;
    msg
}

fn up(ifindex: u32) -> LinkState {
    LinkState { ifindex, admin_up: true, oper_up: true, mtu: 9100 }
}

fn snapshot(ports: &[(&str, LinkState)]) -> Snapshot<{ portsyncd_core::engine::DEFAULT_PORT_CAPACITY }> {
    let mut s = Snapshot { port_init_done: true, ports: heapless::Vec::new() };
    for (n, state) in ports {
        s.ports.push(SnapshotPort { name: name(n), state: *state }).unwrap();
    }
    s
}

/// A warm start over `snap`: APPL_DB kept every port, STATE_DB holds what
/// the snapshot says.
fn warm_world(ports: &[&str], snap: &Snapshot<1024>) -> World {
    let mut net = Net {
        config: ports.iter().map(|p| (p.to_string(), cpp_port_fields())).collect(),
        warm: true,
        snapshot: Some(snap.ports.to_vec()),
        ..Net::default()
    };
    for p in ports {
        net.appl.insert(p.to_string(), cpp_port_fields());
    }
    for port in &snap.ports {
        let fields: Hash =
            port.state.fields().pairs().iter().map(|(f, v)| (f.to_string(), v.to_string())).collect();
        net.state.insert(port.name.to_string(), fields);
    }
    World::start(net)
}

#[test]
fn warm_start_leaves_unchanged_ports_alone_writes_changed_deletes_gone() {
    let snap = snapshot(&[("Ethernet0", up(5)), ("Ethernet4", up(6)), ("Ethernet8", up(7))]);
    let mut w = warm_world(&["Ethernet0", "Ethernet4", "Ethernet8"], &snap);
    // The dump: Ethernet0 as it was, Ethernet4 lost its carrier, Ethernet8 is gone.
    let actions = w.batch(&[
        reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ),
        reply(newlink("Ethernet4", 6, iff::UP), SEQ),
    ]);
    let changed = LinkState { oper_up: false, ..up(6) };
    assert_eq!(actions, [Action::SetStatePort { name: name("Ethernet4"), state: changed }]);
    assert_eq!(w.engine().counters().suppressed, 1);
    let end = w.finish_startup();
    assert_eq!(end[0], Action::DelStatePort { name: name("Ethernet8") });
    // Ethernet8 never reappeared, so PortInitDone waits for it (as the C++ daemon would).
    assert_eq!(end.len(), 1, "{end:?}");
    let published: Vec<_> = w.engine().published().map(|(n, s)| (n.to_string(), *s)).collect();
    assert_eq!(published.len(), 2);
    // After the initial dump, an unchanged state is written again as usual.
    let actions = w.batch(&[newlink("Ethernet0", 5, UP_RUNNING)]);
    assert_eq!(actions, [Action::SetStatePort { name: name("Ethernet0"), state: up(5) }]);
}

#[test]
fn warm_start_with_an_incomplete_dump_deletes_nothing() {
    let snap = snapshot(&[("Ethernet0", up(5)), ("Ethernet4", up(6))]);
    let mut w = warm_world(&["Ethernet0", "Ethernet4"], &snap);
    w.batch(&[reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ)]);
    // No NLMSG_DONE: the dump times out.
    let end = w.advance(5_000);
    assert!(w.driver.milestones().eoiu.is_some());
    assert!(!end.iter().any(|a| matches!(a, Action::DelStatePort { .. })), "{end:?}");
    assert!(w.state.contains_key("Ethernet4"));
}

#[test]
fn a_recreated_port_is_written_even_if_its_state_looks_the_same() {
    // Same flags and MTU but a new ifindex: the link was recreated while we were down.
    let snap = snapshot(&[("Ethernet0", up(5))]);
    let mut w = warm_world(&["Ethernet0"], &snap);
    let actions = w.batch(&[reply(newlink("Ethernet0", 50, UP_RUNNING), SEQ)]);
    assert_eq!(actions[0], Action::SetStatePort { name: name("Ethernet0"), state: up(50) });
    assert_eq!(w.engine().counters().suppressed, 0);
}

#[test]
fn redump_deletes_ports_the_kernel_no_longer_reports() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4", "Ethernet8"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING), newlink("Ethernet4", 6, UP_RUNNING)]);
    // An overrun: the driver dumps again (its second dump: SEQ + 1).
    w.overrun();
    assert_eq!(w.dumps, 2);
    // A stale queued notification for Ethernet4 (seq 0) arrives first; it does
    // not count as "reported by the dump".
    w.batch(&[newlink("Ethernet4", 6, UP_RUNNING)]);
    // The dump reports Ethernet0 and, for the first time, Ethernet8.
    w.batch(&[
        reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ + 1),
        reply(newlink("Ethernet8", 7, 0), SEQ + 1),
    ]);
    let end = w.done(SEQ + 1);
    assert_eq!(end, [Action::DelStatePort { name: name("Ethernet4") }]);
    assert!(!w.state.contains_key("Ethernet4"));
    assert!(w.state.contains_key("Ethernet0") && w.state.contains_key("Ethernet8"));
    assert_eq!(w.engine().counters().vanished, 1);
    // An incomplete dump decides nothing.
    w.overrun();
    w.batch(&[reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ + 2)]);
    let end = w.advance(5_000);
    assert!(!end.iter().any(|a| matches!(a, Action::DelStatePort { .. })), "{end:?}");
    assert!(w.state.contains_key("Ethernet8"));
}

/// A NEWLINK notification queued after the dump's first message was
/// generated after the request: the link exists even if the dump passed it.
#[test]
fn a_notification_after_the_dump_began_counts_as_seen() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING)]);
    w.overrun();
    // The dump reports Ethernet0 and ends; Ethernet4 is created meanwhile.
    w.batch(&[reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ + 1), newlink("Ethernet4", 6, UP_RUNNING)]);
    let end = w.done(SEQ + 1);
    assert!(end.is_empty(), "{end:?}");
    assert!(w.state.contains_key("Ethernet4"));
}

#[test]
fn snapshot_round_trips_through_postcard_and_restores() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING), newlink("Ethernet4", 6, iff::UP)]);
    let snap = w.engine().snapshot();
    assert!(snap.port_init_done);
    assert_eq!(snap.ports.len(), 2);
    let mut buf = [0u8; 256];
    let bytes = postcard::to_slice(&snap, &mut buf).unwrap();
    let back: Snapshot<1024> = postcard::from_bytes(bytes).unwrap();
    assert_eq!(back, snap);
    // What a save writes, straight from the record: the same bytes.
    let mut view_buf = [0u8; 256];
    let view = w.engine().snapshot_view();
    assert_eq!((view.len(), view.port_init_done()), (2, true));
    assert_eq!(postcard::to_slice(&view, &mut view_buf).unwrap(), bytes);
    let mut engine =
        DefaultLinkSync::new(SyncConfig { start: StartKind::Warm, switch_type: SwitchType::Switch });
    engine.restore(&back).unwrap();
    assert_eq!(engine.published().count(), 2);
    // A cold engine does not take a snapshot.
    let mut cold =
        DefaultLinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch });
    assert!(cold.restore(&back).is_err());
    // A name that could not be a key does not deserialize.
    let bad = bytes.iter().map(|&b| if b == b'4' { b'|' } else { b }).collect::<Vec<_>>();
    assert!(postcard::from_bytes::<Snapshot<1024>>(&bad).is_err());
}

/// Reconciliation: a dump, STATE_DB read back, and one batch of repairs —
/// a deleted entry written again, a changed one rewritten, one left for a
/// port with no link deleted; a second round finds nothing and writes
/// nothing. The periodic timer starts a round by itself.
#[test]
fn reconciliation_repairs_state_db_drift_and_writes_nothing_else() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4", "Ethernet8"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING), newlink("Ethernet4", 6, UP_RUNNING)]);
    // Behind the daemon's back.
    w.state.remove("Ethernet0");
    w.state.get_mut("Ethernet4").unwrap().insert("netdev_oper_status".into(), "down".into());
    w.state.insert(
        "Ethernet8".into(),
        hash(&[("state", "ok"), ("admin_status", "up"), ("netdev_oper_status", "up"), ("mtu", "9100")]),
    );
    let now = w.now;
    let _ = w.driver.handle(now, Input::Signal(Signal::Reconcile));
    w.advance(1);
    assert_eq!(w.dumps, 2, "the reconciliation dumps the kernel");
    // Its replies equal the record: they write nothing themselves.
    let replies = w.batch(&[
        reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ + 1),
        reply(newlink("Ethernet4", 6, UP_RUNNING), SEQ + 1),
    ]);
    assert_eq!(replies, []);
    let repairs = w.done(SEQ + 1);
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    assert_eq!(
        repairs,
        [
            Action::SetStatePort { name: name("Ethernet0"), state: up },
            Action::SetStatePort { name: name("Ethernet4"), state: LinkState { ifindex: 6, ..up } },
            Action::DelStatePort { name: name("Ethernet8") },
        ]
    );
    assert_eq!(w.state["Ethernet4"]["netdev_oper_status"], "up");
    assert!(!w.state.contains_key("Ethernet8"));
    assert_eq!(w.driver.counters().repaired, 3);
    // Nothing wrong: a round writes nothing.
    let now = w.now;
    let _ = w.driver.handle(now, Input::Signal(Signal::Reconcile));
    w.advance(1);
    let replies = w.batch(&[
        reply(newlink("Ethernet0", 5, UP_RUNNING), SEQ + 2),
        reply(newlink("Ethernet4", 6, UP_RUNNING), SEQ + 2),
    ]);
    assert_eq!(replies, []);
    assert_eq!(w.done(SEQ + 2), []);
    assert_eq!(w.driver.counters().repaired, 3);
    // Five minutes on, the timer starts a round by itself.
    let dumps = w.dumps;
    w.advance(300_000);
    assert_eq!(w.dumps, dumps + 1);
    assert_eq!(w.driver.counters().reconciliations, 3);
}
