//! The core's hot path, measured: the parser against netlink-packet-route on
//! the same corpus (the kernel fixtures plus a synthetic 512-port dump), and
//! the core's driver (parser, engine, presence, batches) on 512 ports with
//! coalescing, counting heap allocations per link event with dhat.
//!
//! Run: `cargo bench -p portsyncd-benches --bench core`

use std::hint::black_box;
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig, Input, Signal};
use portsyncd_core::netlink::{Message, emit_done, iff, messages};
use portsyncd_core::writes::WriteOp;
use portsyncd_mock::links::link_message;

#[path = "machine.rs"]
mod machine;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The kernel fixtures, then a synthetic 512-port dump; and how many fixtures.
fn corpus() -> (Vec<Vec<u8>>, usize) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures/kernel");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "bin"));
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let fixtures = out.len();
    // A synthetic dump of 512 ports, packed ~32 KiB per datagram as the kernel does.
    let mut datagram = Vec::new();
    for i in 0..512u32 {
        datagram.extend_from_slice(&link_message(
            false,
            &format!("Ethernet{}", i * 4),
            100 + i,
            iff::UP | iff::RUNNING,
            9100,
        ));
        if datagram.len() > 32 << 10 {
            out.push(std::mem::take(&mut datagram));
        }
    }
    out.push(datagram);
    (out, fixtures)
}

/// Our parser: every message, every field portsyncd reads.
fn ours(corpus: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for d in corpus {
        for m in messages(d) {
            if let Ok(Message::Link(l)) = m {
                black_box((l.index, l.flags, l.name, l.mtu, l.master, l.kind, l.operstate));
            }
            n += 1;
        }
    }
    n
}

/// netlink-packet-route: the same messages, framed by their length field.
fn reference(corpus: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for d in corpus {
        let mut at = 0;
        while at + 16 <= d.len() {
            let Ok(buf) = NetlinkBuffer::new_checked(&d[at..]) else { break };
            let len = buf.length() as usize;
            if len < 16 {
                break;
            }
            black_box(NetlinkMessage::<RouteNetlinkMessage>::deserialize(&d[at..at + len]).ok());
            n += 1;
            at += (len + 3) & !3;
        }
    }
    n
}

/// Median rate (per second) of `f` over `rounds`, each returning how many items it did.
fn rate(rounds: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut rates = Vec::with_capacity(rounds);
    let mut items = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        items = f();
        rates.push(items as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    (rates[rounds / 2], items)
}

fn main() {
    // No dhat profiler yet: until one exists, dhat's allocator is the system
    // allocator, so netlink-packet-route's allocations cost what they cost.
    println!("## core benchmarks\n\nmachine: {}\n", machine::describe());

    let (corpus, fixtures) = corpus();
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    assert_eq!(ours(&corpus), reference(&corpus), "both decoders see the same messages");
    let (ours_rate, n) = rate(31, || ours(&corpus));
    let (ref_rate, _) = rate(31, || reference(&corpus));
    println!(
        "### parser: {n} messages, {} KiB ({fixtures} captured kernel datagrams + a synthetic 512-port dump in {})\n",
        bytes >> 10,
        corpus.len() - fixtures
    );
    println!("| decoder | messages/s (median of 31) |");
    println!("|---|---:|");
    println!("| portsyncd-core | {ours_rate:.0} |");
    println!("| netlink-packet-route 0.34 | {ref_rate:.0} |");
    println!("| **ratio** | **{:.1}×** |\n", ours_rate / ref_rate);

    // The driver (parser, engine, presence answers, batches) on 512 ports: each
    // batch a datagram's worth of NEWLINKs in which every port appears 4
    // times (coalesced to one write each). APPL_DB answers at once.
    let mut batch = Vec::new();
    for round in 0..4u32 {
        for i in 0..512u32 {
            let flags = if (round + i).is_multiple_of(2) { iff::UP | iff::RUNNING } else { iff::UP };
            batch.extend_from_slice(&link_message(
                false,
                &format!("Ethernet{}", i * 4),
                100 + i,
                flags,
                9100,
            ));
        }
    }
    let mut world = Ports { writes: 0, state: Default::default(), dumps: 0 };
    let mut driver =
        Box::new(DefaultDriver::new(portsyncd_core::Instant::from_millis(0), DriverConfig::default()));
    let mut now = portsyncd_core::Instant::from_millis(0);
    let _ = canned::answer_all(&mut driver, now, &mut world);
    let run_batch = |driver: &mut DefaultDriver, world: &mut Ports, now: portsyncd_core::Instant| {
        let before = driver.engine().counters().link_messages;
        canned::feed(driver, now, &batch, world);
        canned::end_batch(driver, now);
        let _ = canned::answer_all(driver, now, world);
        driver.engine().counters().link_messages - before
    };
    // The initial dump (of an empty kernel) ends, then one batch warms up.
    let mut done = [0u8; 20];
    emit_done(&mut done, 1).unwrap();
    canned::feed(&mut driver, now, &done, &mut world);
    let _ = driver.handle(now, Input::QueueEmpty);
    let _ = canned::answer_all(&mut driver, now, &mut world);
    assert!(driver.milestones().eoiu.is_some());
    run_batch(&mut driver, &mut world, now);
    world.writes = 0;
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().total_blocks;
    let rounds = 200;
    let t = Instant::now();
    let mut events = 0;
    for _ in 0..rounds {
        now = now.saturating_add(Duration::from_millis(1));
        events += run_batch(&mut driver, &mut world, now);
    }
    let took = t.elapsed();
    let allocs = dhat::HeapStats::get().total_blocks - before;
    println!(
        "### driver: 512 ports, batches of {} link events ({} writes per batch after coalescing)\n",
        events / rounds as u64,
        world.writes / rounds
    );
    println!("| link events | time | events/s | ns/event | heap allocations per event |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {events} | {:.1} ms | {:.0} | {:.0} | {} |",
        ms(took),
        events as f64 / took.as_secs_f64(),
        took.as_nanos() as f64 / events as f64,
        allocs as f64 / events as f64
    );
    reconciliation(&mut driver, &mut world, now);
    println!(
        "\ndriver size: {} bytes (DefaultDriver; of which the engine {} bytes)",
        std::mem::size_of::<DefaultDriver>(),
        std::mem::size_of::<portsyncd_core::engine::DefaultLinkSync>()
    );
}

/// Reconciliation rounds on the driver's 512 published ports: each a dump of
/// 512 links equal to what was published, the 512 STATE_DB hashes read back
/// and compared, the repairs written: clean, then with 16 entries drifted.
fn reconciliation(driver: &mut DefaultDriver, world: &mut Ports, mut now: portsyncd_core::Instant) {
    // The dump the kernel gives: every published link as it is (built once;
    // each round patches its sequence number in).
    let mut dump = Vec::new();
    let mut seq_at = Vec::new();
    for (name, state) in driver.engine().published() {
        let flags = if state.oper_up { iff::UP | iff::RUNNING } else { iff::UP };
        let m = link_message(false, name.as_str(), state.ifindex, flags, state.mtu);
        seq_at.push(dump.len() + 8);
        dump.extend_from_slice(&m);
    }
    seq_at.push(dump.len() + 8);
    dump.extend_from_slice(&[0u8; 20]);
    let round = |driver: &mut DefaultDriver, world: &mut Ports, dump: &mut Vec<u8>, now| {
        let _ = driver.handle(now, Input::Signal(Signal::Reconcile));
        let _ = canned::answer_all(driver, now, world);
        let seq = world.dumps;
        let done_at = dump.len() - 20;
        emit_done(&mut dump[done_at..], seq).unwrap();
        for &at in &seq_at {
            dump[at..at + 4].copy_from_slice(&seq.to_ne_bytes());
            // NLM_F_MULTI, as dump replies carry.
            dump[at - 2..at].copy_from_slice(&2u16.to_ne_bytes());
        }
        canned::feed(driver, now, dump, world);
        canned::end_batch(driver, now);
        let _ = canned::answer_all(driver, now, world);
    };
    let rounds = 50;
    round(driver, world, &mut dump, now);
    let mut measure = |drift: usize, driver: &mut DefaultDriver, world: &mut Ports, dump: &mut Vec<u8>| {
        world.writes = 0;
        let repaired = driver.counters().repaired;
        let before = dhat::HeapStats::get().total_blocks;
        let t = Instant::now();
        for _ in 0..rounds {
            // Behind the daemon's back: `drift` entries lose a field.
            world.state.iter_mut().take(drift).for_each(|(_, s)| s.2 = 0);
            now = now.saturating_add(Duration::from_millis(1));
            round(driver, world, dump, now);
        }
        let took = t.elapsed();
        let allocs = (dhat::HeapStats::get().total_blocks - before) / rounds as u64;
        let repaired = (driver.counters().repaired - repaired) / rounds as u64;
        (took / rounds as u32, world.writes / rounds, repaired, allocs)
    };
    let clean = measure(0, driver, world, &mut dump);
    let drifted = measure(16, driver, world, &mut dump);
    println!("\n### reconciliation: 512 published ports, one round (mean of {rounds})\n");
    println!(
        "A round: the kernel's dump of 512 links (equal to what was published: no write), \
         the 512 STATE_DB hashes read back, compared, the repairs written."
    );
    println!("\n| STATE_DB | time per round | writes per round | repaired | heap allocations per round |");
    println!("|---|---:|---:|---:|---:|");
    for (what, (t, w, r, a)) in [("as the kernel", clean), ("16 entries drifted", drifted)] {
        println!("| {what} | {:.3} ms | {w} | {r} | {a} |", ms(t));
    }
}

/// The bench's world: every port configured and in APPL_DB; STATE_DB
/// modelled; writes counted.
struct Ports {
    writes: usize,
    state: std::collections::BTreeMap<portsyncd_core::PortName, (bool, bool, u32)>,
    dumps: u32,
}

impl Facts for Ports {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        for i in 0..512 {
            key(format!("Ethernet{}", i * 4).as_bytes());
        }
    }
    fn state_db(&self, name: &portsyncd_core::PortName) -> Option<(bool, bool, u32)> {
        self.state.get(name).copied().filter(|s| s.2 != 0)
    }
    fn dump(&mut self) -> Option<u32> {
        self.dumps += 1;
        Some(self.dumps)
    }
    fn written(&mut self, op: &WriteOp) {
        if let WriteOp::SetStatePort { name, state } = op {
            self.writes += 1;
            self.state.insert(*name, (state.admin_up, state.oper_up, state.mtu));
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
