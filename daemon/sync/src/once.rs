//! A value built at compile time into the binary's data and handed out, once,
//! for the life of the process.
//!
//! The daemon's driver is a few hundred KiB. Built at run time it goes
//! through a stack first (every page of that frame is touched by the stack
//! probe and kept by the process), and every page of the heap block it is
//! copied into is written. As a `static` built by a `const`, only the pages
//! it writes ever become the process's own memory. A `static` must be
//! `Sync`, hence the lock; it is taken once and never released (the value
//! stays the taker's for good), so nothing ever waits on it.
//!
//! Not a handoff between threads: std's lock under loom too.

/// A value handed out once, as `&'static mut`.
pub struct TakeOnce<T>(std::sync::Mutex<T>);

impl<T> TakeOnce<T> {
    /// `value`, not taken yet (a `const fn`: for a `static`).
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// The value, for the life of the process; `None` if it was taken
    /// already.
    pub fn take(&'static self) -> Option<&'static mut T> {
        let guard = self.0.try_lock().ok()?;
        // The guard is leaked (a few bytes, once): the lock stays held, and
        // what it guards is the caller's for as long as the process lives.
        Some(&mut **Box::leak(Box::new(guard)))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TakeOnce;

    #[test]
    fn it_is_handed_out_once() {
        static VALUE: TakeOnce<[u8; 4]> = TakeOnce::new([1, 2, 3, 4]);
        let first = VALUE.take().expect("first take");
        first[0] = 9;
        assert_eq!(*first, [9, 2, 3, 4]);
        assert!(VALUE.take().is_none(), "a second take gets nothing");
    }
}
