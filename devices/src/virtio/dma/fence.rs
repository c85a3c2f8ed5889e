//! Tracking DMA in flight, so that UNMAP and DETACH complete strictly.
//!
//! virtio-iommu DETACH: "The device MUST ensure that after being detached from a domain, the
//! endpoint cannot access any mapping from that domain." UNMAP likewise removes access. The
//! engine guarantees that once `Engine::unmap`/`detach` returns, no *new* translation returns the
//! old mapping — but a device thread may already hold an old translation (host pointers into guest
//! RAM) and still be copying through it. The [`DmaFence`] closes that gap:
//!
//! - a device brackets every DMA (from the first translation to the last access through it) with
//!   a [`DmaGuard`] from [`DmaFence::enter`], which records the fence's current generation;
//! - after the engine call returns, the virtio-iommu calls [`DmaFence::wait_for_older`], which
//!   starts a new generation and blocks until every guard of an older generation is dropped.
//!
//! A guard taken after `wait_for_older` started translates after the engine call returned, so it
//! cannot see the old translation; a guard taken before it is waited for. Only then does the
//! virtio-iommu write the used entry. Waiting costs one uncontended mutex when nothing is in
//! flight.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// Generations of DMA in flight (see the module documentation).
#[derive(Debug, Default)]
pub struct DmaFence {
    state: Mutex<FenceState>,
    drained: Condvar,
}

#[derive(Debug, Default)]
struct FenceState {
    /// Generation new guards join.
    generation: u64,
    /// `(generation, guards alive)`, in ascending generation order, no zero counts.
    in_flight: VecDeque<(u64, u64)>,
    /// Threads blocked in `wait_for_older`.
    waiters: usize,
}

impl DmaFence {
    /// A fence with nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the start of a DMA; it ends when the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> DmaGuard {
        let mut state = self.state.lock();
        let generation = state.generation;
        match state.in_flight.back_mut() {
            Some((g, count)) if *g == generation => *count += 1,
            _ => state.in_flight.push_back((generation, 1)),
        }
        DmaGuard {
            fence: Arc::clone(self),
            generation,
        }
    }

    /// Blocks until every DMA that entered before this call has finished.
    ///
    /// Must not be called by a thread that holds a [`DmaGuard`] itself (it would wait forever).
    pub fn wait_for_older(&self) {
        let mut state = self.state.lock();
        let target = state.generation;
        state.generation = state.generation.wrapping_add(1);
        while state
            .in_flight
            .front()
            .is_some_and(|&(generation, _)| generation <= target)
        {
            state.waiters += 1;
            self.drained.wait(&mut state);
            state.waiters -= 1;
        }
    }

    /// Number of DMA guards alive (for tests and counters).
    pub fn in_flight(&self) -> u64 {
        self.state.lock().in_flight.iter().map(|&(_, n)| n).sum()
    }

    fn exit(&self, generation: u64) {
        let mut state = self.state.lock();
        let Some(pos) = state.in_flight.iter().position(|&(g, _)| g == generation) else {
            return;
        };
        let emptied = match state.in_flight.get_mut(pos) {
            Some((_, count)) => {
                *count -= 1;
                *count == 0
            }
            None => false,
        };
        if emptied {
            state.in_flight.remove(pos);
            if state.waiters > 0 {
                self.drained.notify_all();
            }
        }
    }
}

/// One DMA in flight; dropping it ends the DMA.
#[derive(Debug)]
pub struct DmaGuard {
    fence: Arc<DmaFence>,
    generation: u64,
}

impl Drop for DmaGuard {
    fn drop(&mut self) {
        self.fence.exit(self.generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn wait_returns_at_once_with_nothing_in_flight() {
        let fence = Arc::new(DmaFence::new());
        fence.wait_for_older();
        assert_eq!(fence.in_flight(), 0);
    }

    #[test]
    fn guards_are_counted_until_dropped() {
        let fence = Arc::new(DmaFence::new());
        let a = fence.enter();
        let b = fence.enter();
        assert_eq!(fence.in_flight(), 2);
        drop(a);
        assert_eq!(fence.in_flight(), 1);
        drop(b);
        assert_eq!(fence.in_flight(), 0);
    }

    #[test]
    fn wait_blocks_until_an_older_dma_in_another_thread_ends() {
        let fence = Arc::new(DmaFence::new());
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let dma_done = Arc::new(AtomicBool::new(false));

        let dma = {
            let fence = Arc::clone(&fence);
            let dma_done = Arc::clone(&dma_done);
            thread::spawn(move || {
                let _guard = fence.enter();
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                dma_done.store(true, Ordering::SeqCst);
            })
        };
        entered_rx.recv().unwrap();

        let waiter = {
            let fence = Arc::clone(&fence);
            let dma_done = Arc::clone(&dma_done);
            thread::spawn(move || {
                fence.wait_for_older();
                dma_done.load(Ordering::SeqCst)
            })
        };
        // Give the waiter time to block; it must not return while the DMA is in flight.
        thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        release_tx.send(()).unwrap();

        assert!(
            waiter.join().unwrap(),
            "waiter returned before the DMA ended"
        );
        dma.join().unwrap();
    }

    #[test]
    fn wait_does_not_wait_for_dma_that_started_after_it() {
        let fence = Arc::new(DmaFence::new());
        let old = fence.enter();
        let waiter = {
            let fence = Arc::clone(&fence);
            thread::spawn(move || fence.wait_for_older())
        };
        // Let the waiter start its generation, then start a newer DMA and end the old one.
        while fence.state.lock().waiters == 0 {
            thread::yield_now();
        }
        let newer = fence.enter();
        drop(old);
        waiter.join().unwrap();
        assert_eq!(fence.in_flight(), 1);
        drop(newer);
    }
}
