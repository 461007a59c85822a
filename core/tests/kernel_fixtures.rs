//! Real kernel messages (captured by `tests/fixtures/capture.py`, listed in
//! `tests/fixtures/kernel/MANIFEST`) through our parser, checked against
//! netlink-packet-route, and replayed through the driver.

mod common;
mod reference;

use common::*;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig};
use portsyncd_core::event::Event;
use portsyncd_core::filter::IgnoreReason;
use portsyncd_core::name::LinkLabel;
use portsyncd_core::netlink::{Message, iff, messages, msg_flags, msg_type};
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Eoiu, EoiuDetector, Instant, NameError, PortName};

#[test]
fn every_fixture_decodes_exactly_as_netlink_packet_route_does() {
    let fixtures = kernel_fixtures();
    assert!(fixtures.len() >= 40, "fixtures missing: {}", fixtures.len());
    let mut links = 0;
    for (file, bytes) in &fixtures {
        let tally = reference::compare(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tally.reference_rejected + tally.both_rejected, 0, "{file}: {tally:?}");
        assert!(tally.agreed > 0, "{file}");
        links += tally.links;
    }
    assert!(links >= 50, "only {links} link messages compared");
}

#[test]
fn dump_replies_carry_our_sequence_and_multi_and_end_with_done() {
    let fixtures = kernel_fixtures();
    let dump: Vec<_> = fixtures.iter().filter(|(f, _)| f.starts_with("00-dump-")).collect();
    let mut detector = EoiuDetector::new();
    detector.start(Instant::from_millis(0), DUMP_SEQ, core::time::Duration::from_secs(1));
    let mut names = Vec::new();
    let mut outcome = None;
    for (_, bytes) in dump {
        for message in messages(bytes) {
            let message = message.unwrap();
            assert_eq!(message.header().seq, DUMP_SEQ);
            assert!(message.header().is_multipart());
            if let Message::Link(link) = message {
                assert_eq!(link.change, 0, "dump replies have ifi_change 0");
                names.push(String::from_utf8(link.name.unwrap().to_vec()).unwrap());
            }
            if let Some(end) = detector.observe(&message) {
                outcome = Some(end);
            }
        }
    }
    assert_eq!(outcome, Some(Eoiu::Complete));
    for expected in ["lo", "Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12", "Bridge"] {
        assert!(names.iter().any(|n| n == expected), "{expected} not in dump: {names:?}");
    }
}

#[test]
fn notifications_have_sequence_zero_and_the_expected_contents() {
    let fixtures = kernel_fixtures();
    let links_in = |prefix: &str| -> Vec<_> {
        fixtures
            .iter()
            .filter(|(f, _)| f.starts_with(prefix))
            .flat_map(|(_, b)| {
                links_of(b)
                    .into_iter()
                    .map(|l| {
                        (
                            l.header,
                            l.op,
                            l.family,
                            l.flags,
                            l.mtu,
                            l.master,
                            l.kind.map(<[u8]>::to_vec),
                            l.name.map(<[u8]>::to_vec),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mtu = links_in("06-mtu-");
    assert!(mtu.iter().any(|m| m.7.as_deref() == Some(&b"Ethernet16"[..]) && m.4 == Some(9100)));
    assert!(mtu.iter().all(|m| m.0.seq == 0 && !m.0.is_multipart()));
    let carrier_up = links_in("04-carrier-up-");
    assert!(carrier_up.iter().any(|m| m.7.as_deref() == Some(&b"Ethernet16"[..]) && m.3 & iff::RUNNING != 0));
    let enslave = links_in("08-enslave-");
    assert!(enslave.iter().any(|m| m.2 == 7 && m.5.is_some()), "an AF_BRIDGE message with a master");
    let deleted = links_in("14-delete-");
    assert!(
        deleted
            .iter()
            .any(|m| m.0.kind == msg_type::RTM_DELLINK && m.7.as_deref() == Some(&b"Ethernet16"[..]))
    );
    assert!(deleted.iter().any(|m| m.6.as_deref() == Some(&b"veth"[..])));
    let error = &fixtures.iter().find(|(f, _)| f.starts_with("15-error-")).unwrap().1;
    let Some(Ok(Message::Error { errno, header })) = messages(error).next() else { panic!("no error") };
    assert_eq!((errno, header.seq), (19, 0x5eed_0002), "ENODEV for our request");
    assert_eq!(header.flags & msg_flags::MULTI, 0);
}

/// What the driver did with the capture.
#[derive(Default)]
struct Replay {
    writes: Vec<WriteOp>,
    downs: Vec<u32>,
    events: Vec<Event>,
}

impl Facts for Replay {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        let ports: [&[u8]; 2] = [b"Ethernet16", b"Ethernet20"];
        ports.into_iter().for_each(key);
    }
    fn log_level(&self) -> Option<&[u8]> {
        Some(b"DEBUG")
    }
    fn in_appl(&self, name: &PortName) -> bool {
        // orchagent popped what was produced: the configured ports.
        self.writes.iter().any(|w| matches!(w, WriteOp::ProduceConfigPort { name: n } if n == name))
    }
    fn dump(&mut self) -> Option<u32> {
        Some(DUMP_SEQ)
    }
    fn written(&mut self, op: &WriteOp) {
        self.writes.push(*op);
    }
    fn bring_down(&mut self, ifindex: u32, _name: &LinkLabel) {
        self.downs.push(ifindex);
    }
    fn event(&mut self, event: &Event) {
        self.events.push(*event);
    }
}

/// The whole capture, replayed through the driver as a cold start of a
/// switch with Ethernet16 and Ethernet20 configured: the pre-existing veths
/// are stale, the new ones are published, the bridge member's events are
/// ignored, the bad name is rejected, the PortChannel is not in APPL_DB, and
/// the final delete empties STATE_DB.
#[test]
fn replay_of_the_capture_through_the_driver() {
    let mut driver = Box::new(DefaultDriver::new(Instant::from_millis(0), DriverConfig::default()));
    let mut r = Replay::default();
    let mut now = Instant::from_millis(0);
    assert!(canned::answer_all(&mut driver, now, &mut r).is_none());
    for (_, bytes) in &kernel_fixtures() {
        now = now.saturating_add(core::time::Duration::from_millis(100));
        canned::feed(&mut driver, now, bytes, &mut r);
        canned::end_batch(&mut driver, now);
        assert!(canned::answer_all(&mut driver, now, &mut r).is_none());
    }
    assert_eq!(r.downs.len(), 4, "Ethernet0/4/8/12 existed before the start");
    let states: Vec<_> = r
        .writes
        .iter()
        .filter_map(|w| match w {
            WriteOp::SetStatePort { name, state } if name.as_str() == "Ethernet16" => {
                Some((state.admin_up, state.oper_up, state.mtu))
            }
            _ => None,
        })
        .collect();
    assert!(states.contains(&(true, false, 1500)), "admin up, no carrier: {states:?}");
    assert!(states.contains(&(true, true, 1500)), "carrier up: {states:?}");
    assert!(states.contains(&(true, false, 9100)) || states.contains(&(true, true, 9100)), "mtu: {states:?}");
    assert!(states.contains(&(false, false, 9100)), "admin down: {states:?}");
    assert!(r.writes.contains(&WriteOp::PortConfigDone { count: 2 }));
    assert!(r.writes.contains(&WriteOp::PortInitDone));
    let rejected =
        |e: &Event| matches!(e, Event::Rejected { error: NameError::Separator { byte: b'|' }, .. });
    let ignored = |why| move |e: &Event| matches!(e, Event::Ignored { reason, .. } if *reason == why);
    assert!(r.events.iter().any(rejected));
    assert!(r.events.iter().any(ignored(IgnoreReason::StaleLink)));
    assert!(r.events.iter().any(ignored(IgnoreReason::EnslavedDelete)));
    assert!(
        r.events.iter().any(|e| matches!(e, Event::PortNotInAppDb(n) if n.as_str() == "PortChannel0001"))
    );
    let published: Vec<_> = driver.engine().published().map(|(n, _)| n.to_string()).collect();
    assert!(published.is_empty(), "Ethernet16/20 deleted at the end: {published:?}");
}
