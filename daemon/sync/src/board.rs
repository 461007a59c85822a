//! [`Board`]: the latest value one thread publishes for others to read.

use crate::{AtomicU64, Mutex, Ordering};

/// The latest value one thread publishes and others read: the daemon's loop
/// publishes its metrics snapshot (health included) about once a second,
/// the metrics endpoint copies it out on each scrape.
///
/// A reader gets one whole publication, never parts of two. Neither side
/// waits for long: a publication updates the value in place and a read
/// copies it out (with `clone_from`, so that a value holding buffers reuses
/// them and neither side allocates once the buffers are grown); encoding
/// happens outside the lock.
#[derive(Debug)]
pub struct Board<T> {
    value: Mutex<T>,
    /// Publications so far (0: only the initial value).
    publications: AtomicU64,
}

impl<T: Clone> Board<T> {
    /// A board holding `initial`.
    pub fn new(initial: T) -> Self {
        Self { value: Mutex::new(initial), publications: AtomicU64::new(0) }
    }

    /// Publishes: `update` changes the value in place, and readers see all
    /// of the change or none of it.
    pub fn publish(&self, update: impl FnOnce(&mut T)) {
        let mut value = self.value.lock().unwrap_or_else(|e| e.into_inner());
        update(&mut value);
        // Under the lock: a reader that sees this count also sees the value.
        self.publications.fetch_add(1, Ordering::Release);
    }

    /// Copies the latest publication into `out`; returns how many
    /// publications there have been.
    pub fn copy_to(&self, out: &mut T) -> u64 {
        let value = self.value.lock().unwrap_or_else(|e| e.into_inner());
        out.clone_from(&value);
        self.publications.load(Ordering::Acquire)
    }

    /// How many publications there have been (without reading the value).
    pub fn publications(&self) -> u64 {
        self.publications.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_read_sees_the_latest_publication_whole() {
        let board = Board::new((0u64, 0u64));
        let mut seen = (9, 9);
        assert_eq!(board.copy_to(&mut seen), 0);
        assert_eq!(seen, (0, 0));
        board.publish(|v| *v = (1, 1));
        board.publish(|v| *v = (2, 2));
        assert_eq!(board.copy_to(&mut seen), 2);
        assert_eq!(seen, (2, 2));
        assert_eq!(board.publications(), 2);
    }

    #[test]
    fn a_panic_while_publishing_leaves_the_board_readable() {
        let board = std::sync::Arc::new(Board::new(vec![1u8]));
        let b = board.clone();
        let _ = std::thread::spawn(move || b.publish(|_| panic!("publisher died"))).join();
        let mut seen = Vec::new();
        board.copy_to(&mut seen);
        assert_eq!(seen, vec![1]);
    }
}
