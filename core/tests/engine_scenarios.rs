//! The C++ portsyncd's own unit tests (sonic-swss
//! `tests/mock_tests/portsyncd/portsyncd_ut.cpp`, as SONIC.md §7.1 describes
//! them) and the cases SONIC.md §9 marks as easy to get wrong, as timelines
//! of the core's driver in a world of in-memory maps (`common::World`). The
//! capacity and misuse tests at the end drive the engine itself: they test
//! its own contract, which only the driver uses.

mod common;

use common::*;
use portsyncd_core::engine::{
    Action, DefaultLinkSync, Disposition, LinkState, LinkSync, Phase, StartKind, SwitchType, SyncConfig,
    SyncError,
};
use portsyncd_core::filter::IgnoreReason;
use portsyncd_core::netlink::{LinkOp, iff};
use portsyncd_core::{NameError, PortName};

fn name(s: &str) -> PortName {
    PortName::try_from(s).unwrap()
}

fn state(pairs: &[(&str, &str)]) -> Hash {
    hash(pairs)
}

// ---- sonic-swss portsyncd_ut.cpp ----

/// test_cacheOldIfaces: kernel has lo(1) and Ethernet0(142) before a cold
/// start; Ethernet0 is brought down and its ifindex remembered.
#[test]
fn cpp_cache_old_ifaces() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    let dump = [newlink("lo", 1, iff::UP | iff::RUNNING), newlink("Ethernet0", 142, UP_RUNNING)];
    w.batch(&dump);
    assert_eq!(
        w.dispositions,
        [Disposition::Ignored(IgnoreReason::NotAPort), Disposition::MarkedStale { ifindex: 142 }]
    );
    let startup = w.finish_startup();
    assert!(
        matches!(startup[0], Action::BringLinkDown { ifindex: 142, name } if name.as_bytes() == b"Ethernet0")
    );
    assert_eq!(w.brought_down, [142]);
    assert!(w.engine().is_stale(142));
    assert!(!w.engine().is_stale(1));
}

/// test_onMsgNewLink: no kernel interfaces; the CONFIG_DB fixture is in APPL;
/// NEWLINK Ethernet0 UP|RUNNING mtu 9100 writes the four STATE_DB fields.
#[test]
fn cpp_on_msg_new_link() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    let actions = w.batch(&[newlink("Ethernet0", 142, UP_RUNNING)]);
    assert_eq!(
        w.state["Ethernet0"],
        state(&[("state", "ok"), ("mtu", "9100"), ("netdev_oper_status", "up"), ("admin_status", "up")])
    );
    // m_ifindexNameMap[142] == "Ethernet0": the write names ifindex 142.
    let state = LinkState { ifindex: 142, admin_up: true, oper_up: true, mtu: 9100 };
    assert_eq!(actions, [Action::SetStatePort { name: name("Ethernet0"), state }]);
}

/// test_onMsgDelLink: as above, then DELLINK (master 0) removes the entry.
#[test]
fn cpp_on_msg_del_link() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 142, UP_RUNNING)]);
    assert!(w.state.contains_key("Ethernet0"));
    let actions = w.batch(&[dellink("Ethernet0", 142)]);
    assert_eq!(actions, [Action::DelStatePort { name: name("Ethernet0") }]);
    assert!(!w.state.contains_key("Ethernet0"));
}

/// test_onMsgIgnoreOldNetDev: Ethernet0/142 existed before the start; a later
/// NEWLINK for it writes nothing. Stronger than the C++ test: here Ethernet0
/// *is* in APPL_DB, so only the stale filter can keep it out.
#[test]
fn cpp_on_msg_ignore_old_netdev() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.batch(&[newlink("lo", 1, 0), newlink("Ethernet0", 142, 0)]);
    w.finish_startup();
    w.pop();
    assert!(w.appl.contains_key("Ethernet0"));
    let actions = w.batch(&[newlink("Ethernet0", 142, 0)]);
    assert!(actions.is_empty());
    assert!(w.state.is_empty());
    assert_eq!(w.dispositions.last(), Some(&Disposition::Ignored(IgnoreReason::StaleLink)));
}

// ---- SONIC.md §5 and §9 ----

/// Cold start: every CONFIG_DB port is produced with its fields verbatim,
/// then PortConfigDone with the count; PortInitDone once every port's host
/// interface has appeared, not before, and only once.
#[test]
fn cold_start_markers_and_port_init_done_once() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    let startup = w.finish_startup();
    assert_eq!(
        startup,
        [
            Action::ProduceAppPort { name: name("Ethernet0") },
            Action::ProduceAppPort { name: name("Ethernet4") },
            Action::PortConfigDone { count: 2 },
        ]
    );
    assert!(w.appl.is_empty(), "nothing popped yet");
    w.pop();
    assert_eq!(w.appl["Ethernet0"], cpp_port_fields());
    assert_eq!(w.appl["PortConfigDone"], hash(&[("count", "2")]));
    assert!(!w.appl.contains_key("PortInitDone"));

    let actions = w.batch(&[newlink("Ethernet0", 200, UP_RUNNING)]);
    assert!(!actions.contains(&Action::PortInitDone), "Ethernet4 still awaited");
    let actions = w.batch(&[newlink("Ethernet4", 201, iff::UP)]);
    assert_eq!(actions.last(), Some(&Action::PortInitDone));
    w.pop();
    assert_eq!(w.appl["PortInitDone"], hash(&[("lanes", "0")]));
    let actions = w.batch(&[dellink("Ethernet4", 201), newlink("Ethernet4", 202, UP_RUNNING)]);
    assert!(!actions.contains(&Action::PortInitDone), "at most once per process");
    assert!(w.engine().is_init_done());
}

/// A port whose host interface never appears holds PortInitDone back for
/// good; its creation releases it at once.
#[test]
fn port_init_done_waits_for_the_last_host_interface() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4", "Ethernet8"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 10, UP_RUNNING), newlink("Ethernet4", 11, UP_RUNNING)]);
    for _ in 0..5 {
        w.batch(&[newlink("Ethernet0", 10, iff::UP), newlink("Ethernet0", 10, UP_RUNNING)]);
    }
    assert!(!w.engine().is_init_done());
    assert_eq!(w.engine().awaiting_ports().collect::<Vec<_>>(), [&name("Ethernet8")]);
    let actions = w.batch(&[newlink("Ethernet8", 12, 0)]);
    assert_eq!(actions.last(), Some(&Action::PortInitDone));
}

/// With no configured port, PortInitDone follows the first netlink read (the
/// dump), and PortConfigDone says 0.
#[test]
fn no_ports_configured() {
    let mut w = World::cold(&[]);
    w.batch(&[newlink("lo", 1, 0)]);
    assert_eq!(w.finish_startup(), [Action::PortConfigDone { count: 0 }, Action::PortInitDone]);
}

/// §9.3: the prune drops ports whose APPL_DB hash already has admin_status
/// (portmgrd's, popped by orchagent), whatever its value; PortInitDone can
/// then come without any link event.
#[test]
fn prune_by_admin_status() {
    // portmgrd already set Ethernet0 up in APPL_DB (orchagent popped it).
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.appl.insert("Ethernet0".into(), hash(&[("admin_status", "up")]));
    let startup = w.finish_startup();
    assert_eq!(startup.len(), 3, "two ports and PortConfigDone, no PortInitDone: {startup:?}");
    assert_eq!(w.engine().phase(), Phase::Running);
    assert_eq!(
        w.engine().awaiting_ports().collect::<Vec<_>>(),
        [&name("Ethernet4")],
        "Ethernet4 still awaited"
    );

    let mut w = World::cold(&["Ethernet0"]);
    w.appl.insert("Ethernet0".into(), hash(&[("admin_status", "down")]));
    assert_eq!(w.finish_startup().last(), Some(&Action::PortInitDone));

    // The C++ unit tests' mock lands produced ports in the final table at
    // once; their CONFIG_DB fixture has admin_status, so the prune empties
    // the set and PortInitDone follows the dump (SONIC.md §9.3).
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.pop_at_once = true;
    assert_eq!(w.finish_startup().last(), Some(&Action::PortInitDone));
}

/// §9.2, §9.8: on a cold start of a switch every Ethernet* link present
/// before we produce anything — sub-ports, -BP/-IB ports, bridge members,
/// even names that could not be keys — is brought down and ignored for the
/// life of the process, DELLINK included. PortChannel* is not.
#[test]
fn stale_links_are_brought_down_and_ignored_for_good() {
    let mut w = World::cold(&["Ethernet0"]);
    let mut member = newlink("Ethernet8", 8, UP_RUNNING);
    member.master = Some(99);
    w.batch(&[
        newlink("Ethernet0", 5, UP_RUNNING),
        newlink("Ethernet0.10", 6, 0),
        newlink("Ethernet-BP0", 7, 0),
        member,
        newlink("Ethernet|9", 9, 0),
        newlink("PortChannel1", 10, 0),
        newlink("eth0", 11, 0),
    ]);
    let startup = w.finish_startup();
    w.pop();
    assert_eq!(w.brought_down, [5, 6, 7, 8, 9]);
    assert!(
        matches!(startup[4], Action::BringLinkDown { ifindex: 9, name } if name.as_bytes() == b"Ethernet|9")
    );
    for index in [5, 6, 7, 8, 9] {
        assert!(w.engine().is_stale(index));
    }
    // Later events for those ifindexes, of either kind, do nothing.
    let actions = w.batch(&[newlink("Ethernet0", 5, UP_RUNNING), dellink("Ethernet0", 5)]);
    assert!(actions.is_empty());
    // The same name with a new ifindex (recreated by syncd) is the real port.
    let actions = w.batch(&[newlink("Ethernet0", 50, UP_RUNNING)]);
    assert!(matches!(actions[0], Action::SetStatePort { state: LinkState { ifindex: 50, .. }, .. }));
    assert_eq!(actions.last(), Some(&Action::PortInitDone));
}

/// Stale links are recorded only while the initial dump is read: a link that
/// appears later is a host interface created for this run.
#[test]
fn links_after_the_dump_are_not_stale() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, 0)]);
    assert!(!w.engine().is_stale(5));
    assert_eq!(w.state["Ethernet0"]["admin_status"], "down");
}

/// §6.1 step 2: a DPU keeps its netdevs; nothing is stale, nothing brought down.
#[test]
fn dpu_has_no_stale_links() {
    let mut w = World::new(StartKind::Cold, SwitchType::Dpu, &["Ethernet0"]);
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING)]);
    let startup = w.finish_startup();
    w.pop();
    assert!(w.brought_down.is_empty());
    assert!(!w.engine().is_stale(5));
    assert_eq!(
        startup[..2],
        [Action::ProduceAppPort { name: name("Ethernet0") }, Action::PortConfigDone { count: 1 }]
    );
    let actions = w.batch(&[newlink("Ethernet0", 5, UP_RUNNING)]);
    assert_eq!(actions.last(), Some(&Action::PortInitDone));
    assert_eq!(SwitchType::from_config(Some("dpu")), SwitchType::Dpu);
    assert_eq!(SwitchType::from_config(Some("switch")), SwitchType::Switch);
    assert_eq!(SwitchType::from_config(None), SwitchType::Switch);
}

/// §5 warm start: nothing produced to APPL_DB, no PortConfigDone, nothing
/// brought down; the dump rewrites STATE_DB for every port whose APPL_DB
/// hash survived, which empties the awaited set; PortInitDone again.
#[test]
fn warm_start_produces_nothing_and_rewrites_state_from_the_dump() {
    let mut w = World::new(StartKind::Warm, SwitchType::Switch, &["Ethernet0", "Ethernet4"]);
    w.appl.insert("Ethernet0".into(), cpp_port_fields());
    w.appl.insert("Ethernet4".into(), cpp_port_fields());
    let dump = w.batch(&[
        dump_reply(newlink("lo", 1, 0)),
        dump_reply(newlink("Ethernet0", 5, UP_RUNNING)),
        dump_reply(newlink("Ethernet4", 6, iff::UP)),
    ]);
    assert_eq!(dump.len(), 2);
    let startup = w.finish_startup();
    assert_eq!(startup, [Action::PortInitDone]);
    assert!(w.brought_down.is_empty());
    w.pop();
    assert!(!w.appl.contains_key("PortConfigDone"));
    assert_eq!(w.appl.len(), 3, "the two ports and PortInitDone");
    assert_eq!(w.state["Ethernet4"]["netdev_oper_status"], "down");
    assert_eq!(w.engine().phase(), Phase::Running);
}

/// §9.5: oper status is IFF_RUNNING, not IFF_LOWER_UP or IFLA_OPERSTATE;
/// admin status is the kernel's IFF_UP, not CONFIG_DB's.
#[test]
fn oper_is_iff_running_admin_is_iff_up() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    w.pop();
    let mut msg = newlink("Ethernet0", 5, iff::UP | iff::LOWER_UP);
    msg.operstate = Some(6); // IF_OPER_UP
    w.batch(&[msg]);
    assert_eq!(w.state["Ethernet0"]["netdev_oper_status"], "down");
    assert_eq!(w.state["Ethernet0"]["admin_status"], "up", "CONFIG_DB says down; the kernel wins");
    let mut msg = newlink("Ethernet0", 5, iff::RUNNING);
    msg.operstate = Some(2); // IF_OPER_DOWN
    msg.mtu = None;
    w.batch(&[msg]);
    assert_eq!(
        w.state["Ethernet0"],
        state(&[("state", "ok"), ("netdev_oper_status", "up"), ("admin_status", "down"), ("mtu", "0")])
    );
}

/// §9.6: STATE_DB writes merge (other daemons' fields stay), but DELLINK
/// deletes the whole hash; DELLINK applies even to names not in APPL_DB, and
/// NEWLINK for such names writes nothing.
#[test]
fn dellink_deletes_whole_hash_even_for_unknown_ports() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    w.pop();
    w.state.insert("Ethernet0".into(), hash(&[("speed", "100000"), ("mtu", "1500")]));
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING)]);
    assert_eq!(w.state["Ethernet0"]["speed"], "100000", "merged, not replaced");
    assert_eq!(w.state["Ethernet0"]["mtu"], "9100");

    w.state.insert("Ethernet96".into(), hash(&[("state", "ok")]));
    let actions = w.batch(&[newlink("Ethernet96", 96, UP_RUNNING)]);
    assert_eq!(actions, [Action::PortNotInAppDb { name: name("Ethernet96") }]);
    assert_eq!(w.state["Ethernet96"], hash(&[("state", "ok")]), "NEWLINK of an unknown port writes nothing");
    let actions = w.batch(&[dellink("Ethernet96", 96), dellink("Ethernet0", 5)]);
    assert_eq!(actions.len(), 2);
    assert!(w.state.is_empty(), "both deleted, other daemons' fields included");
}

/// §8 bridge semantics, as measured in SONIC.md §11: the AF_BRIDGE DELLINK
/// (with master) is ignored, the AF_UNSPEC DELLINK that follows deletes.
#[test]
fn enslaved_port_deleted() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    w.pop();
    let mut bridge_new = newlink("Ethernet0", 5, UP_RUNNING);
    bridge_new.family = 7;
    bridge_new.master = Some(3);
    w.batch(&[bridge_new]);
    assert!(w.state.contains_key("Ethernet0"), "AF_BRIDGE NEWLINK writes too, as in C++");
    let mut bridge_del = dellink("Ethernet0", 5);
    bridge_del.family = 7;
    bridge_del.master = Some(3);
    assert!(w.batch(&[bridge_del]).is_empty());
    assert!(w.state.contains_key("Ethernet0"));
    assert_eq!(w.batch(&[dellink("Ethernet0", 5)]), [Action::DelStatePort { name: name("Ethernet0") }]);
}

/// §9.7: team PortChannels are teamsyncd's; a non-team PortChannel passes
/// the filter but is not in APPL_DB, so nothing is written; and the engine
/// never produces an APPL_DB PortChannel entry.
#[test]
fn portchannels() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    let mut team = newlink("PortChannel111", 40, UP_RUNNING);
    team.kind = Some(b"team");
    let mut team_del = dellink("PortChannel111", 40);
    team_del.kind = Some(b"team");
    assert!(w.batch(&[team, team_del]).is_empty());
    assert_eq!(
        w.batch(&[newlink("PortChannel111", 41, UP_RUNNING)]),
        [Action::PortNotInAppDb { name: name("PortChannel111") }]
    );
    assert!(!w.appl.keys().any(|k| k.starts_with("PortChannel")));
    assert!(w.state.is_empty());
}

/// Our addition (SONIC.md §10): names that would break a key are rejected
/// with a reason and counted, never written.
#[test]
fn names_that_would_break_a_key_are_rejected() {
    let mut w = World::cold(&["Ethernet0"]);
    w.finish_startup();
    w.appl.insert("Ethernet|24".into(), hash(&[("x", "y")]));
    let actions = w.batch(&[newlink("Ethernet|24", 24, UP_RUNNING), dellink("Ethernet|24", 24)]);
    assert!(actions.is_empty());
    assert_eq!(w.dispositions, [Disposition::Rejected(NameError::Separator { byte: b'|' }); 2]);
    assert_eq!(w.engine().counters().rejected_names, 2);
    assert!(w.state.is_empty());
    let mut engine =
        DefaultLinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch });
    assert_eq!(
        engine.add_config_port(b"Eth:1"),
        Err(SyncError::InvalidName(NameError::Separator { byte: b':' }))
    );
    assert_eq!(engine.configured_ports(), 0);
}

// ---- batches ----

/// Within one batch only the latest state of a port is written, and a delete
/// followed by a re-creation keeps the delete (it clears other daemons'
/// fields, as applying the events one by one would).
#[test]
fn coalescing_within_a_batch() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    let up = LinkState { ifindex: 5, admin_up: true, oper_up: true, mtu: 9100 };
    let actions = w.batch(&[
        newlink("Ethernet0", 5, 0),
        newlink("Ethernet0", 5, iff::UP),
        newlink("Ethernet0", 5, UP_RUNNING),
    ]);
    assert_eq!(actions, [Action::SetStatePort { name: name("Ethernet0"), state: up }]);
    assert_eq!(w.engine().counters().coalesced, 2);

    w.state.get_mut("Ethernet0").unwrap().insert("speed".into(), "1".into());
    let actions = w.batch(&[dellink("Ethernet0", 5), newlink("Ethernet0", 6, UP_RUNNING)]);
    let recreated = LinkState { ifindex: 6, ..up };
    assert_eq!(
        actions,
        [
            Action::DelStatePort { name: name("Ethernet0") },
            Action::SetStatePort { name: name("Ethernet0"), state: recreated }
        ]
    );
    assert!(!w.state["Ethernet0"].contains_key("speed"));

    // A NEWLINK and a DELLINK in one batch: only the delete is written, but
    // the NEWLINK still ended Ethernet4's wait, as it would one by one.
    let actions = w.batch(&[newlink("Ethernet4", 7, UP_RUNNING), dellink("Ethernet4", 7)]);
    assert_eq!(actions, [Action::DelStatePort { name: name("Ethernet4") }, Action::PortInitDone]);
    assert!(!w.state.contains_key("Ethernet4"));
}

/// Property: for random event sequences over a few ports, applying them in
/// batches of random sizes gives the same STATE_DB as applying them one by
/// one (the C++ daemon's way), with APPL_DB fixed during the run.
#[test]
fn batches_give_the_same_state_as_one_by_one() {
    let names = ["Ethernet0", "Ethernet4", "Ethernet8", "PortChannel1", "Ethernet|1"];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    for _ in 0..300 {
        let events: Vec<_> = (0..next(40))
            .map(|_| {
                let n = names[next(names.len() as u64) as usize];
                let index = 1 + next(3) as u32;
                match next(4) {
                    0 => dellink(n, index),
                    _ => link(LinkOp::New, n, index, next(0x80) as u32, 1500 + next(3) as u32),
                }
            })
            .collect();
        let seeded = |w: &mut World| {
            w.finish_startup();
            w.pop();
            w.state.insert("Ethernet0".into(), hash(&[("speed", "100000")]));
            w.state.insert("Ethernet8".into(), hash(&[("foreign", "x")]));
        };
        let mut one_by_one = World::cold(&["Ethernet0", "Ethernet4"]);
        seeded(&mut one_by_one);
        for e in &events {
            one_by_one.batch(std::slice::from_ref(e));
        }
        let mut batched = World::cold(&["Ethernet0", "Ethernet4"]);
        seeded(&mut batched);
        let mut rest = &events[..];
        while !rest.is_empty() {
            let take = 1 + next(rest.len() as u64) as usize;
            batched.batch(&rest[..take]);
            rest = &rest[take..];
        }
        assert_eq!(batched.state, one_by_one.state, "events: {events:?}");
        assert_eq!(batched.engine().is_init_done(), one_by_one.engine().is_init_done());
    }
}

// ---- capacities and misuse: typed errors, never a panic ----

#[test]
fn full_batch_is_an_error_and_the_message_can_be_retried() {
    let mut engine: LinkSync<4, 2> =
        LinkSync::new(SyncConfig { start: StartKind::Warm, switch_type: SwitchType::Switch });
    engine.begin_initial_dump().unwrap();
    assert!(engine.handle_link(&newlink("Ethernet0", 1, 0)).is_ok());
    assert!(engine.handle_link(&newlink("Ethernet4", 2, 0)).is_ok());
    assert!(engine.handle_link(&newlink("Ethernet4", 2, iff::UP)).is_ok(), "same port: coalesced");
    let third = newlink("Ethernet8", 3, 0);
    assert_eq!(engine.handle_link(&third), Err(SyncError::BatchFull));
    for n in ["Ethernet0", "Ethernet4"] {
        engine.set_presence(&name(n), true).unwrap();
    }
    engine.commit_batch().unwrap();
    assert_eq!(std::iter::from_fn(|| engine.poll_action()).count(), 2);
    assert!(matches!(engine.handle_link(&third), Ok(Disposition::Queued(_))));
}

#[test]
fn full_port_and_stale_tables_are_errors() {
    let mut engine: LinkSync<2, 2> =
        LinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch });
    engine.add_config_port(b"Ethernet0").unwrap();
    engine.add_config_port(b"Ethernet4").unwrap();
    engine.add_config_port(b"Ethernet4").unwrap();
    assert_eq!(engine.add_config_port(b"Ethernet8"), Err(SyncError::PortTableFull));
    engine.begin_initial_dump().unwrap();
    engine.handle_link(&newlink("Ethernet0", 1, 0)).unwrap();
    engine.handle_link(&newlink("Ethernet4", 2, 0)).unwrap();
    assert_eq!(engine.handle_link(&newlink("Ethernet8", 3, 0)), Err(SyncError::StaleTableFull));
    assert_eq!(engine.counters().stale_overflow, 1);
    engine.end_initial_dump(true).unwrap();
    let downs = std::iter::from_fn(|| engine.poll_action())
        .filter(|a| matches!(a, Action::BringLinkDown { .. }))
        .count();
    assert_eq!(downs, 2);
}

#[test]
fn calls_out_of_order_are_refused_and_change_nothing() {
    let mut engine =
        DefaultLinkSync::new(SyncConfig { start: StartKind::Cold, switch_type: SwitchType::Switch });
    let msg = newlink("Ethernet0", 1, 0);
    assert_eq!(engine.handle_link(&msg), Err(SyncError::WrongPhase { phase: Phase::Configuring }));
    assert_eq!(engine.end_initial_dump(true), Err(SyncError::WrongPhase { phase: Phase::Configuring }));
    engine.add_config_port(b"Ethernet0").unwrap();
    engine.begin_initial_dump().unwrap();
    assert_eq!(
        engine.add_config_port(b"Ethernet4"),
        Err(SyncError::WrongPhase { phase: Phase::InitialDump })
    );
    engine.handle_link(&newlink("PortChannel1", 7, 0)).unwrap();
    assert_eq!(engine.end_initial_dump(true), Err(SyncError::BatchOpen));
    assert_eq!(engine.commit_batch(), Err(SyncError::PresenceUnanswered(name("PortChannel1"))));
    assert_eq!(
        engine.set_presence(&name("Ethernet0"), true),
        Err(SyncError::NoPresenceQuestion(name("Ethernet0")))
    );
    engine.set_presence(&name("PortChannel1"), false).unwrap();
    engine.commit_batch().unwrap();
    assert_eq!(engine.handle_link(&msg), Err(SyncError::OutboxNotDrained));
    assert_eq!(engine.poll_action(), Some(Action::PortNotInAppDb { name: name("PortChannel1") }));
    assert_eq!(engine.poll_action(), None);
    engine.end_initial_dump(true).unwrap();
    assert_eq!(engine.prune(&name("Ethernet0"), true), Err(SyncError::OutboxNotDrained));
    while engine.poll_action().is_some() {}
    engine.prune(&name("Ethernet0"), true).unwrap();
    engine.handle_link(&newlink("Ethernet0", 9, 0)).unwrap();
    assert_eq!(engine.end_prune(), Err(SyncError::BatchOpen), "found by fuzz/engine_ops");
    engine.set_presence(&name("Ethernet0"), true).unwrap();
    engine.commit_batch().unwrap();
    assert!(matches!(engine.poll_action(), Some(Action::SetStatePort { .. })));
    assert_eq!(engine.poll_action(), None, "not Running yet: no PortInitDone check");
    engine.end_prune().unwrap();
    assert_eq!(engine.poll_action(), Some(Action::PortInitDone));
}

/// Flaps are oper-state changes the kernel reported for a configured port,
/// each one, even those one batch merges into a single write; admin and MTU
/// changes are not flaps, nor is a port's first message. The window rolls
/// once a minute (the driver's timer).
#[test]
fn flaps_count_every_oper_change_of_configured_ports() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    let up = newlink("Ethernet0", 142, UP_RUNNING);
    let down = newlink("Ethernet0", 142, iff::UP);
    w.batch(&[down]);
    // Down, up, down, up in one batch: one write, three flaps.
    let actions = w.batch(&[up, down, up]);
    assert_eq!(actions.len(), 1);
    // MTU and admin changes of an up port, and an unconfigured port, are not flaps.
    w.batch(&[newlink("Ethernet0", 142, UP_RUNNING)]);
    w.batch(&[newlink("Ethernet8", 150, UP_RUNNING), newlink("Ethernet8", 150, iff::UP)]);
    let flaps = |w: &World, port: &str| {
        w.engine().port_flaps().find(|(n, _)| n.as_str() == port).map(|(_, f)| f).unwrap()
    };
    let f = flaps(&w, "Ethernet0");
    assert_eq!((f.total, f.this_window, f.per_window()), (3, 3, 3));
    assert_eq!(flaps(&w, "Ethernet4").total, 0);
    assert!(w.engine().port_flaps().all(|(n, _)| n.as_str() != "Ethernet8"));
    // The driver rolls the window once a minute.
    w.advance(60_000);
    w.batch(&[down]);
    let f = flaps(&w, "Ethernet0");
    assert_eq!((f.total, f.this_window, f.last_window, f.per_window()), (4, 1, 3, 3));
    w.advance(60_000);
    w.advance(60_000);
    assert_eq!(flaps(&w, "Ethernet0").per_window(), 0);
}

/// Dynamic port breakout (SONIC.md: the APPL_DB entry goes before the host
/// interface): a link event in that gap writes nothing to STATE_DB, as the
/// C++ daemon's check of APPL_DB before each write leaves it; a port of the
/// same batch still in APPL_DB is written; the record forgets the port; and
/// in steady state the check costs no read of its own (it is part of the
/// write).
#[test]
fn breakout_gap_writes_nothing_and_costs_no_read() {
    let mut w = World::cold(&["Ethernet0", "Ethernet4"]);
    w.finish_startup();
    w.pop();
    w.batch(&[newlink("Ethernet0", 5, UP_RUNNING), newlink("Ethernet4", 6, UP_RUNNING)]);
    assert_eq!(w.state["Ethernet0"]["mtu"], "9100");
    let reads_before = w.driver.counters().presence_reads;

    // orchagent popped the delete: APPL_DB no longer holds Ethernet0.
    w.appl.remove("Ethernet0");
    let mut e0 = newlink("Ethernet0", 5, UP_RUNNING);
    e0.mtu = Some(1500);
    let mut e4 = newlink("Ethernet4", 6, UP_RUNNING);
    e4.mtu = Some(1500);
    let actions = w.batch(&[e0, e4]);
    assert_eq!(w.state["Ethernet0"]["mtu"], "9100", "not written once APPL_DB lost it");
    assert_eq!(w.state["Ethernet4"]["mtu"], "1500", "its neighbour in the batch is");
    assert!(actions.contains(&Action::PortNotInAppDb { name: name("Ethernet0") }), "{actions:?}");
    assert_eq!(w.engine().published_state(&name("Ethernet0")), None, "the record does not claim it");
    assert_eq!(w.engine().published_state(&name("Ethernet4")).map(|s| s.mtu), Some(1500));
    assert_eq!(w.driver.counters().presence_reads, reads_before, "no round trip of its own");

    // The host interface goes: its STATE_DB entry with it.
    w.batch(&[dellink("Ethernet0", 5)]);
    assert!(!w.state.contains_key("Ethernet0"));
}
