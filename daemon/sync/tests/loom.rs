//! loom: every interleaving of the handoffs the daemon's threads share.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p portsyncd-sync --release --test loom`
//! (tests/run-all.sh does); without `--cfg loom` this file is empty.
#![cfg(loom)]

use loom::thread;
use portsyncd_sync::{Arc, Board};

/// A snapshot whose parts must agree: a torn read would show them differ.
#[derive(Clone, Debug, Default, PartialEq)]
struct Snapshot {
    events: u64,
    writes: u64,
    ports: Vec<u32>,
}

impl Snapshot {
    fn at(n: u64) -> Self {
        Self { events: n, writes: n * 2, ports: (0..n as u32).collect() }
    }

    fn consistent(&self) -> bool {
        self.writes == self.events * 2 && self.ports.len() as u64 == self.events
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn the_endpoint_reads_whole_publications_while_the_loop_publishes() {
    model(|| {
        let board = Arc::new(Board::new(Snapshot::default()));
        let loop_side = board.clone();
        let publisher = thread::spawn(move || {
            for n in 1..=2 {
                // Field by field, as the loop fills it in place.
                loop_side.publish(|s| {
                    s.events = n;
                    s.ports.push(n as u32 - 1);
                    s.writes = n * 2;
                });
            }
        });
        let mut seen = Snapshot::default();
        let mut last = 0;
        for _ in 0..2 {
            let publications = board.copy_to(&mut seen);
            assert!(seen.consistent(), "torn read: {seen:?}");
            // The count read with a value is the value's own.
            assert_eq!(publications, seen.events);
            assert!(publications >= last, "went back from {last} to {publications}");
            last = publications;
        }
        publisher.join().unwrap();
        board.copy_to(&mut seen);
        assert_eq!(seen, Snapshot::at(2));
    });
}

#[test]
fn two_readers_at_once_each_see_one_publication() {
    model(|| {
        let board = Arc::new(Board::new(Snapshot::default()));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let board = board.clone();
                thread::spawn(move || {
                    let mut seen = Snapshot::default();
                    board.copy_to(&mut seen);
                    assert!(seen.consistent(), "torn read: {seen:?}");
                })
            })
            .collect();
        board.publish(|s| *s = Snapshot::at(1));
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(board.publications(), 1);
    });
}

#[test]
fn the_loop_takes_the_outcome_a_worker_leaves_whenever_it_comes() {
    use std::future::poll_fn;

    use portsyncd_sync::Outcome;
    model(|| {
        let outcome = Arc::new(Outcome::new());
        let worker_side = outcome.clone();
        let worker = thread::spawn(move || worker_side.put(42u32));
        // The loop waits for it (woken by the put, whichever comes first).
        let got = loom::future::block_on(poll_fn(|cx| outcome.poll_take(cx)));
        assert_eq!(got, 42);
        worker.join().unwrap();
    });
}
