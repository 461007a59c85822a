//! Lines that stay readable under repetition, and that name what blocks
//! PortInitDone: unusable CONFIG_DB PORT keys are a few examples and a
//! count; re-dumps after overruns are one line per episode; a configured
//! port no host interface can ever match is named at PortConfigDone; the
//! ports still awaiting their host interface are named in a line well before
//! health calls PortInitDone late, and in the health reason then.

mod kernel;

use kernel::Queued;
use portsyncd_core::Instant;
use portsyncd_core::backend::Received;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Input};
use portsyncd_core::event::{Event, Repeat};

/// CONFIG_DB's keys, a kernel that answers dumps at once, and the lines said.
#[derive(Default)]
struct World {
    keys: Vec<String>,
    dumps: u32,
    kernel: Queued,
    lines: Vec<Event>,
}

impl Facts for World {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        self.keys.iter().for_each(|k| key(k.as_bytes()));
    }
    fn dump(&mut self) -> Option<u32> {
        // An empty kernel: the dump is its end.
        self.dumps += 1;
        self.kernel.push_done(self.dumps);
        Some(self.dumps)
    }
    fn receive(&mut self) -> Received<'_> {
        self.kernel.receive()
    }
    fn received(&self) -> &[u8] {
        self.kernel.received()
    }
    fn event(&mut self, event: &Event) {
        self.lines.push(*event);
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn started(keys: &[&str]) -> (Box<DefaultDriver>, World) {
    let mut world = World { keys: keys.iter().map(|k| k.to_string()).collect(), ..World::default() };
    let mut d = Box::new(DefaultDriver::new(at(0), DriverConfig::default()));
    assert!(canned::answer_all(&mut d, at(0), &mut world).is_none());
    (d, world)
}

#[test]
fn unusable_port_keys_are_a_few_examples_and_a_count() {
    let keys: Vec<String> = (0..100).map(|i| format!("Ethernet{i}|x")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (_d, world) = started(&keys);
    let named = world.lines.iter().filter(|e| matches!(e, Event::ConfigPortSkipped { .. })).count();
    assert_eq!(named, 3);
    assert!(world.lines.contains(&Event::ConfigPortsSkippedMore { more: 97 }), "{:?}", world.lines);
    assert!(!world.lines.iter().any(|e| matches!(e, Event::Unsaid { .. })));
}

#[test]
fn a_port_no_link_can_match_is_named_at_port_config_done_and_awaiting_ones_before_the_limit() {
    let (mut d, mut world) = started(&["ethernet0", "Ethernet4"]);
    let never = world.lines.iter().find_map(|e| match e {
        Event::UnmatchablePorts(ports) => Some(ports.to_string()),
        _ => None,
    });
    assert_eq!(never.as_deref(), Some("ethernet0"), "{:?}", world.lines);
    let said = |w: &World| w.lines.iter().filter(|e| matches!(e, Event::PortsAwaiting { .. })).count();
    // A minute in (the default), once; both named.
    d.handle_timeout(at(59_999));
    assert!(canned::answer_all(&mut d, at(59_999), &mut world).is_none());
    assert_eq!(said(&world), 0);
    d.handle_timeout(at(60_000));
    assert!(canned::answer_all(&mut d, at(60_000), &mut world).is_none());
    let line = world.lines.iter().find(|e| matches!(e, Event::PortsAwaiting { .. })).map(ToString::to_string);
    let line = line.unwrap_or_else(|| panic!("{:?} {:?}", world.lines, d.poll_timeout()));
    assert!(line.contains("2 ports await their host interface: ethernet0, Ethernet4"), "{line}");
    d.handle_timeout(at(120_000));
    assert!(canned::answer_all(&mut d, at(120_000), &mut world).is_none());
    assert_eq!(said(&world), 1, "said once");
    // At the limit, the health reason names them too (and so the status line).
    d.handle_timeout(at(300_000));
    assert!(canned::answer_all(&mut d, at(300_000), &mut world).is_none());
    let reason = d.health().1.to_string();
    assert!(reason.contains("ethernet0, Ethernet4"), "{reason}");
}

#[test]
fn re_dumps_after_overruns_are_one_line_per_episode() {
    let (mut d, mut world) = started(&["Ethernet0"]);
    let before = world.lines.len();
    for i in 0..10u64 {
        let now = at(1_000 + i * 100);
        let _ = d.handle(now, Input::Overrun);
        let _ = d.handle(now, Input::QueueEmpty);
        assert!(canned::answer_all(&mut d, now, &mut world).is_none());
    }
    let ended = world.lines[before..]
        .iter()
        .filter(|e| matches!(e, Event::DumpComplete { .. } | Event::DumpInterrupted))
        .count();
    assert_eq!(ended, 1, "{:?}", &world.lines[before..]);
    // The episode's count comes when its window is over.
    d.handle_timeout(at(20_000));
    assert!(canned::answer_all(&mut d, at(20_000), &mut world).is_none());
    assert!(
        world.lines.iter().any(|e| matches!(e, Event::Repeated { kind: Repeat::Redump, held: 1.., .. })),
        "{:?}",
        world.lines
    );
}
