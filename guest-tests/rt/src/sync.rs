//! A cell for the runtime's global state.

use core::cell::UnsafeCell;

/// Global mutable state of the runtime.
///
/// Sound because only one CPU runs Rust code, at CPL3 with interrupts off, and no borrow handed
/// out by [`Global::with`] escapes the closure or calls back into code that borrows it again.
pub(crate) struct Global<T>(UnsafeCell<T>);

// SAFETY: see the type's documentation: a single thread of execution, no re-entrant access.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Runs `f` with exclusive access to the value. `f` must not call `with` on the same global.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single-threaded, and callers never nest `with` on one global (type docs).
        f(unsafe { &mut *self.0.get() })
    }
}
