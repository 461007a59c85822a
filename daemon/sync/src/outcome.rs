//! [`Outcome`]: one value a worker thread hands to the loop, which waits
//! for it among its other inputs.

use core::task::{Context, Poll, Waker};

use crate::Mutex;

/// Where a job running on another thread leaves its result for the loop
/// (the daemon writes its warm-restart snapshot beside the loop: two
/// fsyncs can stall for many milliseconds on a switch's flash).
///
/// The worker [`put`](Self::put)s the value once; the loop polls
/// [`poll_take`](Self::poll_take) from a future and is woken when the value
/// is there. A value put before the loop first polls is kept; one put after
/// the loop stopped caring is dropped with the `Outcome`.
#[derive(Debug)]
pub struct Outcome<T> {
    slot: Mutex<Slot<T>>,
}

#[derive(Debug)]
enum Slot<T> {
    /// Not there yet: who to wake when it is.
    Waiting(Option<Waker>),
    Ready(T),
    /// Taken by the loop.
    Taken,
}

impl<T> Default for Outcome<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Outcome<T> {
    /// Nothing there yet.
    pub fn new() -> Self {
        Self { slot: Mutex::new(Slot::Waiting(None)) }
    }

    /// Leaves `value` and wakes the loop if it waits. A second value is
    /// dropped (one job, one outcome).
    pub fn put(&self, value: T) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            match &mut *slot {
                Slot::Waiting(waker) => {
                    let waker = waker.take();
                    *slot = Slot::Ready(value);
                    waker
                }
                Slot::Ready(_) | Slot::Taken => None,
            }
        };
        // Woken outside the lock: the loop's poll takes it at once.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The value, once there (taken: `Pending` for ever after); otherwise
    /// `cx`'s waker is woken when it is put.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match core::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(value) => Poll::Ready(value),
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            Slot::Taken => Poll::Pending,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn the_value_is_taken_once_and_the_waiter_woken() {
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let outcome = Outcome::new();
        assert_eq!(outcome.poll_take(&mut cx), Poll::Pending);
        outcome.put(7);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1, "woken");
        outcome.put(8);
        assert_eq!(outcome.poll_take(&mut cx), Poll::Ready(7), "the first value");
        assert_eq!(outcome.poll_take(&mut cx), Poll::Pending, "taken");
    }

    #[test]
    fn a_value_put_before_any_poll_is_kept() {
        let waker = Waker::noop();
        let outcome = Outcome::new();
        outcome.put("done");
        assert_eq!(outcome.poll_take(&mut Context::from_waker(waker)), Poll::Ready("done"));
    }
}
