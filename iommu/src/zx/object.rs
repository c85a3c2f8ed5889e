//! What every kernel object has: a koid, a handle count, a name, and a signal state that
//! `object_wait_one` can block on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::constants::*;
use super::{Koid, Status};

/// An object name: at most `ZX_MAX_NAME_LEN - 1` bytes, no NUL inside.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Name {
    bytes: [u8; ZX_MAX_NAME_LEN],
}

impl Name {
    /// "The length is capped at 31, so longer names are truncated." The name ends at the first
    /// NUL, as the kernel's fixed C string does.
    pub(crate) fn new(raw: &[u8]) -> Name {
        let mut bytes = [0u8; ZX_MAX_NAME_LEN];
        let n = raw
            .iter()
            .take(ZX_MAX_NAME_LEN - 1)
            .position(|&b| b == 0)
            .unwrap_or(raw.len().min(ZX_MAX_NAME_LEN - 1));
        bytes[..n].copy_from_slice(&raw[..n]);
        Name { bytes }
    }

    /// The name NUL-padded to `ZX_MAX_NAME_LEN` bytes.
    pub(crate) fn padded(&self) -> [u8; ZX_MAX_NAME_LEN] {
        self.bytes
    }
}

/// The signal bits of an object and the waiters blocked on them.
#[derive(Debug, Default)]
pub(crate) struct SignalState {
    bits: Mutex<u32>,
    changed: Condvar,
}

impl SignalState {
    pub(crate) fn new(initial: u32) -> SignalState {
        SignalState {
            bits: Mutex::new(initial),
            changed: Condvar::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn get(&self) -> u32 {
        *self.bits.lock()
    }

    /// Clears then sets bits; wakes waiters if anything changed.
    pub(crate) fn update(&self, clear: u32, set: u32) {
        let mut bits = self.bits.lock();
        let new = (*bits & !clear) | set;
        if new != *bits {
            *bits = new;
            self.changed.notify_all();
        }
    }

    /// Wakes every waiter so it can notice that its handle was closed.
    pub(crate) fn wake_all(&self) {
        let _bits = self.bits.lock();
        self.changed.notify_all();
    }

    /// Blocks until one of `signals` is asserted (`Ok(observed)`), `deadline` passes
    /// (`ZX_ERR_TIMED_OUT`), or `closed` becomes true (`ZX_ERR_CANCELED`).
    pub(crate) fn wait(
        &self,
        signals: u32,
        deadline: Option<Instant>,
        closed: &AtomicBool,
    ) -> Result<u32, Status> {
        let mut bits = self.bits.lock();
        loop {
            if *bits & signals != 0 {
                return Ok(*bits);
            }
            // "ZX_ERR_CANCELED: handle was invalidated (e.g., closed) during the wait."
            if closed.load(Ordering::Acquire) {
                return Err(ZX_ERR_CANCELED);
            }
            match deadline {
                None => self.changed.wait(&mut bits),
                Some(d) => {
                    if Instant::now() >= d {
                        return Err(ZX_ERR_TIMED_OUT);
                    }
                    let _ = self.changed.wait_until(&mut bits, d);
                }
            }
        }
    }
}

/// The parts every object shares.
#[derive(Debug)]
pub(crate) struct ObjectHeader {
    pub(crate) koid: Koid,
    pub(crate) handle_count: AtomicU32,
    pub(crate) name: Mutex<Name>,
    pub(crate) signals: Arc<SignalState>,
}

impl ObjectHeader {
    pub(crate) fn new(koid: Koid, initial_signals: u32) -> ObjectHeader {
        ObjectHeader {
            koid,
            handle_count: AtomicU32::new(0),
            name: Mutex::new(Name::default()),
            signals: Arc::new(SignalState::new(initial_signals)),
        }
    }
}

/// The kernel's monotonic clock: nanoseconds since the kernel was created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MonotonicClock {
    base: Instant,
}

impl MonotonicClock {
    pub(crate) fn new() -> MonotonicClock {
        MonotonicClock {
            base: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        i64::try_from(self.base.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    /// The host instant of a deadline in this clock; `None` for "never" (`ZX_TIME_INFINITE`).
    /// Deadlines in the past (including `ZX_TIME_INFINITE_PAST`) map to the clock's base, which
    /// has always passed.
    pub(crate) fn deadline(&self, deadline: i64) -> Option<Instant> {
        if deadline == ZX_TIME_INFINITE {
            return None;
        }
        if deadline <= 0 {
            return Some(self.base);
        }
        // deadline > 0 here, so the cast is lossless.
        self.base.checked_add(Duration::from_nanos(deadline as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn names_truncate_and_stop_at_nul() {
        assert_eq!(&Name::new(b"abc").padded()[..4], b"abc\0");
        assert_eq!(&Name::new(b"ab\0cd").padded()[..3], b"ab\0");
        let long = [b'x'; 40];
        let n = Name::new(&long).padded();
        assert_eq!(&n[..31], &long[..31]);
        assert_eq!(n[31], 0);
        assert_eq!(Name::new(b"").padded(), [0u8; 32]);
    }

    #[test]
    fn wait_sees_signal_from_another_thread() {
        let s = Arc::new(SignalState::new(0));
        let closed = AtomicBool::new(false);
        let s2 = s.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            s2.update(0, ZX_USER_SIGNAL_1);
        });
        assert_eq!(
            s.wait(ZX_USER_SIGNAL_1, None, &closed),
            Ok(ZX_USER_SIGNAL_1)
        );
        t.join().unwrap();
        let past = Some(Instant::now());
        assert_eq!(
            s.wait(ZX_USER_SIGNAL_0, past, &closed),
            Err(ZX_ERR_TIMED_OUT)
        );
        closed.store(true, Ordering::Release);
        assert_eq!(
            s.wait(ZX_USER_SIGNAL_0, None, &closed),
            Err(ZX_ERR_CANCELED)
        );
    }

    #[test]
    fn clock_deadlines() {
        let c = MonotonicClock::new();
        assert!(c.deadline(ZX_TIME_INFINITE).is_none());
        assert!(c.deadline(ZX_TIME_INFINITE_PAST).unwrap() <= Instant::now());
        assert!(c.now() >= 0);
    }
}
