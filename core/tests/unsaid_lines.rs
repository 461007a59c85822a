//! One answer can bring more lines than the driver's queue of lines holds
//! (a CONFIG_DB with a hundred unusable PORT keys): the driver walks the
//! whole answer at once, so the lines that find the queue full are counted
//! and said as one line, and none is lost without a word.

use portsyncd_core::Instant;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig};
use portsyncd_core::event::Event;

#[derive(Default)]
struct BadKeys {
    keys: Vec<String>,
    skipped: usize,
    unsaid: u32,
}

impl Facts for BadKeys {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        self.keys.iter().for_each(|k| key(k.as_bytes()));
    }
    fn event(&mut self, event: &Event) {
        match event {
            Event::ConfigPortSkipped { .. } => self.skipped += 1,
            Event::Unsaid { lines } => self.unsaid += lines,
            _ => {}
        }
    }
}

#[test]
fn lines_beyond_the_queue_are_counted_and_said_as_one() {
    let mut world =
        BadKeys { keys: (0..100).map(|i| format!("Ethernet{i}|x")).collect(), ..BadKeys::default() };
    let mut d = Box::new(DefaultDriver::new(Instant::from_millis(0), DriverConfig::default()));
    assert!(canned::answer_all(&mut d, Instant::from_millis(0), &mut world).is_none());
    assert!(world.skipped > 0 && world.unsaid > 0, "{} said, {} counted", world.skipped, world.unsaid);
    // The count also holds the line the end of the answer brings ("no ports
    // in CONFIG_DB"): every line is said or counted.
    assert!(world.skipped < 100, "the queue holds fewer lines than that");
    assert_eq!(world.skipped + world.unsaid as usize, 100 + 1, "every line said or counted");
}
